package handlers

// OffsetForLeaderEpoch (key 23), versions 2-4.
//
// For each partition, the leader answers the end offset of the requested
// leader epoch from its epoch cache (KIP-101/279): the largest epoch not
// above it and where it ends (the log end offset for the latest epoch),
// or -1/-1 when unknown. CurrentLeaderEpoch is checked
// (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH). Followers (ReplicaID >= 0)
// and consumers are answered alike, by the leader only.
//
// Authorization (as Kafka, whatever the ReplicaID: KIP-320 opened the API
// to consumers): CLUSTER_ACTION on the cluster allows every topic;
// otherwise each topic needs DESCRIBE, else its partitions get
// TOPIC_AUTHORIZATION_FAILED before the topic is looked up.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetForLeaderEpoch(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	img := h.d.Image()
	denied := h.epochDenied(req, r)
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rt.Partitions = append(rt.Partitions, h.epochEndOne(img, t.Topic, tp, denied[t.Topic]))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}

// epochDenied returns the topics the request may not ask about.
func (h *Handlers) epochDenied(req *server.Request, r *kmsg.OffsetForLeaderEpochRequest) map[string]bool {
	if h.authorizeCluster(req, metadata.ACLOpClusterAction) {
		return nil
	}
	return h.deniedTopics(req, metadata.ACLOpDescribe,
		namesOf(r.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) string { return t.Topic }))
}

func (h *Handlers) epochEndOne(img *metadata.Image, topic string, tp kmsg.OffsetForLeaderEpochRequestTopicPartition, denied bool) kmsg.OffsetForLeaderEpochResponseTopicPartition {
	out := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
	out.Partition, out.LeaderEpoch, out.EndOffset = tp.Partition, -1, -1
	if denied {
		out.ErrorCode = kerr.TopicAuthorizationFailed.Code
		return out
	}
	p := h.d.Partitions.Partition(topic, tp.Partition)
	switch {
	case !hasPartition(img, topic, tp.Partition):
		out.ErrorCode = kerr.UnknownTopicOrPartition.Code
	case p == nil:
		out.ErrorCode = kerr.NotLeaderForPartition.Code
	default:
		e, end, err := p.EndOffsetForEpoch(tp.LeaderEpoch, tp.CurrentLeaderEpoch)
		out.LeaderEpoch, out.EndOffset, out.ErrorCode = e, end, errorCode(err)
	}
	return out
}
