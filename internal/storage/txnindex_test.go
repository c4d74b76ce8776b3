package storage

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/fjordlog/fjord/internal/record"
)

// txnFixture is a consistent history over three segments of ten
// one-record batches each (bases 0, 10, 20): pid 9's transaction is open
// from offset 1 to its abort at 24, so every earlier marker saw it open.
var txnFixture = []AbortedTxn{
	{ProducerID: 1, FirstOffset: 2, LastOffset: 5, LastStableOffset: 1},
	{ProducerID: 2, FirstOffset: 3, LastOffset: 8, LastStableOffset: 1},
	{ProducerID: 3, FirstOffset: 11, LastOffset: 14, LastStableOffset: 1},
	{ProducerID: 4, FirstOffset: 12, LastOffset: 17, LastStableOffset: 1},
	{ProducerID: 9, FirstOffset: 1, LastOffset: 24, LastStableOffset: 21},
	{ProducerID: 5, FirstOffset: 21, LastOffset: 26, LastStableOffset: 27},
}

// oneRecordBatchSize is the size of the batches txnLog writes.
var oneRecordBatchSize = int64(len(makeBatch(0, 1, 10, 0)))

// txnLog opens a log in dir with segments segments of ten one-record
// batches each (bases 0, 10, 20, ...; the last one active) and records
// the entries.
func txnLog(t *testing.T, dir string, segments int, entries ...AbortedTxn) *Log {
	t.Helper()
	l := openLog(t, dir, Options{})
	for i := range segments {
		if i > 0 {
			rollNow(t, l)
		}
		appendN(t, l, 10, 1, 10, 100, 0)
	}
	for _, e := range entries {
		must(t, l.AppendAbortedTxn(e))
	}
	return l
}

func pids(txns []AbortedTxn) []int64 {
	var out []int64
	for _, t := range txns {
		out = append(out, t.ProducerID)
	}
	return out
}

// wantCollect checks CollectAbortedTxns(fetch, upper) lists the pids.
func wantCollect(t *testing.T, l *Log, fetch, upper int64, want ...int64) {
	t.Helper()
	got, err := l.CollectAbortedTxns(fetch, upper)
	must(t, err)
	if len(want) == 0 && got != nil {
		t.Fatalf("Collect(%d, %d) = %+v, want nil", fetch, upper, got)
	}
	if !slices.Equal(pids(got), want) {
		t.Fatalf("Collect(%d, %d) lists pids %v, want %v", fetch, upper, pids(got), want)
	}
}

// txnFiles returns the sizes of dir's .txnindex files by base name.
func txnFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, p := range segFiles(t, dir, txnIndexSuffix) {
		out[filepath.Base(p)] = fileSize(t, p)
	}
	return out
}

func wantTxnFiles(t *testing.T, dir string, want map[string]int64) {
	t.Helper()
	got := txnFiles(t, dir)
	if len(got) != len(want) {
		t.Fatalf(".txnindex files %v, want %v", got, want)
	}
	for name, size := range want {
		if got[name] != size {
			t.Fatalf(".txnindex files %v, want %v", got, want)
		}
	}
}

func txnName(base int64) string { return filepath.Base(segmentPath("", base, txnIndexSuffix)) }

func TestCollectAbortedTxns(t *testing.T) {
	l := txnLog(t, t.TempDir(), 3, txnFixture...)
	defer l.Close()
	tests := []struct {
		name         string
		fetch, upper int64
		want         []int64
	}{
		{"from the start, stops in the segment where a marker saw nothing open below upper", 0, 10, []int64{1, 2, 9}},
		{"skips entries ending before the fetch offset", 6, 10, []int64{2, 9}},
		{"starts at the segment holding the fetch offset", 12, 16, []int64{3, 4, 9}},
		{"whole log", 0, 30, []int64{1, 2, 3, 4, 9, 5}},
		{"a transaction starting below upper in the last segment", 0, 23, []int64{1, 2, 3, 4, 9, 5}},
		{"only the last entry", 25, 30, []int64{5}},
		{"nothing above the last marker", 27, 30, nil},
		{"fetch offset below the first segment", -5, 3, []int64{1, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantCollect(t, l, tc.fetch, tc.upper, tc.want...) })
	}
}

