package handlers

// DeleteTopics (key 20), versions 0-6.
//
// Deletes topics by name (v0-5) or by name or id (v6) through the
// controller; each local replica's log is removed when the deletion
// reaches this node's metadata. Unknown names get
// UNKNOWN_TOPIC_OR_PARTITION, unknown ids UNKNOWN_TOPIC_ID.
//
// Authorization (as Kafka's controller): DELETE on the cluster allows
// every topic; otherwise each topic needs DELETE, else
// TOPIC_AUTHORIZATION_FAILED, and nothing reveals whether a topic the
// principal may not DESCRIBE exists: a name without DESCRIBE gets
// TOPIC_AUTHORIZATION_FAILED before any lookup (UNKNOWN_TOPIC_OR_PARTITION
// only to those who may describe it), and a refused id is answered
// without its name unless the principal may describe the topic.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteTarget is one topic of a DeleteTopics request.
type deleteTarget struct {
	name     string   // as asked, or resolved from the id ("" if unknown)
	id       [16]byte // the id asked, if any
	showName bool     // the response may name the topic
	err      error    // the answer when it is not sent to the controller
}

func (h *Handlers) deleteTopics(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	resp := kmsg.NewPtrDeleteTopicsResponse()
	targets := h.deleteTargets(r)
	if !h.d.Config.Bool("delete.topic.enable") {
		for _, t := range targets {
			t.err = kerr.TopicDeletionDisabled
			resp.Topics = append(resp.Topics, t.answer(deleteResult{}))
		}
		return respond(req, resp)
	}
	h.authorizeDeletes(req, targets)
	var names []string
	for _, t := range targets {
		if t.err == nil {
			names = append(names, t.name)
		}
	}
	results, j := h.deleteNamed(ctx, names), 0
	for _, t := range targets {
		var res deleteResult
		if t.err == nil {
			res, j = results[j], j+1
		}
		resp.Topics = append(resp.Topics, t.answer(res))
	}
	return respond(req, resp)
}

// deleteTargets lists the topics asked, by name (v0-5) or name or id (v6).
func (h *Handlers) deleteTargets(r *kmsg.DeleteTopicsRequest) []*deleteTarget {
	var out []*deleteTarget
	if r.Version < 6 {
		for _, n := range r.TopicNames {
			out = append(out, &deleteTarget{name: n, showName: true})
		}
		return out
	}
	img := h.d.Image()
	for _, t := range r.Topics {
		switch ti := img.Topics[metadata.UUID(t.TopicID)]; {
		case t.Topic != nil:
			out = append(out, &deleteTarget{name: *t.Topic, showName: true})
		case ti != nil:
			out = append(out, &deleteTarget{name: ti.Name, id: t.TopicID})
		default:
			out = append(out, &deleteTarget{id: t.TopicID, err: kerr.UnknownTopicID})
		}
	}
	return out
}

// authorizeDeletes sets the error of each target the principal may not
// delete, and whether a target asked by id may be named.
func (h *Handlers) authorizeDeletes(req *server.Request, targets []*deleteTarget) {
	if h.authorizeCluster(req, metadata.ACLOpDelete) {
		for _, t := range targets {
			t.showName = t.showName || t.err == nil
		}
		return
	}
	img := h.d.Image()
	for _, t := range targets {
		if t.err != nil {
			continue
		}
		describable := h.authorizeTopic(req, metadata.ACLOpDescribe, t.name)
		t.showName = t.showName || describable
		_, exists := img.Topic(t.name)
		switch {
		case !describable:
			t.err = kerr.TopicAuthorizationFailed
		case h.authorizeTopic(req, metadata.ACLOpDelete, t.name):
		case !exists:
			t.err = kerr.UnknownTopicOrPartition
		default:
			t.err = kerr.TopicAuthorizationFailed
		}
	}
}

// deleteResult is the controller's answer for one name.
type deleteResult struct {
	id  [16]byte
	err error
}

// deleteNamed deletes the topics through the controller and returns the
// outcome of each (REQUEST_TIMED_OUT for all when it cannot be reached).
func (h *Handlers) deleteNamed(ctx context.Context, names []string) []deleteResult {
	out := make([]deleteResult, len(names))
	if len(names) == 0 {
		return out
	}
	results, err := h.d.Controller.DeleteTopics(ctx, names)
	for i := range names {
		if err != nil {
			out[i] = deleteResult{err: kerr.RequestTimedOut}
			continue
		}
		out[i] = deleteResult{id: results[i].ID, err: results[i].Err}
	}
	return out
}

// answer is the target's response entry: its own error if it was not sent
// to the controller, else the controller's result.
func (t *deleteTarget) answer(res deleteResult) kmsg.DeleteTopicsResponseTopic {
	id, err := t.id, t.err
	if err == nil {
		id, err = res.id, res.err
	}
	out := deletedTopic(t.name, id, err)
	if !t.showName {
		out.Topic = nil
	}
	return out
}

func deletedTopic(name string, id [16]byte, err error) kmsg.DeleteTopicsResponseTopic {
	t := kmsg.NewDeleteTopicsResponseTopic()
	t.Topic, t.TopicID = &name, id
	t.ErrorCode, t.ErrorMessage = errorCode(err), errorMessage(err)
	return t
}
