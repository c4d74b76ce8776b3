package storage

import (
	"testing"
)

// holdRolledFlushes makes rolled-segment flushes wait until the returned
// function is called; it restores the real flush at the end of the test.
func holdRolledFlushes(t *testing.T) (release func()) {
	gate := make(chan struct{})
	rolledSync = func(l *Log, segs []rolledSegment) []error {
		<-gate
		return syncRolled(l, segs)
	}
	var released bool
	release = func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(func() { release(); rolledSync = syncRolled })
	return release
}

// A roll does not wait for the fsync of the segment it seals: appends go
// on while the flush is held, the recovery point stays below the roll
// until the flush is done, and then moves to the new segment's base.
func TestRollDoesNotWaitForFlush(t *testing.T) {
	release := holdRolledFlushes(t)
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	defer release()                 // before Close, which waits for the flushes
	appendN(t, l, 40, 2, 200, 1, 0) // smallConfig: 4 KiB segments, several rolls
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments, want rolls", len(segs))
	}
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d while the flushes are held, want 0", rp)
	}
	release()
	l.flushes.Wait()
	if rp, want := l.RecoveryPoint(), segs[len(segs)-1].BaseOffset; rp != want {
		t.Fatalf("recovery point %d after the flushes, want the active base %d", rp, want)
	}
}

// A truncation below a roll while its flush is pending: the flush must
// not raise the recovery point over the segment it synced, which now
// holds other, unsynced bytes.
func TestTruncationDuringRolledFlush(t *testing.T) {
	release := holdRolledFlushes(t)
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	defer release() // before Close, which waits for the flushes
	for len(l.Segments()) < 2 {
		appendN(t, l, 1, 2, 200, 1, 0)
	}
	base := l.Segments()[1].BaseOffset
	if err := l.TruncateTo(base - 4); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 4, 2, 10, 1, 0) // regrow past base, in the first segment
	if n := len(l.Segments()); n != 1 || l.LogEndOffset() <= base {
		t.Fatalf("%d segments, LEO %d: want one segment past %d", n, l.LogEndOffset(), base)
	}
	release()
	l.flushes.Wait()
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d: raised by the flush of a segment truncated and rewritten since", rp)
	}
}
