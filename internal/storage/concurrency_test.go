package storage

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fjordlog/fjord/internal/record"
)

// TestConcurrentReadsDuringAppends runs readers (Read, LogEndOffset,
// OffsetForTimestamp, epoch queries) against one appender that also rolls
// and applies retention; run with -race.
func TestConcurrentReadsDuringAppends(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 64 << 10
	l := openLog(t, t.TempDir(), Options{Config: cfg})
	defer l.Close()
	var done atomic.Bool
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				readSome(t, l)
			}
		}()
	}
	for i := range 600 {
		if _, err := l.AppendAsLeader(makeBatch(0, 3, 50, int64(i)), int32(i/100)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	if l.LogEndOffset() != 1800 || l.LogStartOffset() == 0 {
		t.Fatalf("LEO %d start %d", l.LogEndOffset(), l.LogStartOffset())
	}
}

func readSome(t *testing.T, l *Log) {
	start, leo := l.LogStartOffset(), l.LogEndOffset()
	ri, err := l.Read(start+(leo-start)/2, 4096, leo, true)
	if err != nil {
		// Retention may move the start between the two calls.
		if l.Err() != nil {
			t.Error(err)
		}
		return
	}
	for b := ri.Bytes; len(b) > 0; {
		h, err := record.Validate(b)
		if err != nil {
			t.Errorf("torn read: %v", err)
			return
		}
		b = b[h.Size():]
	}
	l.OffsetForTimestamp(100)
	l.EndOffsetForEpoch(2)
	l.Size()
}
