package storage

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/record"
)

func TestAppendReadRoundTrip(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	// Batches of 1..5 records: offsets 0, 1, 3, 6, 10, 15, ...
	var bases []int64
	next := int64(0)
	for i := range 40 {
		n := i%5 + 1
		info, err := l.AppendAsLeader(makeBatch(999, n, 10, 1000+int64(i)), 3)
		if err != nil {
			t.Fatal(err)
		}
		if info.FirstOffset != next || info.LastOffset != next+int64(n-1) || info.NumBatches != 1 || info.LogAppendTime != -1 {
			t.Fatalf("batch %d: info %+v, want first %d", i, info, next)
		}
		if info.MaxTimestamp != 1000+int64(i)+int64(n-1) {
			t.Fatalf("max timestamp %d", info.MaxTimestamp)
		}
		bases = append(bases, next)
		next += int64(n)
	}
	if l.LogEndOffset() != next {
		t.Fatalf("LEO %d, want %d", l.LogEndOffset(), next)
	}
	hs := readAll(t, l)
	if len(hs) != 40 {
		t.Fatalf("read %d batches", len(hs))
	}
	for i, h := range hs {
		if h.BaseOffset != bases[i] || h.PartitionLeaderEpoch != 3 {
			t.Fatalf("batch %d: base %d epoch %d", i, h.BaseOffset, h.PartitionLeaderEpoch)
		}
	}
}

func TestReadBounds(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{Config: DefaultConfig()})
	defer l.Close()
	appendN(t, l, 10, 10, 20, 1, 0) // offsets 0..99, batches of 10
	size := len(makeBatch(0, 10, 20, 1))
	tests := []struct {
		name        string
		offset      int64
		maxBytes    int
		maxOffset   int64
		minOne      bool
		wantBatches int
		wantBase    int64
		wantErr     error
	}{
		{"from start, all", 0, 1 << 20, 100, true, 10, 0, nil},
		{"mid-batch offset returns containing batch", 25, 1 << 20, 100, true, 8, 20, nil},
		{"maxBytes cuts at whole batches", 0, 3*size + size/2, 100, false, 3, 0, nil},
		{"maxBytes below one batch, minOne", 30, 10, 100, true, 1, 30, nil},
		{"maxBytes below one batch, no minOne", 30, 10, 100, false, 0, 0, nil},
		{"maxOffset (HW) stops before batch reaching it", 0, 1 << 20, 55, true, 5, 0, nil},
		{"maxOffset on boundary", 0, 1 << 20, 50, true, 5, 0, nil},
		{"offset at LEO is empty", 100, 1 << 20, 100, true, 0, 0, nil},
		{"offset at maxOffset is empty", 50, 1 << 20, 50, true, 0, 0, nil},
		{"beyond LEO", 101, 1 << 20, 200, true, 0, 0, ErrOffsetOutOfRange},
		{"negative", -1, 1 << 20, 100, true, 0, 0, ErrOffsetOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ri, err := l.Read(tc.offset, tc.maxBytes, tc.maxOffset, tc.minOne)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			n := 0
			for b := ri.Bytes; len(b) > 0; n++ {
				h, err := record.Validate(b)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 && h.BaseOffset != tc.wantBase {
					t.Fatalf("first base %d, want %d", h.BaseOffset, tc.wantBase)
				}
				b = b[h.Size():]
			}
			if n != tc.wantBatches {
				t.Fatalf("%d batches, want %d", n, tc.wantBatches)
			}
		})
	}
}

func TestAppendAsLeaderRejectsNonBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	b := makeBatch(0, 2, 10, 0)
	for _, bad := range [][]byte{b[:20], append(append([]byte{}, b...), b...), append(append([]byte{}, b...), 0)} {
		if _, err := l.AppendAsLeader(bad, 0); !errors.Is(err, ErrInvalidBatch) {
			t.Fatalf("err %v, want ErrInvalidBatch", err)
		}
	}
	if l.Err() != nil || l.LogEndOffset() != 0 {
		t.Fatalf("log changed: err %v LEO %d", l.Err(), l.LogEndOffset())
	}
}

