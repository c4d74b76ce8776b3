package storage

import (
	"os"
	"testing"
	"time"
)

// bigSegments keeps every batch of these tests in one segment, with
// index entries every few batches.
func bigSegments() Config {
	c := smallConfig()
	c.SegmentBytes = 1 << 20
	c.SegmentIndexBytes = 64 << 10
	return c
}

const batch2x200 = 2 // records per test batch below; offsets advance by 2

// tailFlushedCrash appends 30 batches, flushes the tail (recovery point
// 60), appends 10 more and crashes. It returns the dir, the .log path and
// one batch's size.
func tailFlushedCrash(t *testing.T) (string, string, int64) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, Options{Config: bigSegments()})
	appendN(t, l, 30, batch2x200, 200, 100, 1)
	if l.UnflushedBytes() == 0 {
		t.Fatal("nothing unflushed after appends")
	}
	must(t, l.FlushTail())
	if rp := l.RecoveryPoint(); rp != 60 {
		t.Fatalf("recovery point %d after FlushTail, want 60", rp)
	}
	if n := l.UnflushedBytes(); n != 0 {
		t.Fatalf("%d bytes unflushed after FlushTail", n)
	}
	appendN(t, l, 10, batch2x200, 200, 100, 1)
	crashLog(l)
	logs := segFiles(t, dir, ".log")
	if len(logs) != 1 {
		t.Fatalf("%d segments, want 1", len(logs))
	}
	return dir, logs[0], int64(len(makeBatch(0, 2, 200, 0)))
}

// After FlushTail, recovery re-checks only what follows the recovery
// point: a corrupt byte below it is not looked for (a full re-check finds
// it), one above it cuts the log there; reads and the index work after.
func TestRecoveryTrustsBelowTailFlush(t *testing.T) {
	dir, path, size := tailFlushedCrash(t)
	flipByte(t, path, 5*size+100)  // batch 5: offsets 10, 11
	flipByte(t, path, 35*size+100) // batch 35: offsets 70, 71
	l := openLog(t, dir, Options{Config: bigSegments(), RecoveryPoint: 60})
	if leo := l.LogEndOffset(); leo != 70 {
		t.Fatalf("LEO %d, want 70: cut at the corrupt batch above the recovery point only", leo)
	}
	if segs := l.Segments(); segs[0].IndexEntries == 0 || segs[0].TimeIndexEntries == 0 {
		t.Fatalf("indexes lost: %+v", segs[0])
	}
	for off := int64(12); off < 70; off += 7 { // below the corrupt batch 5, whose CRC fails
		ri, err := l.Read(off, 1, 70, true)
		must(t, err)
		if len(ri.Bytes) == 0 {
			t.Fatalf("nothing at %d", off)
		}
	}
	if _, err := l.AppendAsLeader(makeBatch(0, 2, 200, 100), 1); err != nil {
		t.Fatal(err)
	}
	crashLog(l)
	l = openLog(t, dir, Options{Config: bigSegments(), RecoveryPoint: 0})
	defer l.Close()
	if leo := l.LogEndOffset(); leo != 10 {
		t.Fatalf("full recovery LEO %d, want 10", leo)
	}
}

// A recovery point inside a batch (a log start offset moved into it)
// trusts only the batches wholly below it.
func TestRecoveryPointInsideBatch(t *testing.T) {
	dir, path, size := tailFlushedCrash(t)
	flipByte(t, path, 30*size+100) // batch 30: offsets 60, 61
	wantRecovered(t, dir, 61, 60)
}

// wantRecovered opens the log in dir with recovery point rp and checks
// its recovered end, then closes it.
func wantRecovered(t *testing.T, dir string, rp, leo int64) {
	t.Helper()
	l := openLog(t, dir, Options{Config: bigSegments(), RecoveryPoint: rp})
	defer l.Close()
	if got := l.LogEndOffset(); got != leo {
		t.Fatalf("recovered from %d: LEO %d, want %d", rp, got, leo)
	}
	readAll(t, l)
}

// An index file that cannot be trusted sends recovery back to re-checking
// the whole segment.
func TestRecoveryAboveWithBadIndex(t *testing.T) {
	dir, path, size := tailFlushedCrash(t)
	flipByte(t, path, 5*size+100)
	idx := segFiles(t, dir, ".index")[0]
	data, err := os.ReadFile(idx)
	must(t, err)
	n := len(data) / 8
	for n > 0 && allZero(data[(n-1)*8:n*8]) {
		n--
	}
	if n < 2 {
		t.Fatalf("%d index entries persisted by FlushTail", n)
	}
	data[(n-1)*8+7] ^= 0x40 // the last entry's position no longer points at its batch
	must(t, os.WriteFile(idx, data, 0o644))
	wantRecovered(t, dir, 60, 10) // the whole segment re-checked
}

// A recovery point the segment does not reach (its data is missing) is
// not trusted either.
func TestRecoveryPointBeyondData(t *testing.T) {
	dir, path, size := tailFlushedCrash(t)
	must(t, os.Truncate(path, 20*size+7))
	wantRecovered(t, dir, 60, 40)
}

// FlushTail fsyncs without the log's lock: appends proceed while it is
// held, and it raises the recovery point only to the end it saw.
func TestFlushTailDoesNotHoldAppends(t *testing.T) {
	release := holdRolledFlushes(t)
	l := openLog(t, t.TempDir(), Options{Config: bigSegments()})
	defer l.Close()
	defer release()
	appendN(t, l, 5, 2, 200, 1, 0)
	done := make(chan error)
	go func() { done <- l.FlushTail() }()
	waitFor(t, func() bool { return l.UnflushedBytes() == 0 }) // FlushTail took its snapshot
	appendN(t, l, 5, 2, 200, 1, 0)
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d while the fsync is held", rp)
	}
	release()
	must(t, <-done)
	if rp := l.RecoveryPoint(); rp != 10 {
		t.Fatalf("recovery point %d, want 10 (the end FlushTail saw)", rp)
	}
}

// A truncation while FlushTail's fsync is pending keeps the recovery
// point down: the bytes it synced are no longer the log's.
func TestTruncationDuringFlushTail(t *testing.T) {
	release := holdRolledFlushes(t)
	l := openLog(t, t.TempDir(), Options{Config: bigSegments()})
	defer l.Close()
	defer release()
	appendN(t, l, 10, 2, 200, 1, 0)
	done := make(chan error)
	go func() { done <- l.FlushTail() }()
	waitFor(t, func() bool { return l.UnflushedBytes() == 0 })
	must(t, l.TruncateTo(6))
	appendN(t, l, 10, 2, 200, 1, 0)
	release()
	must(t, <-done)
	if rp := l.RecoveryPoint(); rp > 6 {
		t.Fatalf("recovery point %d over rewritten bytes (truncated to 6)", rp)
	}
}

// waitFor polls cond until it holds (or fails the test after 10 s).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}
