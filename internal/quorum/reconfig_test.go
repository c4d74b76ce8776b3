package quorum

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
	"go.etcd.io/raft/v3/raftpb"
)

// addNode adds a member-to-be to c: a listener and a directory, with the
// cluster's bootstrap voters in its config (it is not among them, so it
// joins). It is not started.
func (c *cluster) addNode(tweak func(*RaftConfig)) int32 {
	c.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	nd := &testNode{id: int32(len(c.nodes)), dir: c.t.TempDir(), ln: ln, logs: &logBuf{}}
	nd.cfg = c.nodes[0].cfg
	nd.cfg.NodeID, nd.cfg.Dir, nd.cfg.Addr = nd.id, nd.dir, ln.Addr().String()
	nd.cfg.Logger = slog.New(slog.NewTextHandler(nd.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if tweak != nil {
		tweak(&nd.cfg)
	}
	c.nodes = append(c.nodes, nd)
	c.wg.Add(1)
	go c.accept(nd)
	return nd.id
}

// restart restarts node i keeping its directory and state machine type.
func (c *cluster) restart(i int32) *Raft {
	c.t.Helper()
	c.stop(i)
	return c.start(i)
}

// onLeader runs f on whichever of among leads, retrying while leadership
// or a previous change is settling.
func (c *cluster) onLeader(what string, f func(r *Raft) error, among ...int32) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := c.waitLeader(among...)
		err := f(c.raft(l))
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrReconfigInProgress) && !errors.Is(err, ErrProposalDropped) {
			c.t.Fatalf("%s on %d: %v", what, l, err)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cluster) addVoter(id int32, among ...int32) {
	c.t.Helper()
	c.onLeader(fmt.Sprintf("add voter %d", id), func(r *Raft) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return r.AddVoter(ctx, id, c.nodes[id].ln.Addr().String())
	}, among...)
}

func (c *cluster) removeVoter(id int32, among ...int32) {
	c.t.Helper()
	c.onLeader(fmt.Sprintf("remove voter %d", id), func(r *Raft) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return r.RemoveVoter(ctx, id)
	}, among...)
}

