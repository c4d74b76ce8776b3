package storage

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// tsRecord is one appended record: its offset and timestamp.
type tsRecord struct{ off, ts int64 }

// checkOffsetsForTimestamps compares OffsetForTimestamp with a brute-force
// scan of recs for every timestamp in [lo, hi], and each segment's largest
// timestamp with the records it holds.
func checkOffsetsForTimestamps(t *testing.T, l *Log, recs []tsRecord, lo, hi int64, when string) {
	t.Helper()
	for ts := lo; ts <= hi; ts++ {
		wantOff, wantTs, wantFound := int64(-1), int64(-1), false
		for _, r := range recs {
			if r.ts >= ts {
				wantOff, wantTs, wantFound = r.off, r.ts, true
				break
			}
		}
		off, got, found, err := l.OffsetForTimestamp(ts)
		if err != nil {
			t.Fatalf("%s: OffsetForTimestamp(%d): %v", when, ts, err)
		}
		if off != wantOff || got != wantTs || found != wantFound {
			t.Fatalf("%s: OffsetForTimestamp(%d) = (%d, %d, %v), want (%d, %d, %v)",
				when, ts, off, got, found, wantOff, wantTs, wantFound)
		}
	}
	for _, s := range l.Segments() {
		want := int64(-1)
		for _, r := range recs {
			if r.off >= s.BaseOffset && r.off < s.NextOffset {
				want = max(want, r.ts)
			}
		}
		if s.MaxTimestamp != want {
			t.Fatalf("%s: segment %d..%d has largest timestamp %d, want %d",
				when, s.BaseOffset, s.NextOffset, s.MaxTimestamp, want)
		}
	}
}

// TestOffsetForTimestampAcrossRestarts appends batches whose timestamps go
// up and down (several producers with their own clocks), stops the log
// cleanly or by crashing, reopens it as the manager would (after Close
// the final recovery point and Clean; after a crash the recovery point
// checkpointed at the previous open, so that segments rolled since are
// recovered) and checks every timestamp lookup against a brute-force scan. Segments recovered after a
// crash and then loaded below the recovery point learn their largest
// timestamp from the time index alone, so it must hold that timestamp.
func TestOffsetForTimestampAcrossRestarts(t *testing.T) {
	stops := []struct {
		name string
		seq  []bool // true: clean Close, false: crash
	}{
		{"crash then clean", []bool{false, true, false, true}},
		{"clean then crash", []bool{true, false, true, false}},
		{"crash twice", []bool{false, false, false}},
		{"clean every time", []bool{true, true, true}},
		{"mixed", []bool{false, true, false, false, true, true, false}},
	}
	for _, tc := range stops {
		for seed := uint64(1); seed <= 5; seed++ {
			seq := tc.seq
			t.Run(fmt.Sprintf("%s/seed=%d", tc.name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 42))
				dir := t.TempDir()
				cfg := smallConfig()
				cfg.SegmentBytes = 2048
				l := openLog(t, dir, Options{Config: cfg})
				var recs []tsRecord
				const base = 1_000_000
				lo, hi := int64(base), int64(base)
				checkpointed := int64(0) // the recovery point last checkpointed
				for step, clean := range seq {
					for range 40 + rng.IntN(40) {
						n := 1 + rng.IntN(3)
						ts := base + int64(rng.IntN(500)) + int64(step*100)
						info, err := l.AppendAsLeader(makeBatch(0, n, 8+rng.IntN(60), ts), 1)
						if err != nil {
							t.Fatal(err)
						}
						for i := range n {
							recs = append(recs, tsRecord{info.FirstOffset + int64(i), ts + int64(i)})
						}
						hi = max(hi, ts+int64(n))
					}
					checkOffsetsForTimestamps(t, l, recs, lo-1, hi+1, "before stop")
					rp := checkpointed // a crash loses what was not checkpointed
					if clean {
						must(t, l.Close())
						rp = l.RecoveryPoint()
					} else {
						crashLog(l)
					}
					l = openLog(t, dir, Options{Config: cfg, RecoveryPoint: rp, Clean: clean})
					checkOffsetsForTimestamps(t, l, recs, lo-1, hi+1, "after reopen")
					checkpointed = l.RecoveryPoint()
				}
				must(t, l.Close())
			})
		}
	}
}

// TestRebuiltIndexesKeepLargestTimestamp: index files rebuilt at load
// (missing here) must end with the segment's largest timestamp, since the
// next load trusts them.
func TestRebuiltIndexesKeepLargestTimestamp(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	var recs []tsRecord
	for i := range 200 {
		ts := int64(1000 + 3*i - 10*(i%2)) // rises, not monotonically
		info, err := l.AppendAsLeader(makeBatch(0, 2, 20, ts), 1)
		must(t, err)
		recs = append(recs, tsRecord{info.FirstOffset, ts}, tsRecord{info.FirstOffset + 1, ts + 1})
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want several segments, got %d", len(l.Segments()))
	}
	must(t, l.Close())
	for _, p := range append(segFiles(t, dir, ".index"), segFiles(t, dir, ".timeindex")...) {
		must(t, os.Remove(p))
	}
	for _, when := range []string{"after rebuild", "after reload"} {
		l = openLog(t, dir, Options{Clean: true, RecoveryPoint: l.LogEndOffset()})
		checkOffsetsForTimestamps(t, l, recs, 989, 1600, when)
		must(t, l.Close())
	}
}
