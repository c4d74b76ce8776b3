package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// crashedLog writes 30 batches of 2 records (offsets 0..59, several
// segments) and "crashes": the files stay as they are, the log is
// abandoned without Close. It returns the dir and the .log path of the
// last segment.
func crashedLog(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendN(t, l, 30, 2, 200, 100, 1)
	if n := len(l.Segments()); n < 3 {
		t.Fatalf("want several segments, got %d", n)
	}
	crashLog(l) // no flush, no trimmed indexes: a crash
	logs := segFiles(t, dir, ".log")
	return dir, logs[len(logs)-1]
}

func TestRecovery(t *testing.T) {
	batchSize := int64(len(makeBatch(0, 2, 200, 0)))
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir, last string)
		wantLEO int64
	}{
		{"intact", func(*testing.T, string, string) {}, 60},
		{"torn last batch", func(t *testing.T, _, last string) {
			must(t, os.Truncate(last, fileSize(t, last)-7))
		}, 58},
		{"torn last header", func(t *testing.T, _, last string) {
			must(t, os.Truncate(last, fileSize(t, last)-batchSize+30))
		}, 58},
		{"corrupt byte in last batch", func(t *testing.T, _, last string) {
			flipByte(t, last, fileSize(t, last)-5)
		}, 58},
		{"garbage appended", func(t *testing.T, _, last string) {
			appendBytes(t, last, []byte("this is not a record batch, just garbage bytes at the end of the log file"))
		}, 60},
		{"zeros appended", func(t *testing.T, _, last string) {
			appendBytes(t, last, make([]byte, 4096))
		}, 60},
		{"missing index files", func(t *testing.T, dir, _ string) {
			for _, p := range append(segFiles(t, dir, ".index"), segFiles(t, dir, ".timeindex")...) {
				must(t, os.Remove(p))
			}
		}, 60},
		{"corrupt batch in first segment drops later segments", func(t *testing.T, dir, _ string) {
			first := segFiles(t, dir, ".log")[0]
			flipByte(t, first, 2*batchSize+100)
		}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, last := crashedLog(t)
			tc.damage(t, dir, last)
			l := openLog(t, dir, Options{RecoveryPoint: 0})
			defer l.Close()
			if l.LogEndOffset() != tc.wantLEO {
				t.Fatalf("LEO %d, want %d", l.LogEndOffset(), tc.wantLEO)
			}
			if l.RecoveryPoint() != tc.wantLEO {
				t.Fatalf("recovery point %d, want %d", l.RecoveryPoint(), tc.wantLEO)
			}
			if hs := readAll(t, l); len(hs) != int(tc.wantLEO/2) {
				t.Fatalf("read %d batches", len(hs))
			}
			info, err := l.AppendAsLeader(makeBatch(0, 2, 200, 100), 1)
			if err != nil || info.FirstOffset != tc.wantLEO {
				t.Fatalf("append after recovery: %+v %v", info, err)
			}
			readAll(t, l)
			// The rebuilt index files are real: a clean reopen uses them.
			must(t, l.Close())
			l2 := openLog(t, dir, Options{Clean: true})
			defer l2.Close()
			if l2.LogEndOffset() != tc.wantLEO+2 {
				t.Fatalf("clean reopen LEO %d", l2.LogEndOffset())
			}
			for _, s := range l2.Segments()[:len(l2.Segments())-1] {
				if s.IndexEntries == 0 {
					t.Fatalf("segment %d has no index entries after rebuild", s.BaseOffset)
				}
			}
		})
	}
}

