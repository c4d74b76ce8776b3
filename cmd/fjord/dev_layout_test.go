package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckDevPorts(t *testing.T) {
	for _, tt := range []struct {
		port, nodes int
		err         string // substring; "" for ok
	}{
		{9092, 3, ""},
		{45533, 3, ""}, // metrics 65533-65535
		{45534, 3, "--port 45534: the metrics ports of 3 nodes would be 65534-65536, outside 1-65535 (fjord dev uses --port+20000.. for them); choose a --port from 1 to 45533"},
		{49092, 3, "the metrics ports of 3 nodes would be 69092-69094"},
		{49092, 1, "choose a --port from 1 to 45535"},
		{60000, 3, "the controller ports of 3 nodes would be 70000-70002"},
		{65534, 3, "the Kafka ports of 3 nodes would be 65534-65536"},
		{0, 3, "the Kafka ports of 3 nodes would be 0-2"},
		{-5, 1, "outside 1-65535"},
		{1, 50000, "--nodes 50000: 50000 nodes need more ports than there are"},
	} {
		err := checkDevPorts(tt.port, tt.nodes)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("checkDevPorts(%d, %d) = %v, want ok", tt.port, tt.nodes, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("checkDevPorts(%d, %d) = %v, want %q", tt.port, tt.nodes, err, tt.err)
		}
	}
}

// Every port devProps gives a node passes checkDevPorts' bounds exactly
// when checkDevPorts accepts the --port: the blocks it checks are the
// ones devProps uses.
func TestDevPortBlocksMatchDevProps(t *testing.T) {
	props := devProps("/data", 45533, 3, 3)
	for _, want := range []string{"127.0.0.1:45535", "127.0.0.1:55535", "127.0.0.1:65535"} {
		if !strings.Contains(props["listeners"]+","+props["metrics.http.listener"], want) {
			t.Errorf("node 3 of --port 45533 does not use %s: %v", want, props)
		}
	}
}

func TestDevDataDir(t *testing.T) {
	for _, tt := range []struct {
		flag string
		port int
		want string
	}{
		{"", 9092, "./fjord-data"},
		{"", 41092, "./fjord-data-41092"},
		{"/x", 41092, "/x"},
		{"./fjord-data", 41092, "./fjord-data"}, // given explicitly: used as given
	} {
		if got := devDataDir(tt.flag, tt.port); got != tt.want {
			t.Errorf("devDataDir(%q, %d) = %q, want %q", tt.flag, tt.port, got, tt.want)
		}
	}
}

// A data dir remembers the flags of its cluster; starting it with others
// fails before any node starts, naming the flags that fit.
func TestCheckDevLayout(t *testing.T) {
	dir := t.TempDir()
	if err := checkDevLayout(dir, 41092, 3); err != nil {
		t.Fatalf("new dir: %v", err)
	}
	if err := writeDevLayout(dir, 41092, 3); err != nil {
		t.Fatal(err)
	}
	if err := checkDevLayout(dir, 41092, 3); err != nil {
		t.Fatalf("same flags: %v", err)
	}
	err := checkDevLayout(dir, 42092, 3)
	if err == nil {
		t.Fatal("other --port accepted")
	}
	for _, want := range []string{
		dir + " holds the fjord dev cluster made with --port 41092 --nodes 3",
		"fjord dev --data-dir " + dir + " --port 41092 --nodes 3",
		"--data-dir DIR",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := checkDevLayout(dir, 41092, 1); err == nil || !strings.Contains(err.Error(), "not --port 41092 --nodes 1") {
		t.Errorf("other --nodes: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, devLayoutFile), []byte("port=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkDevLayout(dir, 41092, 3); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("malformed layout file: %v", err)
	}
}

// A cluster.id mismatch in a dir made before layout files gets a hint;
// other start errors, and dirs with a layout file, are left alone.
func TestDevStartHint(t *testing.T) {
	dir := t.TempDir()
	mismatch := errors.New("node 1: " + dir + "/node-1: cluster.id A in meta.properties does not match B")
	err := devStartHint(dir, mismatch)
	if !errors.Is(err, mismatch) || !strings.Contains(err.Error(), "earlier fjord dev with another --port or --nodes") {
		t.Errorf("hint = %v", err)
	}
	other := errors.New("node 1: listener PLAINTEXT: address already in use")
	if err := devStartHint(dir, other); err != other {
		t.Errorf("other error changed to %v", err)
	}
	if err := devStartHint(dir, nil); err != nil {
		t.Errorf("nil error changed to %v", err)
	}
	if err := writeDevLayout(dir, 41092, 3); err != nil {
		t.Fatal(err)
	}
	if err := devStartHint(dir, mismatch); err != mismatch {
		t.Errorf("dir with a layout file: %v", err)
	}
}
