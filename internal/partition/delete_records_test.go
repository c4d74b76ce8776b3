package partition

import (
	"context"
	"errors"
	"testing"
	"time"
)

// DeleteRecords on a leader: the log start moves (reads below it are out
// of range), followers take it from their fetch responses, and the low
// watermark (the smallest log start over the live replicas) reaches it
// once they have reported it back.

// threeReplicas is leader 1 with followers 2 and 3, all caught up on
// batches one-record batches in 200-byte segments.
func threeReplicas(t *testing.T, batches int) (l, f2, f3 *env) {
	t.Helper()
	clk := newClock()
	cfg := testConfig(2)
	cfg.Storage.SegmentBytes = 200
	l, f2, f3 = newEnv(t, 1, clk, cfg), newEnv(t, 2, clk, cfg), newEnv(t, 3, clk, cfg)
	replicas := []int32{1, 2, 3}
	l.lead(1, 0, replicas, replicas)
	f2.follow(1, 1, 0, replicas, replicas)
	f3.follow(1, 1, 0, replicas, replicas)
	l.produceBatches(batches)
	catchUp(t, l, f2)
	catchUp(t, l, f3)
	catchUp(t, l, f2)
	l.wantHW(int64(batches))
	return l, f2, f3
}

func TestDeleteRecordsReplicatesLogStart(t *testing.T) {
	l, f2, f3 := threeReplicas(t, 20)
	segsBefore := len(l.log.Segments())
	got, err := l.p.DeleteRecords(13)
	if err != nil || got != 13 {
		t.Fatalf("DeleteRecords(13) = %d, %v", got, err)
	}
	if l.p.LogStartOffset() != 13 || len(l.log.Segments()) >= segsBefore {
		t.Fatalf("leader log start %d, %d segments (had %d)", l.p.LogStartOffset(), len(l.log.Segments()), segsBefore)
	}
	if _, err := l.p.Fetch(12, 1<<20, true, -1, false); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new log start: %v", err)
	}
	if res, err := l.p.ListOffset(Earliest, -1, ReadUncommitted); err != nil || res.Offset != 13 {
		t.Fatalf("earliest = %+v, %v", res, err)
	}
	done := make(chan error, 1)
	go func() {
		low, err := l.p.WaitForLowWatermark(context.Background(), 13)
		if err == nil && low != 13 {
			err = errors.New("low watermark below the requested offset")
		}
		done <- err
	}()
	waitWatchers(t, l.p, 1)
	if low, _ := l.p.LowWatermark(); low != 0 {
		t.Fatalf("low watermark %d before followers learn", low)
	}
	replicate(t, l, f2) // f2 learns 13
	replicate(t, l, f3)
	select {
	case err := <-done:
		t.Fatalf("wait ended before followers reported: %v", err)
	default:
	}
	replicate(t, l, f2) // and reports it
	replicate(t, l, f3)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, f := range []*env{f2, f3} {
		if f.p.LogStartOffset() != 13 {
			t.Fatalf("follower %d log start %d", f.id, f.p.LogStartOffset())
		}
	}
}

func TestDeleteRecordsToHighWatermark(t *testing.T) {
	l, _, _ := threeReplicas(t, 10)
	l.produceBatches(3) // above the HW: followers have not fetched them
	got, err := l.p.DeleteRecords(DeleteToHW)
	if err != nil || got != 10 {
		t.Fatalf("DeleteRecords(-1) = %d, %v; want the HW 10", got, err)
	}
	if got, err := l.p.DeleteRecords(4); err != nil || got != 10 {
		t.Fatalf("DeleteRecords below the log start = %d, %v; want 10", got, err)
	}
}

