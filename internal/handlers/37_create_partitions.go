package handlers

// CreatePartitions (key 37), versions 0-3.
//
// Grows topics to the requested partition count through the controller,
// placing new replicas like CreateTopics or as assigned. Shrinking or
// keeping the count gets INVALID_PARTITIONS; unknown topics
// UNKNOWN_TOPIC_OR_PARTITION.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) createPartitions(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	resp := kmsg.NewPtrCreatePartitionsResponse()
	reqs := make([]controller.CreatePartitions, len(r.Topics))
	for i, t := range r.Topics {
		reqs[i] = controller.CreatePartitions{Name: t.Topic, Count: t.Count, ValidateOnly: r.ValidateOnly}
		for _, a := range t.Assignment {
			reqs[i].Assignments = append(reqs[i].Assignments, a.Replicas)
		}
	}
	results, err := h.d.Controller.CreatePartitions(ctx, reqs)
	for i, t := range r.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		e := err
		if e == nil {
			e = results[i].Err
		} else {
			e = kerr.RequestTimedOut
		}
		rt.ErrorCode, rt.ErrorMessage = errorCode(e), errorMessage(e)
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}
