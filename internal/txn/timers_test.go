package txn

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTimeoutAbort: an Ongoing transaction older than its timeout
// (counted from its first partition) is fenced and aborted by the next
// timeout scan: epoch+1, or +2 under transaction.version 2.
func TestTimeoutAbort(t *testing.T) {
	for _, tv := range []int16{1, 2} {
		h := newHarnessWith(t, func(c *Config) { c.TransactionVersion = tv })
		pid := reply[*kmsg.InitProducerIDResponse](h, h.initReq("a", 5, 5000, -1, -1)).ProducerID
		h.advance(time.Minute) // the timer starts at the first partition, not at InitProducerId
		if s := h.state("a"); s != "Empty" {
			t.Fatalf("tv%d: state %s", tv, s)
		}
		h.add("a", pid, 0, tp("t", 0))
		h.advance(5 * time.Second) // start+timeout == now: not yet
		if s := h.state("a"); s != "Ongoing" {
			t.Fatalf("tv%d: aborted at the timeout: %s", tv, s)
		}
		h.advance(10 * time.Second)
		want := int16(1)
		if tv == 2 {
			want = 2
		}
		d := h.describe("a")[0]
		if d.State != "CompleteAbort" || d.ProducerEpoch != want {
			t.Fatalf("tv%d: after timeout %+v", tv, d)
		}
		if m := h.sent[len(h.sent)-1]; m.Commit || m.ProducerEpoch != want {
			t.Fatalf("tv%d: marker %+v", tv, m)
		}
		if r := h.end("a", pid, 0, true, 3); r.ErrorCode != kerr.ProducerFenced.Code {
			t.Fatalf("tv%d: timed-out producer commits: %+v", tv, r)
		}
		if r := h.init("a", pid, 0); r.ErrorCode != kerr.ProducerFenced.Code {
			t.Fatalf("tv%d: timed-out producer re-inits: %+v", tv, r)
		}
	}
}

func TestTimeoutSkipsPending(t *testing.T) {
	h := newHarness(t)
	pid := reply[*kmsg.InitProducerIDResponse](h, h.initReq("a", 5, 1000, -1, -1)).ProducerID
	h.add("a", pid, 0, tp("t", 0))
	h.manualAppends = true
	h.addReq("a", pid, 0, 3, tp("t", 1))
	h.advance(time.Minute)
	if len(h.held) != 1 {
		t.Fatalf("%d appends: the scan touched a pending transaction", len(h.held))
	}
	h.completeHeld(nil)
	h.manualAppends = false
	h.advance(10 * time.Second)
	if s := h.state("a"); s != "CompleteAbort" {
		t.Fatalf("state %s", s)
	}
}

// TestExpiry: idle ids in Empty or Complete* get a tombstone and are
// removed once it is durable; Ongoing ones never expire.
func TestExpiry(t *testing.T) {
	h := newHarnessWith(t, func(c *Config) { c.AbortCheckInterval = 365 * 24 * time.Hour })
	h.initOK("empty")
	pid, epoch := h.ongoing("done", tp("t", 0))
	h.end("done", pid, epoch, true, 3)
	pid, _ = h.ongoing("ongoing", tp("t", 0))
	h.manualMarkers = true
	pp, pe := h.ongoing("prepare", tp("t", 0))
	h.end("prepare", pp, pe, true, 3)
	h.advance(time.Hour)
	h.initOK("fresh")
	h.advance(7*24*time.Hour - time.Hour)
	var tombstones []string
	for _, r := range h.log {
		if r.Value == nil {
			var k kmsg.TxnMetadataKey
			_ = k.ReadFrom(r.Key)
			tombstones = append(tombstones, k.TransactionalID)
		}
	}
	if len(tombstones) != 2 || tombstones[0] != "done" || tombstones[1] != "empty" {
		t.Fatalf("tombstones %v", tombstones)
	}
	for id, want := range map[string]int16{"empty": kerr.TransactionalIDNotFound.Code, "done": kerr.TransactionalIDNotFound.Code,
		"ongoing": 0, "prepare": 0, "fresh": 0} {
		if d := h.describe(id)[0]; d.ErrorCode != want {
			t.Errorf("%s: %+v", id, d)
		}
	}
	if p, e := h.initOK("empty"); p == pid || e != 0 {
		t.Fatalf("expired id restarts: %d/%d", p, e)
	}
	h.manualMarkers = false
	h.reload()
	if d := h.describe("done")[0]; d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("reloaded expired id: %+v", d)
	}
}

func TestExpiryPendingAndFailure(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	h.manualAppends = true
	h.advance(7*24*time.Hour + time.Hour)
	if len(h.held) != 1 || h.held[0].Records[0].Value != nil {
		t.Fatalf("held %+v", h.held)
	}
	parked := h.addReq("a", pid, epoch, 3, tp("t", 0))
	if h.answered(parked) {
		t.Fatal("an add while expiring was answered before the tombstone")
	}
	h.completeHeld(kerr.NotEnoughReplicas)
	h.manualAppends = false
	h.completeHeld(nil) // the parked add's record
	if code := addCode(h, parked); code != 0 {
		t.Fatalf("add parked during a failed expiry: %d", code)
	}
}

func TestExpiryBatchLimit(t *testing.T) {
	h := newHarnessWith(t, func(c *Config) { c.MaxBatchBytes = 100 })
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		h.initOK(id)
	}
	h.manualAppends = true
	h.advance(7*24*time.Hour + time.Hour)
	if len(h.held) != 1 || len(h.held[0].Records) != 3 || !h.c.NextDeadline().IsZero() {
		t.Fatalf("first batch %d records, deadline %v", len(h.held[0].Records), h.c.NextDeadline())
	}
	batches := 0
	for len(h.held) > 0 || h.c.NextDeadline().IsZero() {
		batches++
		h.completeHeld(nil)
		h.advance(0)
	}
	if batches < 2 || len(h.c.txns) != 0 {
		t.Fatalf("%d batches, %d ids left", batches, len(h.c.txns))
	}
}

func TestNextDeadline(t *testing.T) {
	c := New(DefaultConfig(), 1)
	if !c.NextDeadline().IsZero() {
		t.Fatal("a coordinator not loaded should ask for a tick now")
	}
	c.Loaded(t0)
	if got := c.NextDeadline(); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("deadline %v", got)
	}
	c.Tick(t0.Add(10 * time.Second))
	if got := c.NextDeadline(); !got.Equal(t0.Add(20 * time.Second)) {
		t.Fatalf("deadline %v", got)
	}
}

// TestUnload: every request waiting for a record gets NOT_COORDINATOR and
// the coordinator forgets everything.
func TestUnload(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	h.initOK("b")
	h.manualAppends = true
	add := h.addReq("a", pid, epoch, 3, tp("t", 0))
	init := h.initReq("b", 5, 60000, -1, -1)
	replies := h.c.Unload()
	if len(replies) != 2 {
		t.Fatalf("%d replies", len(replies))
	}
	h.apply(Effects{Replies: replies})
	if code := addCode(h, add); code != kerr.NotCoordinator.Code {
		t.Fatalf("add: %d", code)
	}
	if r := reply[*kmsg.InitProducerIDResponse](h, init); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("init: %+v", r)
	}
	if len(h.c.txns) != 0 || len(h.c.pending) != 0 {
		t.Fatal("state left after Unload")
	}
	if eff := h.c.Appended(h.now, h.held[0].ID); len(eff.Replies) != 0 || eff.Append != nil {
		t.Fatalf("completion after Unload: %+v", eff)
	}
}
