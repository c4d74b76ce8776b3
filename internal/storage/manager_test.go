package storage

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/fjordlog/fjord/internal/vfs"
)

func openManager(t *testing.T, dirs ...string) *Manager {
	t.Helper()
	m, err := OpenManager(dirs, discard, nil)
	must(t, err)
	return m
}

func sortedTPs(tps []TopicPartition) []TopicPartition {
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return tps
}

func TestManagerLoadPlacesAndPersists(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	m := openManager(t, d1, d2)
	id := [16]byte{0: 1, 15: 9}
	tps := []TopicPartition{{"orders", 0}, {"orders", 1}, {"my-topic", 0}, {"my-topic", 1}}
	for _, tp := range tps {
		l, err := m.Load(tp, id, smallConfig())
		must(t, err)
		appendN(t, l, 5, 2, 100, 1, 0)
		if again, _ := m.Load(tp, id, smallConfig()); again != l || m.Get(tp) != l {
			t.Fatal("Load/Get did not return the loaded log")
		}
	}
	for _, d := range []string{d1, d2} {
		if n := len(dirsIn(t, d)); n != 2 {
			t.Fatalf("%s holds %d partitions, want 2 (fewest-first placement)", d, n)
		}
	}
	meta, err := os.ReadFile(filepath.Join(m.Get(tps[0]).Dir(), partitionMetadataFile))
	must(t, err)
	if want := "version: 0\ntopic_id: " + encodeTopicID(id) + "\n"; string(meta) != want {
		t.Fatalf("partition.metadata %q, want %q", meta, want)
	}
	hws := map[TopicPartition]int64{tps[0]: 6, tps[1]: 4}
	must(t, m.Close(hws))
	for _, d := range []string{d1, d2} {
		for _, f := range []string{cleanShutdownFile, recoveryPointFile, logStartFile, replicationOffsetFile} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}

	m = openManager(t, d1, d2)
	if got := sortedTPs(m.Existing()); !slices.Equal(got, sortedTPs(slices.Clone(tps))) {
		t.Fatalf("Existing %v", got)
	}
	if _, err := os.Stat(filepath.Join(d1, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatal("clean-shutdown marker not removed at open")
	}
	if m.HighWatermark(tps[0]) != 6 || m.HighWatermark(tps[1]) != 4 || m.HighWatermark(tps[2]) != 0 {
		t.Fatalf("high watermarks %d %d %d", m.HighWatermark(tps[0]), m.HighWatermark(tps[1]), m.HighWatermark(tps[2]))
	}
	l, err := m.Load(tps[0], id, smallConfig())
	must(t, err)
	if l.LogEndOffset() != 10 || l.RecoveryPoint() != 10 {
		t.Fatalf("reloaded LEO %d rp %d", l.LogEndOffset(), l.RecoveryPoint())
	}
	if _, err := m.Load(tps[1], [16]byte{2}, smallConfig()); err == nil {
		t.Fatal("Load accepted a different topic id")
	}
	must(t, m.Close(nil))
}

func TestManagerRecoveryUsesCheckpoints(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	tp := TopicPartition{"t", 0}
	l, err := m.Load(tp, [16]byte{}, smallConfig())
	must(t, err)
	appendN(t, l, 30, 2, 200, 1, 0)
	l.flushes.Wait() // the rolled segments' background flush
	must(t, l.SetLogStartOffset(10))
	must(t, m.Checkpoint(map[TopicPartition]int64{tp: 50}))
	rp := l.RecoveryPoint()
	if rp == 0 {
		t.Fatal("recovery point never moved")
	}
	// Crash: no Close, no marker.
	crashLog(l)
	got, err := readOffsetCheckpoint(vfs.Default, filepath.Join(d, recoveryPointFile))
	must(t, err)
	if got[tp] != rp {
		t.Fatalf("recovery checkpoint %d, want %d", got[tp], rp)
	}
	m = openManager(t, d)
	l, err = m.Load(tp, [16]byte{}, smallConfig())
	must(t, err)
	if l.LogStartOffset() != 10 || l.LogEndOffset() != 60 || m.HighWatermark(tp) != 50 {
		t.Fatalf("start %d LEO %d hw %d", l.LogStartOffset(), l.LogEndOffset(), m.HighWatermark(tp))
	}
	must(t, m.Close(nil))
	// Checkpointing without hws keeps the last known high watermark.
	hw, err := readOffsetCheckpoint(vfs.Default, filepath.Join(d, replicationOffsetFile))
	must(t, err)
	if hw[tp] != 50 {
		t.Fatalf("hw checkpoint %d after Close(nil)", hw[tp])
	}
}

func TestManagerRemove(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	tp := TopicPartition{"gone-topic", 3}
	l, err := m.Load(tp, [16]byte{}, smallConfig())
	must(t, err)
	appendN(t, l, 3, 1, 10, 0, 0)
	must(t, m.Checkpoint(map[TopicPartition]int64{tp: 3}))
	must(t, m.Remove(tp))
	if m.Get(tp) != nil || len(m.Existing()) != 0 || len(dirsIn(t, d)) != 0 {
		t.Fatalf("partition still present: %v %v", m.Existing(), dirsIn(t, d))
	}
	must(t, m.Checkpoint(nil))
	cp, err := readOffsetCheckpoint(vfs.Default, filepath.Join(d, replicationOffsetFile))
	must(t, err)
	if len(cp) != 0 {
		t.Fatalf("removed partition still checkpointed: %v", cp)
	}
	must(t, m.Close(nil))
}

func TestManagerFinishesInterruptedDelete(t *testing.T) {
	d := t.TempDir()
	leftover := filepath.Join(d, "t-0.0123456789abcdef0123456789abcdef-delete")
	must(t, os.MkdirAll(leftover, 0o755))
	must(t, os.WriteFile(filepath.Join(leftover, "00000000000000000000.log"), []byte("x"), 0o644))
	must(t, os.MkdirAll(filepath.Join(d, "kept-7"), 0o755))
	must(t, os.MkdirAll(filepath.Join(d, "not a partition"), 0o755))
	m := openManager(t, d)
	defer m.Close(nil)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatal("-delete directory not removed")
	}
	if got := m.Existing(); len(got) != 1 || got[0] != (TopicPartition{"kept", 7}) {
		t.Fatalf("Existing %v", got)
	}
}

