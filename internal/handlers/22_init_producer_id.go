package handlers

// InitProducerId (key 22), versions 0-5, idempotent producers only.
//
// Hands a non-transactional producer a fresh producer id with epoch 0,
// from a block this broker got from the controller (AllocateProducerIds),
// so ids are unique cluster-wide. Like Kafka, re-initializing (v3+ with an
// existing id) also gets a new id. Transactions are not implemented: a
// request with a transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// (no transactional API is advertised, so clients that need transactions
// fail early), and COORDINATOR_NOT_AVAILABLE (retriable) is returned while
// no id block can be had from the controller.

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) initProducerID(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return respond(req, resp)
	}
	id, err := h.d.ProducerIDs.NextProducerID(ctx)
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return respond(req, resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return respond(req, resp)
}
