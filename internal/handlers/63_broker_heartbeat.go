package handlers

// BrokerHeartbeat (key 63), versions 0-1, on the controller listener.
//
// Renews the broker's session with the active controller, reports whether
// it has caught up with the metadata and is fenced, and drives controlled
// shutdown (WantShutdown: leadership moves away, then ShouldShutdown).
// A stale broker epoch gets STALE_BROKER_EPOCH; the broker re-registers.
// The connection is marked as the broker's (server.Session.Peer =
// BrokerPeer): when it ends, the node probes whether the broker's process
// is gone (fast crash detection, issue 11).
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
	if req.Session != nil {
		req.Session.Peer = BrokerPeer{ID: r.BrokerID, Epoch: r.BrokerEpoch}
	}
	res, err := h.d.Controller.BrokerHeartbeat(ctx, controller.Heartbeat{
		ID: r.BrokerID, Epoch: r.BrokerEpoch, MetadataOffset: r.CurrentMetadataOffset,
		WantFence: r.WantFence, WantShutDown: r.WantShutdown,
	})
	resp.ErrorCode = errorCode(err)
	resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = res.IsCaughtUp, res.IsFenced, res.ShouldShutDown
	return respond(req, resp)
}

// BrokerPeer marks a controller-listener connection on which a broker
// heartbeats: the broker's id and the epoch of its registration.
type BrokerPeer struct {
	ID    int32
	Epoch int64
}
