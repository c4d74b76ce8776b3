package quorum

// Crash tests on an in-memory, strict-sync filesystem (vfs.NewStrictMem):
// a crash keeps only what was fsynced; the WAL, the snapshot files and a
// running member are reopened on what is left.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
	"go.etcd.io/raft/v3/raftpb"
)

const memDir = "/meta/__cluster_metadata-0"

func newMemDir(t *testing.T) *vfs.MemFS {
	t.Helper()
	mem := vfs.NewStrictMem()
	must(t, vfs.MkdirAllSynced(mem, memDir, 0o755))
	return mem
}

// deadAfter returns an FS over fs on which every operation after the
// first n fails, as on a machine that stopped then.
func deadAfter(fs vfs.FS, n int64) vfs.FS {
	var ops atomic.Int64
	return vfs.Inject(fs, func(vfs.Op, string) error {
		if ops.Add(1) > n {
			return vfs.ErrInjected
		}
		return nil
	})
}

func openMemWAL(t *testing.T, fs vfs.FS) (*wal, walContents) {
	t.Helper()
	w, c, err := openWAL(fs, memDir)
	if err != nil {
		t.Fatalf("openWAL: %v", err)
	}
	return w, c
}

// Entries and hard states saved with sync survive a crash; those saved
// without it (Raft did not ask: Ready.MustSync false) are gone.
func TestWALCrashKeepsSyncedRecords(t *testing.T) {
	mem := newMemDir(t)
	w, _ := openMemWAL(t, mem)
	hs := raftpb.HardState{Term: 2, Vote: 1, Commit: 4}
	must(t, w.save(raftpb.HardState{Term: 1, Vote: 1}, ents(1, 1, 3), true))
	must(t, w.save(hs, ents(2, 4, 6), true))
	must(t, w.save(raftpb.HardState{Term: 2, Vote: 1, Commit: 6}, ents(2, 7, 9), false))

	w2, c := openMemWAL(t, mem.Crash())
	defer w2.close()
	if c.hs != hs {
		t.Fatalf("hard state after crash %+v, want %+v", c.hs, hs)
	}
	checkEnts(t, c.ents[:3], 1, 1, 3)
	checkEnts(t, c.ents[3:], 2, 4, 6)
	// The recovered WAL takes appends where the synced part ended.
	must(t, w2.save(raftpb.HardState{Term: 3, Vote: 1, Commit: 7}, ents(3, 7, 7), true))
	w.close()
}

// A crash at any point of a WAL rewrite (compaction after a snapshot)
// leaves the old file or the new one, each whole; once rewrite returned
// nil, the new one.
func TestWALRewriteCrashAtEveryStep(t *testing.T) {
	hs := raftpb.HardState{Term: 1, Vote: 1, Commit: 10}
	for step := int64(0); ; step++ {
		mem := newMemDir(t)
		w, _ := openMemWAL(t, mem)
		must(t, w.save(hs, ents(1, 1, 10), true))
		w.fs = deadAfter(mem, step)
		err := w.rewrite(6, 1, ents(1, 7, 10))
		if err != nil && !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("step %d: rewrite error %v does not wrap the IO error", step, err)
		}
		w2, c := openMemWAL(t, mem.Crash())
		w2.close()
		w.close()
		if c.hs != hs {
			t.Fatalf("step %d: hard state %+v", step, c.hs)
		}
		switch c.baseIndex {
		case 0:
			if err == nil {
				t.Fatalf("step %d: rewrite returned nil but the crash kept the old file", step)
			}
			checkEnts(t, c.ents, 1, 1, 10)
		case 6:
			checkEnts(t, c.ents, 1, 7, 10)
		default:
			t.Fatalf("step %d: base index %d", step, c.baseIndex)
		}
		if err == nil {
			return
		}
	}
}

