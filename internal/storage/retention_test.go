package storage

import (
	"errors"
	"testing"
	"time"
)

func TestRetentionByTime(t *testing.T) {
	clock := newClock()
	cfg := smallConfig()
	cfg.RetentionMs = 60_000
	l := openLog(t, t.TempDir(), Options{Config: cfg, Now: clock.Now})
	defer l.Close()
	old := clock.Ms() - 120_000
	appendN(t, l, 20, 2, 200, old, 0) // old timestamps: several segments
	oldSegs := len(l.Segments())
	appendN(t, l, 20, 2, 200, clock.Ms(), 0) // fresh
	segs := l.Segments()
	// The segment holding the boundary mixes old and new: its largest timestamp is new.
	boundary := segs[oldSegs-1].BaseOffset

	n, err := l.ApplyRetention(0) // HW 0 protects everything
	if err != nil || n != 0 {
		t.Fatalf("deleted %d (%v) with hw 0", n, err)
	}
	n, err = l.ApplyRetention(l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if n != oldSegs-1 {
		t.Fatalf("deleted %d segments, want %d", n, oldSegs-1)
	}
	if l.LogStartOffset() != boundary || l.Segments()[0].BaseOffset != boundary {
		t.Fatalf("log start %d, want %d", l.LogStartOffset(), boundary)
	}
	if _, err := l.Read(0, 100, l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	readAll(t, l)
	// Once everything is old, all but the active segment goes.
	clock.Advance(10 * time.Minute)
	if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if segs := l.Segments(); len(segs) != 1 {
		t.Fatalf("%d segments left, want only the active one", len(segs))
	}
}

func TestRetentionByTimeStopsAtHW(t *testing.T) {
	clock := newClock()
	cfg := smallConfig()
	cfg.RetentionMs = 1
	l := openLog(t, t.TempDir(), Options{Config: cfg, Now: clock.Now})
	defer l.Close()
	appendN(t, l, 40, 2, 200, 1, 0)
	segs := l.Segments()
	hw := segs[2].NextOffset // segments 0..2 end at or below hw
	n, err := l.ApplyRetention(hw)
	if err != nil || n != 3 {
		t.Fatalf("deleted %d (%v), want 3", n, err)
	}
	if l.LogStartOffset() != hw {
		t.Fatalf("log start %d, want %d", l.LogStartOffset(), hw)
	}
}

func TestRetentionByBytes(t *testing.T) {
	cfg := smallConfig()
	l := openLog(t, t.TempDir(), Options{Config: cfg})
	defer l.Close()
	appendN(t, l, 60, 2, 200, 1, 0)
	segs := l.Segments()
	segSize := segs[0].Size
	cfg.RetentionBytes = l.Size() - 2*segSize // exactly two segments too many
	l.UpdateConfig(cfg)
	n, err := l.ApplyRetention(l.LogEndOffset())
	if err != nil || n != 2 {
		t.Fatalf("deleted %d (%v), want 2", n, err)
	}
	if l.LogStartOffset() != segs[2].BaseOffset {
		t.Fatalf("log start %d, want %d", l.LogStartOffset(), segs[2].BaseOffset)
	}
	// A segment goes only when the log stays at or above the limit
	// without it.
	if n, _ := l.ApplyRetention(l.LogEndOffset()); n != 0 {
		t.Fatalf("deleted %d more at the limit", n)
	}
	cfg.RetentionBytes -= segSize - 1
	l.UpdateConfig(cfg)
	if n, _ := l.ApplyRetention(l.LogEndOffset()); n != 0 {
		t.Fatalf("deleted %d with less than a segment over the limit", n)
	}
	cfg.RetentionBytes--
	l.UpdateConfig(cfg)
	if n, _ := l.ApplyRetention(l.LogEndOffset()); n != 1 {
		t.Fatalf("deleted %d, want 1", n)
	}
	readAll(t, l)
}

func TestSetLogStartOffset(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	appendN(t, l, 60, 2, 200, 1, 5)
	must(t, l.AssignEpoch(6))
	appendN(t, l, 1, 2, 200, 1, 6)
	segs := l.Segments()
	target := segs[2].BaseOffset + 1 // inside segment 2
	must(t, l.SetLogStartOffset(target))
	if l.LogStartOffset() != target || l.Segments()[0].BaseOffset != segs[2].BaseOffset {
		t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), l.Segments()[0].BaseOffset)
	}
	if s, ok := l.EpochStartOffset(5); !ok || s != target {
		t.Fatalf("epoch 5 start %d %v, want %d", s, ok, target)
	}
	if _, err := l.Read(target-1, 100, l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	ri, err := l.Read(target, 1, l.LogEndOffset(), true)
	if err != nil || len(ri.Bytes) == 0 {
		t.Fatalf("read at start: %v", err)
	}
	must(t, l.SetLogStartOffset(1)) // lower: ignored
	if l.LogStartOffset() != target {
		t.Fatal("log start went backwards")
	}
	if err := l.SetLogStartOffset(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond LEO: %v", err)
	}
}

func TestTruncateTo(t *testing.T) {
	// 60 batches of 2 records: boundaries at even offsets; segment bases vary.
	tests := []struct {
		name    string
		offset  func(segs []SegmentInfo) int64
		wantLEO func(segs []SegmentInfo) int64
	}{
		{"batch boundary", func([]SegmentInfo) int64 { return 50 }, func([]SegmentInfo) int64 { return 50 }},
		{"inside a batch keeps it", func([]SegmentInfo) int64 { return 51 }, func([]SegmentInfo) int64 { return 52 }},
		{"segment base", func(s []SegmentInfo) int64 { return s[2].BaseOffset }, func(s []SegmentInfo) int64 { return s[2].BaseOffset }},
		{"segment base + 2", func(s []SegmentInfo) int64 { return s[2].BaseOffset + 2 }, func(s []SegmentInfo) int64 { return s[2].BaseOffset + 2 }},
		{"to zero", func([]SegmentInfo) int64 { return 0 }, func([]SegmentInfo) int64 { return 0 }},
		{"LEO no-op", func([]SegmentInfo) int64 { return 120 }, func([]SegmentInfo) int64 { return 120 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, Options{})
			appendN(t, l, 30, 2, 200, 1000, 1)
			must(t, l.AssignEpoch(2))
			appendN(t, l, 30, 2, 200, 5000, 2)
			must(t, l.Flush())
			segs := l.Segments()
			off, want := tc.offset(segs), tc.wantLEO(segs)
			must(t, l.TruncateTo(off))
			if l.LogEndOffset() != want || l.RecoveryPoint() > want {
				t.Fatalf("LEO %d rp %d, want %d", l.LogEndOffset(), l.RecoveryPoint(), want)
			}
			if hs := readAll(t, l); int64(len(hs)) != want/2 {
				t.Fatalf("%d batches left", len(hs))
			}
			wantEpoch := int32(2)
			if want <= 60 {
				wantEpoch = 1
			}
			if e, ok := l.LatestEpoch(); (want > 0 && (!ok || e != wantEpoch)) || (want == 0 && ok) {
				t.Fatalf("latest epoch %d %v after truncating to %d", e, ok, want)
			}
			info, err := l.AppendAsLeader(makeBatch(0, 2, 200, 9000), 3)
			if err != nil || info.FirstOffset != want {
				t.Fatalf("append after truncate: %+v %v", info, err)
			}
			if off, ts, found, _ := l.OffsetForTimestamp(9000); !found || off != want || ts != 9000 {
				t.Fatalf("time index after truncate: %d %d %v", off, ts, found)
			}
			// Both a clean and an unclean reopen agree.
			must(t, l.Close())
			for _, clean := range []bool{true, false} {
				l := openLog(t, dir, Options{Clean: clean})
				if l.LogEndOffset() != want+2 {
					t.Fatalf("reopen clean=%v: LEO %d, want %d", clean, l.LogEndOffset(), want+2)
				}
				readAll(t, l)
				must(t, l.Close())
			}
		})
	}
}

