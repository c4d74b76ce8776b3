package controller

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
)

// Registration is a broker's request to join the cluster.
type Registration struct {
	ID        int32
	Endpoints []metadata.Endpoint
	Rack      string
}

// Bootstrap writes the cluster id when the log is new, so every later
// image carries it. It does nothing when the id is already set.
func (c *Controller) Bootstrap(ctx context.Context, clusterID string) error {
	res, err := run(ctx, c, func() error {
		if c.img.ClusterID != "" {
			return nil
		}
		return c.commit([]metadata.Record{metadata.ClusterID{ID: clusterID}})
	})
	if err != nil {
		return err
	}
	return res
}

// RegisterBroker registers (or re-registers) a broker and returns its
// epoch. The broker is registered unfenced: with a single controller the
// registering broker is also the node replaying the log, so it is caught
// up by construction. (Multi-node fencing comes with the Raft quorum.)
func (c *Controller) RegisterBroker(ctx context.Context, r Registration) (int64, error) {
	type result struct {
		epoch int64
		err   error
	}
	res, err := run(ctx, c, func() result {
		if b, ok := c.img.Brokers[r.ID]; ok && !b.Fenced && b.Rack == r.Rack && slices.Equal(b.Endpoints, r.Endpoints) {
			return result{epoch: b.Epoch}
		}
		err := c.commit([]metadata.Record{metadata.RegisterBroker{ID: r.ID, Endpoints: r.Endpoints, Rack: r.Rack}})
		return result{epoch: c.img.Brokers[r.ID].Epoch, err: err}
	})
	if err != nil {
		return 0, err
	}
	return res.epoch, res.err
}