func TestRollBySize(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	defer l.Close()
	batch := len(makeBatch(0, 4, 100, 0))
	appendN(t, l, 60, 4, 100, 0, 0)
	segs := l.Segments()
	perSeg := 4096 / batch
	if want := (60 + perSeg - 1) / perSeg; len(segs) != want {
		t.Fatalf("%d segments, want %d", len(segs), want)
	}
	for i, s := range segs {
		if s.Size > 4096 {
			t.Fatalf("segment %d has %d bytes > segment.bytes", i, s.Size)
		}
		if i > 0 && s.BaseOffset != segs[i-1].NextOffset {
			t.Fatalf("segment %d base %d != previous end %d", i, s.BaseOffset, segs[i-1].NextOffset)
		}
	}
	if got := len(segFiles(t, dir, ".log")); got != len(segs) {
		t.Fatalf("%d .log files", got)
	}
	// Rolled segments have trimmed index files; the active one is preallocated.
	idx := segFiles(t, dir, ".index")
	for i, p := range idx[:len(idx)-1] {
		if got, want := fileSize(t, p), int64(segs[i].IndexEntries*offsetEntrySize); got != want {
			t.Fatalf("%s: size %d, want %d", p, got, want)
		}
	}
	if got := fileSize(t, idx[len(idx)-1]); got != 1024 {
		t.Fatalf("active index size %d, want preallocated 1024", got)
	}
	l.flushes.Wait() // the rolled segments' background flush
	if l.RecoveryPoint() != segs[len(segs)-1].BaseOffset {
		t.Fatalf("recovery point %d, want active base %d", l.RecoveryPoint(), segs[len(segs)-1].BaseOffset)
	}
	if hs := readAll(t, l); len(hs) != 60 {
		t.Fatalf("read %d batches", len(hs))
	}
}

func TestRollBySegmentMs(t *testing.T) {
	clock := newClock()
	cfg := DefaultConfig()
	cfg.SegmentMs = 1000
	l := openLog(t, t.TempDir(), Options{Config: cfg, Now: clock.Now})
	defer l.Close()
	appendN(t, l, 3, 1, 10, clock.Ms(), 0)
	clock.Advance(999 * time.Millisecond)
	appendN(t, l, 1, 1, 10, clock.Ms(), 0)
	if n := len(l.Segments()); n != 1 {
		t.Fatalf("%d segments before segment.ms", n)
	}
	clock.Advance(time.Millisecond)
	appendN(t, l, 1, 1, 10, clock.Ms(), 0)
	segs := l.Segments()
	if len(segs) != 2 || segs[1].BaseOffset != 4 {
		t.Fatalf("segments %+v, want a roll at offset 4", segs)
	}
	// ApplyRetention rolls a non-empty active segment once segment.ms passed.
	clock.Advance(2 * time.Second)
	if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	segs = l.Segments()
	if len(segs) != 3 || segs[2].BaseOffset != 5 || segs[2].Size != 0 {
		t.Fatalf("segments %+v, want an empty active segment at 5", segs)
	}
	// An empty active segment is not rolled.
	clock.Advance(2 * time.Second)
	if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Segments()); n != 3 {
		t.Fatalf("%d segments, empty active segment was rolled", n)
	}
}

func TestRollWhenIndexFull(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 0 // an entry for every batch after the first
	cfg.SegmentIndexBytes = 5 * offsetEntrySize
	l := openLog(t, t.TempDir(), Options{Config: cfg})
	defer l.Close()
	appendN(t, l, 20, 1, 10, 0, 0)
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments, want rolls on full index", len(segs))
	}
	for _, s := range segs {
		if s.IndexEntries > 5 || s.TimeIndexEntries > 5*offsetEntrySize/timeEntrySize+1 {
			t.Fatalf("segment %+v overfilled its index", s)
		}
	}
	readAll(t, l)
}

