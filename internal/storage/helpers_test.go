package storage

import (
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/fakeclock"
	"github.com/fjordlog/fjord/internal/record"
	"go.uber.org/goleak"
)

// makeBatch encodes a valid, uncompressed v2 batch of n records at base
// offset base, record i having timestamp ts+i and a value of valueSize
// bytes.
func makeBatch(base int64, n, valueSize int, ts int64) []byte {
	b := make([]byte, record.HeaderSize, record.HeaderSize+n*(valueSize+16))
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = byte(i)
	}
	for i := range n {
		b = appendRecord(b, int64(i), int64(i), value)
	}
	putHeader(b, base, n, ts)
	return b
}

func appendRecord(b []byte, tsDelta, offDelta int64, value []byte) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, tsDelta)
	body = binary.AppendVarint(body, offDelta)
	body = binary.AppendVarint(body, -1) // null key
	body = binary.AppendVarint(body, int64(len(value)))
	body = append(body, value...)
	body = binary.AppendVarint(body, 0) // no headers
	b = binary.AppendVarint(b, int64(len(body)))
	return append(b, body...)
}

func putHeader(b []byte, base int64, n int, ts int64) {
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(base))
	be.PutUint32(b[8:], uint32(len(b)-record.LogOverhead))
	be.PutUint32(b[12:], 0) // partitionLeaderEpoch
	b[16] = 2
	be.PutUint16(b[21:], 0)
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(ts+int64(n-1)))
	be.PutUint64(b[43:], ^uint64(0)) // producerId -1
	be.PutUint16(b[51:], ^uint16(0)) // producerEpoch -1
	be.PutUint32(b[53:], ^uint32(0)) // baseSequence -1
	be.PutUint32(b[57:], uint32(n))
	be.PutUint32(b[17:], record.Checksum(b))
}

// fakeClock is an injectable clock.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock { return fakeclock.New(time.UnixMilli(1_700_000_000_000)) }

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// smallConfig gives small segments and dense indexes so tests exercise
// rolling and index lookups with little data.
func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4096
	c.IndexIntervalBytes = 256
	c.SegmentIndexBytes = 1024
	c.RetentionMs = -1
	return c
}

func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discard
	}
	if opts.Config == (Config{}) {
		opts.Config = smallConfig()
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// appendN appends count leader batches of recs records each and returns
// the batches as stored.
func appendN(t testing.TB, l *Log, count, recs, valueSize int, ts int64, epoch int32) [][]byte {
	t.Helper()
	var out [][]byte
	for range count {
		b := makeBatch(0, recs, valueSize, ts)
		if _, err := l.AppendAsLeader(b, epoch); err != nil {
			t.Fatalf("AppendAsLeader: %v", err)
		}
		out = append(out, b)
	}
	return out
}

// readAll reads every batch from the log start to the LEO and returns
// their headers, checking CRCs and contiguity.
func readAll(t testing.TB, l *Log) []record.Header {
	t.Helper()
	var hs []record.Header
	next := l.LogStartOffset()
	for next < l.LogEndOffset() {
		ri, err := l.Read(next, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if len(ri.Bytes) == 0 {
			t.Fatalf("Read(%d) returned nothing below LEO %d", next, l.LogEndOffset())
		}
		for b := ri.Bytes; len(b) > 0; {
			h, err := record.Validate(b)
			if err != nil {
				t.Fatalf("stored batch invalid: %v", err)
			}
			if len(hs) > 0 && h.BaseOffset != hs[len(hs)-1].NextOffset() {
				t.Fatalf("gap: batch at %d after %d", h.BaseOffset, hs[len(hs)-1].NextOffset())
			}
			hs = append(hs, h)
			next = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return hs
}

func segFiles(t testing.TB, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// crashLog closes l's files without flushing anything, as a crash would
// leave them, and waits for background flushes, which then give up.
func crashLog(l *Log) {
	l.mu.Lock()
	l.closeFiles()
	l.mu.Unlock()
	l.flushes.Wait()
}

// TestMain fails the package's tests if any goroutine a log started (the
// background flushes of rolled segments and tails) outlives the tests:
// every one must end with its log (DESIGN.md §9).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
