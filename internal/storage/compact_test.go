package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/vfs"
)

func compactConfig() Config {
	c := smallConfig()
	c.Compact, c.Delete = true, false
	c.DeleteRetentionMs = time.Hour.Milliseconds()
	return c
}

// kv is one record of a test batch; a nil value is a tombstone.
type kv struct {
	key, value string
	tomb       bool
}

func (r kv) record(i int) record.Record {
	rec := record.Record{TimestampDelta: int64(i), Key: []byte(r.key), Value: []byte(r.value)}
	if r.key == "" {
		rec.Key = nil
	}
	if r.tomb {
		rec.Value = nil
	}
	return rec
}

// kvBatch builds a batch of the records (offset deltas 0..n-1).
func kvBatch(t testing.TB, codec int8, ts int64, kvs ...kv) []byte {
	t.Helper()
	recs := make([]record.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = r.record(i)
	}
	b, err := record.BuildBatch(codec, ts, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// producerBatch builds an idempotent producer's batch.
func producerBatch(t testing.TB, pid int64, epoch int16, seq int32, ts int64, kvs ...kv) []byte {
	t.Helper()
	recs := make([]record.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = r.record(i)
		recs[i].OffsetDelta = int32(i)
	}
	h := record.Header{LastOffsetDelta: int32(len(kvs) - 1), BaseTimestamp: ts, MaxTimestamp: ts + int64(len(kvs)-1),
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Attributes: record.CompressionLZ4}
	b, err := record.RebuildBatch(h, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rollNow rolls the active segment.
func rollNow(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.roll(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendInfo {
	t.Helper()
	info, err := l.AppendAsLeader(b, 0)
	if err != nil {
		t.Fatalf("AppendAsLeader: %v", err)
	}
	return info
}

// stored is one record read back from the log.
type stored struct {
	offset     int64
	key, value string
	tomb       bool
	ts         int64
}

// readRecords reads every record from the log start to maxOffset like a
// consumer, checking CRCs, that batches and records come in strictly
// increasing offset order, and that batch boundaries never overlap.
func readRecords(t testing.TB, l *Log, maxOffset int64) ([]stored, []record.Header) {
	t.Helper()
	var out []stored
	var hs []record.Header
	next, last := l.LogStartOffset(), int64(-1)
	for next < maxOffset {
		ri, err := l.Read(next, 1<<20, maxOffset, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if len(ri.Bytes) == 0 {
			break
		}
		for b := ri.Bytes; len(b) > 0; {
			h, err := record.Validate(b)
			if err != nil {
				t.Fatalf("stored batch invalid: %v", err)
			}
			if len(hs) > 0 && h.BaseOffset < hs[len(hs)-1].NextOffset() {
				t.Fatalf("batch at %d overlaps the previous one ending at %d", h.BaseOffset, hs[len(hs)-1].NextOffset())
			}
			recs, err := record.Records(b[:h.Size()])
			if err != nil {
				t.Fatalf("records of batch %d: %v", h.BaseOffset, err)
			}
			for _, r := range recs {
				off := h.BaseOffset + int64(r.OffsetDelta)
				if off <= last || off > h.LastOffset() {
					t.Fatalf("record offset %d after %d (batch %d..%d)", off, last, h.BaseOffset, h.LastOffset())
				}
				last = off
				out = append(out, stored{off, string(r.Key), string(r.Value), r.Value == nil, h.BaseTimestamp + r.TimestampDelta})
			}
			hs = append(hs, h)
			next = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out, hs
}

// cleanableEnd is the offset after the segments Compact may clean (lag 0).
func cleanableEnd(l *Log, hw int64) int64 {
	segs := l.Segments()
	end := int64(0)
	for _, s := range segs[:len(segs)-1] {
		if s.NextOffset > hw {
			break
		}
		end = s.NextOffset
	}
	return end
}

// expectCompacted returns what before should become: below end only each
// key's latest record (null keys all kept; tombstones per dropTombs).
func expectCompacted(before []stored, end int64, dropTombs bool) []stored {
	latest := map[string]int64{}
	for _, r := range before {
		if r.offset < end && r.key != "" {
			latest[r.key] = r.offset
		}
	}
	var out []stored
	for _, r := range before {
		if r.offset < end && r.key != "" && (latest[r.key] != r.offset || (r.tomb && dropTombs)) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func sameRecords(t testing.TB, got, want []stored) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// writeKeys appends n single-record batches cycling over keys k1..k5.
func writeKeys(t testing.TB, l *Log, n int, ts int64) {
	t.Helper()
	for i := range n {
		key := fmt.Sprintf("k%d", i%5+1)
		mustAppend(t, l, kvBatch(t, record.CompressionNone, ts, kv{key: key, value: fmt.Sprintf("%s-v%d-%s", key, i, strings.Repeat("x", 40))}))
	}
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), Options{Config: compactConfig(), Now: clock.Now})
	defer l.Close()
	writeKeys(t, l, 300, clock.Ms())
	mustAppend(t, l, kvBatch(t, record.CompressionNone, clock.Ms(), kv{value: "null key 1"}, kv{value: "null key 2"}))
	writeKeys(t, l, 40, clock.Ms())
	leo, start, hw := l.LogEndOffset(), l.LogStartOffset(), l.LogEndOffset()
	segsBefore := l.Segments()
	if len(segsBefore) < 4 {
		t.Fatalf("want several segments, got %d", len(segsBefore))
	}
	before, _ := readRecords(t, l, leo)
	end := cleanableEnd(l, hw)

	st, err := l.Compact(hw)
	if err != nil {
		t.Fatal(err)
	}
	want := expectCompacted(before, end, false)
	got, _ := readRecords(t, l, leo)
	sameRecords(t, got, want)
	if !st.Cleaned || st.DirtyRatio != 1 || st.CleanedTo != end || st.RecordsRemoved != int64(len(before)-len(want)) {
		t.Fatalf("stats %+v; want cleaned to %d, %d records removed", st, end, len(before)-len(want))
	}
	if st.BytesAfter >= st.BytesBefore || st.SegmentsDeleted == 0 {
		t.Fatalf("stats %+v: expected smaller output and deleted empty segments", st)
	}
	if l.LogEndOffset() != leo || l.LogStartOffset() != start || l.Segments()[0].BaseOffset != segsBefore[0].BaseOffset {
		t.Fatalf("offsets moved: leo %d start %d", l.LogEndOffset(), l.LogStartOffset())
	}
	if a, b := l.Segments()[len(l.Segments())-1], segsBefore[len(segsBefore)-1]; a != b {
		t.Fatalf("active segment changed: %+v, was %+v", a, b)
	}
	// Nothing dirty left: a second call does nothing.
	if st, err := l.Compact(hw); err != nil || st.Cleaned || st.DirtyRatio != 0 {
		t.Fatalf("second Compact: %+v, %v", st, err)
	}
	// Every surviving offset still reads from itself.
	for _, r := range got {
		ri, err := l.Read(r.offset, 1, leo, true)
		if h, _ := record.ParseHeader(ri.Bytes); err != nil || h.BaseOffset > r.offset || h.LastOffset() < r.offset {
			t.Fatalf("Read(%d): batch %+v, %v", r.offset, h, err)
		}
	}
	// The cleaned log survives a reopen (clean and unclean) unchanged.
	for _, clean := range []bool{true, false} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, l.Dir(), Options{Config: compactConfig(), Now: clock.Now, Clean: clean})
		if l.LogEndOffset() != leo {
			t.Fatalf("reopened LEO %d, want %d", l.LogEndOffset(), leo)
		}
		got, _ := readRecords(t, l, leo)
		sameRecords(t, got, want)
	}
}

func TestCompactDirtyRatio(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	l := openLog(t, t.TempDir(), Options{Config: cfg, Now: clock.Now})
	defer l.Close()
	if st, err := l.Compact(0); err != nil || st.Cleaned {
		t.Fatalf("empty log: %+v, %v", st, err)
	}
	writeKeys(t, l, 300, clock.Ms())
	if _, err := l.Compact(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	cleaned := l.CleanerCheckpoint()
	// A little new dirty data, far below half of the log: not due.
	writeKeys(t, l, 5, clock.Ms())
	cfg.MinCleanableDirtyRatio = 0.99
	l.UpdateConfig(cfg)
	rollNow(t, l)
	st, err := l.Compact(l.LogEndOffset())
	if err != nil || st.Cleaned || st.DirtyRatio <= 0 || st.DirtyRatio >= 0.99 {
		t.Fatalf("Compact with ratio 0.99: %+v, %v", st, err)
	}
	cfg.MinCleanableDirtyRatio = 0
	l.UpdateConfig(cfg)
	if st, err := l.Compact(l.LogEndOffset()); err != nil || !st.Cleaned || st.CleanedTo <= cleaned {
		t.Fatalf("Compact with ratio 0: %+v, %v", st, err)
	}
	// Policy delete only: never compacts.
	cfg.Compact, cfg.Delete = false, true
	l.UpdateConfig(cfg)
	writeKeys(t, l, 200, clock.Ms())
	if st, err := l.Compact(l.LogEndOffset()); err != nil || st.Cleaned {
		t.Fatalf("policy delete: %+v, %v", st, err)
	}
}

func TestCompactTombstones(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), Options{Config: compactConfig(), Now: clock.Now})
	defer l.Close()
	writeKeys(t, l, 100, clock.Ms())
	mustAppend(t, l, kvBatch(t, record.CompressionNone, clock.Ms(), kv{key: "k1", tomb: true}, kv{key: "k2", tomb: true}))
	writeKeys(t, l, 100, clock.Ms()+1) // k1, k2 are written again
	mustAppend(t, l, kvBatch(t, record.CompressionNone, clock.Ms(), kv{key: "k3", tomb: true}, kv{key: "gone", value: "x"}, kv{key: "gone", tomb: true}))
	for range 60 {
		mustAppend(t, l, kvBatch(t, record.CompressionNone, clock.Ms(), kv{key: "other", value: strings.Repeat("y", 60)}))
	}
	hw := l.LogEndOffset()
	before, _ := readRecords(t, l, hw)
	end := cleanableEnd(l, hw)

	// Within delete.retention.ms: the latest tombstones stay.
	if _, err := l.Compact(hw); err != nil {
		t.Fatal(err)
	}
	got, _ := readRecords(t, l, hw)
	want := expectCompacted(before, end, false)
	sameRecords(t, got, want)
	tombs := 0
	for _, r := range got {
		if r.tomb {
			tombs++
		}
	}
	if tombs != 2 { // k3 and "gone"; k1 and k2's were superseded
		t.Fatalf("%d tombstones left, want 2: %v", tombs, got)
	}

	// After delete.retention.ms, the next cleaning removes them.
	clock.Advance(2 * time.Hour)
	for range 120 {
		mustAppend(t, l, kvBatch(t, record.CompressionNone, clock.Ms(), kv{key: "fresh", value: strings.Repeat("z", 60)}))
	}
	hw = l.LogEndOffset()
	before, _ = readRecords(t, l, hw)
	end2 := cleanableEnd(l, hw)
	st, err := l.Compact(hw)
	if err != nil || !st.Cleaned || st.TombstonesRemoved != 2 {
		t.Fatalf("Compact after delete.retention.ms: %+v, %v", st, err)
	}
	got, _ = readRecords(t, l, hw)
	// The tombstones sat in segments whose largest timestamp is old; the
	// fresh segments hold none.
	sameRecords(t, got, expectCompacted(before, end2, true))
	if end2 <= end {
		t.Fatalf("second cleaning ended at %d, first at %d", end2, end)
	}
}

func TestCompactMinLagAndHW(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.MinCompactionLagMs = time.Hour.Milliseconds()
	l := openLog(t, t.TempDir(), Options{Config: cfg, Now: clock.Now})
	defer l.Close()
	writeKeys(t, l, 120, clock.Ms()-2*time.Hour.Milliseconds()) // old
	rollNow(t, l)                                               // young data starts in a fresh segment
	firstYoung := l.Segments()[len(l.Segments())-1].BaseOffset
	writeKeys(t, l, 150, clock.Ms()) // young
	leo := l.LogEndOffset()
	before, _ := readRecords(t, l, leo)

	// hw inside the old data: only segments wholly below it.
	hw := firstYoung / 2
	end := cleanableEnd(l, hw)
	if end == 0 {
		t.Fatal("test needs a closed segment below hw")
	}
	if _, err := l.Compact(hw); err != nil {
		t.Fatal(err)
	}
	got, _ := readRecords(t, l, leo)
	want := expectCompacted(before, end, false)
	sameRecords(t, got, want)

	// hw at the LEO: the young segments are still protected by the lag.
	if _, err := l.Compact(leo); err != nil {
		t.Fatal(err)
	}
	got, _ = readRecords(t, l, leo)
	want = expectCompacted(want, firstYoung, false)
	sameRecords(t, got, want)
	if l.CleanerCheckpoint() != firstYoung {
		t.Fatalf("cleaner checkpoint %d, want %d", l.CleanerCheckpoint(), firstYoung)
	}
	// Once old enough they are cleaned too.
	clock.Advance(2 * time.Hour)
	if st, err := l.Compact(leo); err != nil || !st.Cleaned {
		t.Fatalf("Compact after the lag: %+v, %v; segments %+v", st, err, l.Segments())
	}
	got, _ = readRecords(t, l, leo)
	sameRecords(t, got, expectCompacted(want, cleanableEnd(l, leo), false))
}

func TestCompactCompressedBatches(t *testing.T) {
	for _, codec := range []int8{record.CompressionNone, record.CompressionGzip, record.CompressionSnappy, record.CompressionLZ4, record.CompressionZstd} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			clock := newClock()
			l := openLog(t, t.TempDir(), Options{Config: compactConfig(), Now: clock.Now})
			defer l.Close()
			for i := range 60 {
				var kvs []kv
				for j := range 10 { // k0..k4 twice: the first five are superseded within the batch
					kvs = append(kvs, kv{key: fmt.Sprintf("k%d", j%5), value: fmt.Sprintf("b%d-r%d-%s", i, j, strings.Repeat("c", 30))})
				}
				if i%7 == 0 {
					kvs = append(kvs, kv{key: fmt.Sprintf("unique-%d", i), value: "u"})
				}
				mustAppend(t, l, kvBatch(t, codec, clock.Ms()+int64(i), kvs...))
			}
			hw := l.LogEndOffset()
			before, _ := readRecords(t, l, hw)
			end := cleanableEnd(l, hw)
			if _, err := l.Compact(hw); err != nil {
				t.Fatal(err)
			}
			got, hs := readRecords(t, l, hw)
			sameRecords(t, got, expectCompacted(before, end, false))
			for _, h := range hs {
				if h.Compression() != codec {
					t.Fatalf("batch %d has codec %d, want %d", h.BaseOffset, h.Compression(), codec)
				}
				if h.BaseOffset < end && h.LastOffsetDelta != 9 && h.LastOffsetDelta != 10 {
					t.Fatalf("batch %d lastOffsetDelta %d changed", h.BaseOffset, h.LastOffsetDelta)
				}
			}
		})
	}
}

func TestCompactKeepsProducerFields(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), Options{Config: compactConfig(), Now: clock.Now})
	defer l.Close()
	const pid, epoch = 42, 3
	seq := int32(0)
	for i := range 30 {
		b := producerBatch(t, pid, epoch, seq, clock.Ms(), kv{key: "p", value: fmt.Sprint(i)}, kv{key: fmt.Sprintf("pk%d", i%3), value: strings.Repeat("p", 50)})
		mustAppend(t, l, b)
		seq += 2
	}
	lastSeq := seq - 2
	// Plain writes supersede every key the producer wrote.
	for i := range 40 {
		mustAppend(t, l, kvBatch(t, record.CompressionNone, clock.Ms(), kv{key: "p", value: "plain"}, kv{key: fmt.Sprintf("pk%d", i%3), value: strings.Repeat("q", 50)}))
	}
	writeKeys(t, l, 80, clock.Ms())
	hw := l.LogEndOffset()
	before, _ := readRecords(t, l, hw)
	end := cleanableEnd(l, hw)
	if _, err := l.Compact(hw); err != nil {
		t.Fatal(err)
	}
	got, hs := readRecords(t, l, hw)
	sameRecords(t, got, expectCompacted(before, end, false))
	var pbs []record.Header
	for _, h := range hs {
		if h.ProducerID == pid {
			pbs = append(pbs, h)
		}
	}
	// Only the producer's last batch remains, empty, with its producer
	// fields and offset range.
	if len(pbs) != 1 {
		t.Fatalf("%d producer batches left, want 1: %+v", len(pbs), pbs)
	}
	if h := pbs[0]; h.NumRecords != 0 || h.ProducerEpoch != epoch || h.BaseSequence != lastSeq || h.LastOffsetDelta != 1 || h.PartitionLeaderEpoch != 0 {
		t.Fatalf("producer batch %+v", h)
	}
}

func TestCompactProducerBatchPartlyKept(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), Options{Config: compactConfig(), Now: clock.Now})
	defer l.Close()
	for i := range 50 {
		mustAppend(t, l, producerBatch(t, 7, 1, int32(i*3), clock.Ms(),
			kv{key: "same", value: fmt.Sprint(i)}, kv{key: fmt.Sprintf("u%d", i), value: "keep"}, kv{value: "null key"}))
	}
	writeKeys(t, l, 80, clock.Ms())
	hw := l.LogEndOffset()
	before, _ := readRecords(t, l, hw)
	end := cleanableEnd(l, hw)
	if _, err := l.Compact(hw); err != nil {
		t.Fatal(err)
	}
	got, hs := readRecords(t, l, hw)
	sameRecords(t, got, expectCompacted(before, end, false))
	for _, h := range hs {
		if h.ProducerID == 7 && (h.ProducerEpoch != 1 || h.BaseSequence != int32(h.BaseOffset) || h.LastOffsetDelta != 2 || h.Compression() != record.CompressionLZ4) {
			t.Fatalf("producer batch header changed: %+v", h)
		}
	}
}

