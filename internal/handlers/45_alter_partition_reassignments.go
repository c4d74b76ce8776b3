package handlers

// AlterPartitionReassignments (key 45), versions 0-1.
//
// Starts, changes or cancels (null replicas) partition reassignments
// through the controller (controller/reassign.go has the semantics: the
// target replicas are added, catch up, join the ISR, and the replicas not
// in the target are then removed in the same change). v1 (KIP-860) may
// forbid changing the replication factor (INVALID_REPLICATION_FACTOR).
// Per partition: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT,
// NO_REASSIGNMENT_IN_PROGRESS. An admin API: forwarded to the active
// controller. TimeoutMillis is not used: the answer comes once the change
// is committed, as Kafka's.
//
// Authorization (as Kafka): ALTER on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED at the top level.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) alterPartitionReassignments(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := kmsg.NewPtrAlterPartitionAssignmentsResponse()
	resp.AllowReplicationFactorChange = r.Version < 1 || r.AllowReplicationFactorChange
	if !h.authorizeCluster(req, metadata.ACLOpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(req, resp)
	}
	var items []controller.Reassignment
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			items = append(items, controller.Reassignment{
				Topic: t.Topic, Partition: p.Partition, Replicas: p.Replicas,
				KeepReplicationFactor: !resp.AllowReplicationFactorChange,
			})
		}
	}
	errs, err := h.d.Controller.AlterPartitionReassignments(ctx, items)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return respond(req, resp)
	}
	i := 0
	for _, t := range r.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.ErrorMessage = p.Partition, errorCode(errs[i]), errorMessage(errs[i])
			rt.Partitions = append(rt.Partitions, rp)
			i++
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}
