package handlers

// CreatePartitions (key 37), versions 0-3.
//
// Grows topics to the requested partition count through the controller,
// placing new replicas like CreateTopics or as assigned. Shrinking or
// keeping the count gets INVALID_PARTITIONS; unknown topics
// UNKNOWN_TOPIC_OR_PARTITION.
//
// Authorization (as Kafka's controller): ALTER on each topic, else
// TOPIC_AUTHORIZATION_FAILED (and the topic is not sent to the controller,
// so its existence is not revealed).

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) createPartitions(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	resp := kmsg.NewPtrCreatePartitionsResponse()
	denied := h.deniedTopics(req, metadata.ACLOpAlter,
		namesOf(r.Topics, func(t kmsg.CreatePartitionsRequestTopic) string { return t.Topic }))
	var reqs []controller.CreatePartitions
	for _, t := range r.Topics {
		if denied[t.Topic] {
			continue
		}
		c := controller.CreatePartitions{Name: t.Topic, Count: t.Count, ValidateOnly: r.ValidateOnly}
		for _, a := range t.Assignment {
			c.Assignments = append(c.Assignments, a.Replicas)
		}
		reqs = append(reqs, c)
	}
	errs := h.growPartitions(ctx, reqs)
	for _, t := range r.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var e error = kerr.TopicAuthorizationFailed
		if !denied[t.Topic] {
			e, errs = errs[0], errs[1:]
		}
		rt.ErrorCode, rt.ErrorMessage = errorCode(e), errorMessage(e)
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}

// growPartitions sends the changes to the controller and returns each
// one's error (REQUEST_TIMED_OUT for all when it cannot be reached).
func (h *Handlers) growPartitions(ctx context.Context, reqs []controller.CreatePartitions) []error {
	errs := make([]error, len(reqs))
	if len(reqs) == 0 {
		return errs
	}
	results, err := h.d.Controller.CreatePartitions(ctx, reqs)
	for i := range reqs {
		if err != nil {
			errs[i] = kerr.RequestTimedOut
		} else {
			errs[i] = results[i].Err
		}
	}
	return errs
}
