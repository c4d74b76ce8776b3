package broker

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A checkpoint the node cannot write was only logged, and the node went on
// (a full disk left it leading partitions whose logs had stopped). It must
// be reported on Fatal, for `fjord server` to halt as Kafka does.
func TestCheckpointFailureIsFatal(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, map[string]string{"log.dirs": dir})
	select {
	case err := <-n.Fatal():
		t.Fatalf("fatal before any failure: %v", err)
	default:
	}
	blocker := filepath.Join(dir, "recovery-point-offset-checkpoint.tmp")
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	n.checkpoint()
	select {
	case err := <-n.Fatal():
		t.Logf("fatal: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("a failed checkpoint was not fatal")
	}
	if err := os.Remove(blocker); err != nil { // let the cleanup close cleanly
		t.Fatal(err)
	}
}
