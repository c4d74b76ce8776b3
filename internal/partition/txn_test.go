package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/storage"
)

// Transactions on a replica: open transactions hold the last stable
// offset, markers close them (an abort leaves a .txnindex entry),
// read_committed reads stop at the LSO and list the aborted transactions,
// the leader's checks (KIP-890 verification, epochs), and the state's
// survival across followers, restarts and truncation.

// soloLeader leads a partition alone (ISR {1}, min ISR 1): its HW follows
// its log end at once.
func soloLeader(t *testing.T, cfg Config) *env {
	t.Helper()
	e := newEnv(t, 1, newClock(), cfg)
	e.lead(1, 0, []int32{1}, []int32{1})
	return e
}

// pidBatch is producer pid's batch of n records from sequence seq,
// transactional if txn, stamped with the env's clock.
func (e *env) pidBatch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	e.t.Helper()
	ts := e.clk.Now().UnixMilli()
	h := record.Header{BaseTimestamp: ts, MaxTimestamp: ts, ProducerID: pid, ProducerEpoch: epoch,
		BaseSequence: seq, LastOffsetDelta: int32(n - 1)}
	if txn {
		h.Attributes = record.TransactionalBit
	}
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: fmt.Appendf(nil, "p%d-s%d", pid, int(seq)+i)}
	}
	b, err := record.RebuildBatch(h, recs)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// txnAppend appends producer pid's transactional batch as the produce
// handler does: verification guard, then AppendVerified.
func (e *env) txnAppend(pid int64, epoch int16, seq int32, n int) AppendResult {
	e.t.Helper()
	guard, _ := e.p.VerificationGuard(pid, epoch, seq)
	res, err := e.p.AppendVerified(e.pidBatch(pid, epoch, seq, n, true), 1, guard)
	if err != nil {
		e.t.Fatalf("transactional batch of producer %d at sequence %d: %v", pid, seq, err)
	}
	return res
}

// marker appends a marker of pid, failing on error; it returns its offset.
func (e *env) marker(pid int64, epoch int16, commit bool, coordEpoch int32) int64 {
	e.t.Helper()
	res, err := e.p.AppendMarker(record.Marker{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: coordEpoch})
	if err != nil {
		e.t.Fatalf("marker of producer %d (commit %v): %v", pid, commit, err)
	}
	if res.BaseOffset != res.LastOffset {
		e.t.Fatalf("marker at %d..%d", res.BaseOffset, res.LastOffset)
	}
	return res.LastOffset
}

func (e *env) wantLSO(want int64) {
	e.t.Helper()
	if got := e.p.LastStableOffset(); got != want {
		e.t.Fatalf("last stable offset = %d, want %d (HW %d)", got, want, e.p.HighWatermark())
	}
}

// txnFirst is producer pid's open transaction's first offset (-1: none,
// -2: unknown producer).
func txnFirst(p *Partition, pid int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.producers[pid]; e != nil {
		return e.txnFirst
	}
	return -2
}

// readBatches returns the base offsets of a consumer read's batches.
func readBatches(t *testing.T, res FetchResult) []int64 {
	t.Helper()
	var out []int64
	for _, b := range batches(t, bytesOf(t, res.Records)) {
		out = append(out, b.base)
	}
	return out
}

func mustFetch(t *testing.T, p *Partition, offset int64, maxBytes int, readCommitted bool) FetchResult {
	t.Helper()
	res, err := p.Fetch(offset, maxBytes, true, -1, readCommitted)
	if err != nil {
		t.Fatalf("Fetch(%d, read_committed %v): %v", offset, readCommitted, err)
	}
	return res
}