// The stop rule itself, on entries that pin it: the scan ends with the
// segment in which an entry's last stable offset reaches upper, even
// though a later segment lists an overlapping transaction, and that
// segment is read to its end.
func TestCollectAbortedTxnsStopRule(t *testing.T) {
	l := txnLog(t, t.TempDir(), 2,
		AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 5, LastStableOffset: 6},
		AbortedTxn{ProducerID: 2, FirstOffset: 3, LastOffset: 8, LastStableOffset: 9},
		AbortedTxn{ProducerID: 3, FirstOffset: 1, LastOffset: 14, LastStableOffset: 15})
	defer l.Close()
	tests := []struct {
		upper int64
		want  []int64
	}{
		{6, []int64{1, 2}},     // pid 1's entry completes the search; its segment is read to the end
		{7, []int64{1, 2}},     // pid 2's does
		{10, []int64{1, 2, 3}}, // none in the first segment does
		{2, nil},               // nothing of the first segment starts below 2, but it completes the search
	}
	for _, tc := range tests {
		wantCollect(t, l, 0, tc.upper, tc.want...)
	}
}

// A log without aborted transactions has no .txnindex file and lists
// nothing; one with them has a file per segment holding a marker, in
// Kafka's encoding.
func TestTxnIndexFiles(t *testing.T) {
	dir := t.TempDir()
	l := txnLog(t, dir, 3)
	wantCollect(t, l, 0, 30)
	wantTxnFiles(t, dir, nil)
	for _, e := range txnFixture[2:] {
		must(t, l.AppendAbortedTxn(e))
	}
	must(t, l.Close())
	wantTxnFiles(t, dir, map[string]int64{txnName(10): 2 * txnEntrySize, txnName(20): 2 * txnEntrySize})
	data, err := os.ReadFile(filepath.Join(dir, txnName(20)))
	must(t, err)
	be := binary.BigEndian
	e := data[txnEntrySize:] // pid 5's entry
	if be.Uint16(e) != 0 || be.Uint64(e[2:]) != 5 || be.Uint64(e[10:]) != 21 || be.Uint64(e[18:]) != 26 || be.Uint64(e[26:]) != 27 {
		t.Fatalf("entry bytes % x", e[:txnEntrySize])
	}
}

func TestAppendAbortedTxnIdempotent(t *testing.T) {
	dir := t.TempDir()
	l := txnLog(t, dir, 3, txnFixture...)
	defer l.Close()
	for _, e := range txnFixture { // a replay of every marker
		must(t, l.AppendAbortedTxn(e))
	}
	must(t, l.AppendAbortedTxn(AbortedTxn{ProducerID: 7, FirstOffset: 20, LastOffset: 22, LastStableOffset: 23})) // below pid 5's
	wantCollect(t, l, 0, 30, 1, 2, 3, 4, 9, 5)
	wantTxnFiles(t, dir, map[string]int64{txnName(0): 2 * txnEntrySize, txnName(10): 2 * txnEntrySize, txnName(20): 2 * txnEntrySize})

	// A replayed marker the index lost goes to its (closed) segment, and
	// is fsynced at once: no later flush covers a closed segment.
	must(t, l.AppendAbortedTxn(AbortedTxn{ProducerID: 6, FirstOffset: 18, LastOffset: 19, LastStableOffset: 20}))
	wantCollect(t, l, 15, 20, 4, 6)
	if l.segs[1].txn.unsynced {
		t.Fatal("entry in a closed segment left unsynced")
	}

	bad := []AbortedTxn{
		{ProducerID: 1, FirstOffset: 28, LastOffset: 30, LastStableOffset: 31}, // marker at the log end
		{ProducerID: 1, FirstOffset: 28, LastOffset: 27, LastStableOffset: 28}, // first after last
		{ProducerID: 1, FirstOffset: -1, LastOffset: 27, LastStableOffset: 28},
	}
	for _, e := range bad {
		if err := l.AppendAbortedTxn(e); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("AppendAbortedTxn(%+v) = %v, want ErrOffsetOutOfRange", e, err)
		}
	}
	must(t, l.Err())
}

