package quorum

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/fjordlog/fjord/internal/vfs"
	"go.etcd.io/raft/v3/raftpb"
)

func ents(term uint64, from, to uint64) []raftpb.Entry {
	var out []raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, raftpb.Entry{Term: term, Index: i, Data: []byte{byte(i)}})
	}
	return out
}

func reopen(t *testing.T, dir string) walContents {
	t.Helper()
	w, c, err := openWAL(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	w.close()
	return c
}

func checkEnts(t *testing.T, got []raftpb.Entry, term, from, to uint64) {
	t.Helper()
	if uint64(len(got)) != to-from+1 {
		t.Fatalf("%d entries, want %d..%d", len(got), from, to)
	}
	for i, e := range got {
		if e.Index != from+uint64(i) || e.Term != term || e.Data[0] != byte(e.Index) {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
}

func TestWALReplayAndOverwrite(t *testing.T) {
	dir := t.TempDir()
	w, c, err := openWAL(vfs.Default, dir)
	if err != nil || len(c.ents) != 0 || c.baseIndex != 0 {
		t.Fatalf("fresh WAL: %+v %v", c, err)
	}
	must(t, w.save(raftpb.HardState{Term: 1, Commit: 3}, ents(1, 1, 5), true))
	// A new leader overwrites the uncommitted 4..5 with its own 4..6.
	must(t, w.save(raftpb.HardState{Term: 2, Vote: 2, Commit: 4}, ents(2, 4, 6), true))
	w.close()

	c = reopen(t, dir)
	if c.hs != (raftpb.HardState{Term: 2, Vote: 2, Commit: 4}) {
		t.Fatalf("hard state %+v", c.hs)
	}
	checkEnts(t, c.ents[:3], 1, 1, 3)
	checkEnts(t, c.ents[3:], 2, 4, 6)
}

func TestWALTornAndCorruptTail(t *testing.T) {
	for _, how := range []string{"torn", "corrupt"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			w, _, err := openWAL(vfs.Default, dir)
			must(t, err)
			must(t, w.save(raftpb.HardState{Term: 1, Commit: 2}, ents(1, 1, 3), true))
			must(t, w.save(raftpb.HardState{}, ents(1, 4, 4), true))
			w.close()
			path := walFile(t, dir)
			before, _ := os.Stat(path)
			damageTail(t, path, how)

			c := reopen(t, dir)
			checkEnts(t, c.ents, 1, 1, 3)
			if c.hs.Commit != 2 {
				t.Fatalf("commit %d", c.hs.Commit)
			}
			// The bad record is cut off, and appends continue after it.
			after, _ := os.Stat(path)
			if after.Size() >= before.Size()-3 {
				t.Fatalf("file not truncated: %d -> %d", before.Size(), after.Size())
			}
			w, _, err = openWAL(vfs.Default, dir)
			must(t, err)
			must(t, w.save(raftpb.HardState{Term: 1, Commit: 4}, ents(1, 4, 5), true))
			w.close()
			c = reopen(t, dir)
			checkEnts(t, c.ents, 1, 1, 5)
		})
	}
}

func TestWALRewrite(t *testing.T) {
	dir := t.TempDir()
	w, _, err := openWAL(vfs.Default, dir)
	must(t, err)
	must(t, w.save(raftpb.HardState{Term: 3, Commit: 8}, ents(3, 1, 10), true))
	must(t, w.rewrite(8, 3, ents(3, 9, 10)))
	must(t, w.save(raftpb.HardState{Term: 3, Commit: 11}, ents(3, 11, 11), true))
	w.close()
	// A leftover older file (crash before its deletion) and temporary are ignored.
	must(t, os.WriteFile(filepath.Join(dir, walName(1)), []byte("stale"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, walName(9)+".tmp"), []byte("partial"), 0o644))

	c := reopen(t, dir)
	if c.baseIndex != 8 || c.baseTerm != 3 || c.hs.Commit != 11 {
		t.Fatalf("contents %+v", c)
	}
	checkEnts(t, c.ents, 3, 9, 11)
	names, _ := readDirNames(vfs.Default, dir)
	if len(names) != 1 {
		t.Fatalf("files left: %v", names)
	}
}

func TestWALBadBaseRefused(t *testing.T) {
	dir := t.TempDir()
	b := appendRecord(nil, recHardState, []byte{})
	must(t, os.WriteFile(filepath.Join(dir, walName(1)), b, 0o644))
	if _, _, err := openWAL(vfs.Default, dir); err == nil {
		t.Fatal("WAL without a base record accepted")
	}
}

func TestEntriesAfterSnapshot(t *testing.T) {
	wc := walContents{baseIndex: 0, ents: append(ents(1, 1, 5), ents(2, 6, 8)...)}
	if got := entriesAfter(wc, 6, 2); len(got) != 2 || got[0].Index != 7 {
		t.Fatalf("continuing log: %v", got)
	}
	if got := entriesAfter(wc, 6, 3); got != nil {
		t.Fatalf("diverging log kept: %v", got)
	}
	if got := entriesAfter(wc, 20, 3); got != nil {
		t.Fatalf("log behind the snapshot kept: %v", got)
	}
}

func TestSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	if s, err := loadSnapshotFile(vfs.Default, dir, log); err != nil || s.Metadata.Index != 0 {
		t.Fatalf("empty dir: %+v %v", s, err)
	}
	for _, i := range []uint64{5, 9} {
		s := raftpb.Snapshot{Data: []byte{byte(i)}, Metadata: raftpb.SnapshotMetadata{Index: i, Term: 1}}
		must(t, saveSnapshotFile(vfs.Default, dir, s))
	}
	// A damaged newest snapshot falls back to the previous one.
	p := filepath.Join(dir, snapName(9))
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	must(t, os.WriteFile(p, b, 0o644))
	s, err := loadSnapshotFile(vfs.Default, dir, log)
	if err != nil || s.Metadata.Index != 5 || s.Data[0] != 5 {
		t.Fatalf("loaded %+v %v", s, err)
	}
	must(t, removeOldSnapshots(vfs.Default, dir, 9))
	if names, _ := listSnapshots(vfs.Default, dir); len(names) != 1 || names[0] != snapName(9) {
		t.Fatalf("after removal: %v", names)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
