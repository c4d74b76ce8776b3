package partition

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// Leader side: the high watermark over the ISR, min.insync.replicas, and
// follower fetch bookkeeping (reference/kafka-replication.md §1-§2).

// hwStep is one step of a scripted leader: append n one-record batches, or
// a fetch by replica id at offset; then the HW must be wantHW.
type hwStep struct {
	appendN int
	id      int32
	offset  int64
	wantHW  int64
}

func runHWScript(t *testing.T, e *env, steps []hwStep) {
	t.Helper()
	for i, s := range steps {
		if s.appendN > 0 {
			e.produceBatches(s.appendN)
		} else {
			res := e.fetch(s.id, s.offset)
			if res.HighWatermark != s.wantHW {
				t.Fatalf("step %d: fetch by %d at %d answered HW %d, want %d", i, s.id, s.offset, res.HighWatermark, s.wantHW)
			}
		}
		if got := e.p.HighWatermark(); got != s.wantHW {
			t.Fatalf("step %d (%+v): HW = %d, want %d", i, s, got, s.wantHW)
		}
	}
}

func TestLeaderHighWatermark(t *testing.T) {
	tests := []struct {
		name          string
		replicas, isr []int32
		steps         []hwStep
	}{
		{
			name: "min over the ISR, both followers must reach the new LEO", replicas: []int32{1, 2, 3}, isr: []int32{1, 2, 3},
			steps: []hwStep{
				{appendN: 2, wantHW: 0},
				{id: 2, offset: 0, wantHW: 0},
				{id: 3, offset: 0, wantHW: 0},
				{id: 2, offset: 2, wantHW: 0},
				{id: 3, offset: 1, wantHW: 1},
				{id: 3, offset: 2, wantHW: 2},
			},
		},
		{
			name: "never backwards", replicas: []int32{1, 2, 3}, isr: []int32{1, 2, 3},
			steps: []hwStep{
				{appendN: 3, wantHW: 0},
				{id: 2, offset: 3, wantHW: 0},
				{id: 3, offset: 3, wantHW: 3},
				{id: 2, offset: 1, wantHW: 3}, // a follower fetching lower later does not lower it
				{id: 3, offset: 0, wantHW: 3},
				{appendN: 1, wantHW: 3},
				{id: 3, offset: 4, wantHW: 3}, // 2 is at 1 now
				{id: 2, offset: 4, wantHW: 4},
			},
		},
		{
			name: "a follower outside the ISR does not hold it back", replicas: []int32{1, 2, 3}, isr: []int32{1, 2},
			steps: []hwStep{
				{appendN: 2, wantHW: 0},
				{id: 2, offset: 2, wantHW: 2}, // 3 never fetched
				{appendN: 1, wantHW: 2},
				{id: 3, offset: 0, wantHW: 2}, // below the HW: neither caught up nor joining
				{id: 2, offset: 3, wantHW: 3},
			},
		},
		{
			name: "leader alone in the ISR", replicas: []int32{1, 2}, isr: []int32{1},
			steps: []hwStep{
				{appendN: 1, wantHW: 1},
				{appendN: 2, wantHW: 3},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1, newClock(), testConfig(1))
			e.lead(1, 1, tt.replicas, tt.isr)
			runHWScript(t, e, tt.steps)
			e.wantAlters(0)
		})
	}
}

// A follower outside the ISR that is caught up (by time) and eligible
// holds the HW back, so that under a steady produce load it can reach the
// HW and join the ISR (Kafka's shouldWaitForReplicaToJoinIsr; reference
// §1 "High watermark" 2).
func TestCaughtUpFollowerOutsideISRHoldsHW(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2}, []int32{1})
	e.produceBatches(1)
	e.wantHW(1)
	e.clk.Advance(time.Second)
	e.fetch(2, 0) // behind the leader's LEO 1: not caught up yet
	e.produceBatches(1)
	e.wantHW(2)
	e.clk.Advance(time.Second)
	e.fetch(2, 1) // at the leader's LEO of the previous fetch: caught up then
	e.wantISR([]int32{1}, false)
	e.produceBatches(1)
	e.wantHW(2) // waits for 2, which is at 1 and caught up
	e.clk.Advance(time.Second)
	e.fetch(2, 2) // reaches the HW: joins
	e.wantISR([]int32{1}, true)
	if a := e.lastAlter(); !slices.Equal(a.ISR, []int32{1, 2}) {
		t.Fatalf("proposal %v, want [1 2]", a.ISR)
	}

	// Once it has lagged longer than replica.lag.time.max.ms it no longer
	// holds the HW back.
	e2 := newEnv(t, 1, newClock(), testConfig(1))
	e2.lead(1, 1, []int32{1, 2}, []int32{1})
	e2.produceBatches(1)
	e2.fetch(2, 0)
	e2.produceBatches(1)
	e2.clk.Advance(time.Second)
	e2.fetch(2, 1)
	e2.clk.Advance(lag + time.Second)
	e2.produceBatches(1)
	e2.wantHW(3)

	// Nor does an ineligible one.
	e3 := newEnv(t, 1, newClock(), testConfig(1))
	e3.setEligible(2, false)
	e3.lead(1, 1, []int32{1, 2}, []int32{1})
	e3.produceBatches(1)
	e3.fetch(2, 1) // at the LEO: caught up, but ineligible
	e3.produceBatches(1)
	e3.wantHW(2)
	e3.wantAlters(0)
}

