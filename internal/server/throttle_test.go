package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// throttleHandler answers Produce with a 300 ms throttle (or, acks=0,
// none and Reply.Throttle) and records when each request was handled.
type throttleHandler struct {
	fakeHandler
	mu      sync.Mutex
	handled []time.Time
}

const testThrottle = 300 * time.Millisecond

func newThrottleHandler() *throttleHandler {
	h := &throttleHandler{}
	h.handle = func(_ context.Context, req *Request) Reply {
		h.mu.Lock()
		h.handled = append(h.handled, time.Now())
		h.mu.Unlock()
		p, ok := req.Body.(*kmsg.ProduceRequest)
		switch {
		case !ok:
			return Reply{Response: defaultResponse(req)}
		case p.Acks == 0:
			return Reply{Throttle: testThrottle}
		}
		resp := defaultResponse(req).(*kmsg.ProduceResponse)
		resp.ThrottleMillis = int32(testThrottle.Milliseconds())
		return Reply{Response: resp}
	}
	return h
}

func (h *throttleHandler) times() []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.handled...)
}

// TestThrottleMutes: a KIP-219 response (Produce v6+) is written at once
// and the connection's next request waits out the throttle; so does the
// request after an acks=0 produce muting through Reply.Throttle.
func TestThrottleMutes(t *testing.T) {
	for _, acks := range []int16{1, 0} {
		h := newThrottleHandler()
		_, addr := startServer(t, Config{}, h)
		c := dial(t, addr)
		produce := kmsg.NewPtrProduceRequest()
		produce.Version, produce.Acks = 9, acks
		start := time.Now()
		c.send(1, produce)
		if acks != 0 {
			c.recv(produce, 9)
			if d := time.Since(start); d >= testThrottle {
				t.Fatalf("KIP-219 response delayed %v", d)
			}
		}
		md := metadataRequest(4)
		c.send(2, md)
		c.recv(md, 4)
		times := h.times()
		if len(times) != 2 || times[1].Sub(times[0]) < testThrottle-20*time.Millisecond {
			t.Fatalf("acks=%d: the request after the throttled one was served %v after it, want >= %v",
				acks, times[1].Sub(times[0]), testThrottle)
		}
	}
}

// TestThrottleDelaysOldVersions: before KIP-219 (Produce v5) the response
// itself waits out the throttle.
func TestThrottleDelaysOldVersions(t *testing.T) {
	_, addr := startServer(t, Config{}, newThrottleHandler())
	c := dial(t, addr)
	produce := kmsg.NewPtrProduceRequest()
	produce.Version, produce.Acks = 5, 1
	start := time.Now()
	c.send(1, produce)
	c.recv(produce, 5)
	if d := time.Since(start); d < testThrottle-20*time.Millisecond {
		t.Fatalf("old-version response after %v, want >= %v", d, testThrottle)
	}
}
