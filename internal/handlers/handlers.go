// Package handlers serves the Kafka APIs: one file per API, named by its
// key, each turning a kmsg request into calls on the node's services and a
// kmsg response. registry.go is the one version table behind ApiVersions.
//
// Handlers never touch storage or the metadata log directly: they read the
// published metadata Image, act on partitions through the Partitions
// service, and send admin changes to the controller through Admin.
package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
)

// Partitions finds local replicas. Implementations are safe for
// concurrent use.
type Partitions interface {
	// Partition returns the local replica, or nil when this node holds none.
	Partition(topic string, index int32) *partition.Partition
}

// Admin applies metadata changes through the controller. Each call returns
// once the change is applied to this node's image (so a Metadata request
// that follows sees it), with per-item errors that are nil or *kerr.Error.
type Admin interface {
	CreateTopics(ctx context.Context, reqs []controller.CreateTopic) ([]controller.TopicResult, error)
	DeleteTopics(ctx context.Context, names []string) ([]controller.TopicResult, error)
	CreatePartitions(ctx context.Context, reqs []controller.CreatePartitions) ([]controller.TopicResult, error)
	AlterConfigs(ctx context.Context, reqs []controller.AlterConfigs) ([]error, error)
}

// Deps are the services handlers use.
type Deps struct {
	NodeID     int32
	Config     *config.Broker
	Image      func() *metadata.Image // the latest published metadata image
	Partitions Partitions
	Admin      Admin
	// ControllerID is the active controller's node id (-1 if unknown).
	ControllerID func() int32
	Logger       *slog.Logger
	Now          func() time.Time
}

// Handlers implements server.Handler over Deps.
type Handlers struct {
	d Deps
}

// New returns the handlers.
func New(d Deps) *Handlers {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Handlers{d: d}
}
