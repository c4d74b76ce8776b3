package storage

// IO errors injected with vfs.Inject: a failed write or fsync on the
// append or flush paths stops the log (fail-stop, DESIGN.md §1 and §3.7):
// the error is returned, wraps both ErrLogFailed and the IO error, is
// reported once through Options.OnFailure, and every later append is
// refused. Nothing is swallowed.

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fjordlog/fjord/internal/vfs"
)

// faultyFS fails op on paths with the given suffix ("" = any path) while
// armed.
type faultyFS struct {
	armed  atomic.Bool
	op     vfs.Op
	suffix string
}

func (f *faultyFS) fail(op vfs.Op, path string) error {
	if f.armed.Load() && op == f.op && strings.HasSuffix(path, f.suffix) {
		return vfs.ErrInjected
	}
	return nil
}

// openFaulty opens a log on a strict in-memory filesystem through f, and
// counts the failures it reports.
func openFaulty(t *testing.T, f *faultyFS, cfg Config) (*Log, *atomic.Int32) {
	t.Helper()
	var reported atomic.Int32
	l := openLog(t, memLogDir, Options{FS: vfs.Inject(vfs.NewStrictMem(), f.fail), Config: cfg,
		OnFailure: func(error) { reported.Add(1) }})
	t.Cleanup(func() { l.Close() })
	return l, &reported
}

// checkFailStop checks err is the log's sticky failure wrapping the
// injected error, reported once, and that the log refuses appends and
// flushes from now on, even with the fault gone.
func checkFailStop(t *testing.T, l *Log, f *faultyFS, reported *atomic.Int32, err error) {
	t.Helper()
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("got %v; want an error wrapping ErrLogFailed and the IO error", err)
	}
	if !errors.Is(l.Err(), vfs.ErrInjected) {
		t.Fatalf("Err() = %v, want the sticky failure", l.Err())
	}
	f.armed.Store(false)
	if _, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append after the failure: %v, want ErrLogFailed", err)
	}
	if err := l.Flush(); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("flush after the failure: %v, want ErrLogFailed", err)
	}
	if n := reported.Load(); n != 1 {
		t.Fatalf("OnFailure called %d times, want 1", n)
	}
}

func TestAppendWriteErrorFailsTheLog(t *testing.T) {
	f := &faultyFS{op: vfs.OpWrite, suffix: logSuffix}
	l, reported := openFaulty(t, f, smallConfig())
	appendN(t, l, 3, 1, 10, 0, 0)
	leo := l.LogEndOffset()
	f.armed.Store(true)
	_, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0)
	if l.LogEndOffset() != leo {
		t.Fatalf("LEO moved to %d on a failed append", l.LogEndOffset())
	}
	checkFailStop(t, l, f, reported, err)
}

// Each fsync Flush makes (segment data, its indexes, the directory) and
// each write it makes (the index files) fails the log when it fails.
func TestFlushErrorFailsTheLog(t *testing.T) {
	for _, c := range []struct {
		op     vfs.Op
		suffix string
	}{
		{vfs.OpSync, logSuffix}, {vfs.OpSync, indexSuffix}, {vfs.OpSync, timeIndexSuffix},
		{vfs.OpWrite, indexSuffix}, {vfs.OpSyncDir, ""},
	} {
		t.Run(c.op.String()+c.suffix, func(t *testing.T) {
			f := &faultyFS{op: c.op, suffix: c.suffix}
			l, reported := openFaulty(t, f, smallConfig())
			appendN(t, l, 20, 1, 10, 0, 0) // enough for index entries
			rp := l.RecoveryPoint()
			f.armed.Store(true)
			err := l.Flush()
			if l.RecoveryPoint() != rp {
				t.Fatalf("recovery point moved to %d on a failed flush", l.RecoveryPoint())
			}
			checkFailStop(t, l, f, reported, err)
		})
	}
}

// The append path's fsync (SyncTo, flush.messages=1) returns the failure
// instead of acknowledging, and the log stops.
func TestSyncToErrorFailsTheLog(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpSync, vfs.OpSyncDir} {
		t.Run(op.String(), func(t *testing.T) {
			f := &faultyFS{op: op}
			cfg := smallConfig()
			cfg.FlushMessages = 1
			l, reported := openFaulty(t, f, cfg)
			info, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0)
			must(t, err)
			must(t, l.SyncTo(info.SyncTo))
			info, err = l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0)
			must(t, err)
			f.armed.Store(true)
			err = l.SyncTo(info.SyncTo)
			if l.RecoveryPoint() >= info.SyncTo {
				t.Fatalf("recovery point %d covers a batch whose fsync failed", l.RecoveryPoint())
			}
			checkFailStop(t, l, f, reported, err)
		})
	}
}

// The background flush of rolled segments fails the log too: the next
// append sees it.
func TestRolledFlushErrorFailsTheLog(t *testing.T) {
	f := &faultyFS{op: vfs.OpSync, suffix: logSuffix}
	l, reported := openFaulty(t, f, smallConfig())
	f.armed.Store(true)
	for len(l.Segments()) < 2 {
		appendN(t, l, 1, 3, 50, 0, 0)
	}
	l.flushes.Wait()
	checkFailStop(t, l, f, reported, l.Err())
}

// A failed leader-epoch checkpoint write on an append with a new epoch
// fails the append and the log.
func TestEpochCheckpointErrorFailsTheLog(t *testing.T) {
	f := &faultyFS{op: vfs.OpRename, suffix: leaderEpochFile + vfs.TempSuffix}
	l, reported := openFaulty(t, f, smallConfig())
	appendN(t, l, 1, 1, 10, 0, 0)
	f.armed.Store(true)
	_, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 5)
	checkFailStop(t, l, f, reported, err)
}

// Every step of a checkpoint write that fails returns its error from
// Manager.Checkpoint and reports it on Failed.
func TestCheckpointWriteErrorIsReturned(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpOpen, vfs.OpWrite, vfs.OpSync, vfs.OpClose, vfs.OpRename, vfs.OpSyncDir} {
		t.Run(op.String(), func(t *testing.T) {
			f := &faultyFS{op: op, suffix: ""}
			fs := vfs.Inject(vfs.NewStrictMem(), func(o vfs.Op, path string) error {
				if !strings.Contains(path, replicationOffsetFile) && o != vfs.OpSyncDir {
					return nil
				}
				return f.fail(o, path)
			})
			m, err := OpenManagerFS(fs, []string{"/data"}, discard, nil)
			must(t, err)
			tp := TopicPartition{"t", 0}
			_, err = m.Load(tp, [16]byte{}, smallConfig())
			must(t, err)
			f.armed.Store(true)
			err = m.Checkpoint(map[TopicPartition]int64{tp: 7})
			if !errors.Is(err, vfs.ErrInjected) {
				t.Fatalf("Checkpoint returned %v, want the %s error", err, op)
			}
			if err := failure(t, m); !errors.Is(err, vfs.ErrInjected) {
				t.Fatalf("Failed reported %v", err)
			}
			// The failed write left no temporary file behind unless the
			// machine could not remove it; a later checkpoint succeeds.
			f.armed.Store(false)
			must(t, m.Checkpoint(map[TopicPartition]int64{tp: 8}))
			got, err := readOffsetCheckpoint(fs, filepath.Join("/data", replicationOffsetFile))
			must(t, err)
			if got[tp] != 8 {
				t.Fatalf("checkpoint holds %v", got)
			}
		})
	}
}
