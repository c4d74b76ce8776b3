package quorum

// Fast election after the leader's process died (issue 11).
//
// With PreVote and CheckQuorum a follower that heard from its leader less
// than an election timeout ago refuses to (pre-)vote for anyone, so after
// a leader crash the quorum waits out a randomized election timeout (1-2
// election timeouts) before it can elect. A crash is visible sooner: the
// dead leader's connections to its followers end, and its listener
// refuses new ones. The node's IO shell (it knows every listener of the
// leader's node) watches for that: OnLeaderConnLost tells it that an
// inbound connection from the leader ended, it probes, and when nothing
// listens any more it calls LeaderGone. The follower then forgets its
// leader (raft's ForgetLeader: it grants pre-votes at once) and the
// surviving voters campaign in node-id order, one stagger apart, so they
// do not split the vote.
//
// Safety does not depend on the probe: forgetting a leader and campaigning
// are always allowed in Raft (votes still need a quorum and an up-to-date
// log). A wrong suspicion costs one election, never an entry.

import (
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// After LeaderGone the first surviving voter in node-id order campaigns
// campaignDelay later (time for the others to learn of the death too and
// forget the leader, or they refuse its pre-vote), the next one
// campaignStagger after that if there is still no leader, and so on.
const (
	campaignDelay   = 50 * time.Millisecond
	campaignStagger = 250 * time.Millisecond
	// goneFor bounds how long the messages of a leader declared gone are
	// ignored: long enough for the survivors' campaigns, short enough that
	// a leader wrongly declared gone (alive, but its listeners refused for
	// a moment) that keeps its quorum gets this follower back.
	goneFor = 2 * time.Second
)

// gone is a LeaderGone call waiting for the loop (node -1: a Campaign call).
type gone struct {
	node int32
	term uint64
}

// LeaderGone tells the quorum that node, leader in term as this node
// knows it, is proven dead (by the caller: its listeners refuse
// connections). It never blocks; a call for a leader or term that is no
// longer current does nothing.
func (r *Raft) LeaderGone(node int32, term uint64) {
	select {
	case r.gonec <- gone{node: node, term: term}:
	default:
	}
}

// Campaign makes this node start an election now instead of at its next
// election timeout (tests; a whole quorum started at once). It never
// blocks; the election may of course be lost.
func (r *Raft) Campaign() {
	select {
	case r.gonec <- gone{node: -1}:
	default:
	}
}

// leaderGone runs on the loop: forget the leader and schedule this node's
// campaign by its rank among the surviving voters.
func (r *Raft) leaderGone(g gone) {
	if g.node == -1 {
		_ = r.rn.Campaign()
		return
	}
	st := r.rn.BasicStatus()
	if st.RaftState != raft.StateFollower || st.Term != g.term || st.Lead != raftID(g.node) {
		return
	}
	if err := r.rn.ForgetLeader(); err != nil {
		return
	}
	r.log.Info("quorum: leader's process is gone; electing a new leader now", "leader", g.node, "term", g.term)
	r.goneLeader, r.goneUntil = g, time.Now().Add(goneFor)
	delay := campaignDelay + time.Duration(r.survivorRank(g.node))*campaignStagger
	if r.campaignTimer == nil {
		r.campaignTimer = time.NewTimer(delay)
	} else {
		r.campaignTimer.Reset(delay)
	}
}

// fromGoneLeader reports whether m is a leader's message (append,
// heartbeat, snapshot) sent in the term of the leader LeaderGone declared
// dead, by that leader, within goneFor of the declaration: it was in
// flight when the follower forgot its leader, and stepping it would make
// the follower adopt the dead leader again (and refuse pre-votes for
// another election timeout).
func (r *Raft) fromGoneLeader(m raftpb.Message) bool {
	g := r.goneLeader
	if g.term == 0 || m.From != raftID(g.node) || m.Term != g.term || time.Now().After(r.goneUntil) {
		return false
	}
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
		return true
	}
	return false
}

// survivorRank returns this node's position among the voters other than
// dead, in node-id order.
func (r *Raft) survivorRank(dead int32) int {
	ids := make([]int32, 0, len(r.confState.Voters))
	for _, id := range r.confState.Voters {
		if nodeID(id) != dead {
			ids = append(ids, nodeID(id))
		}
	}
	slices.Sort(ids)
	return slices.Index(ids, r.cfg.NodeID)
}

// campaignDue returns the channel of the campaign timer (nil when none).
func (r *Raft) campaignDue() <-chan time.Time {
	if r.campaignTimer == nil {
		return nil
	}
	return r.campaignTimer.C
}

// scheduledCampaign starts the campaign scheduled by leaderGone if there
// is still no leader in that term.
func (r *Raft) scheduledCampaign() {
	st := r.rn.BasicStatus()
	if st.Lead == raft.None && st.Term == r.goneLeader.term && st.RaftState != raft.StateLeader {
		_ = r.rn.Campaign()
	}
}

// leaderConnLost is called when an inbound connection from node ends: if
// node is this follower's leader, the IO shell is told (it probes).
func (r *Raft) leaderConnLost(node int32) {
	if r.cfg.OnLeaderConnLost == nil {
		return
	}
	r.mu.Lock()
	st, leading := r.status, r.leading
	r.mu.Unlock()
	if !leading && st.Leader == node {
		r.cfg.OnLeaderConnLost(node, st.Term)
	}
}

// isClosed reports whether Close has begun.
func (r *Raft) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}
