package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/testbin"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Deadlines for conditions the tests wait on. They are generous: a
// condition that holds returns as soon as it is seen.
const (
	readyTimeout = 30 * time.Second // node answers metadata
	waitTimeout  = 30 * time.Second // any other condition
	stopTimeout  = 20 * time.Second // SIGTERM until exit, before SIGKILL
	pollInterval = 25 * time.Millisecond
)

// fjordBin is the node binary TestMain builds.
var fjordBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "fjord-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := testbin.TrackSources(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if fjordBin, err = testbin.Build(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building fjord:", err)
		return 1
	}
	return m.Run()
}

// node is one fjord process (and its restarts) on a fixed port and log
// directory.
type node struct {
	t         *testing.T
	dir       string // log.dirs
	port      int
	addr      string
	overrides []string

	proc     *serverProc // the process and its restarts, one output file per run
	firstRun int         // the first run of the latest start (see startLog)
}

// startNode starts a node with log dir dir (a new t.TempDir() when dir is
// "") and the given key=value overrides, waits until it answers a
// metadata request, and stops it (SIGTERM) when the test ends.
func startNode(t *testing.T, dir string, overrides ...string) *node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	n := &node{t: t, dir: dir, port: freePort(t), overrides: overrides}
	n.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
	n.proc = newServerProc(t, "fjord", t.TempDir(), append([]string{
		"node.id=1", "listeners=PLAINTEXT://" + n.addr, "log.dirs=" + n.dir,
	}, overrides...))
	t.Cleanup(n.cleanup)
	n.start()
	return n
}

// freePort returns a loopback port that was free a moment ago. It prefers
// a port below the kernel's ephemeral range, so that while a node is down
// for a restart no outgoing connection (of this or a parallel test
// process) is given its port.
func freePort(t *testing.T) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	for range 100 {
		if low <= 20000 {
			break
		}
		port := 20000 + rand.IntN(low-20000)
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			ln.Close()
			return port
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// errStoppedBySignal reports that a node stopped on SIGTERM or SIGINT
// before it served.
var errStoppedBySignal = errors.New("fjord shut down cleanly before serving: it got a SIGTERM or SIGINT")

// stoppedBySignal reports whether a process that ended so (serverProc's
// lastExit) stopped because of SIGTERM or SIGINT: it shut down cleanly
// (status 0, the node exits so only on those signals), or the signal came
// before the node installed its handler.
func stoppedBySignal(exit string) bool {
	return exit == "exited" || exit == "terminated" || exit == "interrupt"
}

// start runs the process and waits until it serves. If the process is
// stopped by a signal the test did not send (on a shared machine another
// process may signal a recycled pid), it is started once more.
func (n *node) start() {
	n.t.Helper()
	n.firstRun = n.proc.run() + 1
	for attempt := 0; ; attempt++ {
		err := n.waitReady(n.proc.start())
		if err == nil {
			return
		}
		if errors.Is(err, errStoppedBySignal) && attempt == 0 {
			n.t.Logf("fjord run %d was stopped by a signal this test did not send; starting it again", n.proc.run())
			continue
		}
		n.t.Fatalf("%v; stderr:\n%s", err, tail(n.lastStderr(), 60))
	}
}

// waitReady waits until the node has logged that it started (broker.Start
// returned: registered and unfenced) and a metadata request (every topic)
// lists it as a live broker at its address with a leader for every
// partition. The log line matters: a restarted node serves the metadata
// it replayed from before the stop until it has registered again, and its
// registration briefly takes its partitions offline. It returns an error
// if the process exits first or after readyTimeout.
func (n *node) waitReady(exited <-chan struct{}) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr), kgo.DisableIdempotentWrite(),
		kgo.DialTimeout(time.Second), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		err := n.ready(cl)
		if err == nil && !strings.Contains(n.lastStderr(), "fjord node started") {
			err = errors.New(`no "fjord node started" in its stderr yet`)
		}
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			if stoppedBySignal(n.proc.lastExit()) {
				return errStoppedBySignal
			}
			return fmt.Errorf("fjord exited before serving: %v", n.proc.exitErr())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fjord on %s not ready after %v: %v", n.addr, readyTimeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// ready sends a metadata request for every topic (directly: kadm would
// answer from kgo's metadata cache) and reports what is not ready.
func (n *node) ready(cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(resp.Brokers, func(b kmsg.MetadataResponseBroker) bool {
		return b.NodeID == n.nodeID() && net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) == n.addr
	}) {
		return fmt.Errorf("broker %d at %s not listed yet (brokers %v)", n.nodeID(), n.addr, resp.Brokers)
	}
	for _, t := range resp.Topics {
		name := fmt.Sprint(t.TopicID)
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("topic %s: %w", name, err)
		}
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.Leader < 0 {
				return fmt.Errorf("%s[%d]: leader %d, error %v", name, p.Partition, p.Leader, err)
			}
		}
	}
	return nil
}

// nodeID is the node.id the node runs with: 1 unless overridden.
func (n *node) nodeID() int32 {
	id := int32(1)
	for _, o := range n.overrides {
		if v, ok := strings.CutPrefix(o, "node.id="); ok {
			if i, err := strconv.Atoi(v); err == nil {
				id = int32(i)
			}
		}
	}
	return id
}

