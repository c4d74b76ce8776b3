package storage

// Crash tests on an in-memory, strict-sync filesystem (vfs.NewStrictMem):
// no root and no real disk. A "crash" keeps only what was fsynced
// (vfs.MemFS.Crash); the log is then reopened on what is left.

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/vfs"
)

const memLogDir = "/data/t-0"

// crashAndReopen crashes mem under l (l's background flushes are let go
// first only when release is given), then opens the log again on what
// survived, with recovery point rp.
func crashAndReopen(t *testing.T, mem *vfs.MemFS, l *Log, release func(), rp int64) (*Log, *vfs.MemFS) {
	t.Helper()
	after := mem.Crash()
	if release != nil {
		release()
	}
	crashLog(l)
	return openLog(t, memLogDir, Options{FS: after, RecoveryPoint: rp}), after
}

// checkPrefix checks that l holds exactly the first n of the batches
// appended (as stored), nothing else.
func checkPrefix(t *testing.T, l *Log, batches [][]byte, n int) {
	t.Helper()
	var want []byte
	for _, b := range batches[:n] {
		want = append(want, b...)
	}
	var got []byte
	for next := l.LogStartOffset(); next < l.LogEndOffset(); {
		ri, err := l.Read(next, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		got = append(got, ri.Bytes...)
		h, err := record.ParseHeader(ri.Bytes[len(ri.Bytes)-lastBatchSize(t, ri.Bytes):])
		if err != nil {
			t.Fatal(err)
		}
		next = h.NextOffset()
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("log holds %d bytes up to offset %d; want the first %d batches (%d bytes) exactly",
			len(got), l.LogEndOffset(), n, len(want))
	}
}

// lastBatchSize returns the size of the last of the whole batches in b.
func lastBatchSize(t *testing.T, b []byte) int {
	t.Helper()
	size := 0
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		size, b = h.Size(), b[h.Size():]
	}
	return size
}

// Batches made durable by Flush survive a crash; the batches appended
// after it (rolling into new segments whose flushes are held, so nothing
// of them is synced) are gone, whatever recovery point the reopen uses.
func TestCrashKeepsExactlyTheFlushedBatches(t *testing.T) {
	for _, trustRP := range []bool{false, true} {
		t.Run(fmt.Sprintf("trustRecoveryPoint=%v", trustRP), func(t *testing.T) {
			mem := vfs.NewStrictMem()
			release := holdRolledFlushes(t)
			l := openLog(t, memLogDir, Options{FS: mem})
			batches := appendN(t, l, 40, 3, 50, 1000, 1) // several segments
			must(t, l.Flush())
			flushed := l.LogEndOffset()
			must(t, l.AssignEpoch(2))
			batches = append(batches, appendN(t, l, 30, 3, 50, 2000, 2)...)
			if len(l.Segments()) < 4 {
				t.Fatalf("only %d segments: the test wants rolls before and after the flush", len(l.Segments()))
			}
			rp := int64(0)
			if trustRP {
				rp = flushed
			}
			r, _ := crashAndReopen(t, mem, l, release, rp)
			defer r.Close()
			if r.LogEndOffset() != flushed {
				t.Fatalf("LEO after crash %d, want the flushed end %d", r.LogEndOffset(), flushed)
			}
			checkPrefix(t, r, batches, 40)
			// The epoch checkpoint was synced with epoch 2 starting past
			// the surviving end: recovery drops it.
			if e, ok := r.LatestEpoch(); !ok || e != 1 {
				t.Fatalf("latest epoch after crash %d (%v), want 1", e, ok)
			}
		})
	}
}

// Appends acknowledged after SyncTo (flush.messages=1: the append path's
// group-committed fsyncs) survive; one appended but never synced does not.
func TestCrashKeepsEveryBatchSyncedBySyncTo(t *testing.T) {
	mem := vfs.NewStrictMem()
	cfg := smallConfig()
	cfg.FlushMessages = 1
	l := openLog(t, memLogDir, Options{FS: mem, Config: cfg})
	var batches [][]byte
	for i := range 35 {
		b := makeBatch(0, 2, 60, int64(i))
		info, err := l.AppendAsLeader(b, 0)
		must(t, err)
		if info.SyncTo < 0 {
			t.Fatal("flush.messages=1 asked for no sync")
		}
		must(t, l.SyncTo(info.SyncTo))
		batches = append(batches, b)
	}
	acked := l.LogEndOffset()
	last := makeBatch(0, 2, 60, 99)
	_, err := l.AppendAsLeader(last, 0) // not synced: the crash may drop it
	must(t, err)
	batches = append(batches, last)
	r, _ := crashAndReopen(t, mem, l, nil, 0)
	defer r.Close()
	if r.LogEndOffset() != acked {
		t.Fatalf("LEO after crash %d, want %d (every synced batch, not the unsynced one)", r.LogEndOffset(), acked)
	}
	checkPrefix(t, r, batches, 35)
}