func TestCompactOnlyPolicySkipsRetention(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.RetentionMs, cfg.RetentionBytes = 1, 1
	l := openLog(t, t.TempDir(), Options{Config: cfg, Now: clock.Now})
	defer l.Close()
	writeKeys(t, l, 200, clock.Ms()-time.Hour.Milliseconds())
	if n, err := l.ApplyRetention(l.LogEndOffset()); err != nil || n != 0 {
		t.Fatalf("compact-only retention deleted %d segments (%v)", n, err)
	}
	cfg.Delete = true // compact,delete
	l.UpdateConfig(cfg)
	if n, err := l.ApplyRetention(l.LogEndOffset()); err != nil || n == 0 {
		t.Fatalf("compact,delete retention deleted %d segments (%v)", n, err)
	}
	if d := DefaultConfig(); d.Compact || !d.Delete || d.DeleteRetentionMs != 86400000 || d.MinCompactionLagMs != 0 || d.MinCleanableDirtyRatio != 0.5 {
		t.Fatalf("DefaultConfig %+v", d)
	}
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestCompactCrashRecovery simulates crashes at each step of a swap by
// placing a really cleaned segment's files under the names a crash leaves.
func TestCompactCrashRecovery(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	dir := t.TempDir()
	l := openLog(t, dir, Options{Config: cfg, Now: clock.Now})
	writeKeys(t, l, 300, clock.Ms())
	leo := l.LogEndOffset()
	original, _ := readRecords(t, l, leo)
	end := cleanableEnd(l, leo)
	base := l.Segments()[0].BaseOffset
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A cleaned version of the same log, to take segment files from.
	cleanedDir := copyDir(t, dir)
	cl := openLog(t, cleanedDir, Options{Config: cfg, Now: clock.Now, Clean: true})
	if _, err := cl.Compact(leo); err != nil {
		t.Fatal(err)
	}
	compacted, _ := readRecords(t, cl, leo)
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	// What the log reads as when only segment `base` is swapped.
	firstSwapped := expectCompacted(original, end, false)
	var mixed []stored
	for _, r := range original {
		if r.offset >= l.Segments()[1].BaseOffset {
			mixed = append(mixed, r)
		}
	}
	mixedWant := append(filterBelow(firstSwapped, l.Segments()[1].BaseOffset), mixed...)

	place := func(t *testing.T, d string, suffixes []string, as string) {
		for _, suffix := range suffixes {
			data, err := os.ReadFile(segmentPath(cleanedDir, base, suffix))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(segmentPath(d, base, suffix)+as, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := []string{indexSuffix, timeIndexSuffix, logSuffix}
	cases := []struct {
		name     string
		cleaned  []string // files left as *.cleaned
		swapped  []string // files left as *.swap
		finished []string // files already renamed into place
		want     []stored
	}{
		{"crash while writing .cleaned", []string{logSuffix}, nil, nil, original},
		{"crash before rename", all, nil, nil, original},
		{"crash renaming to .swap, before the .log", []string{logSuffix}, []string{indexSuffix, timeIndexSuffix}, nil, original},
		{"crash after commit", nil, all, nil, mixedWant},
		{"crash renaming into place", nil, []string{timeIndexSuffix, logSuffix}, []string{indexSuffix}, mixedWant},
	}
	for _, c := range cases {
		for _, clean := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/clean=%v", c.name, clean), func(t *testing.T) {
				d := copyDir(t, dir)
				place(t, d, c.cleaned, cleanedSuffix)
				place(t, d, c.swapped, swapSuffix)
				place(t, d, c.finished, "")
				rl := openLog(t, d, Options{Config: cfg, Now: clock.Now, Clean: clean})
				defer rl.Close()
				noLeftovers(t, d)
				if rl.LogEndOffset() != leo {
					t.Fatalf("LEO %d, want %d", rl.LogEndOffset(), leo)
				}
				got, _ := readRecords(t, rl, leo)
				sameRecords(t, got, c.want)
				// And compaction still reaches the same result.
				if _, err := rl.Compact(leo); err != nil {
					t.Fatal(err)
				}
				got, _ = readRecords(t, rl, leo)
				sameRecords(t, got, compacted)
			})
		}
	}
}

func noLeftovers(t testing.TB, dir string) {
	t.Helper()
	if left := append(segFiles(t, dir, cleanedSuffix), segFiles(t, dir, swapSuffix)...); len(left) > 0 {
		t.Fatalf("leftovers: %v", left)
	}
}

func filterBelow(rs []stored, end int64) []stored {
	var out []stored
	for _, r := range rs {
		if r.offset < end {
			out = append(out, r)
		}
	}
	return out
}

// TestCompactStopsWhenLogChanges: a truncation between planning and
// swapping abandons the run without failing the log or leaving files.
func TestCompactStopsWhenLogChanges(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	l := openLog(t, dir, Options{Config: compactConfig(), Now: clock.Now})
	defer l.Close()
	writeKeys(t, l, 300, clock.Ms())
	l.cleaner.mu.Lock()
	p, err := l.planCompaction(l.LogEndOffset())
	if err != nil || !p.due() || len(p.targets) < 3 {
		t.Fatalf("plan %+v, %v", p, err)
	}
	cut := p.targets[2].s.base + 1 // inside the third segment: it becomes active
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	var st CompactStats
	err = l.runCompaction(p, &st)
	l.cleaner.mu.Unlock()
	if !errors.Is(err, errSegmentChanged) || l.Err() != nil || st.SegmentsRewritten+st.SegmentsDeleted != 0 {
		t.Fatalf("runCompaction after truncation: %v, %+v (log err %v)", err, st, l.Err())
	}
	noLeftovers(t, dir)
	readRecords(t, l, l.LogEndOffset())

	// A truncation between the key scan and the swaps: what was swapped
	// stays, nothing else is, no file stays behind.
	writeKeys(t, l, 300, clock.Ms())
	p, err = l.planCompaction(l.LogEndOffset())
	if err != nil || !p.due() || len(p.targets) < 4 {
		t.Fatalf("plan %+v, %v", p, err)
	}
	c := &cleaner{log: l, plan: p, st: &st, keys: map[string]int64{}, lastBatch: map[int64]int64{}}
	for _, tg := range p.targets {
		if err := c.scanKeys(tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.clean(p.targets[0]); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(p.targets[2].s.base + 1); err != nil {
		t.Fatal(err)
	}
	// Target 1 is untouched, but the key map also described the records
	// the truncation removed: nothing more may be swapped in.
	for _, tg := range p.targets[1:3] {
		if err := c.clean(tg); !errors.Is(err, errSegmentChanged) {
			t.Fatalf("clean after the truncation: %v", err)
		}
	}
	noLeftovers(t, dir)
	if l.Err() != nil || st.SegmentsRewritten+st.SegmentsDeleted != 1 {
		t.Fatalf("stats %+v, log err %v", st, l.Err())
	}
	readRecords(t, l, l.LogEndOffset())
	writeKeys(t, l, 100, clock.Ms())
	if _, err := l.Compact(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	readRecords(t, l, l.LogEndOffset())
}

// TestCompactConcurrentReads runs reads and appends while compacting; run
// with -race.
func TestCompactConcurrentReads(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.01
	l := openLog(t, t.TempDir(), Options{Config: cfg, Now: clock.Now})
	defer l.Close()
	writeKeys(t, l, 200, clock.Ms())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := checkReadable(l); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var appended atomic.Int64
	wg.Go(func() {
		for i := range 3000 {
			select {
			case <-stop:
				return
			default:
			}
			b := kvBatch(t, record.CompressionSnappy, clock.Ms(), kv{key: fmt.Sprintf("k%d", i%7), value: strings.Repeat("v", 50)})
			if _, err := l.AppendAsLeader(b, 0); err != nil {
				errs <- err
				return
			}
			appended.Add(1)
		}
	})
	rewritten := 0
	for appended.Load() < 2000 {
		st, err := l.Compact(l.LogEndOffset())
		if err != nil {
			t.Error(err)
			break
		}
		rewritten += st.SegmentsRewritten + st.SegmentsDeleted
	}
	if rewritten == 0 {
		t.Error("no segment was cleaned while appending")
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	readRecords(t, l, l.LogEndOffset())
}

// checkReadable reads the whole log like a consumer and checks order.
func checkReadable(l *Log) error {
	next, last, leo := l.LogStartOffset(), int64(-1), l.LogEndOffset()
	for next < leo {
		ri, err := l.Read(next, 64<<10, leo, true)
		if err != nil {
			return err
		}
		if len(ri.Bytes) == 0 {
			return nil
		}
		for b := ri.Bytes; len(b) > 0; {
			h, err := record.Validate(b)
			if err != nil {
				return err
			}
			if h.BaseOffset <= last {
				return fmt.Errorf("batch %d after offset %d", h.BaseOffset, last)
			}
			last, next = h.LastOffset(), h.NextOffset()
			b = b[h.Size():]
		}
	}
	return nil
}

func TestManagerPersistsCleanerCheckpoint(t *testing.T) {
	d := t.TempDir()
	clock := newClock()
	m, err := OpenManager([]string{d}, discard, clock.Now)
	must(t, err)
	tp := TopicPartition{"compacted", 0}
	l, err := m.Load(tp, [16]byte{}, compactConfig())
	must(t, err)
	writeKeys(t, l, 300, clock.Ms())
	st, err := l.Compact(l.LogEndOffset())
	if err != nil || st.CleanedTo == 0 {
		t.Fatalf("Compact: %+v, %v", st, err)
	}
	must(t, m.Close(nil))
	cp, err := readOffsetCheckpoint(vfs.Default, filepath.Join(d, cleanerOffsetFile))
	if err != nil || cp[tp] != st.CleanedTo {
		t.Fatalf("%s = %v, %v; want %d", cleanerOffsetFile, cp, err, st.CleanedTo)
	}
	m, err = OpenManager([]string{d}, discard, clock.Now)
	must(t, err)
	defer m.Close(nil)
	l, err = m.Load(tp, [16]byte{}, compactConfig())
	must(t, err)
	if l.CleanerCheckpoint() != st.CleanedTo {
		t.Fatalf("restored checkpoint %d, want %d", l.CleanerCheckpoint(), st.CleanedTo)
	}
	if st, err := l.Compact(l.LogEndOffset()); err != nil || st.Cleaned {
		t.Fatalf("Compact after restart: %+v, %v (nothing is dirty)", st, err)
	}
}

// TestCompactedLogReplicates: a follower of a compacted topic fetches the
// leader's batches, gaps included, and ends up with the same records.
func TestCompactedLogReplicates(t *testing.T) {
	clock := newClock()
	leader := openLog(t, t.TempDir(), Options{Config: compactConfig(), Now: clock.Now})
	defer leader.Close()
	writeKeys(t, leader, 300, clock.Ms())
	leo := leader.LogEndOffset()
	if _, err := leader.Compact(leo); err != nil {
		t.Fatal(err)
	}
	want, _ := readRecords(t, leader, leo)
	follower := openLog(t, t.TempDir(), Options{Config: compactConfig(), Now: clock.Now})
	defer follower.Close()
	plain := openLog(t, t.TempDir(), Options{Now: clock.Now}) // cleanup.policy=delete
	defer plain.Close()
	var gapErr error
	for follower.LogEndOffset() < leo {
		ri, err := leader.Read(follower.LogEndOffset(), 8<<10, leo, true)
		if err != nil || len(ri.Bytes) == 0 {
			t.Fatalf("leader Read(%d): %d bytes, %v", follower.LogEndOffset(), len(ri.Bytes), err)
		}
		if _, err := follower.AppendAsFollower(ri.Bytes); err != nil {
			t.Fatalf("AppendAsFollower at %d: %v", follower.LogEndOffset(), err)
		}
		if gapErr == nil {
			_, gapErr = plain.AppendAsFollower(ri.Bytes)
		}
	}
	got, _ := readRecords(t, follower, leo)
	sameRecords(t, got, want)
	if !errors.Is(gapErr, ErrNonContiguous) {
		t.Fatalf("a delete-policy follower accepted gaps: %v", gapErr)
	}
}
