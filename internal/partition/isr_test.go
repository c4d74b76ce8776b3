package partition

import (
	"slices"
	"testing"
	"time"
)

// ISR changes on the leader: the time-based caught-up rule, shrink,
// expand, and the controller's answers (reference/kafka-replication.md §1).

func wantProposal(t *testing.T, a AlterISR, isr []int32, leaderEpoch, partitionEpoch int32) {
	t.Helper()
	if !slices.Equal(a.ISR, isr) || a.LeaderEpoch != leaderEpoch || a.PartitionEpoch != partitionEpoch ||
		a.Topic != "t" || a.Partition != 0 {
		t.Fatalf("proposal %+v, want ISR %v leader epoch %d partition epoch %d", a, isr, leaderEpoch, partitionEpoch)
	}
}

func TestShrinkISR(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(4, 7, []int32{1, 2, 3}, []int32{1, 2, 3})
	e.fetch(2, 0)
	e.fetch(3, 0) // both at the leader's LEO: caught up
	e.produceBatches(1)
	e.clk.Advance(5 * time.Second)
	e.fetch(2, 1) // 2 keeps up; 3 stops fetching
	e.clk.Advance(lag - 5*time.Second)
	e.p.MaybeShrinkISR() // exactly replica.lag.time.max.ms: still in sync
	e.wantAlters(0)

	e.clk.Advance(time.Millisecond)
	e.p.MaybeShrinkISR()
	e.wantAlters(1)
	a := e.lastAlter()
	wantProposal(t, a, []int32{1, 2}, 4, 7)
	e.wantISR([]int32{1, 2, 3}, true)
	e.wantHW(0) // a pending shrink does not count: 3 (at 0) still holds the HW

	// While the change is in flight nothing else is proposed, even though
	// 2 now lags too.
	e.produceBatches(1)
	e.clk.Advance(2 * lag)
	e.p.MaybeShrinkISR()
	e.wantAlters(1)

	e.p.CompleteAlter(a, AlterResult{Outcome: AlterCommitted, LeaderEpoch: 4, PartitionEpoch: 8, ISR: []int32{1, 2}})
	e.wantISR([]int32{1, 2}, false)
	e.wantHW(1) // min over the new ISR: 2 is at 1

	e.p.MaybeShrinkISR()
	e.wantAlters(2)
	wantProposal(t, e.lastAlter(), []int32{1}, 4, 8)
}

// A follower at the leader's log end is in sync however long ago it
// fetched: there is nothing to catch up on.
func TestIdleFollowerAtLogEndStaysInSync(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
	e.produceBatches(3)
	e.fetch(2, 3)
	e.clk.Advance(100 * lag)
	e.p.MaybeShrinkISR()
	e.wantAlters(0)
	e.produceBatches(1)
	e.p.MaybeShrinkISR() // now behind, and last caught up long ago
	wantProposal(t, e.lastAlter(), []int32{1}, 1, 1)
}

// Kafka's lastFetchLeaderLogEndOffset rule: a fetch at (or past) the
// leader's LEO as of the follower's previous fetch proves the follower was
// caught up at that previous fetch's time, not now.
func TestCaughtUpAtPreviousFetch(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2, 3}, []int32{1, 2, 3}) // t=0: both caught up now
	e.clk.Advance(time.Second)
	e.produceBatches(1) // LEO 1
	e.fetch(2, 0)       // t=1s, leader LEO 1
	e.fetch(3, 0)
	e.clk.Advance(time.Second)
	e.produceBatches(1) // LEO 2
	e.clk.Advance(6 * time.Second)
	e.fetch(2, 1) // t=8s, at the LEO of its previous fetch: caught up at t=1s
	e.fetch(3, 0) // t=8s, below it: still caught up at t=0 only

	e.clk.Advance(2*time.Second + 500*time.Millisecond) // t=10.5s
	e.p.MaybeShrinkISR()
	wantProposal(t, e.lastAlter(), []int32{1, 2}, 1, 1)
	e.p.CompleteAlter(e.lastAlter(), AlterResult{Outcome: AlterCommitted, LeaderEpoch: 1, PartitionEpoch: 2, ISR: []int32{1, 2}})

	e.clk.Advance(time.Second) // t=11.5s: 2 last caught up at 1s
	e.p.MaybeShrinkISR()
	e.wantAlters(2)
	wantProposal(t, e.lastAlter(), []int32{1}, 1, 2)
}

