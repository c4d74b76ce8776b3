package txn

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestInitNewID(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	if pid != 1001 || epoch != 0 {
		t.Fatalf("got %d/%d, want 1001/0", pid, epoch)
	}
	v := h.lastValue("a")
	if v == nil || v.State != 0 || v.ProducerID != pid || v.ProducerEpoch != 0 || v.TimeoutMillis != 60000 ||
		v.Topics != nil || v.StartTimestamp != -1 || v.LastUpdateTimestamp != t0.UnixMilli() || v.Version != 1 {
		t.Fatalf("record %+v", v)
	}
	d := h.describe("a")[0]
	if d.ErrorCode != 0 || d.State != "Empty" || d.ProducerID != pid || d.ProducerEpoch != 0 || d.StartTimestamp != -1 {
		t.Fatalf("describe %+v", d)
	}
}

func TestInitExistingBumps(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.initOK("a")
	for want := int16(1); want <= 3; want++ {
		p, e := h.initOK("a")
		if p != pid || e != want {
			t.Fatalf("got %d/%d, want %d/%d", p, e, pid, want)
		}
	}
	if len(h.log) != 4 {
		t.Fatalf("%d records, want 4", len(h.log))
	}
}

func TestInitRequestChecks(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name    string
		id      *string
		timeout int32
		pid     int64
		epoch   int16
		want    int16
	}{
		{"zero timeout", str("a"), 0, -1, -1, kerr.InvalidTransactionTimeout.Code},
		{"negative timeout", str("a"), -5, -1, -1, kerr.InvalidTransactionTimeout.Code},
		{"timeout over max", str("a"), 900001, -1, -1, kerr.InvalidTransactionTimeout.Code},
		{"empty id", str(""), 1000, -1, -1, kerr.InvalidRequest.Code},
		{"pid without epoch", str("a"), 1000, 5, -1, kerr.InvalidRequest.Code},
		{"epoch without pid", str("a"), 1000, -1, 5, kerr.InvalidRequest.Code},
	}
	for _, tc := range cases {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 5, tc.id, tc.timeout
		req.ProducerID, req.ProducerEpoch = tc.pid, tc.epoch
		id := h.id()
		h.apply(h.c.InitProducerID(h.now, id, req))
		r := reply[*kmsg.InitProducerIDResponse](h, id)
		if r.ErrorCode != tc.want || r.ProducerID != -1 || r.ProducerEpoch != -1 {
			t.Errorf("%s: %+v, want code %d", tc.name, r, tc.want)
		}
	}
	if p, e := h.initOK("a"); p != 1001 || e != 0 {
		t.Fatalf("max timeout accepted? %d/%d", p, e)
	}
	if len(h.log) != 1 {
		t.Fatalf("%d records", len(h.log))
	}
}

func TestInitNullIDGetsFreshProducerID(t *testing.T) {
	h := newHarness(t)
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	id := h.id()
	h.apply(h.c.InitProducerID(h.now, id, req))
	r := reply[*kmsg.InitProducerIDResponse](h, id)
	if r.ErrorCode != 0 || r.ProducerID != 1001 || r.ProducerEpoch != 0 || len(h.log) != 0 {
		t.Fatalf("%+v, %d records", r, len(h.log))
	}
}

func TestInitProducerIDAllocationError(t *testing.T) {
	h := newHarness(t)
	h.pidErr = kerr.NotEnoughReplicas
	if r := h.init("a", -1, -1); r.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("kerr error: %+v", r)
	}
	h.pidErr = errors.New("controller gone")
	if r := h.init("a", -1, -1); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("plain error: %+v", r)
	}
	if d := h.describe("a")[0]; d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("id created without a producer id: %+v", d)
	}
}