func TestIndexLookupAcrossSegments(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	appendN(t, l, 300, 3, 30, 0, 0) // offsets 0..899 over many segments
	segs := l.Segments()
	if len(segs) < 5 || segs[0].IndexEntries == 0 {
		t.Fatalf("want many indexed segments, got %+v", segs[0])
	}
	for off := int64(0); off < l.LogEndOffset(); off++ {
		ri, err := l.Read(off, 1, l.LogEndOffset(), true)
		if err != nil {
			t.Fatal(err)
		}
		h, err := record.Validate(ri.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset > off || h.LastOffset() < off || len(ri.Bytes) != h.Size() {
			t.Fatalf("Read(%d) returned batch %d..%d (%d bytes)", off, h.BaseOffset, h.LastOffset(), len(ri.Bytes))
		}
	}
}

func TestOffsetIndexLookup(t *testing.T) {
	x := newOffsetIndex(1024)
	for i := range 10 {
		x.append(int32(i*10+9), int64(i*1000))
	}
	tests := []struct {
		rel  int32
		want int64
	}{{0, 0}, {8, 0}, {9, 0}, {10, 0}, {19, 1000}, {55, 4000}, {99, 9000}, {1000, 9000}}
	for _, tc := range tests {
		if got := x.lookup(tc.rel); got != tc.want {
			t.Errorf("lookup(%d) = %d, want %d", tc.rel, got, tc.want)
		}
	}
	x.truncateToPos(4000)
	if x.count() != 4 {
		t.Fatalf("count after truncate %d", x.count())
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	// Batch i: offsets 2i..2i+1, timestamps 1000+10i, 1000+10i+1.
	for i := range 200 {
		if _, err := l.AppendAsLeader(makeBatch(0, 2, 40, 1000+10*int64(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		ts         int64
		wantOffset int64
		wantTs     int64
		found      bool
	}{
		{0, 0, 1000, true},
		{1000, 0, 1000, true},
		{1001, 1, 1001, true},
		{1002, 2, 1010, true},
		{1500, 100, 1500, true},
		{1501, 101, 1501, true},
		{1502, 102, 1510, true},
		{2991, 399, 2991, true},
		{2992, -1, -1, false},
	}
	for _, tc := range tests {
		off, ts, found, err := l.OffsetForTimestamp(tc.ts)
		if err != nil || off != tc.wantOffset || ts != tc.wantTs || found != tc.found {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d, %v", tc.ts, off, ts, found, err, tc.wantOffset, tc.wantTs, tc.found)
		}
	}
	// Segments below the log start are skipped, offsets are clamped to it.
	if err := l.SetLogStartOffset(101); err != nil {
		t.Fatal(err)
	}
	if off, ts, _, _ := l.OffsetForTimestamp(0); off != 101 || ts != 1501 {
		t.Fatalf("offset %d ts %d, want log start 101 with ts 1501", off, ts)
	}
}

func TestReopenCleanKeepsState(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendN(t, l, 50, 3, 50, 5000, 2)
	segs := l.Segments()
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Close trims every index file to its entries.
	for _, p := range segFiles(t, dir, ".index") {
		if fileSize(t, p)%offsetEntrySize != 0 || fileSize(t, p) >= 1024 {
			t.Fatalf("%s not trimmed: %d", p, fileSize(t, p))
		}
	}
	l = openLog(t, dir, Options{Clean: true, RecoveryPoint: leo})
	defer l.Close()
	if l.LogEndOffset() != leo || l.RecoveryPoint() != leo {
		t.Fatalf("LEO %d rp %d, want %d", l.LogEndOffset(), l.RecoveryPoint(), leo)
	}
	got := l.Segments()
	for i := range segs {
		if got[i].BaseOffset != segs[i].BaseOffset || got[i].MaxTimestamp != segs[i].MaxTimestamp || got[i].Size != segs[i].Size {
			t.Fatalf("segment %d: %+v, was %+v", i, got[i], segs[i])
		}
	}
	info, err := l.AppendAsLeader(makeBatch(0, 1, 1, 0), 2)
	if err != nil || info.FirstOffset != leo {
		t.Fatalf("append after reopen: %+v %v", info, err)
	}
	readAll(t, l)
}

func TestAppendAsFollower(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	b1, b2, b3 := makeBatch(0, 3, 10, 0), makeBatch(3, 2, 10, 0), makeBatch(5, 1, 10, 0)
	record.SetPartitionLeaderEpoch(b1, 1)
	record.SetPartitionLeaderEpoch(b2, 1)
	record.SetPartitionLeaderEpoch(b3, 4)
	var all []byte
	for _, b := range [][]byte{b1, b2, b3} {
		all = append(all, b...)
	}
	info, err := l.AppendAsFollower(all)
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstOffset != 0 || info.LastOffset != 5 || info.NumBatches != 3 || l.LogEndOffset() != 6 {
		t.Fatalf("info %+v LEO %d", info, l.LogEndOffset())
	}
	if e, ok := l.LatestEpoch(); !ok || e != 4 {
		t.Fatalf("latest epoch %d %v", e, ok)
	}
	if s, ok := l.EpochStartOffset(1); !ok || s != 0 {
		t.Fatalf("epoch 1 start %d %v", s, ok)
	}
	if s, ok := l.EpochStartOffset(4); !ok || s != 5 {
		t.Fatalf("epoch 4 start %d %v", s, ok)
	}

	corrupt := makeBatch(6, 1, 10, 0)
	corrupt[len(corrupt)-1] ^= 1
	tests := []struct {
		name    string
		batches []byte
		want    error
	}{
		{"gap at start", makeBatch(7, 1, 10, 0), ErrNonContiguous},
		{"behind LEO", makeBatch(5, 1, 10, 0), ErrNonContiguous},
		{"gap inside", append(makeBatch(6, 1, 10, 0), makeBatch(8, 1, 10, 0)...), ErrNonContiguous},
		{"bad CRC", corrupt, record.ErrCorrupt},
		{"torn", makeBatch(6, 1, 10, 0)[:70], record.ErrTruncated},
	}
	for _, tc := range tests {
		if _, err := l.AppendAsFollower(tc.batches); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	if l.LogEndOffset() != 6 || l.Err() != nil {
		t.Fatalf("rejected appends changed the log: LEO %d err %v", l.LogEndOffset(), l.Err())
	}
}

func TestStickyFailure(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	appendN(t, l, 3, 1, 10, 0, 0)
	l.active().f.Close() // the next write fails
	if _, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append err %v, want ErrLogFailed", err)
	}
	checks := map[string]func() error{
		"Err":    l.Err,
		"append": func() error { _, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0); return err },
		"read":   func() error { _, err := l.Read(0, 100, 3, true); return err },
		"flush":  l.Flush,
		"trunc":  func() error { return l.TruncateTo(1) },
		"retain": func() error { _, err := l.ApplyRetention(0); return err },
		"ts":     func() error { _, _, _, err := l.OffsetForTimestamp(0); return err },
		"close":  l.Close,
	}
	for name, f := range checks {
		if err := f(); !errors.Is(err, ErrLogFailed) {
			t.Errorf("%s: err %v, want ErrLogFailed", name, err)
		}
	}
}

func TestStickyFailureOnRead(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	appendN(t, l, 3, 1, 10, 0, 0)
	l.active().f.Close()
	if _, err := l.Read(0, 100, 3, true); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("read err %v", err)
	}
	if _, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append after failed read: %v", err)
	}
}

func TestClosedLog(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	appendN(t, l, 1, 1, 10, 0, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(0, 100, 1, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir() + "/t-0"
	l := openLog(t, dir, Options{})
	appendN(t, l, 3, 1, 10, 0, 0)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir still there: %v", err)
	}
}

func TestFlushPolicies(t *testing.T) {
	clock := newClock()
	cfg := DefaultConfig()
	cfg.FlushMessages = 5
	l := openLog(t, t.TempDir(), Options{Config: cfg, Now: clock.Now})
	defer l.Close()
	// appendSync appends one batch of n records and syncs what the
	// append asks for; it returns AppendInfo.SyncTo.
	appendSync := func(n int) int64 {
		t.Helper()
		info, err := l.AppendAsLeader(makeBatch(0, n, 10, 0), 0)
		must(t, err)
		if info.SyncTo >= 0 {
			must(t, l.SyncTo(info.SyncTo))
		}
		return info.SyncTo
	}
	for range 2 {
		if to := appendSync(2); to != -1 {
			t.Fatalf("flush asked for too early (SyncTo %d)", to)
		}
	}
	if l.RecoveryPoint() != 0 {
		t.Fatalf("flushed too early: rp %d", l.RecoveryPoint())
	}
	if to := appendSync(2); to != 6 || l.RecoveryPoint() != 6 {
		t.Fatalf("flush.messages: SyncTo %d, rp %d, want 6", to, l.RecoveryPoint())
	}
	cfg.FlushMessages = 1 << 40
	cfg.FlushMs = 1000
	l.UpdateConfig(cfg)
	if to := appendSync(1); to != -1 || l.RecoveryPoint() != 6 {
		t.Fatalf("SyncTo %d, rp %d before flush.ms", to, l.RecoveryPoint())
	}
	clock.Advance(time.Second)
	if to := appendSync(1); to != 8 || l.RecoveryPoint() != 8 {
		t.Fatalf("flush.ms: SyncTo %d, rp %d, want 8", to, l.RecoveryPoint())
	}
}

// Concurrent SyncTo calls share fsyncs (group commit): while one flush is
// held, appends and SyncTo calls queue; one more flush covers them all.
func TestSyncToGroupCommit(t *testing.T) {
	var flushes atomic.Int32
	gate := make(chan struct{})
	rolledSync = func(l *Log, segs []rolledSegment) []error {
		flushes.Add(1)
		<-gate
		return syncRolled(l, segs)
	}
	t.Cleanup(func() { rolledSync = syncRolled })
	cfg := bigSegments()
	cfg.FlushMessages = 1
	l := openLog(t, t.TempDir(), Options{Config: cfg})
	defer l.Close()
	info, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0)
	must(t, err)
	first := make(chan error)
	go func() { first <- l.SyncTo(info.SyncTo) }()
	waitFor(t, func() bool { return flushes.Load() == 1 })
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		info, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0)
		must(t, err)
		wg.Go(func() { errs <- l.SyncTo(info.SyncTo) })
	}
	close(gate)
	must(t, <-first)
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if n := flushes.Load(); n != 2 {
		t.Fatalf("%d flushes for 11 appends synced concurrently, want 2", n)
	}
	if rp := l.RecoveryPoint(); rp != 11 {
		t.Fatalf("recovery point %d, want 11", rp)
	}
}

