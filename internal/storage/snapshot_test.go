package storage

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// snapshotFiles lists the snapshot offsets on disk.
func snapshotFiles(t *testing.T, dir string) []int64 {
	t.Helper()
	var out []int64
	for _, p := range segFiles(t, dir, snapshotSuffix) {
		off, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(p), snapshotSuffix), 10, 64)
		must(t, err)
		out = append(out, off)
	}
	return out
}

func wantSnapshots(t *testing.T, l *Log, want ...int64) {
	t.Helper()
	if got := l.Snapshots(); !slices.Equal(got, want) {
		t.Fatalf("snapshots %v, want %v", got, want)
	}
	if got := snapshotFiles(t, l.Dir()); !slices.Equal(got, want) {
		t.Fatalf("snapshot files %v, want %v", got, want)
	}
}

// Snapshots follow the log: kept at segment bases plus the newest two
// others, dropped above a truncation point, all dropped by a restart.
func TestSnapshotsFollowTheLog(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	defer l.Close()
	must(t, l.SaveSnapshot(0, []byte("empty"))) // the first segment's base
	appendN(t, l, 30, 2, 200, 1, 0)             // offsets 0..59, several segments
	segs := l.Segments()
	base := segs[1].BaseOffset
	for _, off := range []int64{3, base, 41, 45, 51, 99} {
		must(t, l.SaveSnapshot(off, []byte{byte(off)}))
	}
	wantSnapshots(t, l, 0, base, 45, 51) // 99 is above the end; 3 and 41 are superseded
	if b, err := l.ReadSnapshot(45); err != nil || string(b) != "\x2d" {
		t.Fatalf("ReadSnapshot(45) = %q, %v", b, err)
	}
	must(t, l.TruncateTo(46))
	wantSnapshots(t, l, 0, base, 45)
	must(t, l.TruncateFullyAndStartAt(70))
	wantSnapshots(t, l)
}

// Opening drops the snapshots above the recovered end (written before a
// crash lost what they describe) and retention those below the first
// segment.
func TestSnapshotsAfterCrashAndRetention(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendN(t, l, 30, 2, 200, 1, 0)
	base := l.Segments()[1].BaseOffset
	must(t, l.SaveSnapshot(base, nil))
	must(t, l.SaveSnapshot(58, nil))
	must(t, l.SaveSnapshot(60, nil))
	crashLog(l)
	logs := segFiles(t, dir, ".log")
	last := logs[len(logs)-1]
	must(t, os.Truncate(last, fileSize(t, last)-7)) // the last batch (58, 59) is torn
	l = openLog(t, dir, Options{})
	defer l.Close()
	if l.LogEndOffset() != 58 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
	wantSnapshots(t, l, base, 58)
	must(t, l.SetLogStartOffset(l.Segments()[2].BaseOffset))
	wantSnapshots(t, l, 58)
}
