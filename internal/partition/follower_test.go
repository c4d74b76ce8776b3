package partition

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// Follower side: copying the leader's batches, the follower HW, stale
// epochs and truncation (reference/kafka-replication.md §3).

// pair is a leader (node 1) and a follower (node 2) of replicas [1 2] in
// leader epoch 1, sharing a clock.
func pair(t *testing.T) (leader, follower *env) {
	clk := newClock()
	leader = newEnv(t, 1, clk, testConfig(1))
	follower = newEnv(t, 2, clk, testConfig(1))
	leader.lead(1, 1, []int32{1, 2}, []int32{1, 2})
	follower.follow(1, 1, 1, []int32{1, 2}, []int32{1, 2})
	return leader, follower
}

func wantSameLogs(t *testing.T, a, b *env) {
	t.Helper()
	if a.p.LogEndOffset() != b.p.LogEndOffset() || a.log.LogStartOffset() != b.log.LogStartOffset() {
		t.Fatalf("logs differ: node %d [%d, %d), node %d [%d, %d)", a.id, a.log.LogStartOffset(), a.p.LogEndOffset(),
			b.id, b.log.LogStartOffset(), b.p.LogEndOffset())
	}
	ab, bb := logBytes(t, a.log), logBytes(t, b.log)
	if !bytes.Equal(ab, bb) {
		t.Fatalf("logs are not byte-identical:\nnode %d %v\nnode %d %v", a.id, batches(t, ab), b.id, batches(t, bb))
	}
}

func TestFollowerCopiesLeaderBatches(t *testing.T) {
	l, f := pair(t)
	st, ok := f.p.FollowerFetchState()
	if !ok || st != (FetchState{Leader: 1, LeaderEpoch: 1, FetchOffset: 0, LogStartOffset: 0, LastFetchedEpoch: -1}) {
		t.Fatalf("fetch state %+v, %v", st, ok)
	}
	l.produce(3, 1)
	l.produce(1, 1)
	l.produce(5, 1)
	res := replicate(t, l, f) // the follower gets every batch; the leader learns it is at 0
	if len(batches(t, bytesOf(t, res.Records))) != 3 || res.HighWatermark != 0 {
		t.Fatalf("leader answered %v HW %d", batches(t, bytesOf(t, res.Records)), res.HighWatermark)
	}
	f.wantLEO(9)
	f.wantHW(0)
	wantSameLogs(t, l, f)

	res = replicate(t, l, f) // the leader learns the follower is at 9: HW 9
	if res.Records.Size != 0 || res.HighWatermark != 9 {
		t.Fatalf("leader answered %d bytes HW %d", res.Records.Size, res.HighWatermark)
	}
	l.wantHW(9)
	f.wantHW(9)
	if e, ok := f.log.LatestEpoch(); !ok || e != 1 {
		t.Fatalf("follower latest epoch %d %v, want 1", e, ok)
	}
	st, _ = f.p.FollowerFetchState()
	if st.FetchOffset != 9 || st.LastFetchedEpoch != 1 {
		t.Fatalf("fetch state %+v", st)
	}

	// A new leader epoch on the same leader: the follower keeps copying.
	l.lead(2, 2, []int32{1, 2}, []int32{1, 2})
	f.follow(1, 2, 2, []int32{1, 2}, []int32{1, 2})
	l.produce(2, 1)
	catchUp(t, l, f)
	wantSameLogs(t, l, f)
	if start, ok := f.log.EpochStartOffset(2); !ok || start != 9 {
		t.Fatalf("follower epoch 2 start %d %v, want 9", start, ok)
	}
}

func TestFollowerHighWatermark(t *testing.T) {
	l, f := pair(t)
	l.produceBatches(3)
	res := l.fetch(2, 0)
	tests := []struct {
		name             string
		records          []byte
		leaderHW, wantHW int64
	}{
		{name: "leader HW above our LEO", records: bytesOf(t, res.Records), leaderHW: 10, wantHW: 3},
		{name: "leader HW below our LEO", leaderHW: 2, wantHW: 2},
		{name: "follows the leader down", leaderHW: 1, wantHW: 1},
		{name: "never below the log start", leaderHW: -5, wantHW: 0},
	}
	for _, tt := range tests {
		if err := f.p.AppendFromLeader(1, bytes.Clone(tt.records), tt.leaderHW, 0); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := f.p.HighWatermark(); got != tt.wantHW {
			t.Fatalf("%s: HW %d, want %d", tt.name, got, tt.wantHW)
		}
	}
}