func TestTruncateOutOfRange(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	appendN(t, l, 10, 2, 10, 0, 0)
	must(t, l.SetLogStartOffset(4))
	for _, off := range []int64{3, 21} {
		if err := l.TruncateTo(off); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Errorf("TruncateTo(%d): %v", off, err)
		}
	}
	if l.Err() != nil {
		t.Fatal("argument error failed the log")
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendN(t, l, 40, 2, 200, 1, 7)
	must(t, l.TruncateFullyAndStartAt(1000))
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || l.RecoveryPoint() != 1000 || len(l.Segments()) != 1 {
		t.Fatalf("start %d LEO %d rp %d segs %d", l.LogStartOffset(), l.LogEndOffset(), l.RecoveryPoint(), len(l.Segments()))
	}
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("epoch cache not cleared")
	}
	if got := segFiles(t, dir, ".log"); len(got) != 1 || got[0] != segmentPath(dir, 1000, ".log") {
		t.Fatalf("files %v", got)
	}
	info, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 8)
	if err != nil || info.FirstOffset != 1000 {
		t.Fatalf("%+v %v", info, err)
	}
	must(t, l.Close())
	l = openLog(t, dir, Options{LogStartOffset: 1000})
	defer l.Close()
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1001 {
		t.Fatalf("reopen: start %d LEO %d", l.LogStartOffset(), l.LogEndOffset())
	}
}