// startLog returns the output of the runs of the latest start or
// restart (one, unless start had to run the process again).
func (n *node) startLog() string {
	var b strings.Builder
	for run := n.firstRun; run <= n.proc.run(); run++ {
		b.WriteString(n.proc.output(run))
	}
	return b.String()
}

// lastStderr returns the output of the current (or last) run.
func (n *node) lastStderr() string { return n.proc.output(n.proc.run()) }

// signal sends sig (SIGTERM or SIGKILL) and waits up to timeout for the
// process to exit. It reports whether it exited in time, and its exit
// error (nil for status 0); see serverProc.signal.
func (n *node) signal(sig syscall.Signal, timeout time.Duration) (bool, error) {
	n.t.Helper()
	return n.proc.signal(sig, timeout)
}

// checkAlive fails the test if the node's process has exited on its own.
func (n *node) checkAlive() {
	n.t.Helper()
	n.proc.checkAlive()
}

// kill9 kills the node with SIGKILL: no clean shutdown.
func (n *node) kill9() {
	n.t.Helper()
	n.proc.kill9()
}

// stop shuts the node down with SIGTERM and fails the test unless it
// exits with status 0 in time (else it is killed).
func (n *node) stop() {
	n.t.Helper()
	n.checkAlive()
	ok, err := n.signal(syscall.SIGTERM, stopTimeout)
	if !ok {
		n.t.Fatalf("fjord did not exit within %v of SIGTERM; stderr:\n%s", stopTimeout, tail(n.lastStderr(), 60))
	}
	if err != nil {
		n.t.Fatalf("fjord exited with %v after SIGTERM; stderr:\n%s", err, tail(n.lastStderr(), 60))
	}
}

// restart starts the stopped (or killed) node again on the same port and
// log dir.
func (n *node) restart() {
	n.t.Helper()
	n.start()
}

// cleanup stops a node still running at the end of the test (SIGTERM,
// then SIGKILL), fails the test if a run reported a data race
// (FJORD_E2E_RACE=1), and prints every run's output if the test failed.
func (n *node) cleanup() {
	ok, err := n.signal(syscall.SIGTERM, stopTimeout)
	if !ok {
		n.t.Errorf("fjord did not exit within %v of SIGTERM", stopTimeout)
	} else if err != nil {
		n.t.Errorf("fjord exited with %v after SIGTERM", err)
	}
	n.proc.report("fjord "+n.addr, 150)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines omitted)\n", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "")
}

// partitionDir is the directory of topic's partition p in the node's log
// dir.
func (n *node) partitionDir(topic string, p int32) string {
	return filepath.Join(n.dir, fmt.Sprintf("%s-%d", topic, p))
}

// client returns a kgo client for the node (idempotence off: Fjord does
// not serve InitProducerId yet), closed when the test ends.
func (n *node) client(opts ...kgo.Opt) *kgo.Client {
	n.t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(n.addr), kgo.DisableIdempotentWrite()}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client for the node.
func (n *node) admin() *kadm.Client {
	return kadm.NewClient(n.client())
}

// waitFor polls cond until it reports true, failing the test with cond's
// last message after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, msg)
		}
		time.Sleep(pollInterval)
	}
}

// ctxT returns a context that ends after waitTimeout or with the test.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// createTopic creates topic with the given partitions (replication factor
// 1) and configs, failing the test on error.
func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctxT(t), partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// offsets lists start or end offsets of topic as partition -> offset,
// failing the test on any error.
func offsets(t *testing.T, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) map[int32]int64 {
	t.Helper()
	out, err := tryOffsets(list, topic)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tryOffsets(list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listed, err := list(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	if err := listed.Error(); err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// consumeRange reads partitions [from[p], to[p]) of topic with a new
// consumer (with extra client options opts) and returns the records per
// partition, in offset order. It fails the test if a partition does not
// reach its end within 2*waitTimeout, or on a fetch error.
func consumeRange(t *testing.T, n *node, topic string, from, to map[int32]int64, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	out := map[int32][]*kgo.Record{}
	for p, end := range to {
		out[p] = nil
		if from[p] < end {
			parts[p] = kgo.NewOffset().At(from[p])
		}
	}
	if len(parts) == 0 {
		return out
	}
	cl := n.client(append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(500 * time.Millisecond)}, opts...)...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	for len(parts) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: timed out; still reading %v (got %s)", topic, parts, counts(out))
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("consuming %s[%d]: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			end := to[r.Partition]
			if r.Offset < end {
				out[r.Partition] = append(out[r.Partition], r)
			}
			if r.Offset >= end-1 {
				delete(parts, r.Partition)
			}
		})
	}
	return out
}

func counts(recs map[int32][]*kgo.Record) string {
	var b bytes.Buffer
	for p, rs := range recs {
		fmt.Fprintf(&b, "[%d]=%d ", p, len(rs))
	}
	return b.String()
}

// checkContiguous fails the test unless recs hold exactly the offsets
// [from, to) in order.
func checkContiguous(t *testing.T, topic string, p int32, recs []*kgo.Record, from, to int64) {
	t.Helper()
	if int64(len(recs)) != to-from {
		t.Errorf("%s[%d]: read %d records, want %d (offsets [%d, %d))", topic, p, len(recs), to-from, from, to)
	}
	for i, r := range recs {
		if want := from + int64(i); r.Offset != want {
			t.Fatalf("%s[%d]: record %d has offset %d, want %d (offsets must be contiguous)", topic, p, i, r.Offset, want)
		}
	}
}