// A crash at any point of saving a snapshot and deleting the older one
// leaves a readable snapshot, the old or the new, never a torn file;
// once both calls returned nil, the new one.
func TestSnapshotFileCrashAtEveryStep(t *testing.T) {
	snap := func(index uint64) raftpb.Snapshot {
		return raftpb.Snapshot{Data: []byte(fmt.Sprintf("state at %d", index)),
			Metadata: raftpb.SnapshotMetadata{Index: index, Term: 1, ConfState: raftpb.ConfState{Voters: []uint64{1}}}}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for step := int64(0); ; step++ {
		mem := newMemDir(t)
		must(t, saveSnapshotFile(mem, memDir, snap(5)))
		dead := deadAfter(mem, step)
		err := saveSnapshotFile(dead, memDir, snap(9))
		if err == nil {
			err = removeOldSnapshots(dead, memDir, 9)
		}
		if err != nil && !errors.Is(err, vfs.ErrInjected) {
			t.Fatalf("step %d: error %v does not wrap the IO error", step, err)
		}
		got, lerr := loadSnapshotFile(mem.Crash(), memDir, log)
		if lerr != nil {
			t.Fatalf("step %d: load after crash: %v", step, lerr)
		}
		i := got.Metadata.Index
		if (i != 5 && i != 9) || string(got.Data) != fmt.Sprintf("state at %d", i) {
			t.Fatalf("step %d: snapshot %d %q after crash", step, i, got.Data)
		}
		if err == nil {
			if i != 9 {
				t.Fatalf("step %d: saved snapshot 9 but the crash kept %d", step, i)
			}
			return
		}
	}
}

// A running member crashes (its filesystem loses what was not synced)
// after entries were committed and applied: restarted on what survived,
// it replays every one of them, through the snapshots and WAL rewrites
// it made on the way, and its hard state (term) did not go back.
func TestRaftCrashKeepsCommittedEntries(t *testing.T) {
	mem := newMemDir(t)
	c := newCluster(t, 1, func(cfg *RaftConfig) {
		cfg.FS, cfg.Dir, cfg.SnapshotEvery = mem, memDir, 7
	})
	c.start(0)
	var last uint64
	var want []string
	for i := range 25 {
		data := fmt.Sprintf("entry-%d", i)
		last = c.propose(data, 0)
		want = append(want, data)
	}
	c.waitApplied(last, 0)
	term := c.raft(0).Term()
	after := mem.Crash() // while it runs: whatever it had not synced is lost
	c.stop(0)

	c.nodes[0].cfg.FS = after
	c.start(0)
	c.waitLeader(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, c.raft(0).WaitApplied(ctx, last))
	recs, _, bad := c.nodes[0].sm.snapshot()
	if bad != "" {
		t.Fatal(bad)
	}
	var got []string
	for _, r := range recs {
		if strings.HasPrefix(r.Data, "entry-") {
			got = append(got, r.Data)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after the crash the member applied %v, want %v", got, want)
	}
	if c.raft(0).Term() < term {
		t.Fatalf("term went back from %d to %d", term, c.raft(0).Term())
	}
}

// A WAL write or fsync that fails stops the member with that error: it
// is never swallowed, and nothing more is acknowledged.
func TestRaftStopsOnWALError(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		t.Run(op.String(), func(t *testing.T) {
			var armed atomic.Bool
			fs := vfs.Inject(newMemDir(t), func(o vfs.Op, path string) error {
				if armed.Load() && o == op && strings.Contains(path, "wal-") {
					return vfs.ErrInjected
				}
				return nil
			})
			c := newCluster(t, 1, func(cfg *RaftConfig) { cfg.FS, cfg.Dir = fs, memDir })
			c.start(0)
			c.waitApplied(c.propose("before", 0), 0)
			armed.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.raft(0).Propose(ctx, []byte("after")); err == nil {
				t.Fatal("a proposal was acknowledged after its WAL write failed")
			}
			select {
			case <-c.raft(0).Done():
			case <-ctx.Done():
				t.Fatal("the member kept running after a WAL error")
			}
			if err := c.raft(0).Err(); !errors.Is(err, vfs.ErrInjected) {
				t.Fatalf("Err() = %v, want the WAL error", err)
			}
			_ = c.nodes[0].cur.Swap(nil).Close() // stopped already: Close returns the WAL error
		})
	}
}
