package handlers

// UnregisterBroker (key 64), version 0.
//
// Removes a broker's registration through the controller
// (controller/unregister.go): it leaves every ISR, the partitions it led
// elect new leaders, and it is no longer listed. For brokers retired for
// good, after their replicas were moved away (fjord broker drain); one
// still running registers again. BROKER_ID_NOT_REGISTERED for an unknown
// id. An admin API: forwarded to the active controller.
//
// Authorization (as Kafka): ALTER on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) unregisterBroker(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.UnregisterBrokerRequest)
	resp := kmsg.NewPtrUnregisterBrokerResponse()
	if !h.authorizeCluster(req, metadata.ACLOpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(req, resp)
	}
	err := h.d.Controller.UnregisterBroker(ctx, r.BrokerID)
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return respond(req, resp)
}
