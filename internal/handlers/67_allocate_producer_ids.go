package handlers

// AllocateProducerIds (key 67), version 0, on the controller listener.
//
// The active controller hands a broker a block of producer ids
// (controller.AllocateProducerIDs); a stale broker epoch gets
// STALE_BROKER_EPOCH.
//
// Authorization (as Kafka's controller): CLUSTER_ACTION on the cluster,
// else CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) allocateProducerIDs(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AllocateProducerIDsRequest)
	resp := kmsg.NewPtrAllocateProducerIDsResponse()
	if resp.ErrorCode = h.controllerAPIError(req); resp.ErrorCode != 0 {
		return respond(req, resp)
	}
	start, n, err := h.d.Controller.AllocateProducerIDs(ctx, r.BrokerID, r.BrokerEpoch)
	resp.ErrorCode = errorCode(err)
	if err == nil {
		resp.ProducerIDStart, resp.ProducerIDLen = start, n
	}
	return respond(req, resp)
}