func TestFollowerStaleEpoch(t *testing.T) {
	l, f := pair(t)
	l.produceBatches(2)
	recs := bytesOf(t, l.fetch(2, 0).Records)
	f.follow(1, 2, 2, []int32{1, 2}, []int32{1, 2}) // the epoch moved on while the fetch was out
	calls := map[string]func() error{
		"AppendFromLeader": func() error { return f.p.AppendFromLeader(1, bytes.Clone(recs), 2, 0) },
		"TruncateOnDivergence": func() error {
			_, err := f.p.TruncateOnDivergence(1, Diverging{Epoch: 0, EndOffset: 0})
			return err
		},
		"TruncateTo": func() error { return f.p.TruncateTo(1, 0) },
		"ResetTo":    func() error { return f.p.ResetTo(1, 5) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("%s in an old epoch: %v, want ErrStaleEpoch", name, err)
		}
	}
	f.wantLEO(0)
	f.wantHW(0)
	// The same calls on a leader are stale too.
	f.lead(3, 3, []int32{1, 2}, []int32{1, 2})
	if err := f.p.AppendFromLeader(3, bytes.Clone(recs), 2, 0); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("AppendFromLeader on a leader: %v, want ErrStaleEpoch", err)
	}
	if _, ok := f.p.FollowerFetchState(); ok {
		t.Fatal("a leader has a follower fetch state")
	}
	f.wantLEO(0)
	// In the current epoch the batches go in.
	f.follow(1, 4, 4, []int32{1, 2}, []int32{1, 2})
	if err := f.p.AppendFromLeader(4, bytes.Clone(recs), 2, 0); err != nil {
		t.Fatal(err)
	}
	f.wantLEO(2)
}

// Batches that do not continue the follower's log are refused and the
// replica stays usable.
func TestFollowerRejectsNonContiguousBatches(t *testing.T) {
	l, f := pair(t)
	l.produceBatches(3)
	all := bytesOf(t, l.fetch(2, 0).Records)
	rest := bytesOf(t, l.fetch(2, 1).Records) // from offset 1
	if err := f.p.AppendFromLeader(1, bytes.Clone(rest), 3, 0); err == nil {
		t.Fatal("appended batches starting at 1 to an empty log")
	}
	f.wantLEO(0)
	if err := f.p.AppendFromLeader(1, bytes.Clone(all), 3, 0); err != nil {
		t.Fatal(err)
	}
	f.wantLEO(3)
	wantSameLogs(t, l, f)
}

