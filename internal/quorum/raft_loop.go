package quorum

// The Raft loop: the one goroutine that owns the RawNode. It ticks, steps
// received messages, proposes, and handles each Ready in the order the
// raft package prescribes: persist (snapshot, entries, hard state; fsync)
// before sending messages, then send, then apply the snapshot and the
// committed entries, then Advance.

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// maxProposalBatch bounds the proposals taken in one loop iteration.
const maxProposalBatch = 64

func (r *Raft) run() {
	ticker := time.NewTicker(r.cfg.TickInterval)
	defer ticker.Stop()
	if cs := r.confState; len(cs.Voters) == 1 && cs.Voters[0] == r.id && len(cs.VotersOutgoing) == 0 {
		_ = r.rn.Campaign() // alone: no reason to wait for an election timeout
	}
	for {
		if err := r.processReady(); err != nil {
			r.log.Error("quorum: stopping after a fatal error", "err", err)
			r.shutdown(err)
			return
		}
		r.maybeResign()
		select {
		case <-r.stopc:
			r.shutdown(ErrClosed)
			return
		case <-ticker.C:
			r.rn.Tick()
		case <-r.campaignDue():
			r.scheduledCampaign()
		case m := <-r.recvc:
			if !r.fromGoneLeader(m) {
				_ = r.rn.Step(m) // errors concern only this message (stale, unknown peer)
				r.noteContact(m)
			}
		case p := <-r.propc:
			r.propose(p)
		case rep := <-r.reportc:
			r.report(rep)
		case g := <-r.gonec:
			r.leaderGone(g)
		case reply := <-r.statec:
			reply <- r.snapshotState(time.Now())
		}
	}
}

func (r *Raft) processReady() error {
	for r.rn.HasReady() {
		if err := r.handleReady(); err != nil {
			return err
		}
	}
	return nil
}

// shutdown fails everything in flight with err and wakes all waiters.
func (r *Raft) shutdown(err error) {
	for _, p := range r.accepted {
		p.finish(0, err)
	}
	r.accepted = nil
	r.dropWaiters(math.MaxUint64, err)
	r.mu.Lock()
	r.stopped = err
	r.leading = false
	if r.status.Leader != -1 {
		// This node no longer takes part: whoever watches must not act
		// on a leadership it holds or knows of.
		r.publishLeader(LeaderState{Leader: -1, Term: r.status.Term})
	}
	r.broadcast()
	r.mu.Unlock()
	close(r.done)
}

// propose hands p, and whatever other proposals are waiting, to Raft.
// Accepted ones get their index from the next Ready (handleReady runs
// before anything else can touch the log).
func (r *Raft) propose(p *proposal) {
	batch := []*proposal{p}
	for len(batch) < maxProposalBatch {
		select {
		case p := <-r.propc:
			batch = append(batch, p)
			continue
		default:
		}
		break
	}
	st := r.rn.BasicStatus()
	for _, p := range batch {
		switch err := p.ctx.Err(); {
		case err != nil:
			p.finish(0, err)
		case st.RaftState != raft.StateLeader:
			p.finish(0, &NotLeaderError{Leader: nodeID(st.Lead)})
		case p.cc != nil:
			r.proposeConf(p, st)
		default:
			r.proposeOne(p, st.Term)
		}
	}
}

func (r *Raft) proposeOne(p *proposal, term uint64) {
	if err := r.rn.Propose(p.data); err != nil {
		p.finish(0, fmt.Errorf("%w: %v", ErrProposalDropped, err))
		return
	}
	p.term = term
	r.accepted = append(r.accepted, p)
}

// handleReady processes one Ready. An error is fatal: the node's durable
// state or its state machine can no longer be trusted.
func (r *Raft) handleReady() error {
	rd := r.rn.Ready()
	if err := r.register(rd.Entries); err != nil {
		return err
	}
	if err := r.persist(rd); err != nil {
		return err
	}
	r.send(rd.Messages)
	r.noteLeadership()
	if err := r.restore(rd.Snapshot); err != nil {
		return err
	}
	if err := r.apply(rd.CommittedEntries); err != nil {
		return err
	}
	r.rn.Advance(rd)
	r.flushReports()
	return r.maybeSnapshot()
}

