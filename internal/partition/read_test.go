package partition

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// Consumer reads, ListOffsets, and fail-stop on storage errors.

// readEnv is a leader of [1 2] with batches at offsets 0, 1, 2 (timestamps
// t0, t0+1s, t0+2s) and HW 2.
func readEnv(t *testing.T) (*env, int64) {
	e := newEnv(t, 1, newClock(), testConfig(1))
	e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
	t0 := e.clk.Now().UnixMilli()
	for range 3 {
		e.produce(1, 1)
		e.clk.Advance(time.Second)
	}
	e.fetch(2, 2)
	e.wantHW(2)
	e.wantLEO(3)
	return e, t0
}

func TestConsumerFetchBelowHW(t *testing.T) {
	e, _ := readEnv(t)
	tests := []struct {
		name        string
		offset      int64
		maxBytes    int
		minOne      bool
		epoch       int32
		wantErr     error
		wantBatches []int64 // base offsets
	}{
		{name: "from the start", offset: 0, maxBytes: 1 << 20, minOne: true, epoch: -1, wantBatches: []int64{0, 1}},
		{name: "current epoch", offset: 1, maxBytes: 1 << 20, minOne: true, epoch: 1, wantBatches: []int64{1}},
		{name: "at the HW", offset: 2, maxBytes: 1 << 20, minOne: true, epoch: -1},
		{name: "between the HW and the LEO", offset: 3, maxBytes: 1 << 20, minOne: true, epoch: -1},
		{name: "past the LEO", offset: 4, maxBytes: 1 << 20, minOne: true, epoch: -1, wantErr: ErrOffsetOutOfRange},
		{name: "one batch at least", offset: 0, maxBytes: 1, minOne: true, epoch: -1, wantBatches: []int64{0}},
		{name: "nothing fits", offset: 0, maxBytes: 1, minOne: false, epoch: -1},
		{name: "fenced", offset: 0, maxBytes: 1 << 20, minOne: true, epoch: 0, wantErr: ErrFencedLeaderEpoch},
		{name: "unknown epoch", offset: 0, maxBytes: 1 << 20, minOne: true, epoch: 2, wantErr: ErrUnknownLeaderEpoch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.p.Fetch(tt.offset, tt.maxBytes, tt.minOne, tt.epoch, false)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Fetch: %v, want %v", err, tt.wantErr)
			}
			var got []int64
			for _, b := range batches(t, bytesOf(t, res.Records)) {
				got = append(got, b.base)
			}
			if !slices.Equal(got, tt.wantBatches) {
				t.Fatalf("batches at %v, want %v", got, tt.wantBatches)
			}
			if err == nil && (res.HighWatermark != 2 || res.LastStableOffset != 2 || res.LogStartOffset != 0) {
				t.Fatalf("result %+v", res)
			}
		})
	}
	if err := e.log.SetLogStartOffset(1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Fetch(0, 1<<20, true, -1, false); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Fetch below the log start: %v, want ErrOffsetOutOfRange", err)
	}
	e.follow(2, 2, 2, []int32{1, 2}, []int32{1, 2})
	if _, err := e.p.Fetch(1, 1<<20, true, -1, false); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Fetch from a follower: %v, want ErrNotLeader", err)
	}
}

func TestListOffset(t *testing.T) {
	e, t0 := readEnv(t)
	tests := []struct {
		name string
		ts   int64
		iso  Isolation
		want Offsets
	}{
		{name: "latest for a consumer is the HW", ts: Latest, want: Offsets{Offset: 2, Timestamp: -1, LeaderEpoch: 1}},
		{name: "latest for a replica is the LEO", ts: Latest, iso: ReplicaView, want: Offsets{Offset: 3, Timestamp: -1, LeaderEpoch: 1}},
		{name: "earliest is the log start", ts: Earliest, want: Offsets{Offset: 0, Timestamp: -1, LeaderEpoch: 1}},
		{name: "by timestamp", ts: t0 + 500, want: Offsets{Offset: 1, Timestamp: t0 + 1000, LeaderEpoch: 1}},
		{name: "by timestamp at or above the HW", ts: t0 + 1500, want: Offsets{Offset: -1, Timestamp: -1, LeaderEpoch: -1}},
		{name: "max timestamp below the HW", ts: MaxTimestamp, want: Offsets{Offset: 1, Timestamp: t0 + 1000, LeaderEpoch: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.p.ListOffset(tt.ts, -1, tt.iso)
			if err != nil || got != tt.want {
				t.Fatalf("ListOffset(%d, isolation %v) = %+v, %v; want %+v", tt.ts, tt.iso, got, err, tt.want)
			}
		})
	}
	if err := e.log.SetLogStartOffset(1); err != nil {
		t.Fatal(err)
	}
	if got, err := e.p.ListOffset(Earliest, 1, ReadUncommitted); err != nil || got.Offset != 1 {
		t.Fatalf("earliest after moving the log start: %+v, %v", got, err)
	}
	if _, err := e.p.ListOffset(Latest, 0, ReadUncommitted); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("ListOffset with an old epoch: %v", err)
	}
	e.follow(2, 2, 2, []int32{1, 2}, []int32{1, 2})
	if _, err := e.p.ListOffset(Latest, -1, ReplicaView); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ListOffset on a follower: %v, want ErrNotLeader", err)
	}
}