func TestAbortedTxnTruncation(t *testing.T) {
	full := map[int64]int64{0: 2 * txnEntrySize, 10: 2 * txnEntrySize, 20: 2 * txnEntrySize}
	tests := []struct {
		name  string
		to    int64
		pids  []int64
		files map[int64]int64 // segment base -> .txnindex size
	}{
		{"above every marker", 27, []int64{1, 2, 3, 4, 9, 5}, full},
		{"drops the entry of the marker at the cut", 26, []int64{1, 2, 3, 4, 9}, map[int64]int64{0: 68, 10: 68, 20: 34}},
		{"drops a segment's every entry", 24, []int64{1, 2, 3, 4}, map[int64]int64{0: 68, 10: 68}},
		{"inside a closed segment", 15, []int64{1, 2, 3}, map[int64]int64{0: 68, 10: 34}},
		{"at a segment base", 10, []int64{1, 2}, map[int64]int64{0: 68}},
		{"into the first segment", 6, []int64{1}, map[int64]int64{0: 34}},
		{"to the start", 0, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := txnLog(t, dir, 3, txnFixture...)
			must(t, l.TruncateTo(tc.to))
			check := func(l *Log) {
				t.Helper()
				wantCollect(t, l, 0, 100, tc.pids...)
				want := map[string]int64{}
				for base, size := range tc.files {
					want[txnName(base)] = size
				}
				wantTxnFiles(t, dir, want)
			}
			check(l)
			// The log grows again past the cut: the dropped entries stay gone.
			appendN(t, l, 30-int(l.LogEndOffset()), 1, 10, 100, 0)
			check(l)
			must(t, l.Close())
			l = openLog(t, dir, Options{Clean: true})
			defer l.Close()
			check(l)
		})
	}
}

func TestTruncateFullyRemovesTxnIndexes(t *testing.T) {
	dir := t.TempDir()
	l := txnLog(t, dir, 3, txnFixture...)
	defer l.Close()
	must(t, l.TruncateFullyAndStartAt(20))
	wantCollect(t, l, 20, 100)
	wantTxnFiles(t, dir, nil)
}

func TestAbortedTxnRetention(t *testing.T) {
	tests := []struct {
		name  string
		apply func(t *testing.T, l *Log)
		base  int64 // first segment left
		pids  []int64
	}{
		{"log start moved", func(t *testing.T, l *Log) { must(t, l.SetLogStartOffset(12)) }, 10, []int64{3, 4, 9, 5}},
		{"retention.bytes", func(t *testing.T, l *Log) {
			c := l.Config()
			c.RetentionBytes = 0
			l.UpdateConfig(c)
			if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
		}, 20, []int64{9, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := txnLog(t, dir, 3, txnFixture...)
			defer l.Close()
			tc.apply(t, l)
			if got := l.Segments()[0].BaseOffset; got != tc.base {
				t.Fatalf("first segment %d, want %d", got, tc.base)
			}
			wantCollect(t, l, 0, 100, tc.pids...)
			for base := int64(0); base < tc.base; base += 10 {
				if _, err := os.Stat(filepath.Join(dir, txnName(base))); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s of a deleted segment: %v", txnName(base), err)
				}
			}
		})
	}
}

func TestAbortedTxnReopen(t *testing.T) {
	lastLog := func(dir string) string { return filepath.Join(dir, filepath.Base(segmentPath("", 20, logSuffix))) }
	tests := []struct {
		name   string
		crash  bool
		damage func(t *testing.T, dir string)
		leo    int64
		pids   []int64
		files  map[int64]int64
	}{
		{"clean close", false, nil, 30, []int64{1, 2, 3, 4, 9, 5}, map[int64]int64{0: 68, 10: 68, 20: 68}},
		{"crash", true, nil, 30, []int64{1, 2, 3, 4, 9, 5}, map[int64]int64{0: 68, 10: 68, 20: 68}},
		{"crash losing the last marker", true, func(t *testing.T, dir string) {
			must(t, os.Truncate(lastLog(dir), 5*oneRecordBatchSize+7)) // torn batch 25
		}, 25, []int64{1, 2, 3, 4, 9}, map[int64]int64{0: 68, 10: 68, 20: 34}},
		{"crash losing a segment's markers", true, func(t *testing.T, dir string) {
			must(t, os.Truncate(lastLog(dir), 4*oneRecordBatchSize))
		}, 24, []int64{1, 2, 3, 4}, map[int64]int64{0: 68, 10: 68}},
		{"crash with corruption in the first segment", true, func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, filepath.Base(segmentPath("", 0, logSuffix))), 6*oneRecordBatchSize-3)
		}, 5, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := txnLog(t, dir, 3, txnFixture...)
			if tc.crash {
				crashLog(l)
			} else {
				must(t, l.Close())
			}
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			l = openLog(t, dir, Options{Clean: !tc.crash})
			defer l.Close()
			if l.LogEndOffset() != tc.leo {
				t.Fatalf("LEO %d, want %d", l.LogEndOffset(), tc.leo)
			}
			wantCollect(t, l, 0, 100, tc.pids...)
			want := map[string]int64{}
			for base, size := range tc.files {
				want[txnName(base)] = size
			}
			wantTxnFiles(t, dir, want)
			// The replay of the markers after recovery is idempotent.
			for _, e := range txnFixture {
				if e.LastOffset < l.LogEndOffset() {
					must(t, l.AppendAbortedTxn(e))
				}
			}
			wantCollect(t, l, 0, 100, tc.pids...)
		})
	}
}