// A later fetch below the leader's LEO as of the previous fetch leaves
// the caught-up time where it was.
func TestLowerFetchKeepsCaughtUpTime(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
	e.produceBatches(1)
	e.clk.Advance(9 * time.Second)
	e.fetch(2, 1) // t=9s at LEO: caught up at 9s
	e.produceBatches(1)
	e.clk.Advance(9 * time.Second)
	e.fetch(2, 0) // t=18s, below the previous fetch's leader LEO 1
	e.clk.Advance(500 * time.Millisecond)
	e.p.MaybeShrinkISR() // 9.5s since 9s
	e.wantAlters(0)
	e.clk.Advance(time.Second)
	e.p.MaybeShrinkISR()
	wantProposal(t, e.lastAlter(), []int32{1}, 1, 1)
}

func TestExpandISR(t *testing.T) {
	// Node 2 leads; 1 and 3 are out of the ISR.
	e := newEnv(t, 2, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2, 3}, []int32{2, 3})
	e.produceBatches(3)
	e.fetch(3, 2)
	e.wantHW(2)
	e.fetch(1, 1) // below the HW
	e.wantAlters(0)
	e.fetch(1, 2) // reaches the HW (and epoch start 0)
	e.wantAlters(1)
	wantProposal(t, e.lastAlter(), []int32{1, 2, 3}, 1, 1) // sorted
	e.wantISR([]int32{2, 3}, true)
	e.p.CompleteAlter(e.lastAlter(), AlterResult{Outcome: AlterCommitted, LeaderEpoch: 1, PartitionEpoch: 2, ISR: []int32{1, 2, 3}})
	e.wantISR([]int32{1, 2, 3}, false)
	e.fetch(1, 3)
	e.wantAlters(1) // already a member
}

func TestExpandISRNotEligible(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2}, []int32{1})
	e.produceBatches(2)
	e.setEligible(2, false)
	e.fetch(2, 2)
	e.wantAlters(0)
	e.setEligible(2, true)
	e.fetch(2, 2)
	e.wantAlters(1)
	wantProposal(t, e.lastAlter(), []int32{1, 2}, 1, 1)
}

// A follower joins only once it reaches the start of the current leader
// epoch, even when it is past the HW.
func TestExpandISRWaitsForEpochStart(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(2))
	e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
	e.produceBatches(3)
	e.fetch(2, 1)
	e.wantHW(1)
	// Leader again in epoch 2 with 2 out of the ISR: epoch 2 starts at
	// LEO 3, and the HW stays 1 (the ISR is below min.insync.replicas).
	e.lead(2, 2, []int32{1, 2}, []int32{1})
	e.wantHW(1)
	if start, ok := e.log.EpochStartOffset(2); !ok || start != 3 {
		t.Fatalf("epoch 2 start = %d, %v; want 3", start, ok)
	}
	e.fetch(2, 2) // past the HW, before the epoch start
	e.wantAlters(0)
	e.fetch(2, 3)
	e.wantAlters(1)
	wantProposal(t, e.lastAlter(), []int32{1, 2}, 2, 2)
}

// A pending expansion counts in the maximal ISR at once: the joining
// follower holds the HW back before the controller commits it.
func TestPendingExpansionCountsForHW(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2, 3}, []int32{1, 2})
	e.produceBatches(1)
	e.fetch(2, 1)
	e.wantHW(1)
	e.produceBatches(1) // LEO 2
	e.fetch(3, 1)       // reaches the HW: expansion proposed, not caught up by time
	wantProposal(t, e.lastAlter(), []int32{1, 2, 3}, 1, 1)
	e.fetch(2, 2)
	e.wantHW(1) // 3, pending, is at 1
	e.fetch(3, 2)
	e.wantHW(2)
	e.wantISR([]int32{1, 2}, true)
}

