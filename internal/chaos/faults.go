package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Env is what a fault acts on.
type Env struct {
	C    *Cluster
	W    *Workload
	Rand *rand.Rand
	Log  func(format string, args ...any)
	// Unclean says whether the profile allows unclean leader election.
	Unclean bool
}

// Violation is an error a fault returns when it saw an invariant broken
// itself (e.g. a partition led while its last in-sync replica was down);
// the checker reports it as a FaultCheck anomaly.
type Violation string

func (v Violation) Error() string { return string(v) }

// Fault is one kind of fault. Inject applies it and returns what it hit
// and how to heal it (nil: nothing to heal). Faults run one at a time, and
// the cluster is whole (every node running, no drop rule) when Inject is
// called. Network faults (netfaults.go) install nftables rules in the
// nodes' namespaces; their heal removes them.
type Fault interface {
	Name() string
	Inject(ctx context.Context, e *Env) (target string, heal func() error, err error)
}

// Faults returns the faults by name (see FaultNames).
func Faults(names []string) ([]Fault, error) {
	all := map[string]Fault{}
	for _, f := range allFaults() {
		all[f.Name()] = f
	}
	var out []Fault
	for _, n := range names {
		f, ok := all[strings.TrimSpace(n)]
		if !ok {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", n, strings.Join(FaultNames(), ","))
		}
		out = append(out, f)
	}
	return out, nil
}

// FaultNames lists every fault's name.
func FaultNames() []string {
	var out []string
	for _, f := range allFaults() {
		out = append(out, f.Name())
	}
	return out
}

func allFaults() []Fault {
	var out []Fault
	for _, who := range []string{"leader", "follower", "controller", "coordinator", "txn-coordinator", "node"} {
		for _, act := range []string{"kill", "term", "bounce", "pause"} {
			out = append(out, procFault{act: act, who: who})
		}
	}
	for _, who := range []string{"leader", "controller"} {
		out = append(out, bounces{who: who, clean: true}, bounces{who: who})
	}
	out = append(out, lastReplica{}, lastReplica{tear: true})
	out = append(out, corruptTail{}, clientCrash{}, loneLeader{}, loneLeader{tear: true}, reassign{})
	out = append(out, clockFaults()...)
	return append(append(append(out, netFaults()...), proxyFaults()...), diskFaults()...)
}

// NeedsTxn says whether f needs the transactional workload.
func NeedsTxn(f Fault) bool {
	pf, ok := f.(procFault)
	return ok && pf.who == "txn-coordinator"
}

// NeedsNet says whether f needs the nodes in network namespaces.
func NeedsNet(f Fault) bool {
	n, ok := f.(interface{ needsNet() bool })
	return ok && n.needsNet()
}

// procFault signals one node's process: kill (SIGKILL, restarted at heal),
// term (SIGTERM, a controlled shutdown; restarted at heal), bounce
// (SIGKILL and restart at once) or pause (SIGSTOP, SIGCONT at heal). It
// picks the leader of a random partition, a follower of one, the active
// controller, the coordinator of the workload's group or of one of its
// transactional ids, or any node.
type procFault struct{ act, who string }

func (f procFault) Name() string { return f.act + "-" + f.who }

func (f procFault) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	nd, err := pick(ctx, e, f.who)
	if err != nil {
		return "", nil, err
	}
	target := fmt.Sprintf("node %d", nd.ID)
	switch f.act {
	case "kill":
		nd.Kill()
		return target, nd.Start, nil
	case "term":
		nd.Terminate(30 * time.Second)
		return target, nd.Start, nil
	case "bounce":
		return target, nil, nd.Restart()
	default:
		nd.Pause()
		return target, func() error { nd.Resume(); return nil }, nil
	}
}

