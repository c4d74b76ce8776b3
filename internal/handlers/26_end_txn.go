package handlers

// EndTxn (key 26), versions 0-4 (transaction version 0/1; v5, KIP-890
// part 2, is not advertised: Fjord does not finalize transaction.version
// 2, so clients keep AddPartitionsToTxn and one epoch per producer
// session).
//
// Commits or aborts the producer's transaction: the coordinator writes
// PrepareCommit/PrepareAbort to __transaction_state, answers once that is
// durable (the outcome is then decided), and writes the markers to every
// partition of the transaction before CompleteCommit/CompleteAbort.
//
// Authorization (as Kafka): WRITE on the TRANSACTIONAL_ID, else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) endTxn(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.EndTxnRequest)
	if !h.authorize(req, metadata.ACLOpWrite, metadata.ACLResourceTransactionalID, r.TransactionalID) {
		return txnRefused(req, kerr.TransactionalIDAuthorizationFailed.Code)
	}
	return h.serveTxn(ctx, req, r.TransactionalID)
}
