package quorum

// Changing the voters (KIP-853's AddRaftVoter, RemoveRaftVoter and
// UpdateRaftVoter) with raft's configuration changes, one at a time, each
// a "simple" change that moves at most one voter (so no joint consensus
// is needed):
//
//   - AddVoter first adds the node as a learner, waits until its log has
//     caught up with the leader's, then promotes it. A node that does not
//     catch up in time stays a learner (ErrNotCaughtUp); calling AddVoter
//     again continues from there, RemoveVoter drops it.
//   - RemoveVoter takes a voter out of the voters. A voter the leader
//     hears from (alive) becomes a learner: it goes on receiving the log,
//     as a Kafka controller removed from the voters goes on fetching as an
//     observer, so a node that is also a broker keeps its metadata
//     current. A voter the leader has not heard from in two election
//     timeouts (dead) is removed from the quorum, as is a learner
//     (removing a demoted node once more drops it). The leader may remove
//     itself: once the change is applied it is no longer a voter and
//     hands leadership to the most up-to-date voter (resign).
//   - UpdateVoter records new endpoints for a member: a configuration
//     change that re-adds the member in its role, which raft treats as no
//     change of the configuration.
//
// As in Kafka, a change is refused while the leader has not committed an
// entry of its term or another change is not yet applied
// (ErrReconfigInProgress).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Errors of the membership changes. Each may be wrapped.
var (
	// ErrDuplicateVoter: the node is already a voter.
	ErrDuplicateVoter = errors.New("quorum: already a voter")
	// ErrVoterNotFound: the node is not a member (or is the last voter).
	ErrVoterNotFound = errors.New("quorum: no such voter")
	// ErrReconfigInProgress: the leader is new or another change is not
	// yet applied; retry.
	ErrReconfigInProgress = errors.New("quorum: leader not ready for a configuration change")
	// ErrNotCaughtUp: the new node did not catch up with the leader's log
	// before the context ended; it remains a learner.
	ErrNotCaughtUp = errors.New("quorum: the new voter did not catch up")
	// ErrBadVoter: a node id or endpoint that cannot be a member's.
	ErrBadVoter = errors.New("quorum: bad voter")
)

// catchUpPoll spaces the checks of a learner's progress.
const catchUpPoll = 50 * time.Millisecond

// AddVoter makes node (listening on endpoint, host:port of its controller
// listener) a voter: learner first, promoted once caught up. It returns
// once the promotion is committed and applied here.
//
// Errors: *NotLeaderError when this node does not lead; ErrDuplicateVoter;
// ErrReconfigInProgress; ErrNotCaughtUp; ErrProposalDropped; ctx.Err().
func (r *Raft) AddVoter(ctx context.Context, node int32, endpoint string) error {
	if err := checkEndpoint(endpoint); err != nil || node < 0 {
		return fmt.Errorf("%w: %d@%q: %v", ErrBadVoter, node, endpoint, err)
	}
	s, err := r.leaderState(ctx)
	if err != nil {
		return err
	}
	if hasPeer(s.Voters, node) {
		return fmt.Errorf("%w: node %d", ErrDuplicateVoter, node)
	}
	if !hasPeer(s.Learners, node) || s.Addrs[node] != endpoint {
		if err := r.changeConf(ctx, raftpb.ConfChangeAddLearnerNode, node, endpoint); err != nil {
			return err
		}
		r.log.Info("quorum: added a learner", "learner", node, "endpoint", endpoint)
	}
	if err := r.waitCaughtUp(ctx, node); err != nil {
		return err
	}
	if err := r.changeConf(ctx, raftpb.ConfChangeAddNode, node, endpoint); err != nil {
		return err
	}
	r.log.Info("quorum: promoted a voter", "voter", node, "endpoint", endpoint)
	return nil
}