// register assigns indexes to the proposals accepted since the last
// Ready: Raft appended them, in order, at the end of its log, so they are
// the last entries of this Ready.
func (r *Raft) register(ents []raftpb.Entry) error {
	if len(r.accepted) == 0 {
		return nil
	}
	acc := r.accepted
	r.accepted = nil
	if len(ents) < len(acc) {
		return fmt.Errorf("quorum: %d proposals but %d new entries", len(acc), len(ents))
	}
	tail := ents[len(ents)-len(acc):]
	for i, p := range acc {
		e := tail[i]
		if !matchesProposal(e, p) {
			if p.cc != nil && e.Type == raftpb.EntryNormal && len(e.Data) == 0 && e.Term == p.term {
				// raft refused the change (another was pending) and
				// appended an empty entry in its place.
				p.finish(0, ErrReconfigInProgress)
				continue
			}
			return fmt.Errorf("quorum: entry %d is not the proposal expected there", e.Index)
		}
		r.waiters[e.Index] = p
	}
	return nil
}

// persist makes the Ready's snapshot, entries and hard state durable and
// visible to Raft through the MemoryStorage.
func (r *Raft) persist(rd raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := r.persistSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := r.wal.save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
		return err
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := r.storage.SetHardState(rd.HardState); err != nil {
			return err
		}
	}
	return r.storage.Append(rd.Entries)
}

// persistSnapshot stores a snapshot received from the leader; the log it
// replaces is dropped from the WAL.
func (r *Raft) persistSnapshot(s raftpb.Snapshot) error {
	if err := saveSnapshotFile(r.cfg.FS, r.cfg.Dir, s); err != nil {
		return err
	}
	if err := r.wal.rewrite(s.Metadata.Index, s.Metadata.Term, nil); err != nil {
		return err
	}
	if err := r.storage.ApplySnapshot(s); err != nil {
		return err
	}
	return removeOldSnapshots(r.cfg.FS, r.cfg.Dir, s.Metadata.Index)
}

// noteLeadership publishes the leader and term after the Ready that may
// have changed them, and tracks this node's own leadership.
func (r *Raft) noteLeadership() {
	st := r.rn.BasicStatus()
	ls := LeaderState{Leader: nodeID(st.Lead), Term: st.Term}
	leading := st.RaftState == raft.StateLeader
	r.mu.Lock()
	lost := r.leading && (!leading || r.leadTerm != st.Term)
	won := leading && (!r.leading || r.leadTerm != st.Term)
	if won {
		r.leadTerm, r.readyIndex, r.leadSince = st.Term, 0, time.Now()
	}
	r.leading = leading
	if ls != r.status {
		r.publishLeader(ls)
		r.log.Info("quorum: leader changed", "leader", ls.Leader, "term", ls.Term)
	}
	if lost || won {
		r.broadcast()
	}
	r.mu.Unlock()
	if lost {
		r.dropWaiters(math.MaxUint64, ErrProposalDropped)
	}
}

// restore installs a snapshot received from the leader into the state
// machine.
func (r *Raft) restore(s raftpb.Snapshot) error {
	if raft.IsEmptySnap(s) {
		return nil
	}
	index := s.Metadata.Index
	eps, data, err := unwrapSnapshot(s.Data)
	if err != nil {
		return fmt.Errorf("quorum: snapshot %d from the leader: %w", index, err)
	}
	if err := r.sm.Restore(index, data); err != nil {
		return fmt.Errorf("quorum: restore snapshot %d: %w", index, err)
	}
	r.log.Info("quorum: restored snapshot from the leader", "index", index, "term", s.Metadata.Term)
	r.setMembers(s.Metadata.ConfState, eps)
	r.snapIndex, r.snapTried = index, index
	r.setApplied(index, nil)
	r.dropWaiters(index, ErrProposalDropped)
	return nil
}

// apply hands committed entries to the state machine and configuration
// changes to Raft, then resolves the proposals they complete.
func (r *Raft) apply(ents []raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	for _, e := range ents {
		if err := r.applyOne(e); err != nil {
			return err
		}
	}
	r.setApplied(ents[len(ents)-1].Index, ents)
	for _, e := range ents {
		if p := r.waiters[e.Index]; p != nil {
			delete(r.waiters, e.Index)
			if e.Term == p.term {
				p.finish(e.Index, nil)
			} else {
				p.finish(0, ErrProposalDropped)
			}
		}
	}
	return nil
}

