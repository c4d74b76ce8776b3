package storage

import "testing"

// CleanShutdown vouches only for log dirs a previous process closed
// cleanly. A new, empty dir has no marker and so is not clean either:
// storage cannot tell a new broker from one whose disk was wiped, so
// telling a first start from a restart is the controller's (it knows
// whether the broker was registered before). A dir whose process died
// without Close (a crash, with partitions on disk) stays unclean, and
// only a Close makes the next open clean.
func TestCleanShutdownOnlyAfterClose(t *testing.T) {
	d := t.TempDir()
	m := openManager(t, d)
	if m.CleanShutdown() {
		t.Fatal("a new log dir counts as cleanly shut down")
	}
	l, err := m.Load(TopicPartition{"t", 0}, [16]byte{1}, smallConfig())
	must(t, err)
	appendN(t, l, 5, 2, 100, 1, 0)
	// The process dies here: no Close, so no marker.
	m = openManager(t, d)
	if len(m.Existing()) != 1 {
		t.Fatalf("partitions %v, want t-0", m.Existing())
	}
	if m.CleanShutdown() {
		t.Fatal("a crashed log dir with a partition counts as cleanly shut down")
	}
	_, err = m.Load(TopicPartition{"t", 0}, [16]byte{1}, smallConfig()) // recovered: the marker needs every log so
	must(t, err)
	must(t, m.Close(nil))
	m = openManager(t, d)
	if !m.CleanShutdown() {
		t.Fatal("a log dir closed cleanly counts as unclean")
	}
	must(t, m.Close(nil))
}