func TestMinInsyncReplicas(t *testing.T) {
	tests := []struct {
		name          string
		minISR        int
		replicas, isr []int32
		acks          int16
		wantErr       error
		wantLEO       int64
		wantHW        int64
	}{
		{name: "acks=all refused below min ISR", minISR: 2, replicas: []int32{1, 2, 3}, isr: []int32{1}, acks: -1, wantErr: ErrNotEnoughReplicas, wantLEO: 0, wantHW: 0},
		{name: "acks=1 appends below min ISR, HW frozen", minISR: 2, replicas: []int32{1, 2, 3}, isr: []int32{1}, acks: 1, wantLEO: 1, wantHW: 0},
		{name: "acks=0 appends below min ISR, HW frozen", minISR: 2, replicas: []int32{1, 2, 3}, isr: []int32{1}, acks: 0, wantLEO: 1, wantHW: 0},
		{name: "effective min ISR is capped by RF", minISR: 2, replicas: []int32{1}, isr: []int32{1}, acks: -1, wantLEO: 1, wantHW: 1},
		{name: "min ISR met", minISR: 2, replicas: []int32{1, 2, 3}, isr: []int32{1, 2}, acks: -1, wantLEO: 1, wantHW: 0},
		{name: "min ISR 1 leader alone", minISR: 1, replicas: []int32{1, 2, 3}, isr: []int32{1}, acks: -1, wantLEO: 1, wantHW: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1, newClock(), testConfig(tt.minISR))
			e.lead(1, 1, tt.replicas, tt.isr)
			res, err := e.p.AppendAsLeader(e.batch(1), tt.acks)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("AppendAsLeader: %v, want %v", err, tt.wantErr)
			}
			if err == nil && (res.BaseOffset != 0 || res.LastOffset != 0) {
				t.Fatalf("append result %+v", res)
			}
			e.wantLEO(tt.wantLEO)
			e.wantHW(tt.wantHW)
		})
	}
}

// The HW does not move while the ISR is below min.insync.replicas, even
// when every member has the records; it moves once the ISR grows back.
func TestHWFrozenBelowMinISR(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(3))
	e.lead(1, 1, []int32{1, 2, 3}, []int32{1, 2})
	e.produceBatches(2)
	e.fetch(2, 2)
	e.wantHW(0)
	e.fetch(3, 2) // 3 reaches the HW and the epoch start: expansion proposed
	a := e.lastAlter()
	if !slices.Equal(a.ISR, []int32{1, 2, 3}) {
		t.Fatalf("proposal %v", a.ISR)
	}
	e.wantHW(0) // the committed ISR is still below min ISR
	e.p.CompleteAlter(a, AlterResult{Outcome: AlterCommitted, LeaderEpoch: 1, PartitionEpoch: 2, ISR: a.ISR})
	e.wantISR([]int32{1, 2, 3}, false)
	e.wantHW(2)
}

func TestAppendAsLeaderRejects(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	if _, err := e.p.AppendAsLeader(e.batch(1), 1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append before leading: %v, want ErrNotLeader", err)
	}
	e.follow(2, 1, 1, []int32{1, 2}, []int32{1, 2})
	if _, err := e.p.AppendAsLeader(e.batch(1), 1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append as follower: %v, want ErrNotLeader", err)
	}
	e.lead(2, 2, []int32{1, 2}, []int32{1, 2})
	cfg := testConfig(1)
	cfg.MaxMessageBytes = 100
	e.p.SetConfig(cfg)
	if _, err := e.p.AppendAsLeader(e.batch(20), 1); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("large batch: %v, want ErrMessageTooLarge", err)
	}
	e.wantLEO(0)
	res := e.produce(1, 1)
	if res.BaseOffset != 0 || res.LastOffset != 0 || res.LogAppendTime != -1 {
		t.Fatalf("append result %+v", res)
	}
}