// pick chooses a node: "leader" or "follower" of a random partition,
// "controller" (the active one), "coordinator" (of the workload's group),
// "txn-coordinator" (of one of the workload's transactional ids) or any
// "node".
func pick(ctx context.Context, e *Env, who string) (*Node, error) {
	switch who {
	case "node":
		return e.C.Nodes[e.Rand.IntN(len(e.C.Nodes))], nil
	case "coordinator":
		return coordinator(ctx, e)
	case "txn-coordinator":
		return txnCoordinator(ctx, e)
	}
	md, err := e.C.Metadata(ctx, e.W.Topic)
	if err != nil {
		return nil, err
	}
	if who == "controller" {
		if nd := e.C.Node(md.Controller); nd != nil {
			return nd, nil
		}
		return nil, fmt.Errorf("no active controller in metadata (%d)", md.Controller)
	}
	pd, ok := md.Topics[e.W.Topic].Partitions[int32(e.Rand.IntN(e.W.Partitions))]
	if !ok || pd.Leader < 0 {
		return nil, errors.New("partition without a leader")
	}
	if who == "leader" {
		return e.C.Node(pd.Leader), nil
	}
	var fs []int32
	for _, r := range pd.Replicas {
		if r != pd.Leader {
			fs = append(fs, r)
		}
	}
	if len(fs) == 0 {
		return nil, errors.New("partition without followers")
	}
	return e.C.Node(fs[e.Rand.IntN(len(fs))]), nil
}

// corruptTail (F11) SIGKILLs the leader of a random partition and damages
// the tail of that partition's last segment on it: truncation at a random
// byte, a flipped byte or appended zeros, all within the last 4 KiB (the
// unsynced tail a crash can tear). The node restarts at heal and must cut
// the damage off; the other replicas hold every acknowledged record.
type corruptTail struct{}

func (corruptTail) Name() string { return "corrupt-tail" }

func (corruptTail) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	p := int32(e.Rand.IntN(e.W.Partitions))
	leader, err := e.C.Leader(ctx, e.W.Topic, p)
	nd := e.C.Node(leader)
	if err != nil || nd == nil {
		return "", nil, fmt.Errorf("no leader for partition %d: %v", p, err)
	}
	nd.Kill()
	how, err := damageTail(filepath.Join(nd.DataDir, fmt.Sprintf("%s-%d", e.W.Topic, p)), e.Rand, e.Rand.IntN(3))
	return fmt.Sprintf("node %d partition %d: %s", nd.ID, p, how), nd.Start, err
}

// damageTail damages the last .log segment in dir, by mode: 0 truncates
// it at a random byte, 1 flips a byte, 2 appends zeros; it says how.
func damageTail(dir string, r *rand.Rand, mode int) (string, error) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		return "", fmt.Errorf("no segment in %s", dir)
	}
	slices.Sort(logs)
	path := logs[len(logs)-1]
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "empty segment, untouched", err
	}
	at := len(b) - 1 - r.IntN(min(len(b), 4096))
	switch mode {
	case 0:
		return fmt.Sprintf("truncated %s from %d to %d bytes", filepath.Base(path), len(b), at), os.Truncate(path, int64(at))
	case 1:
		b[at] ^= 0xff
		return fmt.Sprintf("flipped byte %d of %d in %s", at, len(b), filepath.Base(path)), os.WriteFile(path, b, 0o644)
	default:
		n := 1 + r.IntN(4096)
		b = append(b, make([]byte, n)...)
		return fmt.Sprintf("appended %d zero bytes to %s", n, filepath.Base(path)), os.WriteFile(path, b, 0o644)
	}
}

// clientCrash (F15) closes a random producer's or consumer's client
// abruptly; its slot starts a new one.
type clientCrash struct{}

func (clientCrash) Name() string { return "client-crash" }

func (clientCrash) Inject(_ context.Context, e *Env) (string, func() error, error) {
	slots := e.W.Slots()
	if len(slots) == 0 {
		return "", nil, errors.New("no client")
	}
	slices.Sort(slots)
	s := slots[e.Rand.IntN(len(slots))]
	e.W.CrashClient(s)
	return "client " + s, nil, nil
}

