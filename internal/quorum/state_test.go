package quorum

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// State on the leader reports every voter with its log position and
// contact times; a follower knows the leader and the commit index but
// not the others' logs; after the leader stops, the new one reports the
// dead voter as behind, with its last contact in the past.
func TestRaftState(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.startAll()
	var idx uint64
	for i := 0; i < 5; i++ {
		idx = c.propose(fmt.Sprintf("e-%d", i), all3...)
	}
	c.waitApplied(idx, all3...)
	leader := c.waitLeader(all3...)
	s := waitState(t, c.raft(leader), func(s State) bool {
		for _, v := range s.Voters {
			if !v.MatchKnown || v.Match < idx || v.LastCaughtUp.IsZero() {
				return false
			}
		}
		return s.Commit >= idx
	})
	if !s.Leading || s.Leader != leader || s.NodeID != leader || s.Term == 0 || len(s.Voters) != 3 || len(s.Learners) != 0 {
		t.Fatalf("leader's state: %+v", s)
	}
	for i, v := range s.Voters {
		if v.NodeID != int32(i) || v.LastContact.IsZero() || v.Match > s.LastIndex {
			t.Errorf("voter %d: %+v (last index %d)", i, v, s.LastIndex)
		}
	}
	if len(s.Addrs) != 3 || s.Addrs[others(all3, leader)[0]] == "" {
		t.Errorf("addrs: %v", s.Addrs)
	}

	follower := others(all3, leader)[0]
	fs := waitState(t, c.raft(follower), func(s State) bool { return s.Commit >= idx })
	if fs.Leading || fs.Leader != leader || fs.Term != s.Term || len(fs.Voters) != 3 {
		t.Fatalf("follower's state: %+v", fs)
	}
	for _, v := range fs.Voters {
		if v.MatchKnown || !v.LastContact.IsZero() {
			t.Errorf("a follower knows voter %d's progress: %+v", v.NodeID, v)
		}
	}

	stopped := time.Now()
	c.stop(leader)
	rest := others(all3, leader)
	next := c.waitLeader(rest...)
	idx = c.propose("after", rest...)
	c.waitApplied(idx, rest...)
	ns := waitState(t, c.raft(next), func(s State) bool { return s.Leading && s.Commit >= idx })
	if ns.Term <= s.Term || ns.Leader != next {
		t.Fatalf("new leader's state: %+v (old term %d)", ns, s.Term)
	}
	dead := ns.Voters[leader]
	if dead.MatchKnown && dead.Match >= idx {
		t.Errorf("dead voter %d is caught up: %+v", leader, dead)
	}
	if dead.LastContact.After(stopped) || dead.LastCaughtUp.After(stopped) {
		t.Errorf("dead voter's times: %+v", dead)
	}
}

// State fails once the node is closed.
func TestRaftStateClosed(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.startAll()
	r := c.raft(0)
	c.stop(0)
	if _, err := r.State(context.Background()); err == nil {
		t.Fatal("State on a closed node succeeded")
	}
}

func waitState(t *testing.T, r *Raft, ok func(State) bool) State {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s, err := r.State(ctx)
		cancel()
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("state never as expected: %+v, %v", s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