func TestTxnIndexDamagedFile(t *testing.T) {
	entry := func(pid, first, last, lso int64) []byte {
		return appendTxnEntry(nil, AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: last, LastStableOffset: lso})
	}
	version1 := entry(6, 27, 28, 29)
	binary.BigEndian.PutUint16(version1, 1)
	tests := []struct {
		name string
		tail []byte // appended to the last segment's file (pids 9, 5)
		pids []int64
	}{
		{"torn trailing entry", entry(6, 27, 28, 29)[:20], []int64{9, 5}},
		{"unknown version", version1, []int64{9, 5}},
		{"zeros", make([]byte, 2*txnEntrySize), []int64{9, 5}},
		{"last offset not increasing", entry(6, 20, 26, 27), []int64{9, 5}},
		{"last offset past the log end", entry(6, 27, 30, 31), []int64{9, 5}},
		{"first offset after last", entry(6, 29, 28, 29), []int64{9, 5}},
		{"a valid entry", entry(6, 27, 28, 29), []int64{9, 5, 6}},
		{"a valid entry, then a torn one", append(entry(6, 27, 28, 29), 1, 2, 3), []int64{9, 5, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := txnLog(t, dir, 3, txnFixture...)
			must(t, l.Close())
			appendBytes(t, filepath.Join(dir, txnName(20)), tc.tail)
			l = openLog(t, dir, Options{Clean: true})
			defer l.Close()
			wantCollect(t, l, 20, 100, tc.pids...)
			if got, want := fileSize(t, filepath.Join(dir, txnName(20))), int64(len(tc.pids))*txnEntrySize; got != want {
				t.Fatalf("file size %d, want %d (cut to the valid entries)", got, want)
			}
		})
	}
}

// Entries that do not belong to their segment are dropped, with what
// follows them.
func TestTxnIndexEntriesOutsideSegment(t *testing.T) {
	dir := t.TempDir()
	l := txnLog(t, dir, 3, txnFixture...)
	must(t, l.Close())
	// Segment 10's file: an entry below its base first; segment 0's: an
	// entry at segment 10's base (past its end) after its two.
	must(t, os.WriteFile(filepath.Join(dir, txnName(10)),
		appendTxnEntry(appendTxnEntry(nil, txnFixture[1]), txnFixture[2]), 0o644))
	appendBytes(t, filepath.Join(dir, txnName(0)), appendTxnEntry(nil, AbortedTxn{ProducerID: 8, FirstOffset: 9, LastOffset: 10, LastStableOffset: 11}))
	// And a file whose .log does not exist.
	must(t, os.WriteFile(filepath.Join(dir, txnName(40)), appendTxnEntry(nil, txnFixture[5]), 0o644))
	l = openLog(t, dir, Options{Clean: true})
	defer l.Close()
	wantCollect(t, l, 0, 100, 1, 2, 9, 5)
	wantTxnFiles(t, dir, map[string]int64{txnName(0): 68, txnName(20): 68})
}

