package handlers

// AllocateProducerIds (key 67), version 0, on the controller listener.
//
// The active controller hands a broker a block of producer ids
// (controller.AllocateProducerIDs); a stale broker epoch gets
// STALE_BROKER_EPOCH.

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) allocateProducerIDs(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AllocateProducerIDsRequest)
	resp := kmsg.NewPtrAllocateProducerIDsResponse()
	if h.d.Controller == nil {
		resp.ErrorCode = kerr.NotController.Code
		return respond(req, resp)
	}
	start, n, err := h.d.Controller.AllocateProducerIDs(ctx, r.BrokerID, r.BrokerEpoch)
	resp.ErrorCode = errorCode(err)
	if err == nil {
		resp.ProducerIDStart, resp.ProducerIDLen = start, n
	}
	return respond(req, resp)
}
