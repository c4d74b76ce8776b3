package handlers

// BrokerRegistration (key 62), versions 0-3, on the controller listener.
//
// A broker joins the cluster: the active controller checks the cluster id
// (INCONSISTENT_CLUSTER_ID), refuses a second live process with the same
// node id (DUPLICATE_BROKER_REGISTRATION), and registers the broker fenced.
// The broker epoch in the response is the metadata offset of the
// registration. Features and log dirs are not checked. A
// PreviousBrokerEpoch of -1 (v3+, KIP-966; also the default of older
// versions) marks a restart after an unclean shutdown; any other value
// is taken as clean (Fjord brokers send 0: they do not keep their last
// epoch in the clean-shutdown marker).
//
// Authorization (as Kafka's controller): CLUSTER_ACTION on the cluster,
// else CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) brokerRegistration(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.BrokerRegistrationRequest)
	resp := kmsg.NewPtrBrokerRegistrationResponse()
	if resp.ErrorCode = h.controllerAPIError(req); resp.ErrorCode != 0 {
		return respond(req, resp)
	}
	reg := controller.Registration{
		ID: r.BrokerID, ClusterID: r.ClusterID, Incarnation: metadata.UUID(r.IncarnationID).String(),
		UncleanShutdown: r.PreviousBrokerEpoch == -1,
	}
	if r.Rack != nil {
		reg.Rack = *r.Rack
	}
	for _, l := range r.Listeners {
		reg.Endpoints = append(reg.Endpoints, metadata.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
	}
	epoch, err := h.d.Controller.RegisterBroker(ctx, reg)
	resp.BrokerEpoch, resp.ErrorCode = epoch, errorCode(err)
	return respond(req, resp)
}
