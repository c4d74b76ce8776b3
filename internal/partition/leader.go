package partition

import (
	"fmt"
	"slices"
	"time"

	"github.com/fjordlog/fjord/internal/storage"
)

// Leader-side replication (reference/kafka-replication.md §1): the leader
// tracks each follower's log end offset from its fetches and when it was
// last caught up, computes the high watermark over the ISR, and proposes
// ISR changes to the controller, one at a time.

// follower is the leader's view of one follower replica.
type follower struct {
	leo                int64 // -1 until its first fetch in this epoch
	logStart           int64
	lastFetchLeaderLEO int64
	lastFetchTime      time.Time
	lastCaughtUp       time.Time
}

// leaderState exists while this replica leads.
type leaderState struct {
	epochStart int64 // log end offset when this leader epoch began
	followers  map[int32]*follower
	pending    *AlterISR // ISR change in flight
}

// AlterISR is an ISR change a leader proposes (AlterPartition, api 56).
type AlterISR struct {
	Topic          string
	TopicID        [16]byte
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterOutcome classifies the controller's answer to an AlterISR.
type AlterOutcome int

// Outcomes of an AlterISR.
const (
	// AlterCommitted: the change is committed with the returned state.
	AlterCommitted AlterOutcome = iota
	// AlterRejected: the change is refused (ineligible replica, operation
	// not attempted): forget it and go back to the committed ISR.
	AlterRejected
	// AlterWaitMetadata: the request is stale; stay pending until new
	// metadata arrives (SetState clears it).
	AlterWaitMetadata
	// AlterRetry: a transient failure; the proposal is sent again.
	AlterRetry
)

// AlterResult is the controller's answer to an AlterISR.
type AlterResult struct {
	Outcome        AlterOutcome
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// becomeLeader starts a leader epoch: it begins at the log end offset,
// which is recorded in the epoch cache; followers in the ISR count as
// caught up now, the others not at all. Called with mu held.
func (p *Partition) becomeLeader() {
	now := p.now()
	ls := &leaderState{epochStart: p.log.LogEndOffset(), followers: map[int32]*follower{}}
	for _, r := range p.state.Replicas {
		if r == p.localID {
			continue
		}
		f := &follower{leo: -1}
		if slices.Contains(p.state.ISR, r) {
			f.lastCaughtUp = now
		}
		ls.followers[r] = f
	}
	p.leader = ls
	if latest, ok := p.log.LatestEpoch(); !ok || latest < p.state.LeaderEpoch {
		if err := p.log.AssignEpoch(p.state.LeaderEpoch); err != nil {
			_ = p.fail(err)
		}
	}
	p.logger.Info("became leader", "leaderEpoch", p.state.LeaderEpoch, "epochStart", ls.epochStart, "isr", p.state.ISR)
}

// syncFollowers follows a change of the replica set within a leader
// epoch (a reassignment adding or removing replicas): a new replica is
// tracked from its first fetch, as not caught up; a removed one is
// forgotten. Called with mu held while leading.
func (p *Partition) syncFollowers() {
	for _, r := range p.state.Replicas {
		if _, ok := p.leader.followers[r]; !ok && r != p.localID {
			p.leader.followers[r] = &follower{leo: -1}
		}
	}
	for id := range p.leader.followers {
		if !slices.Contains(p.state.Replicas, id) {
			delete(p.leader.followers, id)
		}
	}
	// A proposal naming a removed replica (made between the controller's
	// answer that completed a reassignment and the metadata that removes
	// the replica) can never commit: drop it, or it would hold the HW.
	if pa := p.leader.pending; pa != nil {
		for _, r := range pa.ISR {
			if !slices.Contains(p.state.Replicas, r) {
				p.leader.pending = nil
				break
			}
		}
	}
}

// maximalISR is the committed ISR plus a member being added: a pending
// expansion counts at once, a pending shrink only once committed.
func (p *Partition) maximalISR() []int32 {
	if p.leader != nil && p.leader.pending != nil && len(p.leader.pending.ISR) > len(p.state.ISR) {
		return p.leader.pending.ISR
	}
	return p.state.ISR
}

// maybeAdvanceHW moves the high watermark to the smallest log end offset
// over the maximal ISR and the caught-up, eligible followers outside it,
// never backwards, and not at all while the ISR is smaller than the
// effective min.insync.replicas. Called with mu held.
func (p *Partition) maybeAdvanceHW() {
	if !p.isLeader() || p.leader == nil || len(p.state.ISR) < p.minISR() {
		return
	}
	leo, now, maximal := p.log.LogEndOffset(), p.now(), p.maximalISR()
	hw := leo
	for _, id := range maximal {
		if id == p.localID {
			continue
		}
		f := p.leader.followers[id]
		if f == nil || f.leo < 0 {
			return // a member's progress is unknown: nothing can be proven
		}
		hw = min(hw, f.leo)
	}
	// Like Kafka, wait for a caught-up, eligible follower about to join:
	// otherwise, under steady produce, the HW runs ahead of it and it never
	// reaches the HW to join (reference §1, high watermark rule 2).
	for id, f := range p.leader.followers {
		if !slices.Contains(maximal, id) && p.caughtUp(f, leo, now) && p.eligible(id) {
			if f.leo < 0 {
				return
			}
			hw = min(hw, f.leo)
		}
	}
	if hw > p.hw {
		p.hw = hw
		p.notify()
	}
}

// FollowerFetch is a follower's fetch of one partition.
type FollowerFetch struct {
	ReplicaID        int32
	FetchOffset      int64
	LogStartOffset   int64
	CurrentEpoch     int32 // -1: not checked
	LastFetchedEpoch int32 // -1: no divergence check
	MaxBytes         int
	// Throttled answers without records (a replication throttle holds
	// the follower back); its progress is still recorded.
	Throttled bool
}

// Diverging tells a follower where its log diverges from the leader's.
type Diverging struct {
	Epoch     int32
	EndOffset int64
}

// FollowerFetchResult is the leader's answer.
type FollowerFetchResult struct {
	Records          storage.Range // see FetchResult.Records
	HighWatermark    int64
	LastStableOffset int64 // for the response only; followers derive their own
	LogStartOffset   int64
	Diverging        *Diverging
}

// ReadForFollower serves a follower fetch: it checks for divergence
// (KIP-320), records the follower's progress (updating its caught-up time,
// possibly expanding the ISR and advancing the HW), and reads from the
// fetch offset up to the log end.
func (p *Partition) ReadForFollower(r FollowerFetch) (FollowerFetchResult, error) {
	p.mu.Lock()
	res, done, err := p.followerProgress(r)
	p.mu.Unlock()
	if done || err != nil || r.Throttled {
		return res, err
	}
	rg, err := p.log.ReadRange(r.FetchOffset, r.MaxBytes, p.log.LogEndOffset(), true)
	if err != nil {
		return res, p.readError(err)
	}
	res.Records = rg
	return res, nil
}

// followerProgress does the leader-side bookkeeping of a follower fetch;
// done means the answer is complete without reading (divergence).
func (p *Partition) followerProgress(r FollowerFetch) (FollowerFetchResult, bool, error) {
	res := FollowerFetchResult{HighWatermark: p.hw, LastStableOffset: p.hw, LogStartOffset: p.log.LogStartOffset()}
	if _, err := p.readState(r.CurrentEpoch); err != nil {
		return res, true, err
	}
	f := p.leader.followers[r.ReplicaID]
	if f == nil {
		return res, true, fmt.Errorf("%w: broker %d is not a replica", ErrNotLeader, r.ReplicaID)
	}
	if d, err := p.divergence(r); d != nil || err != nil {
		res.Diverging = d
		return res, true, err
	}
	leo := p.log.LogEndOffset()
	if r.FetchOffset > leo || r.FetchOffset < res.LogStartOffset {
		return res, true, ErrOffsetOutOfRange
	}
	p.recordFetch(f, r, leo)
	p.maybeExpandISR(r.ReplicaID, f)
	p.maybeAdvanceHW()
	res.HighWatermark, res.LastStableOffset = p.hw, p.lastStable()
	return res, false, nil
}

// divergence checks the follower's last fetched epoch against ours.
func (p *Partition) divergence(r FollowerFetch) (*Diverging, error) {
	if r.LastFetchedEpoch < 0 {
		return nil, nil
	}
	e, end := p.log.EndOffsetForEpoch(r.LastFetchedEpoch)
	if e < 0 || r.FetchOffset < p.log.LogStartOffset() {
		return nil, ErrOffsetOutOfRange
	}
	if e < r.LastFetchedEpoch || end < r.FetchOffset {
		return &Diverging{Epoch: e, EndOffset: end}, nil
	}
	return nil, nil
}

// recordFetch applies Kafka's caught-up rule: a fetch at the leader's log
// end is caught up now; a fetch at least at the leader's end as of the
// previous fetch was caught up then.
func (p *Partition) recordFetch(f *follower, r FollowerFetch, leaderLEO int64) {
	now := p.now()
	switch {
	case r.FetchOffset >= leaderLEO:
		f.lastCaughtUp = maxTime(f.lastCaughtUp, now)
	case r.FetchOffset >= f.lastFetchLeaderLEO:
		f.lastCaughtUp = maxTime(f.lastCaughtUp, f.lastFetchTime)
	}
	f.lastFetchLeaderLEO = max(leaderLEO, f.lastFetchLeaderLEO)
	f.lastFetchTime = now
	if r.LogStartOffset > f.logStart {
		p.notify() // a DeleteRecords waiting for the low watermark
	}
	f.leo, f.logStart = r.FetchOffset, r.LogStartOffset
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// maybeExpandISR proposes adding a follower that has reached both the HW
// and the start of this leader epoch.
func (p *Partition) maybeExpandISR(id int32, f *follower) {
	if p.leader.pending != nil || slices.Contains(p.state.ISR, id) || !p.eligible(id) {
		return
	}
	if f.leo < p.hw || f.leo < p.leader.epochStart {
		return
	}
	isr := append(slices.Clone(p.state.ISR), id)
	slices.Sort(isr)
	p.propose(isr)
}

// MaybeShrinkISR removes from the ISR every follower that has not caught
// up within replica.lag.time.max.ms. The owner calls it periodically
// (every replica.lag.time.max.ms / 2). It also recomputes the high
// watermark: a caught-up follower outside the ISR holds it back only
// while it stays caught up, and once it falls behind with no fetch or
// append to notice, only time tells (found by the chaos suite: a leader
// whose ISR shrank to itself while its producers were all waiting never
// acknowledged them).
func (p *Partition) MaybeShrinkISR() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maybeAdvanceHW()
	if !p.isLeader() || p.leader == nil || p.leader.pending != nil {
		return
	}
	now, leo := p.now(), p.log.LogEndOffset()
	isr := slices.DeleteFunc(slices.Clone(p.state.ISR), func(id int32) bool {
		f := p.leader.followers[id]
		return id != p.localID && f != nil && !p.caughtUp(f, leo, now)
	})
	if len(isr) < len(p.state.ISR) {
		p.logger.Info("shrinking ISR: followers out of sync", "isr", p.state.ISR, "newIsr", isr)
		p.propose(isr)
	}
}

// caughtUp is Kafka's isCaughtUp: the follower is at the leader's log end,
// or was caught up within replica.lag.time.max.ms.
func (p *Partition) caughtUp(f *follower, leaderLEO int64, now time.Time) bool {
	return f.leo == leaderLEO || now.Sub(f.lastCaughtUp) <= p.cfg.ReplicaLagTimeMax
}

// propose records and sends an ISR change. Called with mu held.
func (p *Partition) propose(isr []int32) {
	a := AlterISR{
		Topic: p.Topic, TopicID: p.TopicID, Partition: p.Index,
		LeaderEpoch: p.state.LeaderEpoch, PartitionEpoch: p.state.PartitionEpoch, ISR: isr,
	}
	p.leader.pending = &a
	p.alter(a)
}

// CompleteAlter applies the controller's answer to the ISR change in flight.
func (p *Partition) CompleteAlter(req AlterISR, res AlterResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader == nil || p.leader.pending == nil || !slices.Equal(p.leader.pending.ISR, req.ISR) ||
		p.state.LeaderEpoch != req.LeaderEpoch {
		return // superseded
	}
	switch res.Outcome {
	case AlterCommitted:
		p.leader.pending = nil
		if res.LeaderEpoch == p.state.LeaderEpoch && res.PartitionEpoch > p.state.PartitionEpoch {
			p.state.ISR, p.state.PartitionEpoch = slices.Clone(res.ISR), res.PartitionEpoch
		}
		p.maybeAdvanceHW()
		p.notify()
	case AlterRejected:
		p.leader.pending = nil
	case AlterRetry:
		p.alter(*p.leader.pending)
	case AlterWaitMetadata:
	}
}

// ISRState returns the committed ISR and whether a change is in flight
// (for tests and metrics).
func (p *Partition) ISRState() ([]int32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.state.ISR), p.leader != nil && p.leader.pending != nil
}
