package storage

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestEndOffsetForEpoch(t *testing.T) {
	c := &epochCache{entries: []epochEntry{{1, 0}, {3, 10}, {4, 25}, {7, 40}}}
	tests := []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{-1, -1, -1},
		{0, 0, 0},  // below the first epoch
		{1, 1, 10}, // known, not latest
		{2, 1, 10}, // unknown, between: floor epoch, next start
		{3, 3, 25},
		{5, 4, 40},
		{7, 7, 55}, // latest: LEO
		{8, -1, -1},
	}
	for _, tc := range tests {
		e, end := c.endOffsetFor(tc.epoch, 55)
		if e != tc.wantEpoch || end != tc.wantEnd {
			t.Errorf("endOffsetFor(%d) = (%d, %d), want (%d, %d)", tc.epoch, e, end, tc.wantEpoch, tc.wantEnd)
		}
	}
	empty := &epochCache{}
	if e, end := empty.endOffsetFor(0, 5); e != -1 || end != -1 {
		t.Errorf("empty cache: (%d, %d)", e, end)
	}
}

func TestEpochCacheMutations(t *testing.T) {
	base := []epochEntry{{1, 0}, {3, 10}, {4, 25}}
	tests := []struct {
		name    string
		op      func(c *epochCache) bool
		want    []epochEntry
		changed bool
	}{
		{"assign same epoch later offset", func(c *epochCache) bool { return c.assign(4, 30) }, base, false},
		{"assign new epoch", func(c *epochCache) bool { return c.assign(5, 30) }, append(clone(base), epochEntry{5, 30}), true},
		{"assign older epoch truncates", func(c *epochCache) bool { return c.assign(2, 12) }, []epochEntry{{1, 0}, {2, 12}}, true},
		{"assign negative ignored", func(c *epochCache) bool { return c.assign(-1, 30) }, base, false},
		{"truncate from end", func(c *epochCache) bool { return c.truncateFromEnd(25) }, base[:2], true},
		{"truncate from end past LEO", func(c *epochCache) bool { return c.truncateFromEnd(26) }, base, false},
		{"truncate from start mid", func(c *epochCache) bool { return c.truncateFromStart(12) }, []epochEntry{{3, 12}, {4, 25}}, true},
		{"truncate from start at entry", func(c *epochCache) bool { return c.truncateFromStart(25) }, []epochEntry{{4, 25}}, true},
		{"truncate from start at first", func(c *epochCache) bool { return c.truncateFromStart(0) }, base, false},
		{"clear", func(c *epochCache) bool { return c.clear() }, []epochEntry{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &epochCache{entries: clone(base)}
			if changed := tc.op(c); changed != tc.changed {
				t.Errorf("changed %v, want %v", changed, tc.changed)
			}
			if !reflect.DeepEqual(c.entries, tc.want) {
				t.Errorf("entries %v, want %v", c.entries, tc.want)
			}
		})
	}
}

func clone(e []epochEntry) []epochEntry { return append([]epochEntry{}, e...) }

func TestEpochCachePersistence(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	appendN(t, l, 3, 2, 10, 0, 0)
	appendN(t, l, 2, 2, 10, 0, 2)
	must(t, l.AssignEpoch(5)) // leader of epoch 5 before any append
	data, err := os.ReadFile(filepath.Join(dir, leaderEpochFile))
	must(t, err)
	if want := "0\n3\n0 0\n2 6\n5 10\n"; string(data) != want {
		t.Fatalf("checkpoint %q, want %q", data, want)
	}
	if e, end := l.EndOffsetForEpoch(2); e != 2 || end != 10 {
		t.Fatalf("EndOffsetForEpoch(2) = %d, %d", e, end)
	}
	if e, end := l.EndOffsetForEpoch(5); e != 5 || end != 10 {
		t.Fatalf("EndOffsetForEpoch(5) = %d, %d", e, end)
	}
	crashLog(l) // crash
	l = openLog(t, dir, Options{})
	defer l.Close()
	// Like Kafka, loading drops entries starting at or after the LEO:
	// (5, 10) had no data yet.
	if e, ok := l.LatestEpoch(); !ok || e != 2 {
		t.Fatalf("latest epoch %d %v after reopen", e, ok)
	}
	if s, ok := l.EpochStartOffset(2); !ok || s != 6 {
		t.Fatalf("epoch 2 start %d %v", s, ok)
	}
	// A crash that loses data also drops the epochs that started beyond it.
	must(t, l.TruncateTo(4))
	if e, _ := l.LatestEpoch(); e != 0 {
		t.Fatalf("latest epoch %d after truncation to 4", e)
	}
}

func TestEpochCheckpointMalformed(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, leaderEpochFile), []byte("0\n2\n1 0\n"), 0o644))
	if _, err := Open(dir, Options{Logger: discard}); err == nil {
		t.Fatal("Open accepted a malformed leader-epoch-checkpoint")
	}
}