// loneLeader pauses every follower of a random partition until the ISR
// shrinks to the leader alone (or 15 s pass), lets writes go on for a
// second, SIGKILLs the leader (with tear: and truncates its last segment
// within the last 4 KiB, F12's lost unsynced writes) and resumes the
// followers; the leader restarts at heal.
// Under min.insync.replicas=2 no write is acknowledged by the leader alone,
// so nothing may be lost; under min.insync.replicas=1 (tear) or unclean
// election it is the canary that must lose writes. Pausing every follower
// of an RF=N partition on N nodes also stops the controller quorum.
type loneLeader struct{ tear bool }

func (f loneLeader) Name() string {
	if f.tear {
		return "lone-leader-torn"
	}
	return "lone-leader"
}

func (f loneLeader) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	p, leader, paused, err := roles(ctx, e)
	if err != nil {
		return "", nil, err
	}
	for _, nd := range paused {
		nd.Pause()
	}
	shrunk := waitISR(ctx, e.C, e.W.Topic, p, leader.ID, 15*time.Second)
	acked := 0
	if shrunk {
		// Where the leader alone may acknowledge (min.insync.replicas=1),
		// make sure it did before it dies: producers stuck behind the
		// paused followers can take seconds to get going again.
		acked = waitAcks(ctx, e.W.H, p, e.W.H.Now(), 20, 10*time.Second)
	}
	time.Sleep(time.Second)
	leader.Kill()
	how := ""
	if f.tear {
		how, err = damageTail(filepath.Join(leader.DataDir, fmt.Sprintf("%s-%d", e.W.Topic, p)), e.Rand, 0)
	}
	for _, nd := range paused {
		nd.Resume()
	}
	heal := func() error {
		// Give the controller time to elect another replica (uncleanly,
		// where allowed) before the old leader returns and wins a clean
		// election: otherwise the canary's loss depends on timing (a loaded
		// machine needs a raft election, two session expiries and an
		// unfence first). Without unclean election nobody may take over.
		wait := 5 * time.Second
		if e.Unclean {
			wait = 60 * time.Second
		}
		waitLeaderNot(ctx, e.C, e.W.Topic, p, leader.ID, wait)
		return leader.Start()
	}
	return fmt.Sprintf("leader %d of partition %d (ISR shrank alone: %v, then %d acks) %s", leader.ID, p, shrunk, acked, how), heal, err
}

// roles picks a random partition and returns its leader and followers.
func roles(ctx context.Context, e *Env) (p int32, leader *Node, followers []*Node, err error) {
	p = int32(e.Rand.IntN(e.W.Partitions))
	md, err := e.C.Metadata(ctx, e.W.Topic)
	if err != nil {
		return p, nil, nil, err
	}
	pd := md.Topics[e.W.Topic].Partitions[p]
	if leader = e.C.Node(pd.Leader); leader == nil {
		return p, nil, nil, fmt.Errorf("partition %d has no leader", p)
	}
	for _, r := range pd.Replicas {
		if nd := e.C.Node(r); r != pd.Leader && nd != nil {
			followers = append(followers, nd)
		}
	}
	return p, leader, followers, nil
}

// waitAcks waits until n sends to partition p that started at or after t
// are acknowledged (or timeout passes) and returns how many were.
func waitAcks(ctx context.Context, h *History, p int32, t int64, n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		got := h.Count(func(op *Op) bool {
			return op.Kind == KindSend && op.Partition == p && op.Outcome == OK && op.Start >= t
		})
		if got >= n || time.Now().After(deadline) || ctx.Err() != nil {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLeaderNot waits until partition p has a leader other than old (or
// timeout passes).
func waitLeaderNot(ctx context.Context, c *Cluster, topic string, p, old int32, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		md, err := c.Metadata(ctx, topic)
		if err == nil {
			if pd := md.Topics[topic].Partitions[p]; pd.Leader >= 0 && pd.Leader != old {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitISR waits until partition p's ISR is just leader; it reports whether
// it got there within timeout.
func waitISR(ctx context.Context, c *Cluster, topic string, p, leader int32, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		md, err := c.Metadata(ctx, topic)
		if err == nil {
			if pd := md.Topics[topic].Partitions[p]; slices.Equal(pd.ISR, []int32{leader}) {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}