// Flushes fsync the entries they cover: Flush, FlushTail and the flush
// of a rolled segment.
func TestTxnIndexFlushed(t *testing.T) {
	l := txnLog(t, t.TempDir(), 3)
	defer l.Close()
	unsynced := func() bool {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return slices.ContainsFunc(l.segs, func(s *segment) bool { return s.txn.unsynced })
	}
	steps := []struct {
		name  string
		flush func()
	}{
		{"Flush", func() { must(t, l.Flush()) }},
		{"FlushTail", func() { must(t, l.FlushTail()) }},
		{"rolled flush", func() {
			rollNow(t, l)
			l.flushes.Wait()
		}},
	}
	for i, st := range steps {
		appendN(t, l, 3, 1, 10, 100, 0) // above the recovery point
		leo := l.LogEndOffset()
		must(t, l.AppendAbortedTxn(AbortedTxn{ProducerID: int64(i), FirstOffset: leo - 2, LastOffset: leo - 1, LastStableOffset: leo}))
		if !unsynced() {
			t.Fatalf("%s: entry in the active segment fsynced by itself", st.name)
		}
		st.flush()
		if unsynced() {
			t.Fatalf("%s left an entry unsynced", st.name)
		}
	}
}

// txnBatch builds a transactional data batch of producer pid.
func txnBatch(t *testing.T, pid int64, ts int64, kvs ...kv) []byte {
	t.Helper()
	b := kvBatch(t, record.CompressionNone, ts, kvs...)
	record.SetProducer(b, pid, 0, 0, true)
	return b
}

func marker(pid int64, commit bool, ts int64) []byte {
	return record.BuildControlBatch(record.Marker{ProducerID: pid, Commit: commit}, ts)
}

// Compaction keeps every marker, lets neither an aborted transaction's
// records nor an undecided one's supersede a key (a committed one's do),
// never takes a control record for a keyed one, and keeps the segments'
// aborted-transaction entries.
func TestCompactTransactions(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	l := openLog(t, dir, Options{Config: compactConfig(), Now: clock.Now})
	defer func() { l.Close() }()
	ts := clock.Ms()
	abortKey, commitKey := string([]byte{0, 0, 0, 0}), string([]byte{0, 0, 0, 1})
	for _, b := range [][]byte{
		kvBatch(t, record.CompressionNone, ts, kv{key: "a", value: "committed"}), // 0
		txnBatch(t, 7, ts, kv{key: "a", value: "aborted"}),                       // 1
		marker(7, false, ts),                           // 2
		txnBatch(t, 8, ts, kv{key: "b", value: "txn"}), // 3
		marker(8, true, ts),                            // 4
		kvBatch(t, record.CompressionNone, ts, kv{key: "b", value: "plain"}),   // 5: supersedes 3
		txnBatch(t, 9, ts, kv{key: "a", value: "undecided"}),                   // 6: its marker is past the cleanable range
		kvBatch(t, record.CompressionNone, ts, kv{key: abortKey, value: "x"}),  // 7: the ABORT marker's key
		kvBatch(t, record.CompressionNone, ts, kv{key: commitKey, value: "x"}), // 8: the COMMIT marker's key
	} {
		mustAppend(t, l, b)
	}
	must(t, l.AppendAbortedTxn(AbortedTxn{ProducerID: 7, FirstOffset: 1, LastOffset: 2, LastStableOffset: 3}))
	rollNow(t, l)
	for _, b := range [][]byte{
		txnBatch(t, 10, ts, kv{key: "c", value: "aborted"}),                  // 9: superseded by 11
		marker(10, false, ts),                                                // 10
		kvBatch(t, record.CompressionNone, ts, kv{key: "c", value: "plain"}), // 11
	} {
		mustAppend(t, l, b)
	}
	must(t, l.AppendAbortedTxn(AbortedTxn{ProducerID: 10, FirstOffset: 9, LastOffset: 10, LastStableOffset: 6}))
	rollNow(t, l)
	mustAppend(t, l, marker(9, true, ts)) // 12
	mustAppend(t, l, kvBatch(t, record.CompressionNone, ts, kv{key: "z", value: "z"}))
	leo := l.LogEndOffset()

	st, err := l.Compact(leo)
	must(t, err)
	if !st.Cleaned || st.RecordsRemoved != 2 || st.SegmentsDeleted != 0 {
		t.Fatalf("stats %+v: want the records at 3 and 9 removed", st)
	}
	check := func(l *Log) {
		t.Helper()
		recs, hs := readRecords(t, l, leo)
		var offs []int64
		for _, r := range recs {
			offs = append(offs, r.offset)
		}
		if want := []int64{0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13}; !slices.Equal(offs, want) {
			t.Fatalf("records at %v, want %v", offs, want)
		}
		var controls []int64
		for _, h := range hs {
			if h.IsControl() {
				controls = append(controls, h.BaseOffset)
			}
		}
		if want := []int64{2, 4, 10, 12}; !slices.Equal(controls, want) {
			t.Fatalf("control batches at %v, want %v", controls, want)
		}
		wantCollect(t, l, 0, leo, 7, 10)
	}
	check(l)
	for _, clean := range []bool{true, false} {
		must(t, l.Close())
		l = openLog(t, dir, Options{Config: compactConfig(), Now: clock.Now, Clean: clean})
		check(l)
	}
}