func TestDeleteRecordsErrors(t *testing.T) {
	l, f2, _ := threeReplicas(t, 5)
	l.produceBatches(2) // LEO 7, HW 5
	if _, err := l.p.DeleteRecords(6); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("above the HW: %v", err)
	}
	if _, err := l.p.DeleteRecords(-2); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("offset -2: %v", err)
	}
	if _, err := f2.p.DeleteRecords(1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("on a follower: %v", err)
	}
	if _, err := f2.p.LowWatermark(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("low watermark on a follower: %v", err)
	}
	cfg := testConfig(1)
	cfg.Storage.Delete, cfg.Storage.Compact = false, true
	c := soloLeader(t, cfg)
	c.produceBatches(2)
	if _, err := c.p.DeleteRecords(1); !errors.Is(err, ErrPolicyViolation) {
		t.Fatalf("compact-only topic: %v", err)
	}
}

// A dead follower (not eligible) does not hold the low watermark back; a
// wait ends with ErrNotLeader when leadership moves, and with ctx's error
// (and the low watermark) on timeout.
func TestLowWatermarkWaits(t *testing.T) {
	l, f2, _ := threeReplicas(t, 6)
	if _, err := l.p.DeleteRecords(4); err != nil {
		t.Fatal(err)
	}
	replicate(t, l, f2)
	replicate(t, l, f2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if low, err := l.p.WaitForLowWatermark(ctx, 4); !errors.Is(err, context.DeadlineExceeded) || low != 0 {
		t.Fatalf("wait with follower 3 behind = %d, %v", low, err)
	}
	l.setEligible(3, false)
	if low, err := l.p.LowWatermark(); err != nil || low != 4 {
		t.Fatalf("low watermark without the dead follower = %d, %v", low, err)
	}
	l.setEligible(3, true)
	done := make(chan error, 1)
	go func() {
		_, err := l.p.WaitForLowWatermark(context.Background(), 4)
		done <- err
	}()
	waitWatchers(t, l.p, 1)
	l.follow(2, 2, 1, []int32{1, 2, 3}, []int32{1, 2, 3})
	if err := <-done; !errors.Is(err, ErrNotLeader) {
		t.Fatalf("wait across a leader change: %v", err)
	}
}

// The LSO stays within [log start, HW] when the start passes an open
// transaction's first offset, and the producer state survives.
func TestDeleteRecordsPastOpenTransaction(t *testing.T) {
	e := soloLeader(t, testConfig(1))
	e.produceBatches(2)
	e.txnAppend(7, 0, 0, 2) // offsets 2-3, open
	e.produceBatches(3)     // 4-6
	e.wantLSO(2)
	if _, err := e.p.DeleteRecords(5); err != nil {
		t.Fatal(err)
	}
	e.wantLSO(5)
	if txnFirst(e.p, 7) != 2 {
		t.Fatalf("open transaction's state lost: first %d", txnFirst(e.p, 7))
	}
	end := e.marker(7, 0, true, 0)
	e.wantLSO(end + 1)
}

// A follower out of the ISR and behind the new log start gets
// OFFSET_OUT_OF_RANGE and restarts its log at the leader's start.
func TestDeleteRecordsFollowerBehindLogStart(t *testing.T) {
	l, f2, f3 := threeReplicas(t, 10)
	l.lead(1, 1, []int32{1, 2, 3}, []int32{1, 2})
	f3.follow(1, 1, 1, []int32{1, 2, 3}, []int32{1, 2})
	l.setEligible(3, false) // else the HW waits for it, caught up until now
	l.produceBatches(5)
	catchUp(t, l, f2)
	if _, err := l.p.DeleteRecords(14); err != nil {
		t.Fatal(err)
	}
	st, _ := f3.p.FollowerFetchState()
	if _, err := l.p.ReadForFollower(FollowerFetch{ReplicaID: 3, FetchOffset: st.FetchOffset, LogStartOffset: st.LogStartOffset,
		CurrentEpoch: 1, LastFetchedEpoch: -1, MaxBytes: 1 << 20}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("lagging follower's fetch below the log start: %v", err)
	}
	if err := f3.p.ResetTo(1, l.p.LogStartOffset()); err != nil {
		t.Fatal(err)
	}
	catchUp(t, l, f3)
	if f3.p.LogStartOffset() != 14 || f3.p.LogEndOffset() != l.p.LogEndOffset() {
		t.Fatalf("reset follower: log [%d, %d)", f3.p.LogStartOffset(), f3.p.LogEndOffset())
	}
}
