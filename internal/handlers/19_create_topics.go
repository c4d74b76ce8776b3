package handlers

// CreateTopics (key 19), versions 0-7.
//
// Sends the topics to the controller, which validates names
// (INVALID_TOPIC_EXCEPTION), partition counts (INVALID_PARTITIONS),
// replication factors (INVALID_REPLICATION_FACTOR), assignments
// (INVALID_REPLICA_ASSIGNMENT) and configs (INVALID_CONFIG), and answers
// once the topic is in this node's metadata. v5+ responses carry the
// partition count, replication factor and resolved configs; v7 the topic id.
// A name repeated in one request gets INVALID_REQUEST.

import (
	"context"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) createTopics(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	resp := kmsg.NewPtrCreateTopicsResponse()
	reqs, dup := createTopicRequests(r)
	results, err := h.d.Controller.CreateTopics(ctx, reqs)
	for i, t := range r.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		switch {
		case dup[t.Topic]:
			rt.ErrorCode = kerr.InvalidRequest.Code
		case err != nil:
			rt.ErrorCode, rt.ErrorMessage = kerr.RequestTimedOut.Code, errorMessage(err)
		default:
			h.fillCreated(&rt, results[i])
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}

// createTopicRequests converts the request; names given twice are all
// reported in dup (and their entries are sent with an empty name, which
// the controller rejects without side effects, so indexes stay aligned).
func createTopicRequests(r *kmsg.CreateTopicsRequest) ([]controller.CreateTopic, map[string]bool) {
	seen, dup := map[string]int{}, map[string]bool{}
	for _, t := range r.Topics {
		seen[t.Topic]++
		if seen[t.Topic] > 1 {
			dup[t.Topic] = true
		}
	}
	out := make([]controller.CreateTopic, len(r.Topics))
	for i, t := range r.Topics {
		c := controller.CreateTopic{
			Name: t.Topic, NumPartitions: t.NumPartitions, ReplicationFactor: t.ReplicationFactor,
			Configs: map[string]string{}, ValidateOnly: r.ValidateOnly || dup[t.Topic],
		}
		for _, a := range t.ReplicaAssignment {
			c.Assignments = append(c.Assignments, a.Replicas)
		}
		for _, kv := range t.Configs {
			if kv.Value != nil {
				c.Configs[kv.Name] = *kv.Value
			}
		}
		out[i] = c
	}
	return out, dup
}

func (h *Handlers) fillCreated(rt *kmsg.CreateTopicsResponseTopic, res controller.TopicResult) {
	if res.Err != nil {
		rt.ErrorCode, rt.ErrorMessage = errorCode(res.Err), errorMessage(res.Err)
		return
	}
	rt.TopicID, rt.NumPartitions, rt.ReplicationFactor = res.ID, res.NumPartitions, res.ReplicationFactor
	topic := config.NewTopic(h.d.Image().TopicConfig(rt.Topic), h.d.Config)
	for _, d := range config.TopicDefs() {
		e, _ := topic.Entry(d.Name)
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Source = d.Name, int8(e.Source)
		if !e.Null {
			v := e.Value
			c.Value = &v
		}
		rt.Configs = append(rt.Configs, c)
	}
}