// A segment that compaction leaves empty is not deleted while its
// .txnindex has entries.
func TestCompactKeepsSegmentWithAbortedTxns(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	l := openLog(t, dir, Options{Config: compactConfig(), Now: clock.Now})
	defer l.Close()
	ts := clock.Ms()
	mustAppend(t, l, kvBatch(t, record.CompressionNone, ts, kv{key: "w", value: "1"}))
	rollNow(t, l)
	mustAppend(t, l, kvBatch(t, record.CompressionNone, ts, kv{key: "x", value: "1"}))
	must(t, l.AppendAbortedTxn(AbortedTxn{ProducerID: 3, FirstOffset: 1, LastOffset: 1, LastStableOffset: 2}))
	rollNow(t, l)
	mustAppend(t, l, kvBatch(t, record.CompressionNone, ts, kv{key: "x", value: "2"}))
	rollNow(t, l)
	mustAppend(t, l, kvBatch(t, record.CompressionNone, ts, kv{key: "y", value: "1"}))
	st, err := l.Compact(l.LogEndOffset())
	must(t, err)
	if st.RecordsRemoved != 1 || st.SegmentsDeleted != 0 || len(l.Segments()) != 4 {
		t.Fatalf("stats %+v, %d segments: want the emptied segment kept", st, len(l.Segments()))
	}
	wantCollect(t, l, 0, 10, 3)
	wantTxnFiles(t, dir, map[string]int64{txnName(1): txnEntrySize})
}

// CollectAbortedTxns runs concurrently with appends (for -race).
func TestCollectAbortedTxnsConcurrent(t *testing.T) {
	l := txnLog(t, t.TempDir(), 1)
	defer l.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.CollectAbortedTxns(0, l.LogEndOffset()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 200 {
		info := mustAppend(t, l, makeBatch(0, 1, 200, 100))
		if i%3 == 0 {
			must(t, l.AppendAbortedTxn(AbortedTxn{ProducerID: int64(i), FirstOffset: info.FirstOffset, LastOffset: info.LastOffset, LastStableOffset: info.LastOffset + 1}))
		}
	}
	close(done)
	wg.Wait()
	got, err := l.CollectAbortedTxns(0, l.LogEndOffset())
	must(t, err)
	if len(got) != 67 || len(l.Segments()) < 3 {
		t.Fatalf("%d entries over %d segments, want 67 over several", len(got), len(l.Segments()))
	}
}

// FuzzTxnIndexPrefix: any .txnindex bytes decode to a strictly increasing
// prefix of entries inside the segment and below the log end, never a
// panic.
func FuzzTxnIndexPrefix(f *testing.F) {
	f.Add(appendTxnEntry(appendTxnEntry(nil, AbortedTxn{ProducerID: 1, FirstOffset: 100, LastOffset: 105, LastStableOffset: 106}),
		AbortedTxn{ProducerID: 2, FirstOffset: 101, LastOffset: 110, LastStableOffset: 111}), int64(120))
	f.Add([]byte{0, 0, 1, 2, 3}, int64(1))
	f.Fuzz(func(t *testing.T, data []byte, end int64) {
		s := &segment{base: 100}
		prev := s.base - 1
		for _, e := range s.validTxnPrefix(data, end) {
			if e.LastOffset <= prev || e.LastOffset >= end || e.FirstOffset < 0 || e.FirstOffset > e.LastOffset {
				t.Fatalf("invalid entry kept: %+v (previous last %d, end %d)", e, prev, end)
			}
			prev = e.LastOffset
		}
	})
}
