package handlers

// OffsetDelete (key 47), version 0: removes a group's committed offsets
// for partitions it no longer consumes (GROUP_SUBSCRIBED_TO_TOPIC
// otherwise).
//
// Authorization (as Kafka): DELETE on the group, else
// GROUP_AUTHORIZATION_FAILED; then READ on each topic, else its partitions
// get TOPIC_AUTHORIZATION_FAILED and keep their offsets.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetDelete(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	if !h.authorizeGroup(req, metadata.ACLOpDelete, r.Group) {
		return groupRefused(req)
	}
	name := func(t kmsg.OffsetDeleteRequestTopic) string { return t.Topic }
	denied := h.deniedTopics(req, metadata.ACLOpRead, namesOf(r.Topics, name))
	if len(denied) == 0 {
		return h.serveGroup(ctx, req, r.Group)
	}
	body := cloneRequest(r).(*kmsg.OffsetDeleteRequest)
	var refused []kmsg.OffsetDeleteRequestTopic
	body.Topics, refused = splitByName(body.Topics, name, denied)
	addRefused := func(resp kmsg.Response) {
		out := resp.(*kmsg.OffsetDeleteResponse)
		out.Topics = append(out.Topics, offsetDeleteRefused(refused)...)
	}
	if len(body.Topics) == 0 {
		resp := kmsg.NewPtrOffsetDeleteResponse()
		addRefused(resp)
		return respond(req, resp)
	}
	return h.serveGroupBody(ctx, req, r.Group, body, addRefused)
}

// offsetDeleteRefused answers TOPIC_AUTHORIZATION_FAILED for every
// partition of the topics.
func offsetDeleteRefused(topics []kmsg.OffsetDeleteRequestTopic) []kmsg.OffsetDeleteResponseTopic {
	out := make([]kmsg.OffsetDeleteResponseTopic, 0, len(topics))
	for _, t := range topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}