// waitVoters waits until each of nodes reports voters want.
func (c *cluster) waitVoters(want []int32, nodes ...int32) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, i := range nodes {
		for !slices.Equal(c.raft(i).Voters(), want) {
			if time.Now().After(deadline) {
				c.t.Fatalf("node %d: voters %v, want %v", i, c.raft(i).Voters(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Replacing a dead voter: 3 voters, one dies (its disk is lost), a new
// node joins (learner, caught up, promoted), the dead one is removed; the
// quorum commits before, between and after, and the membership survives
// a restart of every node.
func TestReconfigReplaceDeadVoter(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	c.propose("before", all3...)
	c.stop(2)                                  // dead
	time.Sleep(2 * 10 * 20 * time.Millisecond) // two election timeouts: the leader knows it dead (see heardFrom)

	n := c.addNode(nil)
	c.start(n)
	c.addVoter(n, 0, 1)
	live := []int32{0, 1, n}
	c.waitVoters([]int32{0, 1, 2, n}, live...)
	idx := c.propose("between", live...)

	c.removeVoter(2, live...)
	c.waitVoters([]int32{0, 1, n}, live...)
	idx = max(idx, c.propose("after", live...))
	c.waitApplied(idx, live...)
	log := c.sameState(live...)
	if got := datas(log); !slices.Equal(got, []string{"before", "between", "after"}) {
		t.Fatalf("log %v", got)
	}
	for _, i := range live {
		if e, ok := c.raft(i).Endpoint(n); !ok || e != c.nodes[n].ln.Addr().String() {
			t.Errorf("node %d: endpoint of %d = %q, %v", i, n, e, ok)
		}
	}

	for _, i := range live {
		c.stop(i)
	}
	for _, i := range live {
		c.start(i)
	}
	c.waitVoters([]int32{0, 1, n}, live...)
	idx = c.propose("restarted", live...)
	c.waitApplied(idx, live...)
	c.sameState(live...)
	s := waitState(t, c.raft(c.waitLeader(live...)), func(s State) bool { return s.Leading })
	if s.Addrs[n] != c.nodes[n].ln.Addr().String() || len(s.Learners) != 0 {
		t.Errorf("state after restart: %+v", s)
	}
}

// The leader removes itself: it hands leadership to a voter and the
// quorum goes on without it; alive, it stays a learner and keeps
// receiving the log, until it is removed once more.
func TestReconfigRemoveLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	c.propose("one", all3...)
	old := c.waitLeader(all3...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	for {
		if err = c.raft(old).RemoveVoter(ctx, old); !errors.Is(err, ErrReconfigInProgress) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("leader removing itself: %v", err)
	}
	rest := others(all3, old)
	c.waitVoters(rest, append(rest, old)...)
	leader := c.waitLeader(rest...)
	if leader == old {
		t.Fatal("removed leader still leads")
	}
	idx := c.propose("two", rest...)
	c.waitApplied(idx, all3...)
	if got := datas(c.sameState(all3...)); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("log %v", got)
	}
	s := waitState(t, c.raft(leader), func(s State) bool { return s.Leading && len(s.Learners) == 1 })
	if s.Learners[0].NodeID != old {
		t.Fatalf("learners %+v", s.Learners)
	}
	// Removed once more, it leaves the quorum: the others refuse it, and
	// without their answers it never leads again.
	c.removeVoter(old, rest...)
	waitState(t, c.raft(leader), func(s State) bool { return len(s.Learners) == 0 && len(s.Voters) == 2 })
	idx = c.propose("three", rest...)
	c.waitApplied(idx, rest...)
	waitState(t, c.raft(old), func(s State) bool { return !s.Leading })
}

// Growing 3 -> 5 voters, then losing two of the five: still a quorum.
func TestReconfigGrowThreeToFive(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	c.propose("three", all3...)
	a, b := c.addNode(nil), c.addNode(nil)
	c.start(a)
	c.start(b)
	c.addVoter(a, all3...)
	c.addVoter(b, all3...)
	all5 := []int32{0, 1, 2, a, b}
	c.waitVoters(all5, all5...)
	c.propose("five", all5...)
	leader := c.waitLeader(all5...)
	dead := others(all5, leader)[:2]
	for _, d := range dead {
		c.stop(d)
	}
	live := slices.DeleteFunc(slices.Clone(all5), func(i int32) bool { return slices.Contains(dead, i) })
	idx := c.propose("three alive", live...)
	c.waitApplied(idx, live...)
	if got := datas(c.sameState(live...)); !slices.Equal(got, []string{"three", "five", "three alive"}) {
		t.Fatalf("log %v", got)
	}
}

// A node added after the log was compacted gets a snapshot, and with it
// every member's endpoint; a restart from that snapshot keeps them.
func TestReconfigSnapshotCarriesEndpoints(t *testing.T) {
	small := func(cfg *RaftConfig) { cfg.SnapshotEvery = 8 }
	c := newCluster(t, 3, small)
	c.startAll()
	var idx uint64
	for i := 0; i < 40; i++ {
		idx = c.propose(fmt.Sprintf("e%d", i), all3...)
	}
	c.waitApplied(idx, all3...)
	n := c.addNode(func(cfg *RaftConfig) {
		cfg.SnapshotEvery = 8
		cfg.Voters = map[int32]string{0: cfg.Voters[0]} // knows one node only
	})
	c.start(n)
	c.addVoter(n, all3...)
	all4 := []int32{0, 1, 2, n}
	c.waitVoters(all4, all4...)
	idx = c.propose("last", all4...)
	c.waitApplied(idx, all4...)
	if _, restores, _ := c.nodes[n].sm.snapshot(); restores == 0 {
		t.Fatal("the new node got no snapshot")
	}
	c.restart(n)
	c.waitApplied(idx, n)
	for _, id := range all3 {
		if e, ok := c.raft(n).Endpoint(id); !ok || e != c.nodes[id].ln.Addr().String() {
			t.Errorf("endpoint of %d after restart = %q, %v", id, e, ok)
		}
	}
	if got := c.raft(n).Voters(); !slices.Equal(got, all4) {
		t.Errorf("voters after restart %v", got)
	}
}

func TestReconfigErrors(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	c.propose("x", all3...)
	leader := c.waitLeader(all3...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := c.raft(leader)
	if err := r.AddVoter(ctx, 1, "127.0.0.1:1"); !errors.Is(err, ErrDuplicateVoter) {
		t.Errorf("add existing voter: %v", err)
	}
	if err := r.RemoveVoter(ctx, 9); !errors.Is(err, ErrVoterNotFound) {
		t.Errorf("remove unknown: %v", err)
	}
	if err := r.AddVoter(ctx, 9, "no-port"); err == nil {
		t.Error("bad endpoint accepted")
	}
	f := others(all3, leader)[0]
	var nle *NotLeaderError
	if err := c.raft(f).RemoveVoter(ctx, 2); !errors.As(err, &nle) || nle.Leader != leader {
		t.Errorf("remove on follower: %v", err)
	}
	// A learner that cannot be reached never catches up: it stays a
	// learner, and can be removed.
	short, cancel2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel2()
	if err := r.AddVoter(short, 7, "127.0.0.1:1"); !errors.Is(err, ErrNotCaughtUp) {
		t.Fatalf("add unreachable: %v", err)
	}
	s := waitState(t, r, func(s State) bool { return len(s.Learners) == 1 })
	if s.Learners[0].NodeID != 7 {
		t.Fatalf("learners %+v", s.Learners)
	}
	c.removeVoter(7, all3...)
	waitState(t, r, func(s State) bool { return len(s.Learners) == 0 })
	// Endpoint updates are recorded (and used: node 2 stays reachable).
	_, port, _ := net.SplitHostPort(c.nodes[2].ln.Addr().String())
	moved := net.JoinHostPort("localhost", port)
	c.onLeader("update", func(r *Raft) error { return r.UpdateVoter(ctx, 2, moved) }, all3...)
	for _, i := range all3 {
		deadline := time.Now().Add(5 * time.Second)
		for e, _ := c.raft(i).Endpoint(2); e != moved; e, _ = c.raft(i).Endpoint(2) {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: endpoint of 2 = %q", i, e)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func datas(log []rec) []string {
	var out []string
	for _, r := range log {
		out = append(out, r.Data)
	}
	return out
}

// A data dir written before endpoints were recorded (bootstrap entries
// without a Context, or a snapshot without the endpoints header) still
// starts: the members' endpoints come from RaftConfig.Voters, and the
// quorum can be reconfigured.
func TestReconfigOldDataDir(t *testing.T) {
	for _, how := range []string{"wal", "snapshot"} {
		t.Run(how, func(t *testing.T) {
			c := newCluster(t, 3, nil)
			for _, nd := range c.nodes {
				writeOldDir(t, nd.dir, how)
			}
			c.startAll()
			c.propose("x", all3...)
			for _, i := range all3 {
				for _, j := range all3 {
					if e, ok := c.raft(i).Endpoint(j); !ok || e != c.nodes[j].cfg.Voters[j] {
						t.Errorf("node %d: endpoint of %d = %q, %v", i, j, e, ok)
					}
				}
			}
			n := c.addNode(nil)
			c.start(n)
			c.addVoter(n, all3...)
			all4 := append(slices.Clone(all3), n)
			c.waitVoters(all4, all4...)
			idx := c.propose("y", all4...)
			c.waitApplied(idx, all4...)
			c.sameState(all4...)
		})
	}
}

// writeOldDir writes what a release before endpoints left after
// bootstrapping three voters 0-2: their configuration entries in the WAL,
// or (how == "snapshot") a snapshot of them with the bare state machine
// data.
func writeOldDir(t *testing.T, dir, how string) {
	t.Helper()
	w, _, err := openWAL(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	hs := raftpb.HardState{Term: 1, Commit: 3}
	if how == "snapshot" {
		s := raftpb.Snapshot{Data: []byte("[]"), Metadata: raftpb.SnapshotMetadata{
			Index: 3, Term: 1, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
		if err := saveSnapshotFile(vfs.Default, dir, s); err != nil {
			t.Fatal(err)
		}
		w.hs = hs
		if err := w.rewrite(3, 1, nil); err != nil {
			t.Fatal(err)
		}
		return
	}
	var ents []raftpb.Entry
	for i := range uint64(3) {
		data, err := (&raftpb.ConfChange{Type: raftpb.ConfChangeAddNode, NodeID: i + 1}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		ents = append(ents, raftpb.Entry{Type: raftpb.EntryConfChange, Term: 1, Index: i + 1, Data: data})
	}
	if err := w.save(hs, ents, true); err != nil {
		t.Fatal(err)
	}
}

// Version 2 hellos carry the sender's endpoint, which a node that does
// not know the sender yet (a joining one) answers at; a node whose
// removal was applied is refused.
func TestHelloEndpointAndRemoved(t *testing.T) {
	c := newCluster(t, 2, nil)
	r := c.start(0)
	conn, _ := serve(t, r)
	go conn.Write(append(hello(2, 7, 0, "test-cluster"), 0, 11, '1', '.', '2', '.', '3', '.', '4', ':', '5', '6', '7'))
	var status [1]byte
	if _, err := io.ReadFull(conn, status[:]); err != nil || status[0] != hsOK {
		t.Fatalf("status %d, %v", status[0], err)
	}
	if e, ok := r.Endpoint(7); !ok || e != "1.2.3.4:567" {
		t.Fatalf("endpoint of 7: %q %v", e, ok)
	}
	r.mu.Lock()
	r.members.removed = map[int32]bool{7: true}
	r.mu.Unlock()
	if got := r.checkHello(transportVersion, 7, 0, "test-cluster"); got != hsUnknownSender {
		t.Fatalf("removed sender: status %d", got)
	}
}
