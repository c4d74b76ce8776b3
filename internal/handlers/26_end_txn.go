package handlers

// EndTxn (key 26), versions 0-5.
//
// v5 (KIP-890 part 2) is what clients send when transaction.version 2 is
// finalized (18_api_versions.go); as in Kafka, the request version alone
// decides (a v5 request is transaction version 2 whatever the configured
// level): every commit or abort bumps the producer epoch (a new producer
// id once the epoch is exhausted), a retry carries the epoch before the
// bump, and the response carries the producer id and epoch the client
// uses next (-1/-1 with an error). v0-v4 keep the epoch.
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