// CompleteAlter outcomes for a pending shrink of [1 2 3] to [1 2], where
// 3 (at 0) holds the HW while 2 is at 2.
func TestCompleteAlter(t *testing.T) {
	setup := func(t *testing.T) (*env, AlterISR) {
		e := newEnv(t, 1, newClock(), testConfig(1))
		e.lead(1, 5, []int32{1, 2, 3}, []int32{1, 2, 3})
		e.fetch(3, 0)
		e.produceBatches(2)
		e.fetch(2, 2)
		e.wantHW(0)
		e.clk.Advance(lag + time.Second)
		e.p.MaybeShrinkISR()
		e.wantAlters(1)
		a := e.lastAlter()
		wantProposal(t, a, []int32{1, 2}, 1, 5)
		return e, a
	}
	committed := func(pe int32, isr ...int32) AlterResult {
		return AlterResult{Outcome: AlterCommitted, LeaderEpoch: 1, PartitionEpoch: pe, ISR: isr}
	}

	t.Run("committed", func(t *testing.T) {
		e, a := setup(t)
		e.p.CompleteAlter(a, committed(6, 1, 2))
		e.wantISR([]int32{1, 2}, false)
		e.wantHW(2)
		e.clk.Advance(lag + time.Second)
		e.produceBatches(1)
		e.p.MaybeShrinkISR() // the next proposal carries the new partition epoch
		wantProposal(t, e.lastAlter(), []int32{1}, 1, 6)
	})
	t.Run("committed with a partition epoch not newer", func(t *testing.T) {
		e, a := setup(t)
		e.p.CompleteAlter(a, committed(5, 1, 2))
		e.wantISR([]int32{1, 2, 3}, false)
		e.wantHW(0)
	})
	t.Run("committed for another leader epoch", func(t *testing.T) {
		e, a := setup(t)
		e.p.CompleteAlter(a, AlterResult{Outcome: AlterCommitted, LeaderEpoch: 2, PartitionEpoch: 6, ISR: []int32{1, 2}})
		isr, _ := e.p.ISRState()
		if !slices.Equal(isr, []int32{1, 2, 3}) {
			t.Fatalf("ISR %v applied from another leader epoch", isr)
		}
		e.wantHW(0)
	})
	t.Run("rejected", func(t *testing.T) {
		e, a := setup(t)
		e.p.CompleteAlter(a, AlterResult{Outcome: AlterRejected})
		e.wantISR([]int32{1, 2, 3}, false)
		e.wantHW(0)
		e.p.MaybeShrinkISR() // free to propose again
		e.wantAlters(2)
		wantProposal(t, e.lastAlter(), []int32{1, 2}, 1, 5)
	})
	t.Run("wait for metadata", func(t *testing.T) {
		e, a := setup(t)
		e.p.CompleteAlter(a, AlterResult{Outcome: AlterWaitMetadata})
		e.wantISR([]int32{1, 2, 3}, true)
		e.p.MaybeShrinkISR()
		e.wantAlters(1)
		// Metadata with the same partition epoch leaves it pending.
		e.lead(1, 5, []int32{1, 2, 3}, []int32{1, 2, 3})
		e.wantISR([]int32{1, 2, 3}, true)
		// A new partition epoch clears it.
		e.lead(1, 6, []int32{1, 2, 3}, []int32{1, 2, 3})
		e.wantISR([]int32{1, 2, 3}, false)
		e.p.MaybeShrinkISR()
		e.wantAlters(2)
		wantProposal(t, e.lastAlter(), []int32{1, 2}, 1, 6)
	})
	t.Run("retry", func(t *testing.T) {
		e, a := setup(t)
		e.p.CompleteAlter(a, AlterResult{Outcome: AlterRetry})
		e.wantAlters(2)
		if got := e.lastAlter(); !slices.Equal(got.ISR, a.ISR) || got.LeaderEpoch != a.LeaderEpoch || got.PartitionEpoch != a.PartitionEpoch {
			t.Fatalf("retried %+v, want %+v", got, a)
		}
		e.wantISR([]int32{1, 2, 3}, true)
		e.p.CompleteAlter(a, committed(6, 1, 2))
		e.wantISR([]int32{1, 2}, false)
		e.wantHW(2)
	})
	t.Run("stale answers are ignored", func(t *testing.T) {
		e, a := setup(t)
		other := a
		other.ISR = []int32{1, 3}
		e.p.CompleteAlter(other, committed(6, 1, 3))
		oldEpoch := a
		oldEpoch.LeaderEpoch = 0
		e.p.CompleteAlter(oldEpoch, committed(6, 1, 2))
		e.p.CompleteAlter(oldEpoch, AlterResult{Outcome: AlterRejected})
		e.p.CompleteAlter(oldEpoch, AlterResult{Outcome: AlterRetry})
		e.wantISR([]int32{1, 2, 3}, true)
		e.wantAlters(1)
		e.wantHW(0)
		e.p.CompleteAlter(a, committed(6, 1, 2))
		e.wantISR([]int32{1, 2}, false)
		// A duplicate answer after the commit is ignored too.
		e.p.CompleteAlter(a, committed(7, 1, 2))
		e.wantISR([]int32{1, 2}, false)
		e.p.CompleteAlter(a, AlterResult{Outcome: AlterRetry})
		e.wantAlters(1)
	})
	t.Run("a new leader epoch drops the pending change", func(t *testing.T) {
		e, a := setup(t)
		e.lead(2, 6, []int32{1, 2, 3}, []int32{1, 2, 3})
		e.wantISR([]int32{1, 2, 3}, false)
		e.p.CompleteAlter(a, committed(7, 1, 2))
		e.wantISR([]int32{1, 2, 3}, false)
	})
}

