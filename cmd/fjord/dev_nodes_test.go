package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/console"
	"github.com/fjordlog/fjord/internal/nodeproc"
)

// sleepNodes returns n dev nodes whose processes are `sleep 60`, stopped
// and killed at the end of the test.
func sleepNodes(t *testing.T, n int) *devNodes {
	t.Helper()
	if _, err := os.Stat("/bin/sleep"); err != nil {
		t.Skip("no /bin/sleep")
	}
	d := &devNodes{}
	for id := 1; id <= n; id++ {
		p := nodeproc.New(nodeproc.Config{Name: fmt.Sprintf("node %d", id), Bin: "/bin/sleep", Args: []string{"60"},
			LogDir: t.TempDir(), NewGroup: true, DieWithParent: true})
		d.nodes = append(d.nodes, &devNode{id: int32(id), addr: fmt.Sprintf("127.0.0.1:%d", 9091+id), proc: p})
	}
	t.Cleanup(func() { d.stopAll(time.Second) })
	return d
}

// TestDevNodesActions walks a node through the panel's actions and checks
// which ones its state allows.
func TestDevNodesActions(t *testing.T) {
	d := sleepNodes(t, 2)
	ctx := context.Background()
	steps := []struct {
		action  console.NodeAction
		wantErr string // "" for success
		state   string // node 1's state afterwards
	}{
		{console.ActionPause, "cannot pause node 1: it is stopped", "stopped"},
		{console.ActionStop, "cannot stop node 1: it is stopped", "stopped"},
		{console.ActionKill, "cannot kill node 1: it is stopped", "stopped"},
		{console.ActionStart, "", "running"},
		{console.ActionStart, "cannot start node 1: it is running", "running"},
		{console.ActionResume, "cannot resume node 1: it is running", "running"},
		{console.ActionPause, "", "paused"},
		{console.ActionPause, "cannot pause node 1: it is paused", "paused"},
		{console.ActionStart, "cannot start node 1: it is paused", "paused"},
		{console.ActionResume, "", "running"},
		{console.ActionKill, "", "stopped"},
		{console.ActionStart, "", "running"},
		{console.ActionPause, "", "paused"},
		{console.ActionStop, "", "stopped"}, // resumed, then SIGTERM
		{"reboot", `unknown action "reboot": stop, kill, pause, resume or start`, "stopped"},
	}
	for i, s := range steps {
		err := d.Act(ctx, 1, s.action)
		if got := errText(err); got != s.wantErr {
			t.Fatalf("step %d, %s: error %q, want %q", i, s.action, got, s.wantErr)
		}
		if got := d.Nodes()[0].State; got != s.state {
			t.Fatalf("step %d, %s: state %s, want %s", i, s.action, got, s.state)
		}
	}
	if got := d.Nodes()[0].LastExit; got != "terminated" {
		t.Errorf("last exit after stop: %q, want terminated (sleep dies of SIGTERM)", got)
	}
	for _, id := range []int32{0, 3} {
		if err := d.Act(ctx, id, console.ActionStart); errText(err) != fmt.Sprintf("no node %d: the nodes are 1 to 2", id) {
			t.Errorf("node %d: %v", id, err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDevNodesStatus checks Nodes: every node in id order with its
// address, pid while it runs, and how its last process ended.
func TestDevNodesStatus(t *testing.T) {
	d := sleepNodes(t, 3)
	ctx := context.Background()
	for _, id := range []int32{1, 2, 3} {
		if err := d.Act(ctx, id, console.ActionStart); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Act(ctx, 2, console.ActionKill); err != nil {
		t.Fatal(err)
	}
	got := d.Nodes()
	if len(got) != 3 {
		t.Fatalf("%d nodes, want 3", len(got))
	}
	for i, st := range got {
		id := int32(i + 1)
		running := id != 2
		if st.ID != id || st.Addr != fmt.Sprintf("127.0.0.1:%d", 9091+id) || (st.PID > 0) != running || st.Since.IsZero() {
			t.Errorf("node %d: %+v", id, st)
		}
		if wantExit := map[bool]string{true: "", false: "killed"}[running]; st.LastExit != wantExit {
			t.Errorf("node %d: last exit %q, want %q", id, st.LastExit, wantExit)
		}
	}
	// Once dev stops, the panel cannot start a node again.
	d.stopAll(5 * time.Second)
	if err := d.Act(ctx, 2, console.ActionStart); errText(err) != "cannot start node 2: fjord dev is stopping" {
		t.Errorf("start while stopping: %v", err)
	}
	for _, st := range d.Nodes() {
		if st.State != "stopped" || st.PID != 0 {
			t.Errorf("after stopAll: %+v", st)
		}
	}
}

// TestDevServerArgs checks a node's command line: sorted overrides, the
// nodes' log level, and in a secure cluster the JAAS configs (with the
// broker password) in a file of mode 0600 instead.
func TestDevServerArgs(t *testing.T) {
	dir := t.TempDir()
	o := devOpts{dataDir: dir, port: 9092, nodes: 3, logLevel: "warn"}
	args, err := devServerArgs(o, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(args[:3], []string{"server", "--log-level", "warn"}) {
		t.Errorf("args begin %q", args[:3])
	}
	props, err := loadProperties("", overridesOf(args))
	if err != nil {
		t.Fatal(err)
	}
	want := devProps(dir, 9092, 3, 2)
	if len(props) != len(want) || props["log.dirs"] != want["log.dirs"] || props["node.id"] != "2" {
		t.Errorf("overrides %v, want devProps %v", props, want)
	}
	sec, err := prepareDevSecurity(dir)
	if err != nil {
		t.Fatal(err)
	}
	args, err = devServerArgs(o, sec, 2)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(args, " "), sec.brokerPassword) {
		t.Error("the broker password is on the command line")
	}
	i := slices.Index(args, "--config")
	if i < 0 {
		t.Fatalf("no --config in %q", args)
	}
	checkMode(t, args[i+1], 0o600)
	props, err = loadProperties(args[i+1], overridesOf(args))
	if err != nil {
		t.Fatal(err)
	}
	want = devProps(dir, 9092, 3, 2)
	sec.secureProps(want, 9092, 2)
	for k, v := range want {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
}

// overridesOf returns the values of args' --override flags.
func overridesOf(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--override" {
			out = append(out, args[i+1])
		}
	}
	return out
}

func TestLinePrefixer(t *testing.T) {
	var b strings.Builder
	l := &linePrefixer{prefix: "node 1: ", mu: &sync.Mutex{}, w: &b}
	for _, s := range []string{"one\ntw", "o\n", "", "three\nfour\nfi"} {
		if n, err := l.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if want := "node 1: one\nnode 1: two\nnode 1: three\nnode 1: four\n"; b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
	b.Reset()
	if _, err := l.Write([]byte(strings.Repeat("x", maxPartial+1))); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasPrefix(got, "node 1: fix") || !strings.HasSuffix(got, "x\n") {
		t.Errorf("a line over %d bytes: wrote %.20q...", maxPartial, got)
	}
}
