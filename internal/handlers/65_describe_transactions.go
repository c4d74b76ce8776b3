package handlers

// DescribeTransactions (key 65), version 0.
//
// Describes transactional ids coordinated here: state name, timeout,
// start time (-1 when no transaction is running), producer id and epoch,
// and the partitions of the current transaction. Each id is served by its
// coordinator: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or
// TRANSACTIONAL_ID_NOT_FOUND per id as Kafka answers.
//
// Authorization (as Kafka): DESCRIBE on each TRANSACTIONAL_ID (else that
// id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED); topics the principal
// may not DESCRIBE are left out of the partition lists.

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeTransactions(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeTransactionsRequest)
	ids := slices.Clone(r.TransactionalIDs)
	allowed := make([]bool, len(ids))
	for i, id := range ids {
		allowed[i] = h.authorize(req, metadata.ACLOpDescribe, metadata.ACLResourceTransactionalID, id)
	}
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrDescribeTransactionsResponse()
		resp.SetVersion(r.Version)
		for i, id := range ids {
			resp.TransactionStates = append(resp.TransactionStates, h.describeTransaction(ctx, req, id, allowed[i]))
		}
		return resp
	})
}

// describeTransaction describes one id on its coordinator.
func (h *Handlers) describeTransaction(ctx context.Context, req *server.Request, id string, allowed bool) kmsg.DescribeTransactionsResponseTransactionState {
	s := kmsg.NewDescribeTransactionsResponseTransactionState()
	s.TransactionalID, s.ProducerID, s.ProducerEpoch, s.StartTimestamp = id, -1, -1, -1
	switch {
	case !allowed:
		s.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return s
	case id == "":
		s.ErrorCode = kerr.InvalidRequest.Code
		return s
	}
	one := kmsg.NewPtrDescribeTransactionsRequest()
	one.TransactionalIDs = []string{id}
	resp := h.doTxn(ctx, id, one).(*kmsg.DescribeTransactionsResponse)
	if len(resp.TransactionStates) != 1 {
		s.ErrorCode = kerr.UnknownServerError.Code
		return s
	}
	s = resp.TransactionStates[0]
	s.Topics = slices.DeleteFunc(s.Topics, func(t kmsg.DescribeTransactionsResponseTransactionStateTopic) bool {
		return !h.authorizeTopic(req, metadata.ACLOpDescribe, t.Topic)
	})
	return s
}