// KIP-101/279/320 end to end: node 1 led epoch 1 and appended records that
// never reached node 2; node 2 became leader in epoch 2 and appended a
// different suffix. Node 1, now following, truncates to the end of epoch 1
// on node 2 and copies node 2's suffix.
func TestTruncateOnDivergenceEndToEnd(t *testing.T) {
	a, b := pair(t) // a = node 1 leads epoch 1, b = node 2 follows
	a.produce(2, 1)
	a.produce(1, 1)
	catchUp(t, a, b) // both have [0, 3)
	a.produce(2, 1)  // [3, 5) only on node 1
	a.wantLEO(5)
	b.wantLEO(3)

	b.lead(2, 2, []int32{1, 2}, []int32{2})
	b.produce(1, 1)
	b.produce(3, 1) // [3, 7) in epoch 2 on node 2
	a.follow(2, 2, 2, []int32{1, 2}, []int32{2})

	st, _ := a.p.FollowerFetchState()
	if st.FetchOffset != 5 || st.LastFetchedEpoch != 1 {
		t.Fatalf("fetch state %+v", st)
	}
	res := replicate(t, b, a)
	if res.Diverging == nil || *res.Diverging != (Diverging{Epoch: 1, EndOffset: 3}) || res.Records.Size != 0 {
		t.Fatalf("leader answered %+v", res)
	}
	a.wantLEO(3)
	if e, _ := a.log.LatestEpoch(); e != 1 {
		t.Fatalf("latest epoch after truncation %d, want 1", e)
	}
	catchUp(t, b, a)
	wantSameLogs(t, a, b)
	got := batches(t, logBytes(t, a.log))
	want := []batchRange{{0, 1, 1}, {2, 2, 1}, {3, 3, 2}, {4, 6, 2}}
	if !slices.Equal(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	if end, ok := a.log.EpochStartOffset(2); !ok || end != 3 {
		t.Fatalf("epoch 2 start on the follower %d %v", end, ok)
	}
}

func TestTruncateOnDivergence(t *testing.T) {
	// The follower's log: epoch 1 at [0, 2), epoch 3 at [2, 4).
	setup := func(t *testing.T) *env {
		clk := newClock()
		src := newEnv(t, 9, clk, testConfig(1))
		src.lead(1, 1, []int32{9}, []int32{9})
		src.produceBatches(2)
		src.lead(3, 2, []int32{9}, []int32{9})
		src.produceBatches(2)
		f := newEnv(t, 2, clk, testConfig(1))
		f.follow(9, 3, 2, []int32{2, 9}, []int32{9})
		if err := f.p.AppendFromLeader(3, logBytes(t, src.log), 4, 0); err != nil {
			t.Fatal(err)
		}
		f.follow(1, 5, 3, []int32{1, 2}, []int32{1})
		return f
	}
	tests := []struct {
		name string
		d    Diverging
		want int64
	}{
		{name: "same epoch: the leader's end", d: Diverging{Epoch: 3, EndOffset: 3}, want: 3},
		{name: "same epoch: ours ends first", d: Diverging{Epoch: 1, EndOffset: 3}, want: 2},
		{name: "epoch we lack: end of our largest epoch below it", d: Diverging{Epoch: 2, EndOffset: 4}, want: 2},
		{name: "leader's end beyond our LEO", d: Diverging{Epoch: 3, EndOffset: 10}, want: 4},
		{name: "epoch newer than ours", d: Diverging{Epoch: 4, EndOffset: 1}, want: 1},
		{name: "to the start", d: Diverging{Epoch: 1, EndOffset: 0}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			f.wantHW(4)
			to, err := f.p.TruncateOnDivergence(5, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if to != tt.want {
				t.Fatalf("truncated to %d, want %d", to, tt.want)
			}
			f.wantLEO(tt.want)
			f.wantHW(min(tt.want, 4))
			if tt.want <= 2 {
				if _, ok := f.log.EpochStartOffset(3); ok {
					t.Fatal("epoch 3 still in the epoch cache")
				}
			}
		})
	}
}

func TestTruncateToAndResetTo(t *testing.T) {
	l, f := pair(t)
	l.produceBatches(4)
	catchUp(t, l, f)
	f.wantHW(4)

	if err := f.p.TruncateTo(1, 10); err != nil { // beyond the LEO: nothing to do
		t.Fatal(err)
	}
	f.wantLEO(4)
	if err := f.p.TruncateTo(1, 2); err != nil {
		t.Fatal(err)
	}
	f.wantLEO(2)
	f.wantHW(2)
	catchUp(t, l, f)
	wantSameLogs(t, l, f)

	// Behind the leader's log start: restart empty there.
	if err := f.p.ResetTo(1, 100); err != nil {
		t.Fatal(err)
	}
	f.wantLEO(100)
	f.wantHW(100)
	if got := f.log.LogStartOffset(); got != 100 {
		t.Fatalf("log start %d, want 100", got)
	}
	st, _ := f.p.FollowerFetchState()
	if st.FetchOffset != 100 || st.LogStartOffset != 100 || st.LastFetchedEpoch != -1 {
		t.Fatalf("fetch state %+v", st)
	}

	// Truncating below the log start restarts the log there too.
	if err := f.p.TruncateTo(1, 50); err != nil {
		t.Fatal(err)
	}
	f.wantLEO(50)
	f.wantHW(50)
}
