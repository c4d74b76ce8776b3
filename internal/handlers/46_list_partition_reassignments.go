package handlers

// ListPartitionReassignments (key 46), version 0.
//
// Lists the reassignments in progress (replicas, adding and removing
// replicas) of the named partitions, or all of them for null topics;
// partitions that are unknown or not being reassigned are left out, as
// Kafka does. An admin API: forwarded to the active controller, which
// answers from its own metadata (a reassignment just started is listed).
//
// Authorization (as Kafka): DESCRIBE on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED at the top level.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) listPartitionReassignments(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := kmsg.NewPtrListPartitionReassignmentsResponse()
	if !h.authorizeCluster(req, metadata.ACLOpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(req, resp)
	}
	tps := namedPartitions(r.Topics, func(t kmsg.ListPartitionReassignmentsRequestTopic) string { return t.Topic },
		func(t kmsg.ListPartitionReassignmentsRequestTopic) []int32 { return t.Partitions })
	list, err := h.d.Controller.ListPartitionReassignments(ctx, tps)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return respond(req, resp)
	}
	byTopic := map[string]int{}
	for _, st := range list {
		i, ok := byTopic[st.Topic]
		if !ok {
			t := kmsg.NewListPartitionReassignmentsResponseTopic()
			t.Topic = st.Topic
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			byTopic[st.Topic] = i
		}
		p := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		p.Partition, p.Replicas, p.AddingReplicas, p.RemovingReplicas = st.Partition, st.Replicas, st.AddingReplicas, st.RemovingReplicas
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
	return respond(req, resp)
}