// ReadRange (and Read, which reads what it locates) agrees with a walk of
// every stored batch header, for random reads over segments of batches of
// random sizes with dense offset indexes: the first batch reaching the
// offset, then whole batches of its segment below maxOffset within
// maxBytes (the first one whole with minOneBatch).
func TestReadRangeMatchesHeaderWalk(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes, cfg.IndexIntervalBytes, cfg.RetentionMs = 64<<10, 512, -1
	l := openLog(t, t.TempDir(), Options{Config: cfg})
	defer l.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	for range 400 {
		appendN(t, l, 1, 1+rng.IntN(8), rng.IntN(2000), 1, 0)
	}
	type stored struct {
		seg       int
		base, end int64 // offsets [base, end]
		size      int
	}
	var all []stored
	for i, s := range l.segs {
		sc := newHeaderScanner(s.f, 0, s.size)
		for {
			_, h, _, err := sc.next()
			if err != nil {
				break
			}
			all = append(all, stored{i, h.BaseOffset, h.LastOffset(), h.Size()})
		}
		sc.release()
	}
	leo, inMemory := l.LogEndOffset(), 0
	for range 5000 {
		off, maxOff := rng.Int64N(leo+1), rng.Int64N(leo+10)
		maxBytes, minOne := rng.IntN(40<<10), rng.IntN(2) == 0
		var want []int64
		for i, b := range all {
			if b.end < off {
				continue
			}
			if b.end >= maxOff || (b.size > maxBytes && !minOne) {
				break
			}
			limit, used := max(maxBytes, b.size), 0
			for _, c := range all[i:] {
				if c.seg != b.seg || c.end >= maxOff || used+c.size > limit {
					break
				}
				want, used = append(want, c.base), used+c.size
			}
			break
		}
		r, err := l.ReadRange(off, maxBytes, maxOff, minOne)
		if err != nil {
			t.Fatal(err)
		}
		if r.Data != nil {
			inMemory++
			file := make([]byte, r.Size)
			if _, err := r.File.ReadAt(file, r.Pos); err != nil || !bytes.Equal(file, r.Data) {
				t.Fatalf("ReadRange(%d, %d, %d, %v): Data differs from the file's %d bytes at %d (%v)", off, maxBytes, maxOff, minOne, r.Size, r.Pos, err)
			}
		}
		got, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		var gotBases []int64
		for len(got) > 0 {
			h, err := record.Validate(got)
			if err != nil {
				t.Fatal(err)
			}
			gotBases, got = append(gotBases, h.BaseOffset), got[h.Size():]
		}
		if !slices.Equal(gotBases, want) {
			t.Fatalf("ReadRange(%d, %d, %d, %v): batches at %v, want %v", off, maxBytes, maxOff, minOne, gotBases, want)
		}
	}
	// Small reads come with the bytes their location read; large ones
	// leave reading (sendfile) to the caller.
	if inMemory == 0 || inMemory == 5000 {
		t.Fatalf("%d of 5000 ranges carried their bytes, want some but not all", inMemory)
	}
}
