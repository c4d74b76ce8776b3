package handlers

// FindCoordinator (key 10), versions 0-4 (batched keys from v4).
//
// A group's coordinator is the leader of its __consumer_offsets partition
// (Kafka's hash rule, group.PartitionFor). The topic is created on first
// use with offsets.topic.num.partitions partitions, cleanup.policy=compact
// and offsets.topic.replication.factor replicas, capped (with a warning) at
// the number of live brokers. While it is being created or a partition has
// no leader: COORDINATOR_NOT_AVAILABLE (retriable). A transactional id's
// coordinator (key type 1) is the leader of its __transaction_state
// partition (txn.PartitionFor), the topic created on first use the same
// way from the transaction.state.log.* settings (compacted, uncompressed,
// min.insync.replicas from transaction.state.log.min.isr, capped at the
// replication factor). Other key types: INVALID_REQUEST.
//
// Authorization (as Kafka), per key before anything is looked up: a group
// key needs DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED), a
// transactional id DESCRIBE on the TRANSACTIONAL_ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"
	"fmt"
	"strconv"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/fjordlog/fjord/internal/txn"
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
	case typ == 0:
		c.NodeID, c.Host, c.Port, err = h.groupCoordinator(ctx, key, listener)
	case typ == 1 && key == "":
		err = fmt.Errorf("%w: empty transactional id", kerr.InvalidRequest)
	case typ == 1:
		c.NodeID, c.Host, c.Port, err = h.txnCoordinator(ctx, key, listener)
	default:
		err = fmt.Errorf("%w: unknown coordinator type %d", kerr.InvalidRequest, typ)
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
	return leaderEndpoint(img, t.Partitions[group.PartitionFor(groupID, int32(len(t.Partitions)))], listener)
}

// txnCoordinator finds the leader of the transactional id's
// __transaction_state partition.
func (h *Handlers) txnCoordinator(ctx context.Context, transactionalID, listener string) (int32, string, int32, error) {
	img := h.d.Image()
	t, ok := img.Topic(TransactionTopic)
	if !ok {
		h.createTransactionTopic(ctx, img)
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	return leaderEndpoint(img, t.Partitions[txn.PartitionFor(transactionalID, int32(len(t.Partitions)))], listener)
}

// leaderEndpoint is the address of p's leader on listener.
func leaderEndpoint(img *metadata.Image, p metadata.PartitionImage, listener string) (int32, string, int32, error) {
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
	rf, ok := h.internalReplicas(img, OffsetsTopic, "offsets.topic.replication.factor")
	if !ok {
		return
	}
	h.createInternalTopic(ctx, controller.CreateTopic{
		Name: OffsetsTopic, NumPartitions: int32(h.d.Config.Int("offsets.topic.num.partitions")), ReplicationFactor: rf,
		Configs: map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600", "compression.type": "producer"},
	})
}

// createTransactionTopic creates __transaction_state as Kafka does
// (errors are logged; the client retries FindCoordinator).
func (h *Handlers) createTransactionTopic(ctx context.Context, img *metadata.Image) {
	rf, ok := h.internalReplicas(img, TransactionTopic, "transaction.state.log.replication.factor")
	if !ok {
		return
	}
	minISR := min(int64(rf), h.d.Config.Int("transaction.state.log.min.isr"))
	h.createInternalTopic(ctx, controller.CreateTopic{
		Name: TransactionTopic, NumPartitions: int32(h.d.Config.Int("transaction.state.log.num.partitions")), ReplicationFactor: rf,
		Configs: map[string]string{
			"cleanup.policy": "compact", "compression.type": "uncompressed", "unclean.leader.election.enable": "false",
			"min.insync.replicas": strconv.FormatInt(minISR, 10),
			"segment.bytes":       strconv.FormatInt(h.d.Config.Int("transaction.state.log.segment.bytes"), 10),
		},
	})
}

// internalReplicas is the replication factor of an internal topic: the
// configured one, capped (with a warning) at the number of live brokers;
// false when no broker is live.
func (h *Handlers) internalReplicas(img *metadata.Image, name, config string) (int16, bool) {
	rf := int16(h.d.Config.Int(config))
	live := int16(0)
	for _, b := range img.Brokers {
		if !b.Fenced {
			live++
		}
	}
	if live == 0 {
		return 0, false
	}
	if rf > live {
		h.d.Logger.Warn(config+" is larger than the live brokers; creating "+name+" with fewer replicas",
			"configured", rf, "replicationFactor", live)
		rf = live
	}
	return rf, true
}

func (h *Handlers) createInternalTopic(ctx context.Context, t controller.CreateTopic) {
	if _, err := h.createForAutoCreate(ctx, nil, []controller.CreateTopic{t}); err != nil {
		h.d.Logger.Warn("cannot create "+t.Name+" yet", "err", err)
	}
}
