package handlers

// ElectLeaders (key 43), versions 0-2.
//
// Preferred (0) or unclean (1, v1+) leader elections through the
// controller, for the listed partitions or all (null topics). Per
// partition: ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION. An admin
// API: forwarded to the active controller.
//
// Authorization (as Kafka): ALTER on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED at the top level (v1+) and for every
// requested partition.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) electLeaders(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.ElectLeadersRequest)
	resp := kmsg.NewPtrElectLeadersResponse()
	if !h.authorizeCluster(req, metadata.ACLOpAlter) {
		return respond(req, electRefused(r, kerr.ClusterAuthorizationFailed))
	}
	tps := namedPartitions(r.Topics, func(t kmsg.ElectLeadersRequestTopic) string { return t.Topic },
		func(t kmsg.ElectLeadersRequestTopic) []int32 { return t.Partitions })
	results, err := h.d.Controller.ElectLeaders(ctx, r.ElectionType, tps)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return respond(req, resp)
	}
	byTopic := map[string]int{}
	for _, res := range results {
		i, ok := byTopic[res.Topic]
		if !ok {
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = res.Topic
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			byTopic[res.Topic] = i
		}
		p := kmsg.NewElectLeadersResponseTopicPartition()
		p.Partition, p.ErrorCode, p.ErrorMessage = res.Partition, errorCode(res.Err), errorMessage(res.Err)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
	return respond(req, resp)
}

// electRefused answers err at the top level and for every partition asked.
func electRefused(r *kmsg.ElectLeadersRequest, err *kerr.Error) *kmsg.ElectLeadersResponse {
	resp := kmsg.NewPtrElectLeadersResponse()
	resp.ErrorCode = err.Code
	for _, t := range r.Topics {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, err.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// namedPartitions lists the partitions a request names, topic by
// topic (name and parts read one request topic), or nil when the request
// has null topics, which means every partition.
func namedPartitions[T any](topics []T, name func(T) string, parts func(T) []int32) []controller.TopicPartition {
	if topics == nil {
		return nil
	}
	tps := []controller.TopicPartition{}
	for _, t := range topics {
		for _, p := range parts(t) {
			tps = append(tps, controller.TopicPartition{Topic: name(t), Partition: p})
		}
	}
	return tps
}
