package handlers

// AddOffsetsToTxn (key 25), versions 0-4.
//
// Adds the group's __consumer_offsets partition to the producer's
// transaction, so that its TxnOffsetCommit records are committed or
// aborted with the transaction's other writes (KIP-98). Served by the
// transactional id's coordinator, which answers as for
// AddPartitionsToTxn (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED or
// INVALID_PRODUCER_EPOCH by version, CONCURRENT_TRANSACTIONS...).
//
// Authorization (as Kafka): WRITE on the TRANSACTIONAL_ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the group (else
// GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) addOffsetsToTxn(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AddOffsetsToTxnRequest)
	switch {
	case !h.authorize(req, metadata.ACLOpWrite, metadata.ACLResourceTransactionalID, r.TransactionalID):
		return txnRefused(req, kerr.TransactionalIDAuthorizationFailed.Code)
	case !h.authorizeGroup(req, metadata.ACLOpRead, r.Group):
		return txnRefused(req, kerr.GroupAuthorizationFailed.Code)
	}
	return h.serveTxn(ctx, req, r.TransactionalID)
}