func TestRecoveryStartsAtRecoveryPoint(t *testing.T) {
	dir, _ := crashedLog(t)
	first := segFiles(t, dir, ".log")[0]
	// Corruption below the recovery point is not looked for...
	flipByte(t, first, int64(len(makeBatch(0, 2, 200, 0)))+100) // in the second batch
	l := openLog(t, dir, Options{RecoveryPoint: 40})
	if l.LogEndOffset() != 60 {
		t.Fatalf("LEO %d: segments below the recovery point were scanned", l.LogEndOffset())
	}
	crashLog(l)
	// ...but a scan from 0 finds it.
	l = openLog(t, dir, Options{RecoveryPoint: 0})
	defer l.Close()
	if l.LogEndOffset() != 2 {
		t.Fatalf("LEO %d after full recovery, want 2", l.LogEndOffset())
	}
}

func TestCleanShutdownSkipsScan(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendN(t, l, 30, 2, 200, 100, 1)
	must(t, l.Close())
	logs := segFiles(t, dir, ".log")
	last := logs[len(logs)-1]
	// A flipped record byte keeps headers intact: only a CRC scan sees it.
	flipByte(t, last, fileSize(t, last)-5)
	l = openLog(t, dir, Options{Clean: true, RecoveryPoint: 60})
	if l.LogEndOffset() != 60 {
		t.Fatalf("clean open scanned: LEO %d", l.LogEndOffset())
	}
	crashLog(l)
	l = openLog(t, dir, Options{Clean: false, RecoveryPoint: 0})
	defer l.Close()
	if l.LogEndOffset() != 58 {
		t.Fatalf("unclean open LEO %d, want 58", l.LogEndOffset())
	}
}

func TestCleanOpenWithTornTailRecovers(t *testing.T) {
	dir, last := crashedLog(t)
	must(t, os.Truncate(last, fileSize(t, last)-7))
	l := openLog(t, dir, Options{Clean: true, RecoveryPoint: 60})
	defer l.Close()
	if l.LogEndOffset() != 58 {
		t.Fatalf("LEO %d, want 58", l.LogEndOffset())
	}
	readAll(t, l)
}

func TestCorruptIndexRebuilt(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendN(t, l, 30, 2, 200, 100, 1)
	must(t, l.Close())
	idx := segFiles(t, dir, ".index")[0]
	data, err := os.ReadFile(idx)
	must(t, err)
	data[len(data)-1] ^= 0x40 // last entry's position no longer points at its batch
	must(t, os.WriteFile(idx, data, 0o644))
	must(t, os.WriteFile(segFiles(t, dir, ".timeindex")[1], []byte{1, 2, 3}, 0o644))
	l = openLog(t, dir, Options{Clean: true})
	defer l.Close()
	for off := int64(0); off < 60; off += 7 {
		ri, err := l.Read(off, 1, 60, true)
		must(t, err)
		if len(ri.Bytes) == 0 {
			t.Fatalf("nothing at %d", off)
		}
	}
	data2, err := os.ReadFile(idx)
	must(t, err)
	if string(data2) == string(data) {
		t.Fatal("corrupt index file was not rewritten")
	}
}

func TestLeftoverFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendN(t, l, 3, 1, 10, 0, 0)
	must(t, l.Close())
	for _, name := range []string{"00000000000000000500.index", "00000000000000000007.log.deleted", "leader-epoch-checkpoint.tmp"} {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644))
	}
	l = openLog(t, dir, Options{Clean: true})
	defer l.Close()
	for _, name := range []string{"00000000000000000500.index", "00000000000000000007.log.deleted", "leader-epoch-checkpoint.tmp"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s not removed", name)
		}
	}
}

func TestLogStartBeyondRecoveredEnd(t *testing.T) {
	dir, _ := crashedLog(t)
	l := openLog(t, dir, Options{LogStartOffset: 100})
	defer l.Close()
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 100 || len(l.Segments()) != 1 {
		t.Fatalf("start %d LEO %d segments %d", l.LogStartOffset(), l.LogEndOffset(), len(l.Segments()))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, pos)
	must(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, pos)
	must(t, err)
}

func appendBytes(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	defer f.Close()
	_, err = f.Write(data)
	must(t, err)
}
