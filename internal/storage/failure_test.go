package storage

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
)

// failure waits briefly for the Manager's reported failure.
func failure(t *testing.T, m *Manager) error {
	t.Helper()
	select {
	case err := <-m.Failed():
		return err
	case <-time.After(time.Second):
		t.Fatal("the Manager reported no failure")
		return nil
	}
}

// A log's I/O failure reaches the Manager's owner (who halts the broker,
// as Kafka does when its only log dir fails), not just the log's callers.
func TestManagerReportsLogFailure(t *testing.T) {
	m := openManager(t, t.TempDir())
	l, err := m.Load(TopicPartition{"t", 0}, [16]byte{}, smallConfig())
	must(t, err)
	appendN(t, l, 1, 1, 10, 0, 0) // its files exist from the first batch on
	l.active().f.Close()
	if _, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append: %v, want ErrLogFailed", err)
	}
	if err := failure(t, m); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("reported %v, want ErrLogFailed", err)
	}
}

// A checkpoint that cannot be written was only logged by the broker; it is
// a storage failure like any other (Kafka: the log dir goes offline).
func TestManagerReportsCheckpointFailure(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	_, err := m.Load(TopicPartition{"t", 0}, [16]byte{}, smallConfig())
	must(t, err)
	// A directory where the temporary file goes makes its creation fail.
	must(t, os.Mkdir(filepath.Join(d, recoveryPointFile+".tmp"), 0o755))
	if err := m.Checkpoint(nil); err == nil {
		t.Fatal("Checkpoint succeeded")
	}
	if err := failure(t, m); err == nil {
		t.Fatal("no error reported")
	}
}

// On a full filesystem (a 1 MiB tmpfs; needs root) an append fails the log
// with ENOSPC, the Manager reports it, and nothing is acknowledged: the
// log end offset stays where the last good append left it, and after the
// space comes back a reopened log recovers to exactly the appended batches.
func TestAppendOnFullDisk(t *testing.T) {
	d := t.TempDir()
	if err := syscall.Mount("tmpfs", d, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	defer syscall.Unmount(d, syscall.MNT_DETACH)
	// Space the test gives back before reopening.
	filler := filepath.Join(d, "filler")
	must(t, os.WriteFile(filler, make([]byte, 64<<10), 0o644))
	m := openManager(t, d)
	tp := TopicPartition{"t", 0}
	l, err := m.Load(tp, [16]byte{}, smallConfig())
	must(t, err)
	var leo int64
	for i := 0; ; i++ {
		if i > 10_000 {
			t.Fatal("the disk never filled")
		}
		info, err := l.AppendAsLeader(makeBatch(0, 4, 1000, 0), 0)
		if err != nil {
			if !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d: %v, want ErrLogFailed wrapping ENOSPC", i, err)
			}
			break
		}
		leo = info.LastOffset + 1
	}
	if got := l.LogEndOffset(); got != leo {
		t.Fatalf("LEO %d after the failed append, want %d", got, leo)
	}
	if err := failure(t, m); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("reported %v, want ENOSPC", err)
	}
	if _, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append after the failure: %v, want the sticky ErrLogFailed", err)
	}
	_ = m.Close(nil)
	must(t, os.Remove(filler))
	reopened := openManager(t, d) // unclean: recovery cuts any partial batch
	l2, err := reopened.Load(tp, [16]byte{}, smallConfig())
	must(t, err)
	if got := l2.LogEndOffset(); got != leo {
		t.Fatalf("recovered LEO %d, want %d", got, leo)
	}
	must(t, reopened.Close(nil))
}

// A log whose files cannot be created (here: its directory, made with its
// first batch) is a log dir failure, not just an offline partition; the
// batch is not acknowledged (needs root for the tmpfs).
func TestLoadOnFullDiskIsReported(t *testing.T) {
	d := t.TempDir()
	if err := syscall.Mount("tmpfs", d, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	defer syscall.Unmount(d, syscall.MNT_DETACH)
	m := openManager(t, d)
	f, err := os.Create(filepath.Join(d, "filler"))
	must(t, err)
	for err == nil {
		_, err = f.Write(make([]byte, 4096))
	}
	f.Close()
	l, err := m.Load(TopicPartition{"t", 0}, [16]byte{1}, smallConfig())
	must(t, err) // lazily: nothing on disk yet
	if _, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0); !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("first append: %v, want ErrLogFailed wrapping ENOSPC", err)
	}
	if l.LogEndOffset() != 0 {
		t.Fatalf("LEO %d after the failed first append", l.LogEndOffset())
	}
	if err := failure(t, m); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("reported %v, want ENOSPC", err)
	}
}

// A partition directory of another topic is that partition's problem,
// not a failed log dir.
func TestLoadTopicIDMismatchIsNotReported(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	tp := TopicPartition{"t", 0}
	_, err := m.Load(tp, [16]byte{1}, smallConfig())
	must(t, err)
	must(t, m.Remove(tp))
	must(t, os.MkdirAll(filepath.Join(d, tp.String()), 0o755))
	must(t, writePartitionMetadata(vfs.Default, filepath.Join(d, tp.String()), [16]byte{2}))
	if _, err := m.Load(tp, [16]byte{3}, smallConfig()); err == nil {
		t.Fatal("Load of another topic's directory succeeded")
	}
	select {
	case err := <-m.Failed():
		t.Fatalf("reported %v", err)
	default:
	}
}
