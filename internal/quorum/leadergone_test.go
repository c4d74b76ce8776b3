package quorum

import (
	"context"
	"testing"
	"time"
)

// After the leader dies, its followers learn of it from the ended
// connection (OnLeaderConnLost); once told it is gone (LeaderGone, here
// at once, in the node by a refused probe) they elect a new leader without
// waiting out the election timeout, which this test sets to 10 s.
func TestRaftLeaderGoneElectsAtOnce(t *testing.T) {
	lost := make(chan gone, 16)
	c := newCluster(t, 3, func(cfg *RaftConfig) {
		cfg.ElectionTicks = 500 // 10 s
		cfg.OnLeaderConnLost = func(leader int32, term uint64) { lost <- gone{leader, term} }
	})
	for _, nd := range c.nodes {
		c.start(nd.id)
	}
	c.raft(0).Campaign()
	old := c.waitLeader(all3...)
	c.propose("before", all3...)
	term := c.raft(old).Term()
	c.stop(old)
	rest := others(all3, old)
	deadline := time.After(4 * time.Second) // well under the 10 s election timeout
	select {                                // the first report; the test, playing the prober, tells every survivor
	case g := <-lost:
		if g.node != old || g.term != term {
			t.Fatalf("lost connection reported for %d in term %d, want %d in %d", g.node, g.term, old, term)
		}
		for _, i := range rest {
			c.raft(i).LeaderGone(g.node, g.term)
		}
	case <-deadline:
		t.Fatal("no lost leader connection reported")
	}
	for {
		if l, ok := c.agreedLeader(rest); ok {
			if c.raft(l).Term() <= term {
				t.Fatalf("new leader %d in term %d, old term %d", l, c.raft(l).Term(), term)
			}
			break
		}
		select {
		case <-deadline:
			t.Fatal("no new leader before the election timeout")
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.propose("after", rest...)
}

// ledCluster starts three nodes with a 10 s election timeout, has node 0
// campaign, and returns the cluster with its leader and term.
func ledCluster(t *testing.T) (*cluster, int32, uint64) {
	t.Helper()
	c := newCluster(t, 3, func(cfg *RaftConfig) { cfg.ElectionTicks = 500 })
	c.startAll()
	c.raft(0).Campaign()
	leader := c.waitLeader(all3...)
	return c, leader, c.raft(leader).Term()
}

// LeaderGone about a node that does not lead the follower's current term
// changes nothing.
func TestRaftLeaderGoneStale(t *testing.T) {
	c, leader, term := ledCluster(t)
	for _, i := range others(all3, leader) {
		c.raft(i).LeaderGone(leader, term-1)
		c.raft(i).LeaderGone(i, term)
	}
	c.propose("still", all3...)
	if l, ok := c.agreedLeader(all3); !ok || l != leader || c.raft(l).Term() != term {
		t.Fatalf("leader %d term %d after stale LeaderGone, want %d term %d", l, c.raft(l).Term(), leader, term)
	}
}

// A leader wrongly declared gone by one follower (it lives and keeps its
// quorum with the other) gets that follower back: the follower's campaign
// fails (the other follower is in the leader's lease), and after goneFor
// it takes the leader's messages again and applies what was committed
// meanwhile.
func TestRaftLeaderGoneFalseSuspicionRecovers(t *testing.T) {
	c, leader, term := ledCluster(t)
	wrong := others(all3, leader)[0]
	c.raft(wrong).LeaderGone(leader, term)
	idx := c.propose("during", all3...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*goneFor)
	defer cancel()
	if err := c.raft(wrong).WaitApplied(ctx, idx); err != nil {
		t.Fatalf("the wrongly suspecting follower applied %d, want %d: %v", c.raft(wrong).AppliedIndex(), idx, err)
	}
	if l, ok := c.agreedLeader(all3); !ok || l != leader {
		t.Fatalf("leader %d (agreed %v), want %d still", l, ok, leader)
	}
}
