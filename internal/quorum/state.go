package quorum

// A read-only view of the quorum for DescribeQuorum-style reporting. The
// RawNode belongs to the Raft loop, so State asks the loop for a copy
// (statec); the per-follower contact times it reports are kept by the
// loop as responses arrive (noteContact).

import (
	"cmp"
	"context"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// State is one member's view of the quorum at one moment. Indexes are
// raft indexes (the metadata offsets of the entries).
type State struct {
	NodeID    int32
	Leader    int32  // -1 when unknown
	Term      uint64 // this node's current term
	Leading   bool   // this node leads in Term: Voters carry progress
	Commit    uint64 // highest index known committed
	LastIndex uint64 // last index in this node's log
	Voters    []PeerState
	Learners  []PeerState
	// Addrs maps each member (voter or learner) to its controller
	// listener's host:port, where known: from the membership in the log,
	// else from RaftConfig.Voters.
	Addrs map[int32]string
}

// PeerState is what this node knows of one member. Only the leader knows
// the others' logs: elsewhere (and on the leader before a member has
// answered in this term) MatchKnown is false and the times are zero.
type PeerState struct {
	NodeID     int32
	Match      uint64 // highest index known to be in the member's log
	MatchKnown bool
	// LastContact is when the member last answered this leader (an
	// append or heartbeat response); now for the leader itself.
	LastContact time.Time
	// LastCaughtUp is the last time the member's log was known to reach
	// the leader's last index; now for the leader itself.
	LastCaughtUp time.Time
}

// peerTimes are the contact times of one follower, kept by the loop.
type peerTimes struct {
	contact, caughtUp time.Time
}

// State returns this node's view of the quorum, read on the Raft loop.
// It returns ctx.Err() if ctx ends first and ErrClosed (or the error that
// stopped the node) once the loop has stopped.
func (r *Raft) State(ctx context.Context) (State, error) {
	reply := make(chan State, 1)
	select {
	case r.statec <- reply:
	case <-ctx.Done():
		return State{}, ctx.Err()
	case <-r.done:
		return State{}, r.stopErr()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return State{}, ctx.Err()
	}
}

// noteContact records, on the leader, that m's sender answered it. Runs
// on the loop after m was stepped, so the sender's progress includes it.
func (r *Raft) noteContact(m raftpb.Message) {
	if m.Type != raftpb.MsgAppResp && m.Type != raftpb.MsgHeartbeatResp {
		return
	}
	st := r.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || m.Term != st.Term {
		return
	}
	if r.contactTerm != st.Term || r.contact == nil {
		r.contact, r.contactTerm = make(map[uint64]peerTimes), st.Term
	}
	now := time.Now()
	t := r.contact[m.From]
	t.contact = now
	if last, err := r.storage.LastIndex(); err == nil {
		r.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			if id == m.From && pr.Match >= last {
				t.caughtUp = now
			}
		})
	}
	r.contact[m.From] = t
}

// snapshotState builds State. Runs on the loop.
func (r *Raft) snapshotState(now time.Time) State {
	st := r.rn.Status()
	last, _ := r.storage.LastIndex()
	s := State{
		NodeID: r.cfg.NodeID, Leader: nodeID(st.Lead), Term: st.Term, Commit: st.Commit,
		LastIndex: last, Leading: st.RaftState == raft.StateLeader, Addrs: r.memberEndpoints(),
	}
	for _, id := range r.confState.Voters {
		s.Voters = append(s.Voters, r.peerState(st, id, last, now))
	}
	for _, id := range r.confState.Learners {
		s.Learners = append(s.Learners, r.peerState(st, id, last, now))
	}
	byID := func(a, b PeerState) int { return cmp.Compare(a.NodeID, b.NodeID) }
	slices.SortFunc(s.Voters, byID)
	slices.SortFunc(s.Learners, byID)
	return s
}

func (r *Raft) peerState(st raft.Status, id, last uint64, now time.Time) PeerState {
	p := PeerState{NodeID: nodeID(id)}
	switch {
	case st.RaftState != raft.StateLeader:
	case id == r.id:
		p.Match, p.MatchKnown, p.LastContact, p.LastCaughtUp = last, true, now, now
	default:
		if pr, ok := st.Progress[id]; ok && pr.Match > 0 {
			p.Match, p.MatchKnown = pr.Match, true
		}
		if r.contactTerm == st.Term {
			t := r.contact[id]
			p.LastContact, p.LastCaughtUp = t.contact, t.caughtUp
		}
	}
	return p
}
