package handlers

// DescribeCluster (key 60), versions 0-1.
//
// Reports the cluster id, the active controller and the live brokers on
// the request's listener. No authorization beyond, as Kafka, the
// ClusterAuthorizedOperations bitfield when asked (0 without DESCRIBE on
// the cluster).

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeCluster(_ context.Context, req *server.Request) server.Reply {
	img := h.d.Image()
	resp := kmsg.NewPtrDescribeClusterResponse()
	resp.ClusterID = img.ClusterID
	resp.ControllerID = h.controllerID()
	resp.ClusterAuthorizedOperations = h.clusterAuthorizedOperations(req, req.Body.(*kmsg.DescribeClusterRequest).IncludeClusterAuthorizedOperations)
	for _, b := range h.brokers(img, req.Listener) {
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port, db.Rack = b.NodeID, b.Host, b.Port, b.Rack
		resp.Brokers = append(resp.Brokers, db)
	}
	return respond(req, resp)
}