// An open transaction holds the LSO at its first offset while the HW
// moves on; its commit marker releases it once the HW passes the marker,
// which wakes the watchers (a read_committed long poll), and the committed
// batches become readable.
func TestOpenTransactionHoldsLSO(t *testing.T) {
	clk := newClock()
	l, f := newEnv(t, 1, clk, testConfig(1)), newEnv(t, 2, clk, testConfig(1))
	l.lead(1, 0, []int32{1, 2}, []int32{1, 2})
	f.follow(1, 1, 0, []int32{1, 2}, []int32{1, 2})
	l.produce(1, 1)
	catchUp(t, l, f)
	l.wantLSO(1)
	first := l.txnAppend(7, 0, 0, 2).BaseOffset // 1-2
	l.produce(1, 1)                             // 3
	catchUp(t, l, f)
	l.wantHW(4)
	l.wantLSO(first)
	f.wantLSO(first)
	if got := readBatches(t, mustFetch(t, l.p, 0, 1<<20, true)); !slices.Equal(got, []int64{0}) {
		t.Fatalf("read_committed batches %v, want [0]", got)
	}

	at := l.marker(7, 0, true, 0)
	l.wantLSO(first) // the marker is above the HW
	w := NewWatcher()
	l.p.Watch(w)
	defer l.p.Unwatch(w)
	select { // the marker's append woke it; only the HW counts here
	case <-w.C:
	default:
	}
	catchUp(t, l, f)
	l.wantHW(at + 1)
	select {
	case <-w.C:
	default:
		t.Fatal("watchers not woken when the LSO moved")
	}
	l.wantLSO(at + 1)
	f.wantLSO(at + 1)
	if got := readBatches(t, mustFetch(t, l.p, 1, 1<<20, true)); !slices.Equal(got, []int64{1, 3, 4}) {
		t.Fatalf("read_committed batches after the commit %v, want [1 3 4]", got)
	}
}

// abortedFixture is a sole leader with: 0 plain, 1-2 producer 7's
// transaction, 3 producer 8's, 4 plain, 5 producer 7's ABORT (8 still
// open: the entry's LSO is 3), 6 producer 8's COMMIT, 7 plain.
func abortedFixture(t *testing.T) *env {
	e := soloLeader(t, testConfig(1))
	e.produce(1, 1)
	e.txnAppend(7, 0, 0, 2)
	e.txnAppend(8, 0, 0, 1)
	e.produce(1, 1)
	if at := e.marker(7, 0, false, 0); at != 5 {
		t.Fatalf("abort at %d", at)
	}
	e.marker(8, 0, true, 0)
	e.produce(1, 1)
	e.wantLSO(8)
	return e
}

// An abort writes the .txnindex entry; a read_committed fetch lists it
// when it returns batches of the transaction, and not when it returns
// none of them; read_uncommitted lists nothing (nil).
func TestAbortListedByReadCommitted(t *testing.T) {
	e := abortedFixture(t)
	want := storage.AbortedTxn{ProducerID: 7, FirstOffset: 1, LastOffset: 5, LastStableOffset: 3}
	if got, err := e.log.CollectAbortedTxns(0, 100); err != nil || !reflect.DeepEqual(got, []storage.AbortedTxn{want}) {
		t.Fatalf(".txnindex: %+v, %v; want %+v", got, err, want)
	}
	for _, tc := range []struct {
		name     string
		offset   int64
		maxBytes int
		batches  []int64
		aborted  []storage.AbortedTxn
	}{
		{"whole log", 0, 1 << 20, []int64{0, 1, 3, 4, 5, 6, 7}, []storage.AbortedTxn{want}},
		{"only the batch before the transaction", 0, 1, []int64{0}, []storage.AbortedTxn{}},
		{"the transaction's first batch", 1, 1, []int64{1}, []storage.AbortedTxn{want}},
		{"to the end of the segment", 3, 1 << 20, []int64{3, 4, 5, 6, 7}, []storage.AbortedTxn{want}},
		{"after the abort", 6, 1 << 20, []int64{6, 7}, []storage.AbortedTxn{}},
		{"at the LSO", 8, 1 << 20, nil, []storage.AbortedTxn{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mustFetch(t, e.p, tc.offset, tc.maxBytes, true)
			if got := readBatches(t, res); !slices.Equal(got, tc.batches) {
				t.Fatalf("batches %v, want %v", got, tc.batches)
			}
			if res.AbortedTxns == nil || !reflect.DeepEqual(res.AbortedTxns, tc.aborted) {
				t.Fatalf("aborted %#v, want %#v", res.AbortedTxns, tc.aborted)
			}
			if res.LastStableOffset != 8 {
				t.Fatalf("LSO %d, want 8", res.LastStableOffset)
			}
		})
	}
	if res := mustFetch(t, e.p, 0, 1<<20, false); res.AbortedTxns != nil {
		t.Fatalf("read_uncommitted lists %+v", res.AbortedTxns)
	}
}

