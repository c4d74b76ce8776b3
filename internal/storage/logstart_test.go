package storage

import (
	"errors"
	"testing"
)

// DeleteRecords' log start advance: persisted before the call returns, so
// a crash right after keeps it, whether or not the segments below it were
// deleted yet; a crash before the checkpoint leaves the old start.

// logStartFixture loads t-0 in a fresh Manager with several segments.
func logStartFixture(t *testing.T) (dir string, m *Manager, l *Log) {
	t.Helper()
	dir = t.TempDir()
	m = openManager(t, dir)
	l, err := m.Load(TopicPartition{"t", 0}, [16]byte{1}, smallConfig())
	must(t, err)
	appendN(t, l, 40, 2, 200, 1, 0)
	must(t, l.Flush())
	if len(l.Segments()) < 4 {
		t.Fatalf("%d segments, want several", len(l.Segments()))
	}
	return dir, m, l
}

// reopen crashes l and loads t-0 again from a new Manager on dir.
func reopen(t *testing.T, dir string, l *Log) (*Manager, *Log) {
	t.Helper()
	crashLog(l)
	m := openManager(t, dir)
	l, err := m.Load(TopicPartition{"t", 0}, [16]byte{1}, smallConfig())
	must(t, err)
	return m, l
}

// midSegment is an offset inside the third segment.
func midSegment(l *Log) int64 { return l.Segments()[2].BaseOffset + 1 }

func TestLogStartPersistedAcrossCrash(t *testing.T) {
	dir, _, l := logStartFixture(t)
	target := midSegment(l)
	moved, err := l.AdvanceLogStart(target)
	if err != nil || !moved {
		t.Fatalf("AdvanceLogStart = %v, %v", moved, err)
	}
	must(t, l.PersistLogStart())
	must(t, l.DeleteSegmentsBelowStart())
	if l.LogStartOffset() != target || l.Segments()[0].BaseOffset != target-1 {
		t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), l.Segments()[0].BaseOffset)
	}
	m, l := reopen(t, dir, l)
	defer m.Close(nil)
	if l.LogStartOffset() != target {
		t.Fatalf("log start after crash %d, want %d", l.LogStartOffset(), target)
	}
	if _, err := l.Read(target-1, 1<<20, l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start: %v", err)
	}
}

// A crash between the checkpoint and the segments' deletion: the start
// holds, and opening the log deletes the leftover segments below it.
func TestLogStartCrashBeforeSegmentDeletion(t *testing.T) {
	dir, _, l := logStartFixture(t)
	target := midSegment(l)
	segs := len(l.Segments())
	if _, err := l.AdvanceLogStart(target); err != nil {
		t.Fatal(err)
	}
	must(t, l.PersistLogStart())
	if len(l.Segments()) != segs {
		t.Fatal("segments deleted before DeleteSegmentsBelowStart")
	}
	m, l := reopen(t, dir, l)
	defer m.Close(nil)
	if l.LogStartOffset() != target || len(l.Segments()) != segs-2 {
		t.Fatalf("after crash: log start %d, %d segments (want %d, %d)", l.LogStartOffset(), len(l.Segments()), target, segs-2)
	}
	if got := readAll(t, l); got[0].BaseOffset != target-1 {
		t.Fatalf("first batch read at %d, want %d", got[0].BaseOffset, target-1)
	}
}

// A crash before the checkpoint (segments not deleted either): the old
// start, nothing lost. And one after the deletion of segments without the
// checkpoint (a follower's SetLogStartOffset): the first segment's base.
func TestLogStartCrashBeforeCheckpoint(t *testing.T) {
	dir, _, l := logStartFixture(t)
	if _, err := l.AdvanceLogStart(midSegment(l)); err != nil {
		t.Fatal(err)
	}
	_, l = reopen(t, dir, l)
	if l.LogStartOffset() != 0 {
		t.Fatalf("unpersisted log start survived: %d", l.LogStartOffset())
	}
	target := midSegment(l)
	must(t, l.SetLogStartOffset(target))
	var m *Manager
	m, l = reopen(t, dir, l) // the second crash, the first Manager's checkpoints never written
	defer m.Close(nil)
	if want := target - 1; l.LogStartOffset() != want {
		t.Fatalf("log start %d, want the first segment's base %d", l.LogStartOffset(), want)
	}
}

// A clean restart keeps the start through the Manager's own checkpoint.
func TestLogStartCleanRestart(t *testing.T) {
	dir, m, l := logStartFixture(t)
	target := midSegment(l)
	if _, err := l.AdvanceLogStart(target); err != nil {
		t.Fatal(err)
	}
	must(t, l.DeleteSegmentsBelowStart())
	must(t, m.Close(nil))
	m = openManager(t, dir)
	defer m.Close(nil)
	l, err := m.Load(TopicPartition{"t", 0}, [16]byte{1}, smallConfig())
	must(t, err)
	if l.LogStartOffset() != target {
		t.Fatalf("log start after a clean restart %d, want %d", l.LogStartOffset(), target)
	}
}
