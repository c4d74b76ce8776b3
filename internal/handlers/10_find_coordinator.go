package handlers

// FindCoordinator (key 10), versions 0-4 (batched keys from v4).
//
// A group's coordinator is the leader of its __consumer_offsets partition
// (Kafka's hash rule, group.PartitionFor). The topic is created on first
// use with offsets.topic.num.partitions partitions, cleanup.policy=compact
// and offsets.topic.replication.factor replicas, capped (with a warning) at
// the number of live brokers. While it is being created or a partition has
// no leader: COORDINATOR_NOT_AVAILABLE (retriable). Transaction
// coordinators (key type 1) are not implemented: INVALID_REQUEST.
//
// Authorization (as Kafka), per key before anything is looked up: a group
// key needs DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED), a
// transactional id DESCRIBE on the TRANSACTIONAL_ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"
	"fmt"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is Kafka's internal topic of group metadata and offsets.
const OffsetsTopic = "__consumer_offsets"

func (h *Handlers) findCoordinator(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	keys := r.CoordinatorKeys
	if r.Version < 4 {
		keys = []string{r.CoordinatorKey}
	}
	refused := make([]error, len(keys))
	for i, key := range keys {
		refused[i] = h.coordinatorKeyError(req, r.CoordinatorType, key)
	}
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrFindCoordinatorResponse()
		resp.SetVersion(r.Version)
		for i, key := range keys {
			resp.Coordinators = append(resp.Coordinators, h.coordinatorFor(ctx, r.CoordinatorType, key, req.Listener, refused[i]))
		}
		if r.Version < 4 && len(resp.Coordinators) == 1 {
			c := resp.Coordinators[0]
			resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		}
		return resp
	})
}

// coordinatorKeyError returns the authorization error of one key, nil if
// it may be looked up.
func (h *Handlers) coordinatorKeyError(req *server.Request, typ int8, key string) error {
	switch {
	case typ == 0 && !h.authorizeGroup(req, metadata.ACLOpDescribe, key):
		return kerr.GroupAuthorizationFailed
	case typ == 1 && !h.authorize(req, metadata.ACLOpDescribe, metadata.ACLResourceTransactionalID, key):
		return kerr.TransactionalIDAuthorizationFailed
	}
	return nil
}

// coordinatorFor answers one key; refused is its authorization error.
func (h *Handlers) coordinatorFor(ctx context.Context, typ int8, key, listener string, refused error) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID, c.Port = key, -1, -1
	err := refused
	switch {
	case err != nil:
	case typ != 0:
		err = fmt.Errorf("%w: transaction coordinators are not implemented", kerr.InvalidRequest)
	default:
		c.NodeID, c.Host, c.Port, err = h.groupCoordinator(ctx, key, listener)
	}
	c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
	return c
}

// groupCoordinator finds the leader of the group's offsets partition.
func (h *Handlers) groupCoordinator(ctx context.Context, groupID, listener string) (int32, string, int32, error) {
	img := h.d.Image()
	t, ok := img.Topic(OffsetsTopic)
	if !ok {
		h.createOffsetsTopic(ctx, img)
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	p := t.Partitions[group.PartitionFor(groupID, int32(len(t.Partitions)))]
	b, ok := img.Brokers[p.Leader]
	if !ok || b.Fenced {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	ep, ok := b.Endpoint(listener)
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	return p.Leader, ep.Host, ep.Port, nil
}

// createOffsetsTopic creates __consumer_offsets (errors are logged; the
// client retries FindCoordinator).
func (h *Handlers) createOffsetsTopic(ctx context.Context, img *metadata.Image) {
	rf := int16(h.d.Config.Int("offsets.topic.replication.factor"))
	live := int16(0)
	for _, b := range img.Brokers {
		if !b.Fenced {
			live++
		}
	}
	if live == 0 {
		return
	}
	if rf > live {
		h.d.Logger.Warn("offsets.topic.replication.factor is larger than the live brokers; creating __consumer_offsets with fewer replicas",
			"configured", rf, "replicationFactor", live)
		rf = live
	}
	_, err := h.createForAutoCreate(ctx, nil, []controller.CreateTopic{{
		Name: OffsetsTopic, NumPartitions: int32(h.d.Config.Int("offsets.topic.num.partitions")), ReplicationFactor: rf,
		Configs: map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600", "compression.type": "producer"},
	}})
	if err != nil {
		h.d.Logger.Warn("cannot create __consumer_offsets yet", "err", err)
	}
}