// read_committed never returns a batch at or above the LSO, whatever the
// offset or size; read_uncommitted reads to the HW. ListOffsets latest
// answers the LSO, the HW or the LEO by isolation, and a timestamp lookup
// finds only offsets below that end.
func TestReadCommittedBoundedByLSO(t *testing.T) {
	cfg := testConfig(2)
	e := newEnv(t, 1, newClock(), cfg)
	e.lead(1, 0, []int32{1, 2}, []int32{1, 2})
	t0 := e.clk.Now().UnixMilli()
	e.produce(1, 1) // 0
	e.clk.Advance(time.Second)
	e.txnAppend(7, 0, 0, 1) // 1: open
	e.clk.Advance(time.Second)
	e.produce(1, 1) // 2
	e.clk.Advance(time.Second)
	e.produce(1, 1) // 3
	e.fetch(2, 3)   // HW 3, LEO 4
	e.wantHW(3)
	e.wantLSO(1)
	for off := int64(0); off <= 4; off++ {
		for _, maxBytes := range []int{1, 1 << 20} {
			res := mustFetch(t, e.p, off, maxBytes, true)
			for _, b := range batches(t, bytesOf(t, res.Records)) {
				if b.last >= 1 {
					t.Fatalf("read_committed from %d returned batch %d..%d at or above the LSO 1", off, b.base, b.last)
				}
			}
		}
	}
	if got := readBatches(t, mustFetch(t, e.p, 0, 1<<20, false)); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("read_uncommitted batches %v, want [0 1 2]", got)
	}
	for _, tc := range []struct {
		iso  Isolation
		ts   int64
		want int64
	}{
		{ReadCommitted, Latest, 1}, {ReadUncommitted, Latest, 3}, {ReplicaView, Latest, 4},
		{ReadCommitted, t0 + 2000, -1}, {ReadUncommitted, t0 + 2000, 2},
		{ReadCommitted, t0, 0}, {ReadCommitted, Earliest, 0},
	} {
		if got, err := e.p.ListOffset(tc.ts, -1, tc.iso); err != nil || got.Offset != tc.want {
			t.Errorf("ListOffset(%d, isolation %d) = %+v, %v; want offset %d", tc.ts, tc.iso, got, err, tc.want)
		}
	}
}

// A producer with an open transaction may not write outside it; once the
// marker closes it, it may.
func TestNonTransactionalBatchInOpenTxn(t *testing.T) {
	e := soloLeader(t, testConfig(1))
	e.txnAppend(7, 0, 0, 1)
	if _, err := e.p.AppendAsLeader(e.pidBatch(7, 0, 1, 1, false), 1); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional batch in an open transaction: %v, want ErrInvalidTxnState", err)
	}
	e.marker(7, 0, true, 0)
	if _, err := e.p.AppendAsLeader(e.pidBatch(7, 0, 1, 1, false), 1); err != nil {
		t.Fatalf("after the commit: %v", err)
	}
}

// KIP-890 part 1: a transactional batch opening a transaction needs its
// producer's current verification guard. A marker between the check and
// the append ends the entry, so the verified batch is refused (the race
// of a late batch reopening a finished transaction); a batch starting
// above the verified sequence is out of order; into an open transaction,
// no guard is needed.
func TestVerificationGuard(t *testing.T) {
	e := soloLeader(t, testConfig(1))
	first := e.pidBatch(7, 0, 0, 1, true)
	if _, err := e.p.AppendAsLeader(first, 1); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("unverified transactional batch: %v, want ErrInvalidTxnState", err)
	}
	g, need := e.p.VerificationGuard(7, 0, 0)
	if !need || g == 0 {
		t.Fatalf("guard %d, need %v", g, need)
	}
	if again, _ := e.p.VerificationGuard(7, 0, 3); again != g {
		t.Fatalf("second check got guard %d, want the entry's %d", again, g)
	}
	if _, err := e.p.AppendVerified(e.pidBatch(7, 0, 0, 1, true), 1, g+1); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("wrong guard: %v", err)
	}
	e.marker(7, 0, false, 0) // lands between the check and the append
	if _, err := e.p.AppendVerified(e.pidBatch(7, 0, 0, 1, true), 1, g); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("guard overtaken by a marker: %v, want ErrInvalidTxnState", err)
	}
	g2, _ := e.p.VerificationGuard(7, 0, 0)
	if g2 == g {
		t.Fatal("a new verification reused the ended guard")
	}
	if _, err := e.p.AppendVerified(e.pidBatch(7, 0, 1, 1, true), 1, g2); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("first batch above the verified sequence: %v, want ErrOutOfOrderSequence", err)
	}
	if g3, _ := e.p.VerificationGuard(7, 1, 0); g3 != g2 {
		t.Fatalf("a newer epoch's check got guard %d, want the entry's %d", g3, g2)
	}
	if _, err := e.p.AppendVerified(e.pidBatch(7, 0, 0, 1, true), 1, g2); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("batch of an epoch older than the verification's: %v", err)
	}
	if _, err := e.p.AppendVerified(e.pidBatch(7, 1, 0, 1, true), 1, g2); err != nil {
		t.Fatal(err)
	}
	if g, need := e.p.VerificationGuard(7, 1, 1); need || g != 0 {
		t.Fatalf("open transaction: guard %d, need %v; want none", g, need)
	}
	if _, err := e.p.AppendVerified(e.pidBatch(7, 1, 1, 1, true), 1, 0); err != nil {
		t.Fatalf("into the open transaction without a guard: %v", err)
	}
	if _, err := e.p.AppendAsLeader(e.pidBatch(7, 1, 2, 1, true), 1); err != nil {
		t.Fatalf("AppendAsLeader into the open transaction: %v", err)
	}
}

