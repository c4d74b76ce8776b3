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
	return serveReadable(h, ctx, req, r.Group, readableTopics[kmsg.OffsetDeleteRequestTopic]{
		topics: func(b kmsg.Request) *[]kmsg.OffsetDeleteRequestTopic { return &b.(*kmsg.OffsetDeleteRequest).Topics },
		name:   func(t kmsg.OffsetDeleteRequestTopic) string { return t.Topic },
		empty:  func() kmsg.Response { return kmsg.NewPtrOffsetDeleteResponse() },
		refuse: func(resp kmsg.Response, refused []kmsg.OffsetDeleteRequestTopic) {
			out := resp.(*kmsg.OffsetDeleteResponse)
			out.Topics = append(out.Topics, offsetDeleteRefused(refused)...)
		},
	})
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
