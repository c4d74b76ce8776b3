package handlers

// ListTransactions (key 66), versions 0-1.
//
// Lists the transactional ids this broker coordinates (clients ask every
// broker), filtered by state names, producer ids and (v1, KIP-994) a
// minimum running time; filters are ANDed and an empty one matches all.
// State names Kafka does not know are echoed in UnknownStateFilters.
// COORDINATOR_LOAD_IN_PROGRESS while a coordinator partition is loading.
//
// Authorization (as Kafka): ids the principal may not DESCRIBE are left
// out.

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnStateNames are Kafka's transaction state names, as filters take them.
var txnStateNames = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (h *Handlers) listTransactions(ctx context.Context, req *server.Request) server.Reply {
	r := cloneRequest(req.Body).(*kmsg.ListTransactionsRequest)
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrListTransactionsResponse()
		resp.SetVersion(r.Version)
		for _, s := range r.StateFilters {
			if !slices.Contains(txnStateNames, s) {
				resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
			}
		}
		if h.d.Transactions == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		states, err := h.d.Transactions.List(ctx, r)
		if err != nil {
			resp.ErrorCode = groupErrorCode(err)
			return resp
		}
		resp.TransactionStates = slices.DeleteFunc(states, func(s kmsg.ListTransactionsResponseTransactionState) bool {
			return !h.authorize(req, metadata.ACLOpDescribe, metadata.ACLResourceTransactionalID, s.TransactionalID)
		})
		return resp
	})
}