func (r *Raft) applyOne(e raftpb.Entry) error {
	var cc raftpb.ConfChangeI
	switch e.Type {
	case raftpb.EntryNormal:
		if len(e.Data) > 0 {
			r.sm.Apply(e.Index, e.Data)
		}
		return nil
	case raftpb.EntryConfChange:
		var c raftpb.ConfChange
		if err := c.Unmarshal(e.Data); err != nil {
			return fmt.Errorf("quorum: entry %d: %w", e.Index, err)
		}
		cc = c
	case raftpb.EntryConfChangeV2:
		var c raftpb.ConfChangeV2
		if err := c.Unmarshal(e.Data); err != nil {
			return fmt.Errorf("quorum: entry %d: %w", e.Index, err)
		}
		cc = c
	default:
		return fmt.Errorf("quorum: entry %d has unknown type %d", e.Index, e.Type)
	}
	v2 := cc.AsV2()
	r.confState = *r.rn.ApplyConfChange(cc)
	r.snapSoon = r.snapSoon || addsNode(v2)
	r.applyConfEndpoints(e.Index, v2.Changes, v2.Context)
	r.pruneEndpoints()
	r.publishMembers()
	r.log.Info("quorum: configuration changed", "index", e.Index, "voters", r.members.voters, "learners", r.members.learners)
	return nil
}

// setApplied records and publishes the applied index. ents are the
// entries just applied: the first of them in this node's leadership term
// marks the leader ready.
func (r *Raft) setApplied(index uint64, ents []raftpb.Entry) {
	r.applied = index
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pubApplied = index
	if r.leading && r.readyIndex == 0 {
		for _, e := range ents {
			if e.Term == r.leadTerm {
				r.readyIndex = e.Index
				break
			}
		}
	}
	r.broadcast()
}

// dropWaiters fails the proposals waiting on indexes <= upTo.
func (r *Raft) dropWaiters(upTo uint64, err error) {
	for i, p := range r.waiters {
		if i <= upTo {
			delete(r.waiters, i)
			p.finish(0, err)
		}
	}
}

// maybeSnapshot takes a snapshot once SnapshotEvery entries have been
// applied since the last one (or the last attempt), then compacts the log
// (see compact).
func (r *Raft) maybeSnapshot() error {
	index := r.applied
	if r.snapSoon && index > r.snapIndex {
		r.snapSoon = false
		if first, err := r.storage.FirstIndex(); err != nil || first > 1 {
			return r.snapshot(index) // see addsNode
		}
	}
	if index < r.snapTried+r.cfg.SnapshotEvery {
		return nil
	}
	return r.snapshot(index)
}

// snapshot takes a snapshot at the applied index and compacts the log.
func (r *Raft) snapshot(index uint64) error {
	r.snapTried = index
	data, err := r.sm.Snapshot()
	if err != nil {
		r.log.Warn("quorum: state machine snapshot failed; log not compacted", "index", index, "err", err)
		return nil
	}
	if eps := r.memberEndpoints(); !r.bootstrapEndpoints(eps) {
		data = wrapSnapshot(eps, data)
	}
	s, err := r.storage.CreateSnapshot(index, &r.confState, data)
	if err != nil {
		return err
	}
	if err := saveSnapshotFile(r.cfg.FS, r.cfg.Dir, s); err != nil {
		return err
	}
	if err := r.compact(index); err != nil {
		return err
	}
	r.log.Debug("quorum: snapshot taken", "index", index, "bytes", len(data))
	return removeOldSnapshots(r.cfg.FS, r.cfg.Dir, index)
}

// compact drops the log up to a point shortly before index, which a
// durable snapshot covers: the WAL is rewritten to hold only what follows
// that point, and the MemoryStorage drops the entries before it. The last
// SnapshotEvery/4 entries the snapshot covers are kept so that a follower
// just behind can still be sent entries; one further behind gets the
// snapshot. (A restart keeps only what follows the snapshot.)
func (r *Raft) compact(index uint64) error {
	from, err := r.compactPoint(index)
	if err != nil {
		return err
	}
	fromTerm, err := r.storage.Term(from)
	if err != nil {
		return err
	}
	last, err := r.storage.LastIndex()
	if err != nil {
		return err
	}
	var ents []raftpb.Entry
	if last > from {
		if ents, err = r.storage.Entries(from+1, last+1, math.MaxUint64); err != nil {
			return err
		}
	}
	if err := r.wal.rewrite(from, fromTerm, ents); err != nil {
		return err
	}
	if err := r.storage.Compact(from); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return err
	}
	r.snapIndex = index
	return nil
}

// compactPoint is the index up to which the log is dropped when
// compacting after a snapshot at index.
func (r *Raft) compactPoint(index uint64) (uint64, error) {
	first, err := r.storage.FirstIndex()
	if err != nil {
		return 0, err
	}
	from := index - min(index, r.cfg.SnapshotEvery/4)
	return max(from, first-1), nil
}