// The controller shrank the ISR (its fencing of a paused follower) while
// that follower still counted as caught up and eligible on this node: the
// HW waited for it. Nothing else happens afterwards — producers all wait
// for acknowledgements, the follower never fetches — so the periodic ISR
// check must move the HW once the follower falls behind.
func TestHWMovesOnceAnOutsideFollowerFallsBehind(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
	e.produceBatches(1)
	e.fetch(2, 1) // caught up at the log end; then it pauses
	e.produceBatches(1)
	e.clk.Advance(lag / 2)
	e.lead(1, 2, []int32{1, 2}, []int32{1}) // the controller's shrink, applied
	e.wantHW(1)                             // 2 is caught up within the lag: it holds the HW
	e.clk.Advance(lag)
	e.p.MaybeShrinkISR()
	e.wantHW(2)
}

// A reassignment changes the replicas within a leader epoch: an added
// replica is tracked from its first fetch and joins the ISR once caught
// up; a removed one is forgotten (its fetches are refused) and no longer
// holds the HW back. The new state may come after an AlterPartition answer
// already took its partition epoch.
func TestReplicaSetChangesWithinLeaderEpoch(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(3, 1, []int32{1, 2}, []int32{1, 2})
	e.produceBatches(2)
	e.fetch(2, 2)
	e.lead(3, 2, []int32{1, 2, 4}, []int32{1, 2}) // 4 being added
	if _, err := e.p.ReadForFollower(e.followerFetch(4, 0)); err != nil {
		t.Fatalf("added replica's fetch: %v", err)
	}
	e.wantAlters(0)
	e.fetch(4, 2) // caught up: proposed for the ISR
	e.wantAlters(1)
	wantProposal(t, e.lastAlter(), []int32{1, 2, 4}, 3, 2)
	// The controller completes the reassignment, removing 2, in the same
	// change: the answer carries the ISR, the metadata the replicas.
	e.p.CompleteAlter(e.lastAlter(), AlterResult{Outcome: AlterCommitted, LeaderEpoch: 3, PartitionEpoch: 3, ISR: []int32{1, 4}})
	// Until the metadata arrives 2 is still a replica to the leader, and
	// caught up: it is proposed again, and the controller refuses it.
	e.fetch(2, 2)
	e.wantAlters(2)
	wantProposal(t, e.lastAlter(), []int32{1, 2, 4}, 3, 3)
	e.p.CompleteAlter(e.lastAlter(), AlterResult{Outcome: AlterWaitMetadata})
	e.lead(3, 3, []int32{1, 4}, []int32{1, 4})
	if _, err := e.p.ReadForFollower(e.followerFetch(2, 2)); err == nil {
		t.Fatal("removed replica's fetch accepted")
	}
	e.produceBatches(1)
	e.fetch(4, 3)
	e.wantHW(3)
}
