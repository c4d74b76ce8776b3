package handlers

// AddPartitionsToTxn (key 24), versions 0-4.
//
// Versions 0-3 come from producers: the partitions join the producer's
// transaction before it writes to them. The coordinator answers one code
// for all of them (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED or, for
// v<2, INVALID_PRODUCER_EPOCH, CONCURRENT_TRANSACTIONS...). Version 4
// comes from partition leaders (KIP-890 part 1): a batch of transactions,
// each either verified only (VerifyOnly: NONE for a partition already in
// the transaction, TRANSACTION_ABORTABLE otherwise) or added; each
// transaction is served by its own coordinator.
//
// Authorization (as Kafka): v0-3 need WRITE on the TRANSACTIONAL_ID (else
// every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and WRITE on
// each topic; internal topics are never authorized here. A partition that
// is refused (TOPIC_AUTHORIZATION_FAILED) or unknown
// (UNKNOWN_TOPIC_OR_PARTITION) stops the whole request: the others get
// OPERATION_NOT_ATTEMPTED. v4 needs CLUSTER_ACTION on the cluster, else
// the top-level CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) addPartitionsToTxn(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
	if r.Version >= 4 {
		return h.addPartitionsBatch(ctx, req, r)
	}
	if !h.authorize(req, metadata.ACLOpWrite, metadata.ACLResourceTransactionalID, r.TransactionalID) {
		return txnRefused(req, kerr.TransactionalIDAuthorizationFailed.Code)
	}
	if resp, refused := h.refusedTxnPartitions(req, r); refused {
		return respond(req, resp)
	}
	return h.serveTxn(ctx, req, r.TransactionalID)
}

// refusedTxnPartitions checks every partition of a v0-3 request; when one
// is refused or unknown it returns the answer: that error for it,
// OPERATION_NOT_ATTEMPTED for the rest.
func (h *Handlers) refusedTxnPartitions(req *server.Request, r *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, bool) {
	img := h.d.Image()
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	refused := false
	for _, t := range r.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		allowed := !isInternalTopic(t.Topic) && h.authorizeTopic(req, metadata.ACLOpWrite, t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = p
			switch {
			case !allowed:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case !hasPartition(img, t.Topic, p):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			refused = refused || rp.ErrorCode != 0
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if rp := &resp.Topics[i].Partitions[j]; rp.ErrorCode == 0 {
				rp.ErrorCode = kerr.OperationNotAttempted.Code
			}
		}
	}
	return resp, refused
}

// isInternalTopic reports Kafka's internal topics.
func isInternalTopic(name string) bool { return name == OffsetsTopic || name == TransactionTopic }

// addPartitionsBatch serves a broker's v4 request: each transaction on
// its coordinator, the answers merged.
func (h *Handlers) addPartitionsBatch(ctx context.Context, req *server.Request, r *kmsg.AddPartitionsToTxnRequest) server.Reply {
	if !h.authorizeCluster(req, metadata.ACLOpClusterAction) {
		resp := kmsg.NewPtrAddPartitionsToTxnResponse()
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(req, resp)
	}
	singles := make([]*kmsg.AddPartitionsToTxnRequest, len(r.Transactions))
	for i, t := range r.Transactions {
		s := kmsg.NewPtrAddPartitionsToTxnRequest()
		s.SetVersion(r.Version)
		s.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{t}
		singles[i] = cloneRequest(s).(*kmsg.AddPartitionsToTxnRequest)
	}
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrAddPartitionsToTxnResponse()
		resp.SetVersion(r.Version)
		for i, s := range singles {
			one := h.doTxn(ctx, r.Transactions[i].TransactionalID, s).(*kmsg.AddPartitionsToTxnResponse)
			if one.ErrorCode != 0 { // a top-level error of one transaction: its partitions get it
				one = coordinator.TxnErrorResponse(s, one.ErrorCode).(*kmsg.AddPartitionsToTxnResponse)
			}
			resp.Transactions = append(resp.Transactions, one.Transactions...)
		}
		return resp
	})
}