// Transaction version 2 (KIP-890 part 2): every commit or abort bumps the
// producer epoch, and the markers carry the bumped epoch. The next
// transaction's first batch comes with that epoch and sequence 0, possibly
// before the previous transaction's marker: it does not join the open
// transaction of the older epoch but needs the coordinator's add (a new
// guard), and the marker voids a guard taken before it. After the marker,
// the old epoch is fenced and the new transaction opens at its first
// batch; the abort of the next one, at the next epoch, lists only it.
func TestTransactionVersion2EpochBumps(t *testing.T) {
	e := soloLeader(t, testConfig(1))
	e.txnAppend(7, 0, 0, 2) // 0-1, epoch 0
	e.txnAppend(7, 0, 2, 1) // 2
	early := e.pidBatch(7, 1, 0, 1, true)
	if _, err := e.p.AppendAsLeader(early, 1); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("next epoch's batch before the marker, unverified: %v, want ErrInvalidTxnState", err)
	}
	g, need := e.p.VerificationGuard(7, 1, 0)
	if !need || g == 0 {
		t.Fatalf("next epoch's batch before the marker: guard %d, need %v; want a check", g, need)
	}
	at := e.marker(7, 1, true, 0) // 3: commits 0-2 with the bumped epoch
	if at != 3 || txnFirst(e.p, 7) != -1 {
		t.Fatalf("marker at %d, open transaction at %d", at, txnFirst(e.p, 7))
	}
	e.wantLSO(4)
	if _, err := e.p.AppendVerified(early, 1, g); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("guard taken before the marker: %v, want ErrInvalidTxnState", err)
	}
	if _, err := e.p.AppendAsLeader(e.pidBatch(7, 0, 3, 1, true), 1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("the old epoch after its bumped marker: %v, want ErrInvalidProducerEpoch", err)
	}
	if res := e.txnAppend(7, 1, 0, 2); res.BaseOffset != 4 || txnFirst(e.p, 7) != 4 { // 4-5
		t.Fatalf("next transaction at %d, open at %d; want 4", res.BaseOffset, txnFirst(e.p, 7))
	}
	if g, need := e.p.VerificationGuard(7, 1, 2); need || g != 0 {
		t.Fatalf("open transaction of the epoch: guard %d, need %v; want none", g, need)
	}
	if _, err := e.p.AppendAsLeader(e.pidBatch(7, 1, 2, 1, true), 1); err != nil { // 6
		t.Fatal(err)
	}
	e.wantLSO(4)
	abort := e.marker(7, 2, false, 0) // 7
	e.wantLSO(abort + 1)
	res := mustFetch(t, e.p, 0, 1<<20, true)
	want := []storage.AbortedTxn{{ProducerID: 7, FirstOffset: 4, LastOffset: abort, LastStableOffset: abort + 1}}
	if !reflect.DeepEqual(res.AbortedTxns, want) {
		t.Fatalf("aborted %+v, want %+v", res.AbortedTxns, want)
	}
	if _, err := e.p.AppendMarker(record.Marker{ProducerID: 7, ProducerEpoch: 1, CoordinatorEpoch: 0}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("a marker of the epoch before the bump: %v", err)
	}
	e.txnAppend(7, 2, 0, 1) // 8: the third transaction, epoch 2 from sequence 0
	if txnFirst(e.p, 7) != 8 {
		t.Fatalf("third transaction open at %d, want 8", txnFirst(e.p, 7))
	}
}

