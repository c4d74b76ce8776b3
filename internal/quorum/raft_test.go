package quorum

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fjordlog/fjord/internal/vfs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var all3 = []int32{0, 1, 2}

func TestRaftThreeVotersReplicate(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	watch := c.raft(0).Watch()
	leader := c.waitLeader(all3...)
	lr := c.raft(leader)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ready, err := lr.LeaderReady(ctx)
	if err != nil || ready == 0 {
		t.Fatalf("LeaderReady = %d, %v", ready, err)
	}

	// Concurrent proposals on the leader.
	var wg sync.WaitGroup
	var mu sync.Mutex
	indexes := map[uint64]string{}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				data := fmt.Sprintf("g%d-%d", g, i)
				idx, err := lr.Propose(ctx, []byte(data))
				if err != nil {
					t.Errorf("propose: %v", err)
					return
				}
				mu.Lock()
				indexes[idx] = data
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var last uint64
	for idx := range indexes {
		if idx <= ready {
			t.Errorf("proposal index %d not after the leader's first entry %d", idx, ready)
		}
		last = max(last, idx)
	}
	c.waitApplied(last, all3...)
	log := c.sameState(all3...)
	if len(log) != 60 {
		t.Fatalf("applied %d entries, want 60", len(log))
	}
	for _, r := range log {
		if indexes[r.Index] != r.Data {
			t.Errorf("index %d holds %q, Propose returned it for %q", r.Index, r.Data, indexes[r.Index])
		}
	}

	// A follower refuses proposals and names the leader.
	f := others(all3, leader)[0]
	_, err = c.raft(f).Propose(ctx, []byte("x"))
	var nle *NotLeaderError
	if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nle) || nle.Leader != leader {
		t.Fatalf("propose on follower: %v, want not leader (leader %d)", err, leader)
	}
	if _, err := c.raft(f).LeaderReady(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("LeaderReady on follower: %v", err)
	}

	// The watch holds the latest state: this leader, this term.
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ls := <-watch:
			if ls.Leader == leader && ls.Term == lr.Term() {
				return
			}
		case <-deadline:
			t.Fatalf("watch never showed leader %d term %d", leader, lr.Term())
		}
	}
}

func TestRaftLeaderFailover(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	var before []uint64
	for i := 0; i < 10; i++ {
		before = append(before, c.propose(fmt.Sprintf("before-%d", i), all3...))
	}
	old := c.waitLeader(all3...)
	oldTerm := c.raft(old).Term()
	c.stop(old)

	rest := others(all3, old)
	start := time.Now()
	leader := c.waitLeader(rest...)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("election took %v", d)
	}
	if term := c.raft(leader).Term(); term <= oldTerm {
		t.Errorf("new term %d, old %d", term, oldTerm)
	}
	var idx uint64
	for i := 0; i < 10; i++ {
		idx = c.propose(fmt.Sprintf("after-%d", i), rest...)
	}
	c.waitApplied(idx, rest...)
	log := c.sameState(rest...)
	have := map[uint64]string{}
	for _, r := range log {
		have[r.Index] = r.Data
	}
	for i, at := range before {
		if want := fmt.Sprintf("before-%d", i); have[at] != want {
			t.Errorf("index %d = %q, want %q", at, have[at], want)
		}
	}
}

// A leader that loses its quorum steps down (CheckQuorum) and fails what
// it had not committed.
func TestRaftProposalDroppedOnStepDown(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	c.propose("x", all3...)
	leader := c.waitLeader(all3...)
	for _, i := range others(all3, leader) {
		c.stop(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.raft(leader).Propose(ctx, []byte("orphan"))
	if !errors.Is(err, ErrProposalDropped) && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("propose without quorum: %v", err)
	}
	if _, err := c.raft(leader).LeaderReady(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("LeaderReady after stepping down: %v", err)
	}
	if l := c.raft(leader).Leader(); l != -1 {
		t.Fatalf("leader %d after stepping down", l)
	}
}

func TestRaftRestartCatchUp(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	for i := 0; i < 10; i++ {
		c.propose(fmt.Sprintf("a-%d", i), all3...)
	}
	leader := c.waitLeader(all3...)
	down := others(all3, leader)[0]
	c.waitApplied(c.raft(leader).AppliedIndex(), down)
	had, _, _ := c.nodes[down].sm.snapshot()
	c.stop(down)

	rest := others(all3, down)
	var idx uint64
	for i := 0; i < 10; i++ {
		idx = c.propose(fmt.Sprintf("b-%d", i), rest...)
	}
	r := c.start(down)
	replayed, _, _ := c.nodes[down].sm.snapshot()
	if !equalRecs(replayed, had) {
		t.Fatalf("replayed %v, had %v", replayed, had)
	}
	if r.AppliedIndex() < had[len(had)-1].Index {
		t.Fatalf("applied %d after replay, had %d", r.AppliedIndex(), had[len(had)-1].Index)
	}
	c.waitApplied(idx, all3...)
	if log := c.sameState(all3...); len(log) < 20 {
		t.Fatalf("%d entries, want at least 20", len(log))
	}
}

func TestRaftSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, func(cfg *RaftConfig) { cfg.SnapshotEvery = 20 })
	c.startAll()
	c.propose("first", all3...)
	leader := c.waitLeader(all3...)
	down := others(all3, leader)[0]
	c.waitApplied(c.raft(leader).AppliedIndex(), down)
	c.stop(down)

	rest := others(all3, down)
	var idx uint64
	for i := 0; i < 120; i++ {
		idx = c.propose(fmt.Sprintf("e-%d", i), rest...)
	}
	snaps, _ := listSnapshots(vfs.Default, c.nodes[leader].dir)
	if len(snaps) != 1 {
		t.Fatalf("leader snapshots: %v", snaps)
	}

	c.start(down)
	_, startRestores, _ := c.nodes[down].sm.snapshot()
	c.waitApplied(idx, all3...)
	c.sameState(all3...)
	if _, restores, _ := c.nodes[down].sm.snapshot(); restores <= startRestores {
		t.Fatalf("restarted node caught up without a snapshot (restores %d)", restores)
	}

	// A full restart rebuilds every state from snapshot + WAL.
	want := c.sameState(all3...)
	for _, i := range all3 {
		c.stop(i)
	}
	for _, i := range all3 {
		c.start(i)
		got, restores, _ := c.nodes[i].sm.snapshot()
		if restores == 0 || !equalRecs(got, want) {
			t.Fatalf("node %d after restart: %d restores, %d entries, want %d", i, restores, len(got), len(want))
		}
	}
	idx = c.propose("after-restart", all3...)
	c.waitApplied(idx, all3...)
	c.sameState(all3...)
}

