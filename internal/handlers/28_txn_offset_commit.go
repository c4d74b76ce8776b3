package handlers

// TxnOffsetCommit (key 28), versions 0-5.
//
// Commits a consumer group's offsets inside a producer's transaction: the
// group coordinator writes them as a transactional batch of the
// producer's id and epoch, keeps them pending (OffsetFetch with
// RequireStable answers UNSTABLE_OFFSET_COMMIT for those partitions) and
// makes them the group's committed offsets only when the transaction's
// COMMIT marker reaches __consumer_offsets (an ABORT drops them), so the
// offsets become visible atomically with the transaction's output.
// Answered once the batch is replicated.
//
// Up to v4 the client has added the group's __consumer_offsets partition
// to its transaction with AddOffsetsToTxn (it is not verified here). v5
// (KIP-890 part 2, sent when transaction.version 2 is finalized; the
// version alone decides, as in Kafka) replaces AddOffsetsToTxn: before
// the group coordinator is asked, this broker, if it leads the group's
// partition (else NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE without
// __consumer_offsets), adds that partition to the transaction through the
// transactional id's coordinator (AddPartitionsToTxn v4, not VerifyOnly),
// as Kafka's group coordinator does before its write. A failed add
// answers every partition with the coordinator's error mapped as Kafka
// 4.0 maps it (AddPartitionsToTxnManager, then the group coordinator's
// handleOperationException): PRODUCER_FENCED becomes
// INVALID_PRODUCER_EPOCH, a top-level CLUSTER_AUTHORIZATION_FAILED
// INVALID_TXN_STATE, a failed round trip (NETWORK_EXCEPTION)
// COORDINATOR_LOAD_IN_PROGRESS, REQUEST_TIMED_OUT and NOT_ENOUGH_REPLICAS
// COORDINATOR_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER NOT_COORDINATOR; the
// others (TRANSACTION_ABORTABLE, CONCURRENT_TRANSACTIONS,
// INVALID_PRODUCER_ID_MAPPING, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS...) are answered as they are; an
// UNSUPPORTED_VERSION skips the add.
//
// Authorization (as Kafka): WRITE on the TRANSACTIONAL_ID (else every
// partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group
// (else GROUP_AUTHORIZATION_FAILED), READ on each topic (else its
// partitions get TOPIC_AUTHORIZATION_FAILED and are not committed; when
// none is left, nothing is added to the transaction).

import (
	"context"

	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnOffsetsAddVersion is the first TxnOffsetCommit version that adds the
// group's partition to the transaction (Kafka's ADD_PARTITION).
const txnOffsetsAddVersion = 5

func (h *Handlers) txnOffsetCommit(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	switch {
	case !h.authorize(req, metadata.ACLOpWrite, metadata.ACLResourceTransactionalID, r.TransactionalID):
		return server.Reply{Response: coordinator.ErrorResponse(req.Body, kerr.TransactionalIDAuthorizationFailed.Code)}
	case !h.authorizeGroup(req, metadata.ACLOpRead, r.Group):
		return groupRefused(req)
	}
	f := readableTopics[kmsg.TxnOffsetCommitRequestTopic]{
		topics: func(b kmsg.Request) *[]kmsg.TxnOffsetCommitRequestTopic {
			return &b.(*kmsg.TxnOffsetCommitRequest).Topics
		},
		name:   func(t kmsg.TxnOffsetCommitRequestTopic) string { return t.Topic },
		empty:  func() kmsg.Response { return kmsg.NewPtrTxnOffsetCommitResponse() },
		refuse: refuseTxnOffsets,
	}
	if r.Version < txnOffsetsAddVersion {
		return serveReadable(h, ctx, req, r.Group, f)
	}
	return h.txnOffsetCommitAdding(ctx, req, f)
}

// refuseTxnOffsets answers the refused topics' partitions with
// TOPIC_AUTHORIZATION_FAILED.
func refuseTxnOffsets(resp kmsg.Response, refused []kmsg.TxnOffsetCommitRequestTopic) {
	out := resp.(*kmsg.TxnOffsetCommitResponse)
	for _, t := range refused {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		out.Topics = append(out.Topics, rt)
	}
}

// txnOffsetCommitAdding serves v5+: the readable topics' offsets, after
// the group's partition is added to the transaction.
func (h *Handlers) txnOffsetCommitAdding(ctx context.Context, req *server.Request, f readableTopics[kmsg.TxnOffsetCommitRequestTopic]) server.Reply {
	body := cloneRequest(req.Body).(*kmsg.TxnOffsetCommitRequest)
	denied := h.deniedTopics(req, metadata.ACLOpRead, namesOf(body.Topics, f.name))
	var refused []kmsg.TxnOffsetCommitRequestTopic
	body.Topics, refused = splitByName(body.Topics, f.name, denied)
	if len(body.Topics) == 0 {
		resp := f.empty()
		f.refuse(resp, refused)
		return respond(req, resp)
	}
	client := group.Client{ID: req.ClientID, Host: clientHost(req.Remote)}
	return groupAsync(func() kmsg.Response {
		var resp kmsg.Response
		if code := h.addOffsetsPartition(ctx, body); code != 0 {
			resp = coordinator.ErrorResponse(body, code)
		} else {
			resp = h.doGroup(ctx, body.Group, client, body)
		}
		f.refuse(resp, refused)
		return resp
	})
}

// addOffsetsPartition adds the group's __consumer_offsets partition to
// the request's transaction and returns the TxnOffsetCommit error code
// (0: added, or the coordinator cannot add).
func (h *Handlers) addOffsetsPartition(ctx context.Context, r *kmsg.TxnOffsetCommitRequest) int16 {
	t, ok := h.d.Image().Topic(OffsetsTopic)
	if !ok || len(t.Partitions) == 0 {
		return kerr.CoordinatorNotAvailable.Code
	}
	idx := metadata.CoordinatorPartition(r.Group, int32(len(t.Partitions)))
	if t.Partitions[idx].Leader != h.d.NodeID {
		return kerr.NotCoordinator.Code
	}
	tp := []topicPartitionKey{{OffsetsTopic, idx}}
	return txnOffsetsCode(h.askCoordinator(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, tp, true)[0])
}

// txnOffsetsCode maps the transaction coordinator's answer to the add to
// a TxnOffsetCommit error, as Kafka 4.0 does.
func txnOffsetsCode(code int16) int16 {
	switch code {
	case 0, kerr.UnsupportedVersion.Code:
		return 0
	case kerr.ProducerFenced.Code:
		return kerr.InvalidProducerEpoch.Code
	case kerr.ClusterAuthorizationFailed.Code:
		return kerr.InvalidTxnState.Code
	case kerr.NetworkException.Code:
		return kerr.CoordinatorLoadInProgress.Code // retried without a coordinator lookup
	case kerr.RequestTimedOut.Code, kerr.NotEnoughReplicas.Code, kerr.UnknownTopicOrPartition.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	}
	return code
}