// Markers are fenced by the producer epoch and the coordinator epoch; a
// newer marker epoch fences the producer's older epoch. Markers need the
// ISR at min.insync.replicas and, in epoch, the leader epoch.
func TestMarkerFencing(t *testing.T) {
	e := soloLeader(t, testConfig(1))
	e.txnAppend(7, 2, 0, 1)
	m := func(epoch int16, coord int32) error {
		_, err := e.p.AppendMarker(record.Marker{ProducerID: 7, ProducerEpoch: epoch, Commit: true, CoordinatorEpoch: coord})
		return err
	}
	if err := m(1, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("older producer epoch: %v", err)
	}
	if err := m(2, 5); err != nil {
		t.Fatal(err)
	}
	if err := m(2, 4); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("older coordinator epoch: %v", err)
	}
	if err := m(3, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.AppendAsLeader(e.pidBatch(7, 2, 1, 1, false), 1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("fenced producer epoch wrote: %v", err)
	}
	if _, err := e.p.AppendMarkerInEpoch(record.Marker{ProducerID: 7, ProducerEpoch: 3, CoordinatorEpoch: 5}, 9); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("marker in another leader epoch: %v", err)
	}

	short := newEnv(t, 1, newClock(), testConfig(2))
	short.lead(1, 0, []int32{1, 2}, []int32{1})
	if _, err := short.p.AppendMarker(record.Marker{ProducerID: 7}); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("marker below min ISR: %v", err)
	}
}

// A follower applies the markers it replicates: it closes the
// transactions, writes the abort's .txnindex entry, and has the leader's
// LSO and producer state.
func TestFollowerAppliesMarkers(t *testing.T) {
	clk := newClock()
	l, f := newEnv(t, 1, clk, testConfig(1)), newEnv(t, 2, clk, testConfig(1))
	l.lead(1, 0, []int32{1, 2}, []int32{1, 2})
	f.follow(1, 1, 0, []int32{1, 2}, []int32{1, 2})
	l.txnAppend(7, 0, 0, 2) // 0-1
	l.txnAppend(8, 0, 0, 1) // 2
	catchUp(t, l, f)
	if txnFirst(f.p, 7) != 0 || txnFirst(f.p, 8) != 2 {
		t.Fatalf("follower's open transactions: %d, %d", txnFirst(f.p, 7), txnFirst(f.p, 8))
	}
	f.wantLSO(0)
	l.marker(7, 0, false, 3) // 3
	l.marker(8, 0, true, 3)  // 4
	catchUp(t, l, f)
	want := []storage.AbortedTxn{{ProducerID: 7, FirstOffset: 0, LastOffset: 3, LastStableOffset: 2}}
	if got, err := f.log.CollectAbortedTxns(0, 100); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("follower .txnindex %+v, %v; want %+v", got, err, want)
	}
	f.wantLSO(5)
	if txnFirst(f.p, 7) != -1 || txnFirst(f.p, 8) != -1 {
		t.Fatal("follower kept transactions open")
	}
	if string(f.p.producers.encode()) != string(l.p.producers.encode()) {
		t.Fatal("follower producer state differs from the leader's")
	}
}

