package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// A partition loaded by the Manager costs no file until its first batch:
// becoming leader (an epoch), flushes, checkpoints and a clean close
// write nothing for it; the first append creates the directory,
// partition.metadata, the segment and the epoch checkpoint holding the
// epoch assigned before, and the data and epochs survive a reopen.
func TestLazyLogFilesComeWithTheFirstBatch(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	tp, id := TopicPartition{"lazy", 3}, [16]byte{5}
	l, err := m.Load(tp, id, smallConfig())
	must(t, err)
	must(t, l.AssignEpoch(4))
	must(t, l.Flush())
	must(t, m.Checkpoint(map[TopicPartition]int64{tp: 0}))
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) {
		t.Fatalf("a partition without records has a directory (%v)", err)
	}
	if info, err := l.Read(0, 1<<20, 1<<62, true); err != nil || len(info.Bytes) != 0 {
		t.Fatalf("read of the empty log: %d bytes, %v", len(info.Bytes), err)
	}
	if ep, off := l.EndOffsetForEpoch(4); ep != 4 || off != 0 {
		t.Fatalf("epoch 4 ends at (%d, %d) in memory, want (4, 0)", ep, off)
	}

	appendN(t, l, 3, 2, 50, 1, 4)
	for _, f := range []string{partitionMetadataFile, leaderEpochFile, "00000000000000000000.log", "00000000000000000000.index"} {
		if _, err := os.Stat(filepath.Join(l.Dir(), f)); err != nil {
			t.Fatalf("after the first batch: %v", err)
		}
	}
	must(t, m.Close(nil))

	m = openManager(t, d)
	l, err = m.Load(tp, id, smallConfig())
	must(t, err)
	if l.Unborn() || l.LogEndOffset() != 6 {
		t.Fatalf("reopened: unborn %v LEO %d, want a log of 6 records", l.Unborn(), l.LogEndOffset())
	}
	if ep, ok := l.LatestEpoch(); !ok || ep != 4 {
		t.Fatalf("reopened latest epoch %d %v, want 4", ep, ok)
	}
	must(t, m.Close(nil))
}

// A log never written opens empty again after a crash (no Close), with
// nothing on disk: the state it had.
func TestLazyLogCrashBeforeFirstBatch(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	tp := TopicPartition{"lazy", 0}
	l, err := m.Load(tp, [16]byte{1}, smallConfig())
	must(t, err)
	must(t, l.AssignEpoch(2))
	// No Close: the process dies here.
	m2 := openManager(t, d)
	if len(m2.Existing()) != 0 {
		t.Fatalf("Existing %v after a crash before any record", m2.Existing())
	}
	l2, err := m2.Load(tp, [16]byte{1}, smallConfig())
	must(t, err)
	if !l2.Unborn() || l2.LogEndOffset() != 0 {
		t.Fatalf("unborn %v LEO %d", l2.Unborn(), l2.LogEndOffset())
	}
	if _, ok := l2.LatestEpoch(); ok {
		t.Fatal("an epoch of the crashed process survived without its checkpoint")
	}
	must(t, m2.Close(nil))
}

// A follower told to start at its leader's log start (an empty log far
// behind) stays without files; its first fetched batch creates the
// segment at that offset.
func TestLazyLogRestartAtKeepsNoFiles(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	l, err := m.Load(TopicPartition{"lazy", 1}, [16]byte{1}, smallConfig())
	must(t, err)
	must(t, l.TruncateFullyAndStartAt(100))
	must(t, l.TruncateTo(100))
	if !l.Unborn() || l.LogStartOffset() != 100 || l.LogEndOffset() != 100 {
		t.Fatalf("unborn %v start %d LEO %d", l.Unborn(), l.LogStartOffset(), l.LogEndOffset())
	}
	if _, err := l.ApplyRetention(100); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsFollower(makeBatch(100, 2, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), "00000000000000000100.log")); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 102 {
		t.Fatalf("LEO %d, want 102", l.LogEndOffset())
	}
	must(t, m.Close(nil))
}
