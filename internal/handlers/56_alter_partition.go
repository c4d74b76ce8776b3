package handlers

// AlterPartition (key 56), versions 2-3, on the controller listener.
//
// A partition leader proposes a new ISR; the active controller validates it
// (see controller.AlterPartition) and commits it. Topics are named by id
// (v2+); v3 carries broker epochs per ISR member, which are accepted but
// not checked beyond the members' eligibility. LeaderRecoveryState is not
// used yet (0).
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

func (h *Handlers) alterPartition(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AlterPartitionRequest)
	resp := kmsg.NewPtrAlterPartitionResponse()
	if resp.ErrorCode = h.controllerAPIError(req); resp.ErrorCode != 0 {
		return respond(req, resp)
	}
	items := alterItems(r)
	results, err := h.d.Controller.AlterPartition(ctx, r.BrokerID, r.BrokerEpoch, items)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return respond(req, resp)
	}
	i := 0
	for _, t := range r.Topics {
		rt := kmsg.NewAlterPartitionResponseTopic()
		rt.TopidID = t.TopicID
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, alterResult(p.Partition, results[i]))
			i++
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}

func alterItems(r *kmsg.AlterPartitionRequest) []controller.AlterPartitionItem {
	var items []controller.AlterPartitionItem
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			it := controller.AlterPartitionItem{
				TopicID: metadata.UUID(t.TopicID), Partition: p.Partition,
				LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: p.NewISR,
			}
			if r.Version >= 3 {
				it.ISR = nil
				for _, m := range p.NewEpochISR {
					it.ISR = append(it.ISR, m.BrokerID)
				}
			}
			items = append(items, it)
		}
	}
	return items
}

func alterResult(idx int32, res controller.AlterPartitionResult) kmsg.AlterPartitionResponseTopicPartition {
	out := kmsg.NewAlterPartitionResponseTopicPartition()
	out.Partition, out.ErrorCode = idx, errorCode(res.Err)
	out.LeaderID, out.LeaderEpoch, out.ISR, out.PartitionEpoch = res.Leader, res.LeaderEpoch, res.ISR, res.PartitionEpoch
	return out
}