// After a crash, open transactions come back from a snapshot (which
// carries them) or from replaying the log, and a lost .txnindex entry is
// written again by the replay of its marker.
func TestTxnStateSurvivesReopen(t *testing.T) {
	t.Run("snapshot", func(t *testing.T) {
		e := soloLeader(t, testConfig(1))
		e.produce(1, 1)
		e.txnAppend(7, 0, 0, 2) // 1-2
		if ok, err := e.p.FlushTail(1); !ok || err != nil {
			t.Fatalf("FlushTail: %v %v", ok, err)
		}
		b, err := e.log.ReadSnapshot(3)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := decodeProducers(b)
		if err != nil || ps[7] == nil || ps[7].txnFirst != 1 {
			t.Fatalf("snapshot at 3: %+v, %v; want producer 7's transaction at 1", ps[7], err)
		}
		e.produce(1, 1)
		p := reopen(t, e.log.Dir(), testConfig(1))
		if got := txnFirst(p, 7); got != 1 {
			t.Fatalf("reopened: producer 7's transaction at %d, want 1", got)
		}
	})
	t.Run("replay", func(t *testing.T) {
		e := soloLeader(t, testConfig(1))
		e.produce(1, 1)
		e.txnAppend(7, 0, 0, 2)
		e.txnAppend(8, 0, 0, 1)
		e.marker(8, 0, true, 0)
		if len(e.log.Snapshots()) != 0 {
			t.Fatalf("snapshots %v: the test wants none", e.log.Snapshots())
		}
		p := reopen(t, e.log.Dir(), testConfig(1))
		if txnFirst(p, 7) != 1 || txnFirst(p, 8) != -1 {
			t.Fatalf("replayed: transactions at %d, %d; want 1, -1", txnFirst(p, 7), txnFirst(p, 8))
		}
	})
	t.Run("lost txnindex entry", func(t *testing.T) {
		e := soloLeader(t, testConfig(1))
		e.txnAppend(7, 0, 0, 1)
		e.marker(7, 0, false, 0)
		dir := e.log.Dir()
		must(t, e.log.Close())
		must(t, os.Remove(filepath.Join(dir, fmt.Sprintf("%020d.txnindex", 0))))
		p := reopen(t, dir, testConfig(1))
		want := []storage.AbortedTxn{{ProducerID: 7, FirstOffset: 0, LastOffset: 1, LastStableOffset: 2}}
		if got, err := p.Log().CollectAbortedTxns(0, 100); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("after reopening: %+v, %v; want %+v", got, err, want)
		}
	})
}

// Truncating a follower below a marker reopens the transaction (and drops
// the abort's .txnindex entry); replicating the marker again closes it and
// writes the entry again.
func TestTruncationReopensTxn(t *testing.T) {
	clk := newClock()
	l, f := newEnv(t, 1, clk, testConfig(1)), newEnv(t, 2, clk, testConfig(1))
	l.lead(1, 0, []int32{1, 2}, []int32{1, 2})
	f.follow(1, 1, 0, []int32{1, 2}, []int32{1, 2})
	l.txnAppend(7, 0, 0, 2) // 0-1
	at := l.marker(7, 0, false, 0)
	catchUp(t, l, f)
	if txnFirst(f.p, 7) != -1 {
		t.Fatal("transaction open after its marker")
	}
	st, _ := f.p.FollowerFetchState()
	must(t, f.p.TruncateTo(st.LeaderEpoch, at))
	if got := txnFirst(f.p, 7); got != 0 {
		t.Fatalf("after truncating the marker: transaction at %d, want 0", got)
	}
	f.wantLSO(0)
	if got, err := f.log.CollectAbortedTxns(0, 100); err != nil || len(got) != 0 {
		t.Fatalf(".txnindex after truncation: %+v, %v", got, err)
	}
	catchUp(t, l, f)
	if txnFirst(f.p, 7) != -1 {
		t.Fatal("replicated marker did not close the transaction")
	}
	if got, err := f.log.CollectAbortedTxns(0, 100); err != nil || len(got) != 1 {
		t.Fatalf(".txnindex after replicating again: %+v, %v", got, err)
	}
}

// producer.id.expiration.ms never expires a producer with an open
// transaction; verification entries that old are dropped.
func TestExpirySkipsOpenTransactions(t *testing.T) {
	cfg := testConfig(1)
	cfg.ProducerIDExpiration = time.Hour
	e := soloLeader(t, cfg)
	e.txnAppend(7, 0, 0, 1)
	if _, err := e.p.AppendAsLeader(e.pidBatch(8, 0, 0, 1, false), 1); err != nil {
		t.Fatal(err)
	}
	g, _ := e.p.VerificationGuard(9, 0, 0)
	e.clk.Advance(time.Hour)
	if n := e.p.ExpireProducers(e.clk.Now()); n != 1 || txnFirst(e.p, 7) != 0 || txnFirst(e.p, 8) != -2 {
		t.Fatalf("expired %d; producer 7 %d, 8 %d", n, txnFirst(e.p, 7), txnFirst(e.p, 8))
	}
	if _, err := e.p.AppendVerified(e.pidBatch(9, 0, 0, 1, true), 1, g); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("expired verification entry still valid: %v", err)
	}
	e.marker(7, 0, true, 0)
	e.clk.Advance(time.Hour)
	if n := e.p.ExpireProducers(e.clk.Now()); n != 1 || txnFirst(e.p, 7) != -2 {
		t.Fatalf("closed transaction's producer not expired: %d", n)
	}
}

