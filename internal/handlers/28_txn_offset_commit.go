package handlers

// TxnOffsetCommit (key 28), versions 0-4 (v5, transaction version 2's
// implicit add, is not advertised).
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
// Authorization (as Kafka): WRITE on the TRANSACTIONAL_ID (else every
// partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group
// (else GROUP_AUTHORIZATION_FAILED), READ on each topic (else its
// partitions get TOPIC_AUTHORIZATION_FAILED and are not committed).

import (
	"context"

	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) txnOffsetCommit(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	switch {
	case !h.authorize(req, metadata.ACLOpWrite, metadata.ACLResourceTransactionalID, r.TransactionalID):
		return server.Reply{Response: coordinator.ErrorResponse(req.Body, kerr.TransactionalIDAuthorizationFailed.Code)}
	case !h.authorizeGroup(req, metadata.ACLOpRead, r.Group):
		return groupRefused(req)
	}
	return serveReadable(h, ctx, req, r.Group, readableTopics[kmsg.TxnOffsetCommitRequestTopic]{
		topics: func(b kmsg.Request) *[]kmsg.TxnOffsetCommitRequestTopic {
			return &b.(*kmsg.TxnOffsetCommitRequest).Topics
		},
		name:  func(t kmsg.TxnOffsetCommitRequestTopic) string { return t.Topic },
		empty: func() kmsg.Response { return kmsg.NewPtrTxnOffsetCommitResponse() },
		refuse: func(resp kmsg.Response, refused []kmsg.TxnOffsetCommitRequestTopic) {
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
		},
	})
}