// TestInitKIP360 covers a producer re-initializing with its pid/epoch: a
// bump, a retry of that bump, a stale epoch and a foreign pid.
func TestInitKIP360(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.initOK("a")
	if r := h.init("a", pid, 0); r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != 1 {
		t.Fatalf("continue: %+v", r)
	}
	if r := h.init("a", pid, 0); r.ErrorCode != 0 || r.ProducerEpoch != 1 {
		t.Fatalf("retry of the bump: %+v", r)
	}
	if r := h.init("a", pid, 1); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("continue again: %+v", r)
	}
	if r := h.init("a", pid, 0); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("stale epoch: %+v", r)
	}
	old := reply[*kmsg.InitProducerIDResponse](h, h.initReq("a", 3, 60000, pid, 0))
	if old.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale epoch v3: %+v", old)
	}
	if r := h.init("a", pid+50, 2); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("foreign pid: %+v", r)
	}
	// an unknown id (e.g. expired) accepts any pid/epoch and starts fresh
	if r := h.init("b", 77, 5); r.ErrorCode != 0 || r.ProducerID == 77 || r.ProducerEpoch != 0 {
		t.Fatalf("unknown id with pid: %+v", r)
	}
}

// TestInitFencesOngoing is zombie fencing: a second producer's
// InitProducerId aborts the first one's transaction with a higher epoch,
// and the first producer's epoch is refused from then on.
func TestInitFencesOngoing(t *testing.T) {
	for _, tv := range []int16{0, 1, 2} {
		h := newHarnessWith(t, func(c *Config) { c.TransactionVersion = tv })
		pid, epoch := h.ongoing("a", tp("t", 0), tp("t", 1))
		if r := h.init("a", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
			t.Fatalf("tv%d: fencing init: %+v", tv, r)
		}
		fenceEpoch := epoch + 1
		if tv == 2 {
			fenceEpoch = epoch + 2
		}
		m := h.sent[len(h.sent)-1]
		if m.Commit || m.ProducerID != pid || m.ProducerEpoch != fenceEpoch || m.CoordinatorEpoch != coordEpoch ||
			len(m.Partitions) != 2 {
			t.Fatalf("tv%d: marker %+v", tv, m)
		}
		if s := h.state("a"); s != "CompleteAbort" {
			t.Fatalf("tv%d: state %s", tv, s)
		}
		if code := h.add("a", pid, epoch, tp("t", 2)); code != kerr.ProducerFenced.Code {
			t.Fatalf("tv%d: zombie add: %d", tv, code)
		}
		if code := addCode(h, h.addReq("a", pid, epoch, 1, tp("t", 2))); code != kerr.InvalidProducerEpoch.Code {
			t.Fatalf("tv%d: zombie add v1: %d", tv, code)
		}
		if r := h.end("a", pid, epoch, true, 3); r.ErrorCode != kerr.ProducerFenced.Code {
			t.Fatalf("tv%d: zombie commit: %+v", tv, r)
		}
		if r := h.end("a", pid, epoch, true, 1); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
			t.Fatalf("tv%d: zombie commit v1: %+v", tv, r)
		}
		if p, e := h.initOK("a"); p != pid || e != fenceEpoch+1 {
			t.Fatalf("tv%d: retried init %d/%d, want %d/%d", tv, p, e, pid, fenceEpoch+1)
		}
	}
}

// TestFenceAppendFailure: a fencing abort whose record fails keeps the
// bumped epoch and does not bump again on the next try.
func TestFenceAppendFailure(t *testing.T) {
	h := newHarnessWith(t, func(c *Config) { c.TransactionVersion = 1 })
	pid, epoch := h.ongoing("a", tp("t", 0))
	h.manualAppends = true
	id := h.initReq("a", 5, 60000, -1, -1)
	h.completeHeld(kerr.NotEnoughReplicas)
	if r := reply[*kmsg.InitProducerIDResponse](h, id); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("failed fence: %+v", r)
	}
	if s := h.state("a"); s != "Ongoing" {
		t.Fatalf("state %s", s)
	}
	if code := h.add("a", pid, epoch, tp("t", 1)); code != kerr.ProducerFenced.Code {
		t.Fatalf("old epoch after a failed fence: %d", code)
	}
	h.manualAppends = false
	if r := h.init("a", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("second fence: %+v", r)
	}
	if m := h.sent[len(h.sent)-1]; m.ProducerEpoch != epoch+1 {
		t.Fatalf("marker epoch %d, want %d (no second bump)", m.ProducerEpoch, epoch+1)
	}
	if _, e := h.initOK("a"); e != epoch+2 {
		t.Fatalf("epoch %d", e)
	}
}

