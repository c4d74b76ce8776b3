package handlers

// InitProducerId (key 22), versions 0-5.
//
// Without a transactional id: hands the producer a fresh producer id with
// epoch 0, from a block this broker got from the controller
// (AllocateProducerIds), so ids are unique cluster-wide. Like Kafka,
// re-initializing (v3+ with an existing id) also gets a new id, and
// COORDINATOR_NOT_AVAILABLE (retriable) is returned while no id block can
// be had from the controller.
//
// With a transactional id: served by the id's transaction coordinator
// (the leader of its __transaction_state partition; NOT_COORDINATOR
// elsewhere), which assigns or bumps the id's producer epoch, fencing
// older producers of the same id (KIP-98, KIP-360); an empty id is
// INVALID_REQUEST.
//
// Authorization (as Kafka 3.x), before anything else: with a transactional
// id, WRITE on that TRANSACTIONAL_ID (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED); without one, IDEMPOTENT_WRITE on
// the cluster or WRITE on at least one topic (Kafka's
// authorizeByResourceType), else CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) initProducerID(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if e := h.initProducerIDError(req, r); e != nil {
		resp.ErrorCode = e.Code
		return respond(req, resp)
	}
	if r.TransactionalID != nil {
		if *r.TransactionalID == "" {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return respond(req, resp)
		}
		return h.serveTxn(ctx, req, *r.TransactionalID)
	}
	id, err := h.d.ProducerIDs.NextProducerID(ctx)
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return respond(req, resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return respond(req, resp)
}

// initProducerIDError is the request's authorization error, nil if
// allowed.
func (h *Handlers) initProducerIDError(req *server.Request, r *kmsg.InitProducerIDRequest) *kerr.Error {
	switch {
	case r.TransactionalID != nil:
		if !h.authorize(req, metadata.ACLOpWrite, metadata.ACLResourceTransactionalID, *r.TransactionalID) {
			return kerr.TransactionalIDAuthorizationFailed
		}
	case !h.authorizeCluster(req, metadata.ACLOpIdempotentWrite) && !h.authorizeAnyTopic(req, metadata.ACLOpWrite):
		return kerr.ClusterAuthorizationFailed
	}
	return nil
}
