package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDevNodes runs `fjord dev`, whose nodes are child processes: a
// SIGKILLed node's leaderships move to the others, SIGINT stops dev with
// status 0 and no node left behind, and a second `fjord dev` on the same
// data dir has the topic; SIGKILLed, it takes its nodes with it.
func TestDevNodes(t *testing.T) {
	port, dataDir := devPorts(t), t.TempDir()
	dev := startDev(t, port, dataDir)
	nodes := dev.nodePIDs(t, 3)
	adm := devAdmin(t, port, 1, 2, 3)
	if _, err := adm.CreateTopic(ctxT(t), 3, 3, nil, "devnodes"); err != nil {
		t.Fatal(err)
	}
	produceAcksAll(t, port, "devnodes", 10)

	victim := partitionLeader(t, adm, "devnodes", 0)
	if err := syscall.Kill(nodes[victim], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var others []int32
	for id := range nodes {
		if id != victim {
			others = append(others, id)
		}
	}
	waitLeadersOff(t, devAdmin(t, port, others...), "devnodes", victim)

	dev.interrupt(t, 10*time.Second)
	waitGone(t, nodes)

	dev = startDev(t, port, dataDir)
	nodes = dev.nodePIDs(t, 3)
	topics, err := devAdmin(t, port, 1, 2, 3).ListTopics(ctxT(t))
	if err != nil || !topics.Has("devnodes") {
		t.Fatalf("second start: topics %v (%v), want devnodes", topics.Names(), err)
	}
	dev.kill(t) // the nodes die with dev (Pdeathsig)
	waitGone(t, nodes)
}

// devProc is a running `fjord dev`.
type devProc struct {
	cmd     *exec.Cmd
	outPath string
	exited  chan error
	done    bool // exited has been received from
}

// startDev starts `fjord dev` without the console and waits for its
// announcement.
func startDev(t *testing.T, port int, dataDir string) *devProc {
	t.Helper()
	d := &devProc{outPath: filepath.Join(t.TempDir(), "dev.out"), exited: make(chan error, 1)}
	out, err := os.Create(d.outPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(fjordBin, "dev", "--port", strconv.Itoa(port), "--data-dir", dataDir, "--console-addr", "")
	d.cmd.Stdout, d.cmd.Stderr = out, out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait(); out.Close() }()
	t.Cleanup(func() { d.cleanup(t) })
	waitFor(t, readyTimeout+10*time.Second, "fjord dev to announce the cluster", func() (bool, string) {
		if d.hasExited() {
			t.Fatalf("fjord dev exited early:\n%s", tail(d.output(), 40))
		}
		return strings.Contains(d.output(), "is up. Bootstrap: "), "no announcement yet"
	})
	return d
}

func (d *devProc) output() string {
	b, _ := os.ReadFile(d.outPath)
	return string(b)
}

// hasExited reports whether dev has exited, without waiting.
func (d *devProc) hasExited() bool {
	if d.done {
		return true
	}
	select {
	case err := <-d.exited:
		d.exited <- err
		return true
	default:
		return false
	}
}

// nodePIDs returns dev's n child processes by node id, from the kernel's
// list of each of dev's threads' children and their command lines.
func (d *devProc) nodePIDs(t *testing.T, n int) map[int32]int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", d.cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		t.Skipf("no /proc children lists (%v)", err)
	}
	nodes := map[int32]int{}
	idRe := regexp.MustCompile(`\x00node\.id=(\d+)\x00`)
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if m := idRe.FindSubmatch(cmdline); m != nil {
				id, _ := strconv.Atoi(string(m[1]))
				nodes[int32(id)] = pid
			}
		}
	}
	if len(nodes) != n {
		t.Fatalf("fjord dev has node processes %v, want %d", nodes, n)
	}
	return nodes
}

// interrupt sends SIGINT and expects status 0 within timeout.
func (d *devProc) interrupt(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case err := <-d.exited:
		d.done = true
		if err != nil {
			t.Errorf("fjord dev exited with %v after SIGINT, want status 0", err)
		}
		t.Logf("fjord dev stopped %v after SIGINT", time.Since(start).Round(time.Millisecond))
	case <-time.After(timeout):
		t.Fatalf("fjord dev did not stop within %v of SIGINT", timeout)
	}
}

// kill SIGKILLs dev and waits for it.
func (d *devProc) kill(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Kill()
	<-d.exited
	d.done = true
}

func (d *devProc) cleanup(t *testing.T) {
	if !d.done {
		d.kill(t)
	}
	if t.Failed() {
		t.Logf("fjord dev output (tail):\n%s", tail(d.output(), 80))
	}
}

// waitGone waits until none of pids exists (reaped, by dev or by init).
func waitGone(t *testing.T, pids map[int32]int) {
	t.Helper()
	waitFor(t, 10*time.Second, "the node processes to be gone", func() (bool, string) {
		for id, pid := range pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				return false, fmt.Sprintf("node %d (pid %d) still exists", id, pid)
			}
		}
		return true, ""
	})
}

// devAdmin returns an admin client seeded with the given dev nodes.
func devAdmin(t *testing.T, port int, ids ...int32) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(devAddrs(port, ids...)...), kgo.DialTimeout(time.Second),
		kgo.RetryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func devAddrs(port int, ids ...int32) []string {
	var out []string
	for _, id := range ids {
		out = append(out, fmt.Sprintf("127.0.0.1:%d", port+int(id)-1))
	}
	return out
}

// produceAcksAll writes n records to topic with acks=all.
func produceAcksAll(t *testing.T, port int, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(devAddrs(port, 1, 2, 3)...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		if err := cl.ProduceSync(ctxT(t), kgo.StringRecord(fmt.Sprint("record-", i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

// partitionLeader returns the leader of topic's partition p.
func partitionLeader(t *testing.T, adm *kadm.Client, topic string, p int32) int32 {
	t.Helper()
	var leader int32 = -1
	waitFor(t, 10*time.Second, fmt.Sprintf("a leader of %s[%d]", topic, p), func() (bool, string) {
		md, err := adm.Metadata(ctxT(t), topic)
		if err != nil {
			return false, err.Error()
		}
		leader = md.Topics[topic].Partitions[p].Leader
		return leader > 0, fmt.Sprintf("leader %d", leader)
	})
	return leader
}

// waitLeadersOff waits until every partition of topic has a leader other
// than gone.
func waitLeadersOff(t *testing.T, adm *kadm.Client, topic string, gone int32) {
	t.Helper()
	start := time.Now()
	waitFor(t, 25*time.Second, fmt.Sprintf("the leaders of %s to move off node %d", topic, gone), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		var leaders []int32
		for _, p := range md.Topics[topic].Partitions.Sorted() {
			leaders = append(leaders, p.Leader)
		}
		return len(leaders) == 3 && !slices.Contains(leaders, gone) && !slices.Contains(leaders, -1),
			fmt.Sprintf("leaders %v", leaders)
	})
	t.Logf("leaders moved off node %d %v after its SIGKILL", gone, time.Since(start).Round(time.Millisecond))
}