func TestManagerNoMarkerAfterFailure(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	l, err := m.Load(TopicPartition{"t", 0}, [16]byte{}, smallConfig())
	must(t, err)
	appendN(t, l, 1, 1, 10, 0, 0)
	l.active().f.Close()
	if _, err := l.AppendAsLeader(makeBatch(0, 1, 10, 0), 0); err == nil {
		t.Fatal("append to closed file succeeded")
	}
	if err := m.Close(nil); err == nil {
		t.Fatal("Close hid the log failure")
	}
	if _, err := os.Stat(filepath.Join(d, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatal("clean-shutdown marker written for a failed log dir")
	}
}

func TestParsePartitionDir(t *testing.T) {
	tests := []struct {
		name string
		tp   TopicPartition
		ok   bool
	}{
		{"orders-0", TopicPartition{"orders", 0}, true},
		{"my-topic-12", TopicPartition{"my-topic", 12}, true},
		{"__consumer_offsets-49", TopicPartition{"__consumer_offsets", 49}, true},
		{"orders", TopicPartition{}, false},
		{"-1", TopicPartition{}, false},
		{"t-0.abc-future", TopicPartition{}, false},
	}
	for _, tc := range tests {
		tp, ok := parsePartitionDir(tc.name)
		if ok != tc.ok || (ok && tp != tc.tp) {
			t.Errorf("parsePartitionDir(%q) = %v, %v", tc.name, tp, ok)
		}
	}
}

func dirsIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestManagerMarkerNeedsEveryLogRecovered(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	for p := range int32(2) {
		l, err := m.Load(TopicPartition{"t", p}, [16]byte{}, smallConfig())
		must(t, err)
		appendN(t, l, 2, 1, 10, 0, 0)
		crashLog(l) // crash
	}
	// Unclean start; only partition 0 is loaded (and recovered) this run.
	m = openManager(t, d)
	_, err := m.Load(TopicPartition{"t", 0}, [16]byte{}, smallConfig())
	must(t, err)
	must(t, m.Close(nil))
	if _, err := os.Stat(filepath.Join(d, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatal("marker written although t-1 was never recovered")
	}
	// Loading both makes the next shutdown clean.
	m = openManager(t, d)
	for p := range int32(2) {
		_, err := m.Load(TopicPartition{"t", p}, [16]byte{}, smallConfig())
		must(t, err)
	}
	must(t, m.Close(nil))
	if _, err := os.Stat(filepath.Join(d, cleanShutdownFile)); err != nil {
		t.Fatal("no marker after a full clean shutdown")
	}
}

// Loads run concurrently: many partitions at once, and the same partition
// from several goroutines (one log, created once), with a Remove racing
// them that waits for the load in progress.
func TestManagerConcurrentLoads(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir)
	var wg sync.WaitGroup
	got := make([]*Log, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tp := TopicPartition{Topic: "t", Partition: int32(i % 4)}
			l, err := m.Load(tp, [16]byte{7}, Config{})
			if err != nil {
				t.Error(err)
			}
			got[i] = l
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.Remove(TopicPartition{Topic: "t", Partition: 9}); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	for i, l := range got {
		if want := m.Get(TopicPartition{Topic: "t", Partition: int32(i % 4)}); l != want || l == nil {
			t.Fatalf("load %d returned %p, manager holds %p", i, l, want)
		}
	}
	for _, l := range got[:4] {
		appendN(t, l, 1, 1, 10, 0, 0)
	}
	if n := len(dirsIn(t, dir)); n != 4 {
		t.Fatalf("%d partition dirs, want 4", n)
	}
}

// A periodic checkpoint rewrites only the files whose contents changed:
// unchanged ones keep their inode (writeFileAtomic renames a new file
// over the old one), a moved high watermark rewrites that file alone.
func TestCheckpointSkipsUnchangedFiles(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	tp := TopicPartition{"t", 0}
	_, err := m.Load(tp, [16]byte{}, smallConfig())
	must(t, err)
	must(t, m.Checkpoint(map[TopicPartition]int64{tp: 0}))
	inodes := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, name := range []string{recoveryPointFile, logStartFile, replicationOffsetFile, cleanerOffsetFile} {
			fi, err := os.Stat(filepath.Join(d, name))
			must(t, err)
			out[name] = fi.Sys().(*syscall.Stat_t).Ino
		}
		return out
	}
	before := inodes()
	must(t, m.Checkpoint(map[TopicPartition]int64{tp: 0}))
	if after := inodes(); !maps.Equal(before, after) {
		t.Fatalf("an unchanged checkpoint rewrote files: %v -> %v", before, after)
	}
	must(t, m.Checkpoint(map[TopicPartition]int64{tp: 7}))
	after := inodes()
	for name, ino := range after {
		if changed := ino != before[name]; changed != (name == replicationOffsetFile) {
			t.Errorf("%s rewritten: %v", name, changed)
		}
	}
	hw, err := readOffsetCheckpoint(vfs.Default, filepath.Join(d, replicationOffsetFile))
	must(t, err)
	if hw[tp] != 7 {
		t.Fatalf("hw checkpoint %d, want 7", hw[tp])
	}
}
