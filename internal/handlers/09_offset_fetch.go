package handlers

// OffsetFetch (key 9), versions 0-9. Up to v7 one group per request; from
// v8 a batch of groups, each served by its coordinator (groups coordinated
// elsewhere get NOT_COORDINATOR in their entry). Unknown partitions answer
// offset -1. RequireStable (v7+) gets UNSTABLE_OFFSET_COMMIT while a commit
// is being replicated.
//
// Authorization (as Kafka), per group: DESCRIBE on the group, else
// GROUP_AUTHORIZATION_FAILED for it; then, unless the group answers an
// error, the asked partitions of topics without DESCRIBE get
// TOPIC_AUTHORIZATION_FAILED (offset -1), and a fetch of every committed
// offset leaves those topics out, so their names are never revealed.

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetFetch(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	if r.Version < 8 {
		return h.offsetFetchOne(ctx, req, r)
	}
	resp := kmsg.NewPtrOffsetFetchResponse()
	as := detached(req)
	var names []string
	byName := map[string]kmsg.OffsetFetchRequestGroup{}
	refused := map[string][]kmsg.OffsetFetchRequestGroupTopic{}
	for _, g := range r.Groups {
		if !h.authorizeGroup(req, metadata.ACLOpDescribe, g.Group) {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if g.Topics != nil {
			name := func(t kmsg.OffsetFetchRequestGroupTopic) string { return t.Topic }
			g.Topics, refused[g.Group] = splitByName(g.Topics, name, h.deniedTopics(req, metadata.ACLOpDescribe, namesOf(g.Topics, name)))
		}
		names, byName[g.Group] = append(names, g.Group), g
	}
	return h.perGroup(ctx, req, names, resp,
		func(g string) kmsg.Request {
			one := *r
			one.Groups = []kmsg.OffsetFetchRequestGroup{byName[g]}
			return &one
		},
		func(sub kmsg.Response) {
			for _, g := range sub.(*kmsg.OffsetFetchResponse).Groups {
				if g.ErrorCode == 0 {
					g.Topics = h.authorizedGroupOffsets(as, g.Topics, byName[g.Group].Topics == nil, refused[g.Group])
				}
				resp.Groups = append(resp.Groups, g)
			}
		})
}

// authorizedGroupOffsets applies topic authorization to one group's answer
// (v8+): for a fetch of every offset (all), drops the topics without
// DESCRIBE; otherwise adds the refused topics.
func (h *Handlers) authorizedGroupOffsets(as *server.Request, topics []kmsg.OffsetFetchResponseGroupTopic, all bool,
	refused []kmsg.OffsetFetchRequestGroupTopic) []kmsg.OffsetFetchResponseGroupTopic {
	if all {
		return slices.DeleteFunc(topics, func(t kmsg.OffsetFetchResponseGroupTopic) bool {
			return !h.authorizeTopic(as, metadata.ACLOpDescribe, t.Topic)
		})
	}
	for _, t := range refused {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			rp.Partition, rp.Offset, rp.ErrorCode = p, -1, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		topics = append(topics, rt)
	}
	return topics
}

// offsetFetchOne serves a single-group request (v0-7) with the same
// authorization as a batch's group.
func (h *Handlers) offsetFetchOne(ctx context.Context, req *server.Request, r *kmsg.OffsetFetchRequest) server.Reply {
	if !h.authorizeGroup(req, metadata.ACLOpDescribe, r.Group) {
		return groupRefused(req)
	}
	body := cloneRequest(r).(*kmsg.OffsetFetchRequest)
	var refused []kmsg.OffsetFetchRequestTopic
	if body.Topics != nil {
		name := func(t kmsg.OffsetFetchRequestTopic) string { return t.Topic }
		body.Topics, refused = splitByName(body.Topics, name, h.deniedTopics(req, metadata.ACLOpDescribe, namesOf(body.Topics, name)))
	}
	as, all := detached(req), r.Topics == nil
	return h.serveGroupBody(ctx, req, r.Group, body, func(resp kmsg.Response) {
		out := resp.(*kmsg.OffsetFetchResponse)
		if out.ErrorCode == 0 {
			out.Topics = h.authorizedOffsets(as, out.Topics, all, refused)
		}
	})
}

// authorizedOffsets is authorizedGroupOffsets for a single-group answer.
func (h *Handlers) authorizedOffsets(as *server.Request, topics []kmsg.OffsetFetchResponseTopic, all bool,
	refused []kmsg.OffsetFetchRequestTopic) []kmsg.OffsetFetchResponseTopic {
	if all {
		return slices.DeleteFunc(topics, func(t kmsg.OffsetFetchResponseTopic) bool {
			return !h.authorizeTopic(as, metadata.ACLOpDescribe, t.Topic)
		})
	}
	for _, t := range refused {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.ErrorCode = p, -1, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		topics = append(topics, rt)
	}
	return topics
}