// After a crash the active segment may end with a torn batch (a write the
// disk kept only in part) or one whose bytes are garbage: recovery cuts
// the log there and keeps every batch before it.
func TestCrashRecoveryCutsAtTornBatch(t *testing.T) {
	full := makeBatch(0, 3, 50, 5)
	for name, tail := range map[string]func(next int64) []byte{
		"torn header": func(int64) []byte { return full[:20] },
		"torn body":   func(int64) []byte { return full[:len(full)-7] },
		"bad crc": func(next int64) []byte {
			b := bytes.Clone(full)
			record.SetBaseOffset(b, next)
			b[len(b)-1] ^= 0xff
			return b
		},
	} {
		t.Run(name, func(t *testing.T) {
			mem := vfs.NewStrictMem()
			l := openLog(t, memLogDir, Options{FS: mem})
			batches := appendN(t, l, 25, 3, 50, 1000, 0)
			must(t, l.Flush())
			flushed := l.LogEndOffset()
			after := mem.Crash()
			crashLog(l)
			// The disk kept part of a later write at the end of the active
			// segment, synced as if by chance.
			segs, err := after.ReadDir(memLogDir)
			must(t, err)
			var active string
			for _, e := range segs {
				if strings.HasSuffix(e.Name(), logSuffix) {
					active = e.Name()
				}
			}
			f, err := after.OpenFile(filepath.Join(memLogDir, active), 2 /* O_RDWR */, 0)
			must(t, err)
			st, err := f.Stat()
			must(t, err)
			_, err = f.WriteAt(tail(flushed), st.Size())
			must(t, err)
			must(t, f.Sync())
			must(t, f.Close())

			r := openLog(t, memLogDir, Options{FS: after, RecoveryPoint: flushed})
			defer r.Close()
			if r.LogEndOffset() != flushed {
				t.Fatalf("LEO %d after recovery, want %d", r.LogEndOffset(), flushed)
			}
			checkPrefix(t, r, batches, 25)
			// The next append goes right after the last good batch.
			b := makeBatch(0, 1, 10, 0)
			_, err = r.AppendAsLeader(b, 0)
			must(t, err)
			checkPrefix(t, r, append(batches, b), 26)
		})
	}
}

// A lazily created log (the Manager's way) survives a crash once its
// batches are flushed: its directory, made with the first batch, is made
// durable in its parent too.
func TestCrashKeepsLazyLogDirectory(t *testing.T) {
	mem := vfs.NewStrictMem()
	must(t, mem.MkdirAll("/data", 0o755))
	must(t, mem.SyncDir("/"))
	l := openLog(t, memLogDir, Options{FS: mem, Lazy: true})
	batches := appendN(t, l, 3, 1, 10, 0, 0)
	must(t, l.Flush())
	r, _ := crashAndReopen(t, mem, l, nil, 0)
	defer r.Close()
	checkPrefix(t, r, batches, 3)
}

// deadAfter returns an FS over mem on which every operation after the
// first n fails, as on a machine that stopped then, and the count of
// operations attempted.
func deadAfter(mem vfs.FS, n int64) (vfs.FS, *atomic.Int64) {
	var ops atomic.Int64
	return vfs.Inject(mem, func(vfs.Op, string) error {
		if ops.Add(1) > n {
			return vfs.ErrInjected
		}
		return nil
	}), &ops
}

// A crash at any point of a Checkpoint leaves each checkpoint file whole,
// holding the old or the new offsets, never a mix or nothing; once
// Checkpoint returned nil the new ones survive. Each failure is returned.
func TestCrashDuringCheckpointKeepsOldOrNew(t *testing.T) {
	tp := TopicPartition{"t", 0}
	for step := int64(0); ; step++ {
		mem := vfs.NewStrictMem()
		fs, _ := deadAfter(mem, 1<<62)
		m, err := OpenManagerFS(fs, []string{"/data"}, discard, nil)
		must(t, err)
		l, err := m.Load(tp, [16]byte{}, smallConfig())
		must(t, err)
		appendN(t, l, 2, 1, 10, 0, 0)
		must(t, m.Checkpoint(map[TopicPartition]int64{tp: 1}))

		dead, _ := deadAfter(mem, step)
		m.fs = dead // what the Manager does next runs on a dying machine
		err = m.Checkpoint(map[TopicPartition]int64{tp: 2})
		if err != nil && !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("step %d: Checkpoint error %v does not wrap the IO error", step, err)
		}
		after := mem.Crash()
		m2, oerr := OpenManagerFS(after, []string{"/data"}, discard, nil)
		if oerr != nil {
			t.Fatalf("step %d: reopening after the crash: %v (a checkpoint file is torn?)", step, oerr)
		}
		hw := m2.HighWatermark(tp)
		if hw != 1 && hw != 2 {
			t.Fatalf("step %d: high watermark %d after crash, want 1 or 2", step, hw)
		}
		if err == nil {
			if hw != 2 {
				t.Fatalf("step %d: Checkpoint returned nil but the crash kept hw %d", step, hw)
			}
			return
		}
	}
}

