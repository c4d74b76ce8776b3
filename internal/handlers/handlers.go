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

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	ElectLeaders(ctx context.Context, typ int8, tps []controller.TopicPartition) ([]controller.ElectResult, error)
	AlterPartitionReassignments(ctx context.Context, items []controller.Reassignment) ([]error, error)
	ListPartitionReassignments(ctx context.Context, tps []controller.TopicPartition) ([]controller.ReassignmentStatus, error)
	UnregisterBroker(ctx context.Context, id int32) error
	CreateACLs(ctx context.Context, acls []metadata.ACL) error
	DeleteACLs(ctx context.Context, ids []metadata.UUID) ([]metadata.UUID, error)
	AlterScram(ctx context.Context, changes []controller.ScramChange) ([]error, error)
	AlterClientQuotas(ctx context.Context, alts []controller.QuotaAlteration, validateOnly bool) ([]error, error)
}

// Controller is this node's controller: it acts only while active (its
// node leads the metadata quorum) and returns NOT_CONTROLLER otherwise.
type Controller interface {
	Admin
	RegisterBroker(ctx context.Context, r controller.Registration) (int64, error)
	BrokerHeartbeat(ctx context.Context, h controller.Heartbeat) (controller.HeartbeatResult, error)
	AlterPartition(ctx context.Context, broker int32, brokerEpoch int64, items []controller.AlterPartitionItem) ([]controller.AlterPartitionResult, error)
	AllocateProducerIDs(ctx context.Context, broker int32, brokerEpoch int64) (int64, int32, error)
	IsActive() bool
	// ActiveID is the active controller's node id, -1 if unknown.
	ActiveID() int32
	// AppliedOffset is the offset of the metadata the controller has
	// applied; this node's published image (Deps.Image) may lag it.
	AppliedOffset() int64
}

// ReplicationThrottle is the leader side of Kafka's replication quota
// (leader.replication.throttled.rate over the partitions listed for this
// broker in leader.replication.throttled.replicas). Implementations are
// safe for concurrent use.
type ReplicationThrottle interface {
	// Active reports whether the throttled bytes are above the rate now
	// (cheap: checked before each partition's Hold).
	Active() bool
	// Hold reports whether a follower's fetch of the partition gets no
	// records now: the partition is throttled here, the follower is not in
	// its ISR, and the leader's throttled bytes exceed the rate.
	Hold(topic string, partition, follower int32, inSync bool) bool
	// Sent counts bytes served to a follower of the partition against the
	// rate, if the partition is throttled here.
	Sent(topic string, partition int32, bytes int)
}

// ProducerIDs hands out cluster-unique producer ids.
type ProducerIDs interface {
	NextProducerID(ctx context.Context) (int64, error)
}

// Forwarder sends an Envelope to the active controller's controller
// listener and returns its response.
type Forwarder interface {
	Forward(ctx context.Context, req *kmsg.EnvelopeRequest) (*kmsg.EnvelopeResponse, error)
}

// Deps are the services handlers use.
type Deps struct {
	NodeID     int32
	Config     *config.Broker
	Image      func() *metadata.Image // the latest published metadata image
	Partitions Partitions
	// Controller is the local controller, or nil on a broker-only node.
	Controller Controller
	// ProducerIDs hands out producer ids for InitProducerId.
	ProducerIDs ProducerIDs
	// Groups serves the group APIs on this broker's coordinators.
	Groups Groups
	// Transactions serves the transaction coordinator APIs on this
	// broker's coordinators; nil answers COORDINATOR_NOT_AVAILABLE.
	Transactions Transactions
	// Brokers reaches other brokers (transaction verification).
	Brokers Brokers
	// MetadataLog serves the committed metadata log to observers (on the
	// controller listener of controller nodes).
	MetadataLog MetadataLog
	// Quorum describes the metadata quorum (DescribeQuorum); nil on a
	// broker-only node.
	Quorum Quorum
	// Observers records the brokers fetching the metadata log here, for
	// DescribeQuorum; nil tracks none.
	Observers *Observers
	// Forwarder reaches the active controller when it is another node.
	Forwarder Forwarder
	// ActiveController names the active controller on nodes without a
	// controller of their own (observers).
	ActiveController func() int32
	// WaitMetadata blocks until this node's image has reached offset.
	WaitMetadata func(ctx context.Context, offset int64) error
	// Authorizer decides ACLs; nil allows every request (no
	// authorizer.class.name).
	Authorizer *auth.Authorizer
	// Quotas enforces client quotas on Produce and Fetch (quotas.go);
	// nil enforces none.
	Quotas ClientQuotas
	// Throttle applies the leader's replication throttle to follower
	// fetches; nil throttles nothing.
	Throttle ReplicationThrottle
	// Observe, if set, receives every request's total time by API name,
	// including the wait of delayed responses.
	Observe func(api string, d time.Duration)
	Logger  *slog.Logger
	Now     func() time.Time
}

// Handlers implements server.Handler over Deps.
type Handlers struct {
	d        Deps
	reg      map[kmsg.Key]api
	sasl     saslConfigs
	sessions *fetchSessions // incremental fetch sessions (01_fetch_session.go)
}

// hasPartition reports whether img has the topic with partition index idx:
// when it does not, Kafka answers UNKNOWN_TOPIC_OR_PARTITION; when it does
// but this node holds no leader replica, NOT_LEADER_OR_FOLLOWER.
func hasPartition(img *metadata.Image, topic string, idx int32) bool {
	t, ok := img.Topic(topic)
	return ok && idx >= 0 && int(idx) < len(t.Partitions)
}

// New returns the handlers of the client listeners.
func New(d Deps) *Handlers {
	if d.Now == nil {
		d.Now = time.Now
	}
	slots := -1
	if d.Config != nil {
		slots = int(d.Config.Int("max.incremental.fetch.session.cache.slots"))
	}
	return &Handlers{d: d, reg: registry, sessions: newFetchSessions(slots)}
}

// NewController returns the handlers of the controller listener: the
// APIs brokers use to reach the active controller.
func NewController(d Deps) *Handlers {
	h := New(d)
	h.reg = controllerRegistry
	return h
}

// controllerID is the active controller's node id for Metadata and
// DescribeCluster.
func (h *Handlers) controllerID() int32 {
	switch {
	case h.d.Controller != nil:
		return h.d.Controller.ActiveID()
	case h.d.ActiveController != nil:
		return h.d.ActiveController()
	}
	return -1
}
