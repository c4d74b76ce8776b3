package partition

import (
	"context"
	"errors"
	"testing"
	"time"
)

// WaitForHW (acks=all, reference/kafka-replication.md §2).

// testDeadline bounds every wait for a goroutine; it is never reached in a
// passing run.
const testDeadline = 10 * time.Second

// startWait runs WaitForHW(offset) in a goroutine once p has watchers
// registered, and returns the channel its result arrives on.
func startWait(t *testing.T, ctx context.Context, p *Partition, offset int64) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.WaitForHW(ctx, offset) }()
	waitWatchers(t, p, 1)
	return errc
}

func notYet(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		t.Fatalf("WaitForHW returned early: %v", err)
	default:
	}
}

func result(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(testDeadline):
		t.Fatal("WaitForHW did not return")
		return nil
	}
}

// ackAllEnv is a leader of [1 2 3] with min.insync.replicas 2 and one
// acks=all record appended at offset 0.
func ackAllEnv(t *testing.T, isr []int32) *env {
	e := newEnv(t, 1, newClock(), testConfig(2))
	e.lead(1, 1, []int32{1, 2, 3}, isr)
	if res := e.produce(1, -1); res.LastOffset != 0 {
		t.Fatalf("appended at %d", res.LastOffset)
	}
	return e
}

func TestWaitForHWPasses(t *testing.T) {
	e := ackAllEnv(t, []int32{1, 2, 3})
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	errc := startWait(t, ctx, e.p, 1)
	e.lead(1, 2, []int32{1, 2, 3}, []int32{1, 2, 3}) // wakes the waiter; HW not there yet
	e.fetch(2, 1)
	notYet(t, errc)
	e.fetch(3, 1)
	if err := result(t, errc); err != nil {
		t.Fatalf("WaitForHW: %v", err)
	}
	// Already passed: returns at once.
	if err := e.p.WaitForHW(ctx, 1); err != nil {
		t.Fatalf("WaitForHW after the HW passed: %v", err)
	}
	e.p.mu.Lock()
	n := len(e.p.watchers)
	e.p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d watchers left registered", n)
	}
}

func TestWaitForHWLosesLeadership(t *testing.T) {
	e := ackAllEnv(t, []int32{1, 2, 3})
	errc := startWait(t, context.Background(), e.p, 1)
	e.follow(2, 2, 2, []int32{1, 2, 3}, []int32{1, 2, 3})
	if err := result(t, errc); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("WaitForHW: %v, want ErrNotLeader", err)
	}
	// A replica removed from the partition (Leader -1) as well.
	e2 := ackAllEnv(t, []int32{1, 2, 3})
	errc = startWait(t, context.Background(), e2.p, 1)
	e2.p.SetState(State{Leader: -1, LeaderEpoch: -1})
	if err := result(t, errc); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("WaitForHW: %v, want ErrNotLeader", err)
	}
}

func TestWaitForHWContext(t *testing.T) {
	e := ackAllEnv(t, []int32{1, 2, 3})
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := e.p.WaitForHW(past, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForHW: %v, want DeadlineExceeded", err)
	}
	ctx, cancel2 := context.WithCancel(context.Background())
	errc := startWait(t, ctx, e.p, 1)
	e.fetch(2, 1) // progress, but not enough
	notYet(t, errc)
	cancel2()
	if err := result(t, errc); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitForHW: %v, want Canceled", err)
	}
	e.wantLEO(1) // appended data stays after a timeout
}

// The HW passed the batch, but before the produce was answered the ISR
// shrank below min.insync.replicas: NOT_ENOUGH_REPLICAS_AFTER_APPEND.
func TestWaitForHWNotEnoughReplicasLate(t *testing.T) {
	t.Run("shrink committed by CompleteAlter", func(t *testing.T) {
		e := ackAllEnv(t, []int32{1, 2})
		e.fetch(2, 1)
		e.wantHW(1)
		e.produce(1, 1)
		e.clk.Advance(lag + time.Second)
		e.p.MaybeShrinkISR()
		a := e.lastAlter()
		wantProposal(t, a, []int32{1}, 1, 1)
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		if err := e.p.WaitForHW(ctx, 1); err != nil {
			t.Fatalf("WaitForHW with the shrink pending: %v", err) // a pending shrink does not count yet
		}
		e.p.CompleteAlter(a, AlterResult{Outcome: AlterCommitted, LeaderEpoch: 1, PartitionEpoch: 2, ISR: []int32{1}})
		if err := e.p.WaitForHW(ctx, 1); !errors.Is(err, ErrNotEnoughReplicasLate) {
			t.Fatalf("WaitForHW: %v, want ErrNotEnoughReplicasLate", err)
		}
		// Offset 2 cannot pass any more: the HW is frozen below min ISR.
		errc := startWait(t, ctx, e.p, 2)
		e.fetch(2, 2)
		notYet(t, errc)
		e.follow(2, 2, 3, []int32{1, 2, 3}, []int32{2})
		if err := result(t, errc); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("WaitForHW: %v, want ErrNotLeader", err)
		}
	})
	t.Run("shrink from metadata", func(t *testing.T) {
		e := ackAllEnv(t, []int32{1, 2})
		e.fetch(2, 1)
		e.lead(1, 2, []int32{1, 2, 3}, []int32{1})
		if err := e.p.WaitForHW(context.Background(), 1); !errors.Is(err, ErrNotEnoughReplicasLate) {
			t.Fatalf("WaitForHW: %v, want ErrNotEnoughReplicasLate", err)
		}
	})
	// Kafka compares min ISR with the maximal ISR: a member being added
	// counts.
	t.Run("pending expansion counts", func(t *testing.T) {
		e := ackAllEnv(t, []int32{1, 2})
		e.fetch(2, 1)
		e.lead(1, 2, []int32{1, 2, 3}, []int32{1})
		e.fetch(3, 1)
		e.wantISR([]int32{1}, true)
		wantProposal(t, e.lastAlter(), []int32{1, 3}, 1, 2)
		if err := e.p.WaitForHW(context.Background(), 1); err != nil {
			t.Fatalf("WaitForHW: %v, want nil", err)
		}
	})
}
