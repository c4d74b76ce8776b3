package handlers

// Shared plumbing of the transaction coordinator APIs (InitProducerId
// with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
// DescribeTransactions, ListTransactions): each request, or each
// transactional id of a batched one, is served by this broker's
// coordinator for the id's __transaction_state partition,
// asynchronously. Ids coordinated elsewhere get NOT_COORDINATOR.

import (
	"context"

	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TransactionTopic is Kafka's internal topic of transaction state.
const TransactionTopic = coordinator.TransactionTopic

// Transactions serves the transaction coordinator APIs on this broker's
// coordinators.
type Transactions interface {
	// Do serves a request about one transactional id (or ids of one
	// partition); coordinator.ErrNotCoordinator (a *kerr.Error) when
	// this broker does not coordinate it.
	Do(ctx context.Context, transactionalID string, req kmsg.Request) (kmsg.Response, error)
	// List answers ListTransactions from every local coordinator.
	List(ctx context.Context, req *kmsg.ListTransactionsRequest) ([]kmsg.ListTransactionsResponseTransactionState, error)
}

// Brokers sends a request to another broker of the cluster (or this
// one) over the inter-broker listener: transaction markers to partition
// leaders, partition verification to transaction coordinators.
type Brokers interface {
	Request(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error)
}

// serveTxn serves a single-id request on its coordinator, answering
// errors in the request's response shape.
func (h *Handlers) serveTxn(ctx context.Context, req *server.Request, transactionalID string) server.Reply {
	body := cloneRequest(req.Body)
	return groupAsync(func() kmsg.Response { return h.doTxn(ctx, transactionalID, body) })
}

func (h *Handlers) doTxn(ctx context.Context, transactionalID string, body kmsg.Request) kmsg.Response {
	if h.d.Transactions == nil {
		return coordinator.TxnErrorResponse(body, kerr.CoordinatorNotAvailable.Code)
	}
	resp, err := h.d.Transactions.Do(ctx, transactionalID, body)
	if err != nil {
		return coordinator.TxnErrorResponse(body, groupErrorCode(err))
	}
	return resp
}

// txnRefused answers code in the request's response shape at once.
func txnRefused(req *server.Request, code int16) server.Reply {
	return server.Reply{Response: coordinator.TxnErrorResponse(req.Body, code)}
}
