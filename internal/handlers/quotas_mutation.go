package handlers

// controller_mutation_rate (KIP-599): CreateTopics, CreatePartitions and
// DeleteTopics count the partitions they create, add or delete against
// the client's quota, a token bucket (ClientQuotas.Mutate). The registry
// serves the three APIs through the wrappers here, which run where the
// request is decided (the active controller's node, after forwarding), so
// one bucket per client serves the cluster.
//
// From CreateTopics v6, CreatePartitions v3 and DeleteTopics v5 on, the
// quota is strict: topics are admitted in request order while the client
// is within its quota (the one that crosses it included), the rest get
// THROTTLING_QUOTA_EXCEEDED without reaching the controller. Older
// versions are only recorded. Either way the response carries the
// throttle time and the connection is muted for it. Validate-only
// requests are not counted. A topic admitted but then refused by the
// controller (it exists, say) still counts, which Kafka does not do.

import (
	"context"
	"fmt"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// admitMutations asks the quota about each item (counts[i] partitions),
// in order, and returns which were refused and the throttle time.
func (h *Handlers) admitMutations(req *server.Request, counts []int, strict bool) ([]bool, time.Duration, bool) {
	refused := make([]bool, len(counts))
	var throttle time.Duration
	anyRefused := false
	user := quotaUser(req)
	for i, n := range counts {
		ok, d := h.d.Quotas.Mutate(user, req.ClientID, float64(n), h.d.Now(), strict)
		refused[i], throttle = !ok, max(throttle, d)
		anyRefused = anyRefused || !ok
	}
	return refused, throttle, anyRefused
}

// throttlingErr is the answer of a refused topic.
func throttlingErr(d time.Duration) error {
	return fmt.Errorf("%w: the controller mutation quota is exceeded; retry in %v", kerr.ThrottlingQuotaExceeded, d)
}

// kept returns the items not refused.
func kept[T any](items []T, refused []bool) []T {
	var out []T
	for i, it := range items {
		if !refused[i] {
			out = append(out, it)
		}
	}
	return out
}

// merged returns the answers in request order: synth(i) for a refused
// item, else the inner handler's next answer.
func merged[T any](refused []bool, inner []T, synth func(i int) T) []T {
	out := make([]T, 0, len(refused))
	for i, r := range refused {
		if r || len(inner) == 0 {
			out = append(out, synth(i))
			continue
		}
		out, inner = append(out, inner[0]), inner[1:]
	}
	return out
}

// subRequest is req with another body (the items admitted).
func subRequest(req *server.Request, body kmsg.Request) *server.Request {
	c := *req
	c.Body = body
	return &c
}

func (h *Handlers) createTopicsWithQuota(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	if h.d.Quotas == nil || r.ValidateOnly {
		return h.createTopics(ctx, req)
	}
	counts := make([]int, len(r.Topics))
	for i, t := range r.Topics {
		counts[i] = h.createdPartitions(t)
	}
	refused, throttle, anyRefused := h.admitMutations(req, counts, r.Version >= 6)
	if !anyRefused {
		return withKnownThrottle(h.createTopics(ctx, req), throttle)
	}
	sub := *r
	sub.Topics = kept(r.Topics, refused)
	reply := h.createTopics(ctx, subRequest(req, &sub))
	if resp, ok := reply.Response.(*kmsg.CreateTopicsResponse); ok {
		err := throttlingErr(throttle)
		resp.Topics = merged(refused, resp.Topics, func(i int) kmsg.CreateTopicsResponseTopic {
			t := kmsg.NewCreateTopicsResponseTopic()
			t.Topic, t.ErrorCode, t.ErrorMessage = r.Topics[i].Topic, errorCode(err), detailMessage(err)
			return t
		})
	}
	return withKnownThrottle(reply, throttle)
}

// createdPartitions is how many partitions a CreateTopics entry creates.
func (h *Handlers) createdPartitions(t kmsg.CreateTopicsRequestTopic) int {
	switch {
	case t.NumPartitions > 0:
		return int(t.NumPartitions)
	case len(t.ReplicaAssignment) > 0:
		return len(t.ReplicaAssignment)
	case h.d.Config != nil:
		return int(h.d.Config.Int("num.partitions"))
	}
	return 1
}

func (h *Handlers) createPartitionsWithQuota(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	if h.d.Quotas == nil || r.ValidateOnly {
		return h.createPartitions(ctx, req)
	}
	img := h.d.Image()
	counts := make([]int, len(r.Topics))
	for i, t := range r.Topics {
		if ti, ok := img.Topic(t.Topic); ok {
			counts[i] = max(0, int(t.Count)-len(ti.Partitions))
		}
	}
	refused, throttle, anyRefused := h.admitMutations(req, counts, r.Version >= 3)
	if !anyRefused {
		return withKnownThrottle(h.createPartitions(ctx, req), throttle)
	}
	sub := *r
	sub.Topics = kept(r.Topics, refused)
	reply := h.createPartitions(ctx, subRequest(req, &sub))
	if resp, ok := reply.Response.(*kmsg.CreatePartitionsResponse); ok {
		err := throttlingErr(throttle)
		resp.Topics = merged(refused, resp.Topics, func(i int) kmsg.CreatePartitionsResponseTopic {
			t := kmsg.NewCreatePartitionsResponseTopic()
			t.Topic, t.ErrorCode, t.ErrorMessage = r.Topics[i].Topic, errorCode(err), detailMessage(err)
			return t
		})
	}
	return withKnownThrottle(reply, throttle)
}

func (h *Handlers) deleteTopicsWithQuota(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	if h.d.Quotas == nil {
		return h.deleteTopics(ctx, req)
	}
	img := h.d.Image()
	partitions := func(name string, id [16]byte) int {
		if t, ok := img.Topic(name); ok {
			return len(t.Partitions)
		}
		if t, ok := img.Topics[metadata.UUID(id)]; ok {
			return len(t.Partitions)
		}
		return 0
	}
	var counts []int
	if r.Version < 6 {
		for _, n := range r.TopicNames {
			counts = append(counts, partitions(n, [16]byte{}))
		}
	} else {
		for _, t := range r.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			counts = append(counts, partitions(name, t.TopicID))
		}
	}
	refused, throttle, anyRefused := h.admitMutations(req, counts, r.Version >= 5)
	if !anyRefused {
		return withKnownThrottle(h.deleteTopics(ctx, req), throttle)
	}
	sub := *r
	sub.TopicNames, sub.Topics = kept(r.TopicNames, refused), kept(r.Topics, refused)
	reply := h.deleteTopics(ctx, subRequest(req, &sub))
	if resp, ok := reply.Response.(*kmsg.DeleteTopicsResponse); ok {
		err := throttlingErr(throttle)
		resp.Topics = merged(refused, resp.Topics, func(i int) kmsg.DeleteTopicsResponseTopic {
			t := kmsg.NewDeleteTopicsResponseTopic()
			if r.Version < 6 {
				t.Topic = &r.TopicNames[i]
			} else {
				t.Topic, t.TopicID = r.Topics[i].Topic, r.Topics[i].TopicID
			}
			t.ErrorCode, t.ErrorMessage = errorCode(err), detailMessage(err)
			return t
		})
	}
	return withKnownThrottle(reply, throttle)
}