// A coordinator's transactional batches (no sequence) open the
// transaction without verification and are not deduplicated; their epoch
// is checked. AppendVerifiedInEpoch asks for the guard.
func TestCoordinatorTransactionalBatches(t *testing.T) {
	e := soloLeader(t, testConfig(1))
	epoch := e.p.LeaderEpoch()
	batch := func(pe int16) []byte {
		b := e.batch(1)
		record.SetProducer(b, 7, pe, -1, true)
		return b
	}
	if _, err := e.p.AppendVerifiedInEpoch(batch(0), epoch, 0); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("unverified AppendVerifiedInEpoch: %v", err)
	}
	for i := range 2 {
		res, err := e.p.AppendInEpoch(batch(0), epoch)
		if err != nil || res.BaseOffset != int64(i) {
			t.Fatalf("coordinator batch %d: %+v, %v", i, res, err)
		}
	}
	e.wantLSO(0)
	if _, err := e.p.AppendMarkerInEpoch(record.Marker{ProducerID: 7, ProducerEpoch: 1, Commit: true}, epoch); err != nil {
		t.Fatal(err)
	}
	e.wantLSO(3)
	if _, err := e.p.AppendInEpoch(batch(0), epoch); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("coordinator batch of a fenced epoch: %v", err)
	}
	infos, err := e.p.ActiveProducers()
	if err != nil || len(infos) != 1 {
		t.Fatal(infos, err)
	}
	if got := infos[0]; got.Epoch != 1 || got.LastSequence != -1 || got.CoordinatorEpoch != 0 || got.CurrentTxnStartOffset != -1 {
		t.Fatalf("producer: %+v", got)
	}
}

// DescribeProducers shows the open transaction's first offset and the
// last marker's coordinator epoch.
func TestActiveProducersTransactions(t *testing.T) {
	e := soloLeader(t, testConfig(1))
	e.txnAppend(7, 0, 0, 1)
	e.marker(7, 0, true, 4)
	e.txnAppend(7, 0, 1, 1)
	infos, err := e.p.ActiveProducers()
	if err != nil {
		t.Fatal(err)
	}
	want := ProducerInfo{ID: 7, Epoch: 0, LastSequence: 1, LastTimestamp: e.clk.Now().UnixMilli(), CoordinatorEpoch: 4, CurrentTxnStartOffset: 2}
	if len(infos) != 1 || infos[0] != want {
		t.Fatalf("producers %+v, want %+v", infos, want)
	}
	e.p.SetState(State{Leader: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}}) // now a follower
	if infos, err := e.p.ActiveProducers(); err != nil || len(infos) != 1 || infos[0] != want {
		t.Fatalf("as a follower: %+v, %v", infos, err)
	}
}

// A read_committed read that ends with its segment lists no aborted
// transaction of later segments: the bound is the end of what it returned
// (found by walking the returned batches), not the LSO.
func TestAbortedTxnsBoundedBySegmentEnd(t *testing.T) {
	cfg := testConfig(1)
	cfg.Storage.SegmentBytes = 4096
	e := soloLeader(t, cfg)
	for len(e.log.Segments()) < 2 {
		e.produce(1, 1)
	}
	second := e.log.Segments()[1].BaseOffset
	first := e.txnAppend(7, 0, 0, 1).BaseOffset
	e.marker(7, 0, false, 0)
	e.produce(1, 1)
	res := mustFetch(t, e.p, 0, 1<<20, true)
	got := readBatches(t, res)
	if len(got) != int(second) || got[len(got)-1] != second-1 {
		t.Fatalf("read the first segment's %d batches, want %d", len(got), second)
	}
	if len(res.AbortedTxns) != 0 {
		t.Fatalf("aborted %+v listed for a read that ends at %d", res.AbortedTxns, second)
	}
	if res := mustFetch(t, e.p, second, 1<<20, true); len(res.AbortedTxns) != 1 || res.AbortedTxns[0].FirstOffset != first {
		t.Fatalf("reading the second segment: aborted %+v", res.AbortedTxns)
	}
}
