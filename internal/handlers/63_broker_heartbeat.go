package handlers

// BrokerHeartbeat (key 63), versions 0-1, on the controller listener.
//
// Renews the broker's session with the active controller, reports whether
// it has caught up with the metadata and is fenced, and drives controlled
// shutdown (WantShutdown: leadership moves away, then ShouldShutdown).
// A stale broker epoch gets STALE_BROKER_EPOCH; the broker re-registers.
//
// Authorization (as Kafka's controller): CLUSTER_ACTION on the cluster,
// else CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) brokerHeartbeat(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.BrokerHeartbeatRequest)
	resp := kmsg.NewPtrBrokerHeartbeatResponse()
	if resp.ErrorCode = h.controllerAPIError(req); resp.ErrorCode != 0 {
		return respond(req, resp)
	}
	res, err := h.d.Controller.BrokerHeartbeat(ctx, controller.Heartbeat{
		ID: r.BrokerID, Epoch: r.BrokerEpoch, MetadataOffset: r.CurrentMetadataOffset,
		WantFence: r.WantFence, WantShutDown: r.WantShutdown,
	})
	resp.ErrorCode = errorCode(err)
	resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = res.IsCaughtUp, res.IsFenced, res.ShouldShutDown
	return respond(req, resp)
}