func TestRaftClusterIDMismatch(t *testing.T) {
	c := newCluster(t, 3, func(cfg *RaftConfig) {
		if cfg.NodeID == 2 {
			cfg.ClusterID = "another-cluster"
		}
	})
	c.startAll()
	good := []int32{0, 1}
	var idx uint64
	for i := 0; i < 5; i++ {
		idx = c.propose(fmt.Sprintf("x-%d", i), good...)
	}
	c.waitApplied(idx, good...)
	c.sameState(good...)

	// Node 2 saw no leader, applied nothing but its bootstrap, and its
	// connections were refused.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(c.nodes[0].logs.String()+c.nodes[1].logs.String(), "INCONSISTENT_CLUSTER_ID") {
		if time.Now().After(deadline) {
			t.Fatal("no INCONSISTENT_CLUSTER_ID refusal logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r2 := c.raft(2)
	if l := r2.Leader(); l != -1 {
		t.Errorf("node 2 knows leader %d", l)
	}
	if got, _, _ := c.nodes[2].sm.snapshot(); len(got) != 0 || r2.AppliedIndex() != 3 {
		t.Errorf("node 2 applied %d (%d entries)", r2.AppliedIndex(), len(got))
	}
	if !strings.Contains(c.nodes[2].logs.String(), "INCONSISTENT_CLUSTER_ID") {
		t.Errorf("node 2 did not log its refusal")
	}
}

func TestRaftSingleVoter(t *testing.T) {
	c := newCluster(t, 1, nil)
	r := c.start(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	idx, err := r.Propose(ctx, []byte("solo"))
	for errors.Is(err, ErrNotLeader) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
		idx, err = r.Propose(ctx, []byte("solo"))
	}
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("first commit took %v", d)
	}
	if r.Leader() != 0 {
		t.Errorf("leader = %d", r.Leader())
	}
	ready, err := r.LeaderReady(ctx)
	if err != nil || ready >= idx {
		t.Errorf("LeaderReady = %d, %v (proposal at %d)", ready, err, idx)
	}
	if got, _, _ := c.nodes[0].sm.snapshot(); len(got) != 1 || got[0] != (rec{idx, "solo"}) {
		t.Errorf("applied %v", got)
	}
	if _, err := r.Propose(ctx, nil); err == nil {
		t.Error("empty proposal accepted")
	}
	c.stop(0)
	if _, err := r.Propose(ctx, []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("propose after close: %v", err)
	}
	if err := r.WaitApplied(ctx, idx+100); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitApplied after close: %v", err)
	}
	if _, ok := <-r.Watch(); ok {
		t.Error("watch after close delivered a value")
	}
}

// A single voter's WAL with its tail torn or corrupted restarts with every
// acknowledged entry.
func TestRaftWALDamagedTail(t *testing.T) {
	for _, damage := range []string{"torn", "corrupt"} {
		t.Run(damage, func(t *testing.T) {
			c := newCluster(t, 1, nil)
			c.start(0)
			var want []rec
			for i := 0; i < 5; i++ {
				data := fmt.Sprintf("w-%d", i)
				want = append(want, rec{c.propose(data, 0), data})
			}
			c.stop(0)
			damageTail(t, walFile(t, c.nodes[0].dir), damage)

			r := c.start(0)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.waitLeader(0)
			ready, err := r.LeaderReady(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c.waitApplied(ready, 0)
			if got, _, _ := c.nodes[0].sm.snapshot(); !equalRecs(got, want) {
				t.Fatalf("after restart %v, want %v", got, want)
			}
			c.propose("more", 0)
		})
	}
}

// damageTail truncates the last 3 bytes of path, or flips a byte in its
// last record.
func damageTail(t *testing.T, path, how string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if how == "torn" {
		b = b[:len(b)-3]
	} else {
		b[len(b)-2] ^= 0x40
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRaftConfigValidation(t *testing.T) {
	base := RaftConfig{NodeID: 1, Voters: map[int32]string{1: "a:1", 2: "b:2"}, Dir: t.TempDir(), ClusterID: "c"}
	for name, mut := range map[string]func(*RaftConfig){
		"not a voter, no addr": func(c *RaftConfig) { c.NodeID = 3 },
		"no cluster":           func(c *RaftConfig) { c.ClusterID = "" },
		"no addr":              func(c *RaftConfig) { c.Voters = map[int32]string{1: "", 2: ""} },
		"ticks":                func(c *RaftConfig) { c.ElectionTicks, c.HeartbeatTicks = 2, 2 },
	} {
		cfg := base
		mut(&cfg)
		if r, err := StartRaft(cfg, &testSM{}); err == nil {
			r.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}
