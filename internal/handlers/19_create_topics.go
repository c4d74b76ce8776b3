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
//
// Authorization (as Kafka's controller): CREATE on the cluster, or else on
// each topic (TOPIC_AUTHORIZATION_FAILED, and the topic is not sent to the
// controller). A topic created without DESCRIBE_CONFIGS on it is answered
// without its configs, partition count and replication factor, with
// TopicConfigErrorCode TOPIC_AUTHORIZATION_FAILED (v5+).

import (
	"context"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) createTopics(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	resp := kmsg.NewPtrCreateTopicsResponse()
	reqs, dup := createTopicRequests(r)
	allowed := h.creatable(req, r, dup)
	results, err := h.createAllowed(ctx, reqs, allowed)
	for i, t := range r.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		switch {
		case dup[t.Topic]:
			rt.ErrorCode = kerr.InvalidRequest.Code
		case !allowed[i]:
			rt.ErrorCode, rt.ErrorMessage = kerr.TopicAuthorizationFailed.Code, errorMessage(kerr.TopicAuthorizationFailed)
		case err != nil:
			rt.ErrorCode, rt.ErrorMessage = kerr.RequestTimedOut.Code, errorMessage(err)
		default:
			h.fillCreated(&rt, results[i], h.authorizeTopic(req, metadata.ACLOpDescribeConfigs, t.Topic))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}

// creatable reports, by index, which topics the principal may create
// (names given twice are refused anyway and not asked about).
func (h *Handlers) creatable(req *server.Request, r *kmsg.CreateTopicsRequest, dup map[string]bool) []bool {
	cluster := h.authorizeCluster(req, metadata.ACLOpCreate)
	out := make([]bool, len(r.Topics))
	for i, t := range r.Topics {
		out[i] = !dup[t.Topic] && (cluster || h.authorizeTopic(req, metadata.ACLOpCreate, t.Topic))
	}
	return out
}

// createAllowed sends the allowed topics to the controller and returns
// the results by request index.
func (h *Handlers) createAllowed(ctx context.Context, reqs []controller.CreateTopic, allowed []bool) ([]controller.TopicResult, error) {
	var send []controller.CreateTopic
	for i, ok := range allowed {
		if ok {
			send = append(send, reqs[i])
		}
	}
	out := make([]controller.TopicResult, len(reqs))
	if len(send) == 0 {
		return out, nil
	}
	results, err := h.d.Controller.CreateTopics(ctx, send)
	if err != nil {
		return nil, err
	}
	j := 0
	for i, ok := range allowed {
		if ok {
			out[i], j = results[j], j+1
		}
	}
	return out, nil
}

// createTopicRequests converts the request; names given twice are all
// reported in dup (and are not sent: see creatable).
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
			Configs: map[string]string{}, ValidateOnly: r.ValidateOnly,
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

// fillCreated answers a topic sent to the controller; its configs,
// partition count and replication factor only if describeConfigs.
func (h *Handlers) fillCreated(rt *kmsg.CreateTopicsResponseTopic, res controller.TopicResult, describeConfigs bool) {
	if res.Err != nil {
		rt.ErrorCode, rt.ErrorMessage = errorCode(res.Err), errorMessage(res.Err)
		return
	}
	rt.TopicID = res.ID
	if !describeConfigs {
		rt.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		return
	}
	rt.NumPartitions, rt.ReplicationFactor = res.NumPartitions, res.ReplicationFactor
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
