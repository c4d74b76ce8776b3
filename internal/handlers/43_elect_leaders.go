package handlers

// ElectLeaders (key 43), versions 0-2.
//
// Preferred (0) or unclean (1, v1+) leader elections through the
// controller, for the listed partitions or all (null topics). Per
// partition: ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE or UNKNOWN_TOPIC_OR_PARTITION. An admin
// API: forwarded to the active controller.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) electLeaders(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.ElectLeadersRequest)
	resp := kmsg.NewPtrElectLeadersResponse()
	var tps []controller.TopicPartition
	if r.Topics != nil {
		tps = []controller.TopicPartition{}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, controller.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
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