// A checkpoint renamed over the old one but crashed before its directory
// was synced: the old file survives (POSIX allows either; the strict
// filesystem keeps the old), whole, and the error is returned.
func TestCheckpointCrashBeforeDirSync(t *testing.T) {
	mem := vfs.NewStrictMem()
	must(t, mem.MkdirAll("/d", 0o755))
	must(t, mem.SyncDir("/"))
	tp := TopicPartition{"t", 3}
	must(t, writeOffsetCheckpoint(mem, "/d", recoveryPointFile, map[TopicPartition]int64{tp: 10}))
	fs := vfs.Inject(mem, func(op vfs.Op, _ string) error {
		if op == vfs.OpSyncDir {
			return vfs.ErrInjected
		}
		return nil
	})
	err := writeOffsetCheckpoint(fs, "/d", recoveryPointFile, map[TopicPartition]int64{tp: 20})
	if !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("write with a failing dir sync returned %v", err)
	}
	// Before the crash the new file is in place...
	got, err := readOffsetCheckpoint(mem, filepath.Join("/d", recoveryPointFile))
	must(t, err)
	if got[tp] != 20 {
		t.Fatalf("before the crash: %v", got)
	}
	// ...after it, the old one, whole.
	got, err = readOffsetCheckpoint(mem.Crash(), filepath.Join("/d", recoveryPointFile))
	must(t, err)
	if got[tp] != 10 {
		t.Fatalf("after the crash: %v, want the old checkpoint", got)
	}
}

// A fetch's Range on the OS filesystem is an *os.File (sent with
// sendfile); on another filesystem it is read with ReadAt, same bytes.
func TestRangeFileKind(t *testing.T) {
	for name, c := range map[string]struct {
		fs  vfs.FS
		dir string
		os  bool
	}{"os": {vfs.Default, t.TempDir(), true}, "mem": {vfs.NewStrictMem(), memLogDir, false}} {
		t.Run(name, func(t *testing.T) {
			l := openLog(t, c.dir, Options{FS: c.fs})
			defer l.Close()
			batches := appendN(t, l, 3, 2, 20, 0, 0)
			r, err := l.ReadRange(0, 1<<20, l.LogEndOffset(), true)
			must(t, err)
			if _, ok := vfs.OSFile(r.File); ok != c.os {
				t.Fatalf("Range.File is %T; an *os.File: %v, want %v", r.File, ok, c.os)
			}
			b := make([]byte, r.Size)
			if _, err := r.File.ReadAt(b, r.Pos); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, bytes.Join(batches, nil)) {
				t.Fatal("Range bytes differ from the appended batches")
			}
		})
	}
}

// The machine dies after each IO operation in turn (every later one
// fails; then the filesystem crashes) while a log is opened, appended to
// with flush.messages=1 (each append acknowledged after SyncTo) and rolls
// segments. Reopened on what survived, the log always opens and holds a
// prefix of the appended batches containing every acknowledged one.
func TestCrashAtEveryStepKeepsAcknowledgedPrefix(t *testing.T) {
	cfg := smallConfig()
	cfg.FlushMessages = 1
	for step := int64(0); ; step++ {
		mem := vfs.NewStrictMem()
		fs, _ := deadAfter(mem, step)
		var appended [][]byte
		acked, finished := 0, false
		l, err := Open(memLogDir, Options{FS: fs, Config: cfg, Logger: discard})
		if err == nil {
			for i := range 25 {
				b := makeBatch(0, 2, 80, int64(i))
				info, err := l.AppendAsLeader(b, int32(i/10)) // a new epoch now and then
				// Its bytes may reach the disk even if the call fails.
				appended = append(appended, b)
				if err == nil {
					err = l.SyncTo(info.SyncTo)
				}
				if err != nil {
					if !errors.Is(err, vfs.ErrInjected) {
						t.Fatalf("step %d: append %d: %v does not wrap the IO error", step, i, err)
					}
					break
				}
				acked = i + 1
			}
			finished = acked == 25
		}
		after := mem.Crash()
		if l != nil {
			crashLog(l)
		}
		r, err := Open(memLogDir, Options{FS: after, Config: cfg, Logger: discard})
		if err != nil {
			t.Fatalf("step %d: reopening after the crash: %v", step, err)
		}
		n := len(readAll(t, r))
		if n < acked || n > len(appended) {
			t.Fatalf("step %d: %d batches survived; %d were acknowledged, %d appended", step, n, acked, len(appended))
		}
		checkPrefix(t, r, appended, n)
		must(t, r.Close())
		if finished {
			t.Logf("covered %d crash points", step)
			return
		}
	}
}