// wantFailStopped checks that every leader call fails with ErrStorage.
func wantFailStopped(t *testing.T, e *env) {
	t.Helper()
	if e.p.IsLeader() {
		t.Fatal("a failed replica still leads")
	}
	if _, err := e.p.AppendAsLeader(e.batch(1), 1); !errors.Is(err, ErrStorage) {
		t.Fatalf("append: %v, want ErrStorage", err)
	}
	if _, err := e.p.Fetch(0, 1<<20, true, -1, false); !errors.Is(err, ErrStorage) {
		t.Fatalf("fetch: %v, want ErrStorage", err)
	}
	if _, err := e.p.ReadForFollower(e.followerFetch(2, 0)); !errors.Is(err, ErrStorage) {
		t.Fatalf("follower fetch: %v, want ErrStorage", err)
	}
	if _, err := e.p.ListOffset(Latest, -1, ReadUncommitted); !errors.Is(err, ErrStorage) {
		t.Fatalf("list offsets: %v, want ErrStorage", err)
	}
	if _, _, err := e.p.EndOffsetForEpoch(1, -1); !errors.Is(err, ErrStorage) {
		t.Fatalf("end offset for epoch: %v, want ErrStorage", err)
	}
	if err := e.p.WaitForHW(context.Background(), 1); !errors.Is(err, ErrStorage) {
		t.Fatalf("WaitForHW: %v, want ErrStorage", err)
	}
	e.p.MaybeShrinkISR()
	e.wantAlters(0)
}

func TestStorageFailureStopsReplica(t *testing.T) {
	t.Run("append", func(t *testing.T) {
		e := newEnv(t, 1, newClock(), testConfig(1))
		e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
		e.produce(1, 1)
		if err := e.p.Log().Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.p.AppendAsLeader(e.batch(1), 1); !errors.Is(err, ErrStorage) {
			t.Fatalf("append on a closed log: %v, want ErrStorage", err)
		}
		wantFailStopped(t, e)
	})
	t.Run("read", func(t *testing.T) {
		e := newEnv(t, 1, newClock(), testConfig(1))
		e.lead(1, 1, []int32{1}, []int32{1})
		e.produce(1, 1)
		if err := e.p.Log().Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.p.Fetch(0, 1<<20, true, -1, false); !errors.Is(err, ErrStorage) {
			t.Fatalf("fetch on a closed log: %v, want ErrStorage", err)
		}
		wantFailStopped(t, e)
	})
	t.Run("waiting produce", func(t *testing.T) {
		e := newEnv(t, 1, newClock(), testConfig(1))
		e.lead(1, 1, []int32{1, 2}, []int32{1, 2})
		e.produce(1, -1)
		errc := startWait(t, context.Background(), e.p, 1)
		if err := e.p.Log().Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.p.AppendAsLeader(e.batch(1), 1); !errors.Is(err, ErrStorage) {
			t.Fatalf("append on a closed log: %v, want ErrStorage", err)
		}
		if err := result(t, errc); !errors.Is(err, ErrStorage) {
			t.Fatalf("WaitForHW: %v, want ErrStorage", err)
		}
	})
	t.Run("follower", func(t *testing.T) {
		l, f := pair(t)
		l.produceBatches(2)
		recs := bytesOf(t, l.fetch(2, 0).Records)
		if err := f.p.Log().Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.p.AppendFromLeader(1, recs, 2, 0); !errors.Is(err, ErrStorage) {
			t.Fatalf("follower append on a closed log: %v, want ErrStorage", err)
		}
		if _, ok := f.p.FollowerFetchState(); ok {
			t.Fatal("a failed follower still fetches")
		}
		if err := f.p.TruncateTo(1, 0); !errors.Is(err, ErrStorage) {
			t.Fatalf("truncate: %v, want ErrStorage", err)
		}
		if err := f.p.AppendFromLeader(1, nil, 2, 0); !errors.Is(err, ErrStorage) {
			t.Fatalf("second append: %v, want ErrStorage", err)
		}
	})
}
