package txn

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// unhex joins labelled hex pieces ("00 01 # version") into bytes.
func unhex(t *testing.T, pieces ...string) []byte {
	t.Helper()
	var s strings.Builder
	for _, p := range pieces {
		p, _, _ = strings.Cut(p, "#")
		s.WriteString(strings.ReplaceAll(p, " ", ""))
	}
	b, err := hex.DecodeString(s.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecordBytes compares the encodings with bytes written by hand from
// Kafka's TransactionLogKey v0 and TransactionLogValue v0/v1 schemas.
func TestRecordBytes(t *testing.T) {
	key := unhex(t, "0000 # version 0", "0002 7478 # int16 length, \"tx\"")
	if got := txnKey("tx"); !bytes.Equal(got, key) {
		t.Fatalf("key %x, want %x", got, key)
	}
	ongoing := transit{state: stateOngoing, pid: 1000, prevPID: 999, nextPID: -1, epoch: 5, timeoutMs: 60000,
		partitions: []TopicPartition{tp("t", 0), tp("t", 1)}, startMs: 1699999999000, updateMs: 1700000000000, clientTV: 2}
	v0 := unhex(t,
		"0000             # version 0",
		"00000000000003e8 # producer id 1000",
		"0005             # epoch 5",
		"0000ea60         # timeout 60000",
		"01               # Ongoing",
		"00000001         # one topic",
		"0001 74          # \"t\"",
		"00000002 00000000 00000001 # partitions 0, 1",
		"0000018bcfe56800 # last update",
		"0000018bcfe56418 # start")
	tv0 := &Coordinator{cfg: Config{TransactionVersion: 0}}
	if got := tv0.txnValue(&ongoing); !bytes.Equal(got, v0) {
		t.Fatalf("v0 value\n got %x\nwant %x", got, v0)
	}
	empty := transit{state: stateEmpty, pid: 1000, prevPID: -1, nextPID: -1, epoch: 0, timeoutMs: 60000,
		startMs: -1, updateMs: 1700000000000}
	v0Empty := unhex(t, "0000 00000000000003e8 0000 0000ea60 00", "ffffffff # null partitions",
		"0000018bcfe56800 ffffffffffffffff")
	if got := tv0.txnValue(&empty); !bytes.Equal(got, v0Empty) {
		t.Fatalf("v0 Empty value\n got %x\nwant %x", got, v0Empty)
	}
	prepare := ongoing
	prepare.state, prepare.nextPID = statePrepareCommit, 2000
	v1 := unhex(t,
		"0001             # version 1 (flexible)",
		"00000000000003e8 0005 0000ea60",
		"02               # PrepareCommit",
		"02               # compact array: one topic",
		"02 74            # compact string \"t\"",
		"03 00000000 00000001 # compact array: partitions 0, 1",
		"00               # topic tagged fields",
		"0000018bcfe56800 0000018bcfe56418",
		"03               # three tagged fields",
		"00 08 00000000000003e7 # tag 0 PreviousProducerId 999",
		"01 08 00000000000007d0 # tag 1 NextProducerId 2000",
		"02 02 0002       # tag 2 ClientTransactionVersion 2")
	tv2 := &Coordinator{cfg: Config{TransactionVersion: 2}}
	if got := tv2.txnValue(&prepare); !bytes.Equal(got, v1) {
		t.Fatalf("v1 value\n got %x\nwant %x", got, v1)
	}
	v1Empty := unhex(t, "0001 00000000000003e8 0000 0000ea60 00", "00 # null partitions",
		"0000018bcfe56800 ffffffffffffffff", "00 # defaults are left off")
	if got := tv2.txnValue(&empty); !bytes.Equal(got, v1Empty) {
		t.Fatalf("v1 Empty value\n got %x\nwant %x", got, v1Empty)
	}
	complete := empty
	complete.state = stateCompleteCommit
	v1Complete := unhex(t, "0001 00000000000003e8 0000 0000ea60 04", "01 # empty, not null",
		"0000018bcfe56800 ffffffffffffffff 00")
	if got := tv2.txnValue(&complete); !bytes.Equal(got, v1Complete) {
		t.Fatalf("v1 Complete value\n got %x\nwant %x", got, v1Complete)
	}
}

func TestLoadRecords(t *testing.T) {
	c := New(DefaultConfig(), 1)
	ongoing := transit{state: stateOngoing, pid: 1000, prevPID: 999, nextPID: -1, epoch: 5, timeoutMs: 60000,
		partitions: []TopicPartition{tp("t", 0), tp("t", 1)}, startMs: 10, updateMs: 20, clientTV: 2}
	for _, tv := range []int16{0, 2} {
		enc := &Coordinator{cfg: Config{TransactionVersion: tv}}
		if err := c.Load(t0, txnKey("a"), enc.txnValue(&ongoing)); err != nil {
			t.Fatal(err)
		}
		m := c.txns["a"]
		wantTV, wantPrev := int16(2), int64(999)
		if tv == 0 {
			wantTV, wantPrev = 0, -1
		}
		if m.pid != 1000 || m.epoch != 5 || m.lastEpoch != -1 || m.state != stateOngoing || m.startMs != 10 ||
			m.updateMs != 20 || m.clientTV != wantTV || m.prevPID != wantPrev ||
			!slices.Equal(m.sortedPartitions(), ongoing.partitions) {
			t.Fatalf("tv%d: loaded %+v", tv, m)
		}
	}
	if err := c.Load(t0, txnKey("a"), nil); err != nil || c.txns["a"] != nil {
		t.Fatalf("tombstone: %v %+v", err, c.txns["a"])
	}
	if err := c.Load(t0, []byte{0, 1, 0, 1, 'x'}, []byte{1, 2, 3}); err != nil {
		t.Fatalf("unknown key version: %v", err)
	}
	bad := map[string][2][]byte{
		"short key":           {{0}, nil},
		"truncated key":       {{0, 0, 0, 5, 'a'}, nil},
		"short value":         {txnKey("a"), {0}},
		"value version 2":     {txnKey("a"), {0, 2, 0, 0}},
		"truncated value":     {txnKey("a"), {0, 0, 0, 0, 0}},
		"never-written state": {txnKey("a"), stateValue(t, 6)},
		"unknown state":       {txnKey("a"), stateValue(t, 9)},
	}
	for name, kv := range bad {
		if err := c.Load(t0, kv[0], kv[1]); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(c.txns) != 0 {
		t.Fatalf("bad records changed state: %d ids", len(c.txns))
	}
}

func stateValue(t *testing.T, state int8) []byte {
	t.Helper()
	v := kmsg.NewTxnMetadataValue()
	v.Version, v.State = 1, kmsg.TransactionState(state)
	return v.AppendTo(nil)
}

// TestLoadEveryState drives ids into every state, reloads the log and
// checks describe shows the same; Prepare* ids get their markers again.
func TestLoadEveryState(t *testing.T) {
	h := newHarness(t)
	h.initOK("empty")
	h.ongoing("ongoing", tp("t", 0))
	for _, commit := range []bool{true, false} {
		id := "complete-" + map[bool]string{true: "commit", false: "abort"}[commit]
		pid, epoch := h.ongoing(id, tp("t", 1), tp("u", 0))
		h.end(id, pid, epoch, commit, 3)
	}
	h.manualMarkers = true
	for _, commit := range []bool{true, false} {
		id := "prepare-" + map[bool]string{true: "commit", false: "abort"}[commit]
		pid, epoch := h.ongoing(id, tp("t", 2))
		h.end(id, pid, epoch, commit, 3)
	}
	pid, epoch := tv2Ongoing(h, "tv2", tp("v", 0))
	h.end("tv2", pid, epoch, true, 5)
	ids := []string{"complete-abort", "complete-commit", "empty", "ongoing", "prepare-abort", "prepare-commit", "tv2"}
	before := h.describe(ids...)
	h.reload()
	after := h.describe(ids...)
	for i := range before {
		if !sameDescription(before[i], after[i]) {
			t.Errorf("%s: before %+v\nafter %+v", ids[i], before[i], after[i])
		}
	}
	var resent []string
	for _, m := range h.markers {
		resent = append(resent, m.TransactionalID)
		if m.CoordinatorEpoch != coordEpoch+1 {
			t.Errorf("marker with coordinator epoch %d", m.CoordinatorEpoch)
		}
	}
	if !slices.Equal(resent, []string{"prepare-abort", "prepare-commit", "tv2"}) {
		t.Fatalf("markers resent for %v", resent)
	}
	h.writeHeldMarkers(0)
	for _, id := range []string{"prepare-abort", "prepare-commit", "tv2"} {
		if s := h.state(id); !strings.HasPrefix(s, "Complete") {
			t.Fatalf("%s: %s", id, s)
		}
	}
	if d := h.describe("tv2")[0]; d.ProducerEpoch != epoch+1 {
		t.Fatalf("tv2 epoch after load %d", d.ProducerEpoch)
	}
}

func sameDescription(a, b kmsg.DescribeTransactionsResponseTransactionState) bool {
	same := a.ErrorCode == b.ErrorCode && a.State == b.State && a.TimeoutMillis == b.TimeoutMillis &&
		a.StartTimestamp == b.StartTimestamp && a.ProducerID == b.ProducerID && a.ProducerEpoch == b.ProducerEpoch &&
		len(a.Topics) == len(b.Topics)
	for i := 0; same && i < len(a.Topics); i++ {
		same = a.Topics[i].Topic == b.Topics[i].Topic && slices.Equal(a.Topics[i].Partitions, b.Topics[i].Partitions)
	}
	return same
}

// TestLoadedCompletesEmptyPrepare: a PrepareAbort without partitions (a
// TV2 abort of an empty transaction) is completed by Loaded at once.
func TestLoadedCompletesEmptyPrepare(t *testing.T) {
	c := New(DefaultConfig(), 3)
	loadValue(t, c, "a", func(v *kmsg.TxnMetadataValue) {
		v.ProducerID, v.ProducerEpoch, v.State, v.Topics = 5, 1, 3, []kmsg.TxnMetadataValueTopic{}
	})
	eff := c.Loaded(t0)
	if eff.Append == nil || len(eff.Append.Records) != 1 || len(eff.Markers) != 0 {
		t.Fatalf("effects %+v", eff)
	}
	c.Appended(t0, eff.Append.ID)
	if m := c.txns["a"]; m.state != stateCompleteAbort || m.pending != nil {
		t.Fatalf("state %v", m.state)
	}
}

// FuzzLoad: arbitrary record bytes never panic, and a record that loads
// can be described.
func FuzzLoad(f *testing.F) {
	tv2 := &Coordinator{cfg: Config{TransactionVersion: 2}}
	tr := transit{state: statePrepareCommit, pid: 1, prevPID: 2, nextPID: 3, epoch: 4, timeoutMs: 5,
		partitions: []TopicPartition{tp("t", 0)}, startMs: 6, updateMs: 7, clientTV: 2}
	f.Add(txnKey("a"), tv2.txnValue(&tr))
	f.Add(txnKey("a"), []byte(nil))
	f.Add([]byte{0, 1}, []byte{0, 0})
	f.Add(txnKey(""), (&Coordinator{}).txnValue(&tr))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c := New(DefaultConfig(), 1)
		_ = c.Load(t0, key, value)
		c.Loaded(t0)
		for id := range c.txns {
			c.describe(id)
		}
		c.Tick(t0.Add(365 * 24 * 3600e9))
	})
}