// RemoveVoter takes node out of the voters (a live one stays a learner,
// a dead one or a learner leaves the quorum) and returns once that is
// committed and applied here. The last voter cannot be removed
// (ErrVoterNotFound). Other errors as AddVoter.
func (r *Raft) RemoveVoter(ctx context.Context, node int32) error {
	s, err := r.leaderState(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(s.Voters, func(p PeerState) bool { return p.NodeID == node })
	switch {
	case i >= 0 && len(s.Voters) == 1:
		return fmt.Errorf("%w: node %d is the only voter", ErrVoterNotFound, node)
	case i < 0 && !hasPeer(s.Learners, node):
		return fmt.Errorf("%w: node %d", ErrVoterNotFound, node)
	case i >= 0 && !r.livenessKnown(s.Voters[i], time.Now()):
		return fmt.Errorf("%w: too early in this leadership to tell whether node %d is alive", ErrReconfigInProgress, node)
	case i >= 0 && r.heardFrom(s.Voters[i], time.Now()):
		if err := r.changeConf(ctx, raftpb.ConfChangeAddLearnerNode, node, s.Addrs[node]); err != nil {
			return err
		}
		r.log.Info("quorum: removed a voter; it stays a learner", "node", node)
		return nil
	}
	if err := r.changeConf(ctx, raftpb.ConfChangeRemoveNode, node, ""); err != nil {
		return err
	}
	r.log.Info("quorum: removed a member", "node", node)
	return nil
}

// heardFrom reports whether the leader heard from voter p within two
// election timeouts (itself: always).
func (r *Raft) heardFrom(p PeerState, now time.Time) bool {
	if p.NodeID == r.cfg.NodeID {
		return true
	}
	return !p.LastContact.IsZero() && now.Sub(p.LastContact) < r.deadAfter()
}

// livenessKnown reports whether heardFrom can tell about p: it has
// answered this leader, or the leadership is old enough that it would
// have if alive.
func (r *Raft) livenessKnown(p PeerState, now time.Time) bool {
	r.mu.Lock()
	since := r.leadSince
	r.mu.Unlock()
	return r.heardFrom(p, now) || now.Sub(since) >= r.deadAfter()
}

// deadAfter is how long a leader must not hear from a voter to count it
// dead: two election timeouts.
func (r *Raft) deadAfter() time.Duration {
	return 2 * time.Duration(r.cfg.ElectionTicks) * r.cfg.TickInterval
}

// UpdateVoter records endpoint as node's controller listener. Errors as
// RemoveVoter.
func (r *Raft) UpdateVoter(ctx context.Context, node int32, endpoint string) error {
	if err := checkEndpoint(endpoint); err != nil {
		return fmt.Errorf("%w: endpoint %q: %v", ErrBadVoter, endpoint, err)
	}
	s, err := r.leaderState(ctx)
	if err != nil {
		return err
	}
	typ := raftpb.ConfChangeAddNode
	switch {
	case hasPeer(s.Learners, node):
		typ = raftpb.ConfChangeAddLearnerNode
	case !hasPeer(s.Voters, node):
		return fmt.Errorf("%w: node %d", ErrVoterNotFound, node)
	}
	if s.Addrs[node] == endpoint {
		return nil
	}
	return r.changeConf(ctx, typ, node, endpoint)
}

// leaderState is State, or a *NotLeaderError when this node does not lead.
func (r *Raft) leaderState(ctx context.Context) (State, error) {
	s, err := r.State(ctx)
	if err != nil {
		return s, err
	}
	if !s.Leading {
		return s, &NotLeaderError{Leader: s.Leader}
	}
	return s, nil
}

func hasPeer(ps []PeerState, node int32) bool {
	return slices.ContainsFunc(ps, func(p PeerState) bool { return p.NodeID == node })
}

// changeConf proposes one simple configuration change and waits until it
// is applied here.
func (r *Raft) changeConf(ctx context.Context, typ raftpb.ConfChangeType, node int32, endpoint string) error {
	cc := raftpb.ConfChangeV2{Changes: []raftpb.ConfChangeSingle{{Type: typ, NodeID: raftID(node)}}}
	if endpoint != "" {
		cc.Context = encodeEndpoints(map[int32]string{node: endpoint})
	}
	data, err := cc.Marshal()
	if err != nil {
		return err
	}
	p := &proposal{ctx: ctx, data: data, cc: &cc, res: make(chan proposalResult, 1)}
	_, err = r.submit(ctx, p)
	return err
}

// waitCaughtUp waits until learner node's log reaches the leader's last
// index as of the start of the wait.
func (r *Raft) waitCaughtUp(ctx context.Context, node int32) error {
	var target uint64
	for {
		s, err := r.leaderState(ctx)
		if err != nil {
			return err
		}
		if target == 0 {
			target = s.LastIndex
		}
		i := slices.IndexFunc(s.Learners, func(p PeerState) bool { return p.NodeID == node })
		if i < 0 {
			return fmt.Errorf("%w: node %d is no longer a learner", ErrProposalDropped, node)
		}
		if p := s.Learners[i]; p.MatchKnown && p.Match >= target {
			return nil
		}
		t := time.NewTimer(catchUpPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: node %d (%v)", ErrNotCaughtUp, node, ctx.Err())
		case <-t.C:
		}
	}
}

// proposeConf hands a configuration change to Raft (loop goroutine), or
// fails it when raft would refuse it: raft turns a change proposed while
// another is pending into an empty entry, so the loop checks first.
func (r *Raft) proposeConf(p *proposal, st raft.BasicStatus) {
	if !r.confChangeAllowed() {
		p.finish(0, ErrReconfigInProgress)
		return
	}
	if err := r.rn.ProposeConfChange(*p.cc); err != nil {
		p.finish(0, fmt.Errorf("%w: %v", ErrProposalDropped, err))
		return
	}
	p.term = st.Term
	r.accepted = append(r.accepted, p)
}

// confChangeAllowed reports whether raft accepts a configuration change
// now: the leader has applied its first entry of the term (raft holds
// changes back until everything before its election is applied), no
// leadership transfer is under way, and no change in the log is
// unapplied. Loop goroutine.
func (r *Raft) confChangeAllowed() bool {
	r.mu.Lock()
	ready := r.readyIndex != 0 && r.leading
	r.mu.Unlock()
	if !ready || r.rn.BasicStatus().LeadTransferee != raft.None {
		return false
	}
	if len(r.confState.VotersOutgoing) > 0 {
		return false // joint configuration (not made by Fjord); raft leaves it itself
	}
	last, err := r.storage.LastIndex()
	if err != nil || last <= r.applied {
		return err == nil
	}
	ents, err := r.storage.Entries(r.applied+1, last+1, 1<<62)
	if err != nil {
		return false
	}
	return !slices.ContainsFunc(ents, func(e raftpb.Entry) bool { return e.Type != raftpb.EntryNormal })
}

// matchesProposal reports whether entry e is proposal p as raft appended
// it.
func matchesProposal(e raftpb.Entry, p *proposal) bool {
	if e.Term != p.term {
		return false
	}
	if p.cc != nil {
		return e.Type == raftpb.EntryConfChangeV2 && bytes.Equal(e.Data, p.data)
	}
	return e.Type == raftpb.EntryNormal && len(e.Data) == len(p.data) && &e.Data[0] == &p.data[0]
}

// maybeResign hands leadership away when this leader is no longer a
// voter (it removed itself): to the voter whose log is furthest along.
// Raft retries a transfer that did not finish within an election
// timeout; so does this, on the next loop iteration after that.
func (r *Raft) maybeResign() {
	if slices.Contains(r.confState.Voters, r.id) {
		return
	}
	if bs := r.rn.BasicStatus(); bs.RaftState != raft.StateLeader || bs.LeadTransferee != raft.None {
		return
	}
	st := r.rn.Status()
	var best uint64
	var bestMatch uint64
	for _, id := range r.confState.Voters {
		if pr, ok := st.Progress[id]; ok && (best == raft.None || pr.Match > bestMatch) {
			best, bestMatch = id, pr.Match
		}
	}
	if best != raft.None {
		r.log.Info("quorum: this leader is no longer a voter; handing leadership over", "to", nodeID(best))
		r.rn.TransferLeader(best)
	}
}

// addsNode reports whether cc adds a member. A node that joins needs the
// log from its start, and raft refuses a snapshot whose configuration
// does not include the node; so once the log is compacted, every member
// snapshots right after applying such a change (maybeSnapshot): the
// snapshot a leader sends the new node then includes it.
func addsNode(cc raftpb.ConfChangeV2) bool {
	return slices.ContainsFunc(cc.Changes, func(c raftpb.ConfChangeSingle) bool {
		return c.Type == raftpb.ConfChangeAddNode || c.Type == raftpb.ConfChangeAddLearnerNode
	})
}