// Fetch offsets, epoch fencing and divergence on the leader (KIP-320).
func TestReadForFollowerDivergenceAndFencing(t *testing.T) {
	// Epoch cache: epoch 1 at 0, epoch 3 at 2; LEO 4; HW 2.
	setup := func(t *testing.T) *env {
		e := newEnv(t, 1, newClock(), testConfig(1))
		e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
		e.produceBatches(2)
		e.fetch(2, 2)
		e.wantHW(2)
		e.lead(3, 2, []int32{1, 2}, []int32{1, 2})
		e.produceBatches(2)
		e.wantHW(2)
		return e
	}
	tests := []struct {
		name          string
		current       int32
		lastFetched   int32
		offset        int64
		wantErr       error
		wantDiverging *Diverging
		wantRecords   bool
	}{
		{name: "epoch unknown to the leader, offset past its end", current: 3, lastFetched: 2, offset: 3, wantDiverging: &Diverging{Epoch: 1, EndOffset: 2}},
		{name: "epoch unknown to the leader, at the LEO", current: 3, lastFetched: 2, offset: 4, wantDiverging: &Diverging{Epoch: 1, EndOffset: 2}},
		{name: "older epoch, offset past its end", current: 3, lastFetched: 1, offset: 3, wantDiverging: &Diverging{Epoch: 1, EndOffset: 2}},
		{name: "older epoch, offset at its end", current: 3, lastFetched: 1, offset: 2, wantRecords: true},
		{name: "latest epoch", current: 3, lastFetched: 3, offset: 3, wantRecords: true},
		{name: "latest epoch at the LEO", current: 3, lastFetched: 3, offset: 4},
		{name: "epoch newer than any known", current: 3, lastFetched: 4, offset: 4, wantErr: ErrOffsetOutOfRange},
		{name: "no divergence check", current: 3, lastFetched: -1, offset: 1, wantRecords: true},
		{name: "offset past the LEO", current: 3, lastFetched: -1, offset: 5, wantErr: ErrOffsetOutOfRange},
		// Kafka checks divergence first: the end of epoch 3 (the LEO) is below the offset.
		{name: "offset past the LEO with epoch", current: 3, lastFetched: 3, offset: 5, wantDiverging: &Diverging{Epoch: 3, EndOffset: 4}},
		{name: "fenced: request epoch older", current: 2, lastFetched: -1, offset: 4, wantErr: ErrFencedLeaderEpoch},
		{name: "request epoch newer", current: 4, lastFetched: -1, offset: 4, wantErr: ErrUnknownLeaderEpoch},
		{name: "epoch not checked", current: -1, lastFetched: -1, offset: 2, wantRecords: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			res, err := e.p.ReadForFollower(FollowerFetch{
				ReplicaID: 2, FetchOffset: tt.offset, CurrentEpoch: tt.current,
				LastFetchedEpoch: tt.lastFetched, MaxBytes: 1 << 20,
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if (res.Diverging == nil) != (tt.wantDiverging == nil) ||
				(res.Diverging != nil && *res.Diverging != *tt.wantDiverging) {
				t.Fatalf("diverging %+v, want %+v", res.Diverging, tt.wantDiverging)
			}
			if (res.Records.Size > 0) != tt.wantRecords {
				t.Fatalf("%d record bytes, want records %v", res.Records.Size, tt.wantRecords)
			}
			if tt.wantRecords && batches(t, bytesOf(t, res.Records))[0].base > tt.offset {
				t.Fatalf("records start at %d, want <= %d", batches(t, bytesOf(t, res.Records))[0].base, tt.offset)
			}
			// An error or a divergence records no progress: had the
			// follower's offset been taken, the HW would have moved.
			if err != nil || res.Diverging != nil {
				e.wantHW(2)
			}
		})
	}
}

// A diverging or failed fetch records no progress, so it neither moves the
// HW nor keeps the follower in the ISR.
func TestDivergingFetchRecordsNoProgress(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
	e.produceBatches(2)
	e.lead(3, 2, []int32{1, 2}, []int32{1, 2})
	e.produceBatches(1)
	e.clk.Advance(lag + time.Second)
	for range 3 {
		res, err := e.p.ReadForFollower(FollowerFetch{ReplicaID: 2, FetchOffset: 3, CurrentEpoch: 3, LastFetchedEpoch: 2, MaxBytes: 1 << 20})
		if err != nil || res.Diverging == nil || res.Records.Size != 0 {
			t.Fatalf("fetch: %+v, %v; want a divergence without records", res, err)
		}
	}
	e.wantHW(0)
	e.p.MaybeShrinkISR() // 2 never made progress in this epoch
	if a := e.lastAlter(); !slices.Equal(a.ISR, []int32{1}) {
		t.Fatalf("proposal %v, want [1]", a.ISR)
	}
}

func TestReadForFollowerUnknownReplica(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
	if _, err := e.p.ReadForFollower(e.followerFetch(7, 0)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("fetch by non-replica: %v, want ErrNotLeader", err)
	}
	e.follow(2, 2, 2, []int32{1, 2}, []int32{1, 2})
	if _, err := e.p.ReadForFollower(FollowerFetch{ReplicaID: 2, CurrentEpoch: -1, LastFetchedEpoch: -1}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("fetch from a follower: %v, want ErrNotLeader", err)
	}
}
