package partition

import (
	"testing"
)

// TestEmptyLedEpochDoesNotDivergeForever: a replica that led an epoch
// without appending (its epoch cache starts that epoch at its log end) and
// then follows a leader that never saw that epoch must drop the empty
// epoch when told it diverges at its log end; otherwise it reports it as
// its last fetched epoch forever and never catches up (found by the chaos
// suite: a follower stuck out of the ISR after an isolation).
func TestEmptyLedEpochDoesNotDivergeForever(t *testing.T) {
	clk := newClock()
	replicas := []int32{1, 3}
	leader, follower := newEnv(t, 1, clk, testConfig(1)), newEnv(t, 3, clk, testConfig(1))
	leader.lead(0, 0, replicas, replicas)
	leader.produce(3, 1)
	follower.follow(1, 0, 0, replicas, replicas)
	res, err := leader.p.ReadForFollower(FollowerFetch{ReplicaID: 3, FetchOffset: 0, LastFetchedEpoch: -1, CurrentEpoch: 0, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := follower.p.AppendFromLeader(0, bytesOf(t, res.Records), res.HighWatermark, res.LogStartOffset); err != nil {
		t.Fatal(err)
	}
	follower.lead(1, 1, replicas, []int32{3}) // leads epoch 1, appends nothing
	leader.lead(2, 2, replicas, []int32{1})   // the old leader comes back at epoch 2
	follower.follow(1, 2, 2, replicas, []int32{1})

	st, ok := follower.p.FollowerFetchState()
	if !ok || st.LastFetchedEpoch != 1 {
		t.Fatalf("follower state %+v %v: want last fetched epoch 1 (the empty led epoch)", st, ok)
	}
	fetch := func() FollowerFetchResult {
		st, _ := follower.p.FollowerFetchState()
		res, err := leader.p.ReadForFollower(FollowerFetch{ReplicaID: 3, FetchOffset: st.FetchOffset,
			LastFetchedEpoch: st.LastFetchedEpoch, CurrentEpoch: 2, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res = fetch()
	if res.Diverging == nil {
		t.Fatal("leader did not report divergence for the unknown epoch 1")
	}
	if _, err := follower.p.TruncateOnDivergence(2, *res.Diverging); err != nil {
		t.Fatal(err)
	}
	if res = fetch(); res.Diverging != nil {
		t.Fatalf("still diverging after truncation: %+v (the empty epoch was kept)", *res.Diverging)
	}
}
