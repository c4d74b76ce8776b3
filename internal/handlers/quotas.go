package handlers

// Client quota enforcement (KIP-13, KIP-55, KIP-124, KIP-219). The
// registry serves Produce and Fetch through the wrappers here: the bytes
// a client produces (the record batches of the request, recorded when it
// arrives) or is sent (the records of the response, recorded when it is
// ready) are recorded against the quota that applies to its user (the
// connection's principal name, ANONYMOUS without authentication) and
// client id. Handle records every request's handler time on the
// request_percentage quota (requestQuota). An excess comes back as the
// response's ThrottleMillis (the longest of the quotas' throttles), and
// the server mutes the connection for that long after the response (or
// delays the response for versions before KIP-219). Data is never
// dropped: the throttled response carries everything it would have.
// Followers' fetches (replica id >= 0) are not subject to client quotas.
//
// Kafka answers a throttled fetch with an empty response and takes the
// bytes back; Fjord sends the data it read with the throttle time, so
// the client's next fetch simply waits (the average rate is the same and
// no read is wasted).

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClientQuotas measures clients' usage against their quotas; the broker
// implements it (internal/broker/quotas.go). Safe for concurrent use.
type ClientQuotas interface {
	// Record records n units of the quota key (producer_byte_rate,
	// consumer_byte_rate, request_percentage) used at now by a client of
	// user with clientID, and returns how long the client is throttled
	// (zero when within its quota or without one).
	Record(key, user, clientID string, n float64, now time.Time) time.Duration
	// Mutate records n partition mutations (created, deleted or added
	// partitions) of a client on its controller_mutation_rate quota
	// (KIP-599) and returns the throttle time. With strict, a client
	// already over its quota is refused (false) and nothing is recorded.
	Mutate(user, clientID string, n float64, now time.Time, strict bool) (bool, time.Duration)
}

// quotaUser is the user of a request's quotas: its principal's name.
func quotaUser(req *server.Request) string {
	p := principal(req)
	if i := strings.IndexByte(p, ':'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// produceWithQuota serves Produce and records its bytes on the producer
// byte rate quota.
func (h *Handlers) produceWithQuota(ctx context.Context, req *server.Request) server.Reply {
	reply := h.produce(ctx, req)
	if h.d.Quotas == nil {
		return reply
	}
	n := 0
	for _, t := range req.Body.(*kmsg.ProduceRequest).Topics {
		for _, p := range t.Partitions {
			n += len(p.Records)
		}
	}
	d := h.d.Quotas.Record(controller.QuotaProducerByteRate, quotaUser(req), req.ClientID, float64(n), h.d.Now())
	return withKnownThrottle(reply, d)
}

// fetchWithQuota serves Fetch and records the bytes of a consumer's
// response on the consumer byte rate quota.
func (h *Handlers) fetchWithQuota(ctx context.Context, req *server.Request) server.Reply {
	reply := h.fetch(ctx, req)
	if h.d.Quotas == nil || fetchReplica(req.Body.(*kmsg.FetchRequest)) >= 0 {
		return reply
	}
	user, client := quotaUser(req), req.ClientID
	return withThrottle(reply, func(resp kmsg.Response) time.Duration {
		return h.d.Quotas.Record(controller.QuotaConsumerByteRate, user, client, float64(fetchResponseBytes(resp)), h.d.Now())
	}, true)
}

// fetchResponseBytes is the size of the records a fetch response carries.
func fetchResponseBytes(resp kmsg.Response) int {
	n := 0
	if fr, ok := resp.(*server.FetchResponse); ok {
		for _, f := range fr.Files {
			n += f.Len
		}
		resp = fr.FetchResponse
	}
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		for _, t := range fr.Topics {
			for _, p := range t.Partitions {
				n += len(p.RecordBatches)
			}
		}
	}
	return n
}

// withThrottle sets the throttle time throttle computes for the reply's
// response on it when it is ready (at once, or when Later or Wait
// deliver it). A reply without a response mutes the connection instead.
// wrap false (nothing to throttle) leaves the reply as it is.
func withThrottle(reply server.Reply, throttle func(kmsg.Response) time.Duration, wrap bool) server.Reply {
	if !wrap {
		return reply
	}
	set := func(resp kmsg.Response) kmsg.Response {
		st, ok := resp.(kmsg.SetThrottleResponse)
		if !ok {
			return resp
		}
		ms := int32(min(throttle(resp).Milliseconds(), 1<<31-1))
		old := int32(0)
		if tr, ok := resp.(kmsg.ThrottleResponse); ok {
			old, _ = tr.Throttle()
		}
		if ms > old { // the longest of the quotas' throttles
			st.SetThrottle(ms)
		}
		return resp
	}
	switch {
	case reply.Response != nil:
		reply.Response = set(reply.Response)
	case reply.Later != nil:
		later := reply.Later
		reply.Later = func() kmsg.Response { return set(later()) }
	case reply.Wait != nil:
		inner := reply.Wait
		out := make(chan kmsg.Response, 1)
		go func() {
			resp, ok := <-inner
			if !ok {
				close(out)
				return
			}
			out <- set(resp)
		}()
		reply.Wait = out
	default:
		reply.Throttle = max(reply.Throttle, throttle(nil))
	}
	return reply
}

// withKnownThrottle puts a throttle known when the request is handled on
// the reply's response and mutes the connection from now on
// (server.Reply.Throttle), so that requests pipelined behind this one
// wait too, as they would in Kafka, which reads one at a time.
func withKnownThrottle(reply server.Reply, d time.Duration) server.Reply {
	if d <= 0 {
		return reply
	}
	reply = withThrottle(reply, func(kmsg.Response) time.Duration { return d }, true)
	reply.Throttle = max(reply.Throttle, d)
	return reply
}

// requestQuota records the time the handler spent on req (its
// synchronous part, as Kafka's request handler thread time; a long poll's
// wait is not counted) on the request_percentage quota, as percent of one
// thread, and puts the throttle on the response. Requests of the
// controller listener and followers' fetches are exempt (Kafka's
// cluster-action requests).
func (h *Handlers) requestQuota(req *server.Request, used time.Duration, reply server.Reply) server.Reply {
	if h.d.Quotas == nil || h.isControllerListener() {
		return reply
	}
	if f, ok := req.Body.(*kmsg.FetchRequest); ok && fetchReplica(f) >= 0 {
		return reply
	}
	d := h.d.Quotas.Record(controller.QuotaRequestPercentage, quotaUser(req), req.ClientID, used.Seconds()*100, h.d.Now())
	return withKnownThrottle(reply, d)
}

// isControllerListener reports whether h serves the controller listener
// (NewController), whose callers are brokers.
func (h *Handlers) isControllerListener() bool {
	_, ok := h.reg[kmsg.BrokerHeartbeat]
	return ok
}

// detailMessage is err's message without the Kafka error's own
// description it wraps ("unknown quota key" rather than "INVALID_REQUEST:
// This most likely occurs ...: unknown quota key"), as Kafka's messages
// are; nil without an error.
func detailMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		s = strings.TrimPrefix(s, ke.Error()+": ")
	}
	return &s
}
