package handlers

// OffsetCommit (key 8), versions 0-9 (topic names; v10's topic ids are not
// served). Acknowledged only once the commit records are replicated to the
// high watermark of __consumer_offsets. Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION.
//
// Authorization (as Kafka): READ on the group, else every partition gets
// GROUP_AUTHORIZATION_FAILED; then READ on each topic, else its partitions
// get TOPIC_AUTHORIZATION_FAILED and are not committed.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetCommit(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	if !h.authorizeGroup(req, metadata.ACLOpRead, r.Group) {
		return groupRefused(req)
	}
	return serveReadable(h, ctx, req, r.Group, readableTopics[kmsg.OffsetCommitRequestTopic]{
		topics: func(b kmsg.Request) *[]kmsg.OffsetCommitRequestTopic { return &b.(*kmsg.OffsetCommitRequest).Topics },
		name:   func(t kmsg.OffsetCommitRequestTopic) string { return t.Topic },
		empty:  func() kmsg.Response { return kmsg.NewPtrOffsetCommitResponse() },
		refuse: func(resp kmsg.Response, refused []kmsg.OffsetCommitRequestTopic) {
			out := resp.(*kmsg.OffsetCommitResponse)
			out.Topics = append(out.Topics, commitRefused(refused)...)
		},
	})
}

// commitRefused answers TOPIC_AUTHORIZATION_FAILED for every partition of
// the topics.
func commitRefused(topics []kmsg.OffsetCommitRequestTopic) []kmsg.OffsetCommitResponseTopic {
	out := make([]kmsg.OffsetCommitResponseTopic, 0, len(topics))
	for _, t := range topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}