// TestInitRotation: an exhausted epoch gets a new producer id with epoch
// 0; a KIP-360 retry with the old pid and epoch gets the same answer.
func TestInitRotation(t *testing.T) {
	h := newHarness(t)
	loadValue(t, h.c, "a", func(v *kmsg.TxnMetadataValue) {
		v.ProducerID, v.ProducerEpoch, v.State = 500, 32766, kmsg.TransactionState(stateCompleteCommit)
		v.Topics = []kmsg.TxnMetadataValueTopic{}
	})
	r := h.init("a", 500, 32766)
	if r.ErrorCode != 0 || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("rotation: %+v", r)
	}
	if v := h.lastValue("a"); v.ProducerID != 1001 || v.PreviousProducerID != 500 || v.ProducerEpoch != 0 {
		t.Fatalf("record %+v", v)
	}
	if r := h.init("a", 500, 32766); r.ErrorCode != 0 || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("retry after rotation: %+v", r)
	}
	if r := h.init("a", 500, 32765); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("old pid, not exhausted: %+v", r)
	}
	loadValue(t, h.c, "b", func(v *kmsg.TxnMetadataValue) { v.ProducerID, v.ProducerEpoch = 600, 32767 })
	if r := h.init("b", -1, -1); r.ErrorCode != 0 || r.ProducerID != 1002 || r.ProducerEpoch != 0 {
		t.Fatalf("rotation without pid: %+v", r)
	}
	loadValue(t, h.c, "c", func(v *kmsg.TxnMetadataValue) { v.ProducerID, v.ProducerEpoch = 700, 32767 })
	if r := h.init("c", 700, 32766); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("exhausted, stale epoch: %+v", r)
	}
}

// TestFenceAtEpochLimit: under TV2 a fence of epoch 32766 reaches 32767
// and the abort does not bump past it; the next InitProducerId rotates.
func TestFenceAtEpochLimit(t *testing.T) {
	h := newHarness(t)
	loadValue(t, h.c, "a", func(v *kmsg.TxnMetadataValue) {
		v.ProducerID, v.ProducerEpoch, v.State, v.StartTimestamp = 500, 32766, 1, t0.UnixMilli()
		v.Topics = []kmsg.TxnMetadataValueTopic{{Topic: "t", Partitions: []int32{0}}}
	})
	if r := h.init("a", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("fence: %+v", r)
	}
	if m := h.sent[len(h.sent)-1]; m.ProducerID != 500 || m.ProducerEpoch != 32767 {
		t.Fatalf("marker %+v", m)
	}
	if d := h.describe("a")[0]; d.State != "CompleteAbort" || d.ProducerEpoch != 32767 {
		t.Fatalf("describe %+v", d)
	}
	if r := h.init("a", -1, -1); r.ErrorCode != 0 || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("rotation: %+v", r)
	}
}

func TestInitConcurrent(t *testing.T) {
	h := newHarness(t)
	h.manualAppends = true
	first := h.initReq("a", 5, 60000, -1, -1)
	if r := h.init("a", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init during init: %+v", r)
	}
	h.completeHeld(nil)
	if r := reply[*kmsg.InitProducerIDResponse](h, first); r.ErrorCode != 0 {
		t.Fatalf("first: %+v", r)
	}
	h.manualAppends = false
	h.manualMarkers = true
	pid, epoch := h.initOK("a")
	h.add("a", pid, epoch, tp("t", 0))
	if r := h.end("a", pid, epoch, true, 3); r.ErrorCode != 0 {
		t.Fatalf("commit: %+v", r)
	}
	if r := h.init("a", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init during PrepareCommit: %+v", r)
	}
	h.writeHeldMarkers(0)
	if _, e := h.initOK("a"); e != epoch+1 {
		t.Fatalf("epoch %d", e)
	}
}

// loadValue loads a record of txnID built from a default Empty value
// (60s timeout, TV2 client) changed by edit.
func loadValue(t *testing.T, c *Coordinator, txnID string, edit func(*kmsg.TxnMetadataValue)) {
	t.Helper()
	v := kmsg.NewTxnMetadataValue()
	v.Version, v.TimeoutMillis, v.StartTimestamp, v.LastUpdateTimestamp = 1, 60000, -1, t0.UnixMilli()
	edit(&v)
	if err := c.Load(t0, txnKey(txnID), v.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
}
