package server

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Quota throttling (KIP-219). A response carrying a throttle time tells
// the client how long it is held back. For the versions that let the
// client throttle itself (kmsg.ThrottleResponse's second result: Produce
// v6+, Fetch v8+, ...) the response goes out at once and the connection is
// muted afterwards: no further request of it is served until the throttle
// time has passed. For older versions the response itself is delayed by
// the throttle time, as Kafka does. A Reply without a response (acks=0
// produce) mutes through Reply.Throttle.

// throttleOf returns resp's throttle time and whether the client
// applies it itself (false: delay the response).
func throttleOf(resp kmsg.Response) (time.Duration, bool) {
	tr, ok := resp.(kmsg.ThrottleResponse)
	if !ok {
		return 0, true
	}
	ms, clientSide := tr.Throttle()
	if ms <= 0 {
		return 0, true
	}
	return time.Duration(ms) * time.Millisecond, clientSide
}

// mute holds back the connection's next requests for d from now.
func (c *conn) mute(d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d).UnixNano()
	for {
		old := c.mutedUntil.Load()
		if old >= until || c.mutedUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// waitUnmuted blocks the reader until the connection is no longer muted.
// It returns false if the connection is shutting down.
func (c *conn) waitUnmuted() bool {
	for {
		d := time.Until(time.Unix(0, c.mutedUntil.Load()))
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// delayThrottled waits out the throttle time of a response whose client
// does not throttle itself, flushing the responses before it first. It
// returns false on shutdown or flush failure.
func (c *conn) delayThrottled(resp kmsg.Response) bool {
	d, clientSide := throttleOf(resp)
	if d == 0 || clientSide {
		return true
	}
	if c.bw.Buffered() > 0 && c.bw.Flush() != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// muteAfter mutes the connection once a response is written, for the
// throttle time the client applies itself. For a throttle known only then
// (a fetch's), a request the reader took before is served: KIP-219
// clients hold their next request back themselves.
func (c *conn) muteAfter(resp kmsg.Response) {
	if resp == nil {
		return
	}
	if d, clientSide := throttleOf(resp); clientSide {
		c.mute(d)
	}
}
