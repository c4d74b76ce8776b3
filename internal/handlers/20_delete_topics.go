package handlers

// DeleteTopics (key 20), versions 0-6.
//
// Deletes topics by name (v0-5) or by name or id (v6) through the
// controller; each local replica's log is removed when the deletion
// reaches this node's metadata. Unknown names get
// UNKNOWN_TOPIC_OR_PARTITION, unknown ids UNKNOWN_TOPIC_ID.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) deleteTopics(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	resp := kmsg.NewPtrDeleteTopicsResponse()
	names, unknownIDs := h.deleteTargets(r)
	if !h.d.Config.Bool("delete.topic.enable") {
		for _, n := range names {
			resp.Topics = append(resp.Topics, deletedTopic(n, [16]byte{}, kerr.TopicDeletionDisabled))
		}
		return respond(req, resp)
	}
	results, err := h.d.Controller.DeleteTopics(ctx, names)
	for i, n := range names {
		if err != nil {
			resp.Topics = append(resp.Topics, deletedTopic(n, [16]byte{}, kerr.RequestTimedOut))
			continue
		}
		resp.Topics = append(resp.Topics, deletedTopic(n, results[i].ID, results[i].Err))
	}
	for _, id := range unknownIDs {
		t := deletedTopic("", id, kerr.UnknownTopicID)
		t.Topic = nil
		resp.Topics = append(resp.Topics, t)
	}
	return respond(req, resp)
}

func (h *Handlers) deleteTargets(r *kmsg.DeleteTopicsRequest) ([]string, [][16]byte) {
	if r.Version < 6 {
		return r.TopicNames, nil
	}
	img := h.d.Image()
	var names []string
	var unknown [][16]byte
	for _, t := range r.Topics {
		switch {
		case t.Topic != nil:
			names = append(names, *t.Topic)
		case img.Topics[metadata.UUID(t.TopicID)] != nil:
			names = append(names, img.Topics[metadata.UUID(t.TopicID)].Name)
		default:
			unknown = append(unknown, t.TopicID)
		}
	}
	return names, unknown
}

func deletedTopic(name string, id [16]byte, err error) kmsg.DeleteTopicsResponseTopic {
	t := kmsg.NewDeleteTopicsResponseTopic()
	t.Topic, t.TopicID = &name, id
	t.ErrorCode, t.ErrorMessage = errorCode(err), errorMessage(err)
	return t
}
