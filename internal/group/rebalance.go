package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func ms(n int32) time.Duration { return time.Duration(n) * time.Millisecond }

// maybePrepareRebalance starts a rebalance if the state allows one.
func (c *Coordinator) maybePrepareRebalance(o *out, g *group) {
	switch g.state {
	case stateStable, stateCompleting, stateEmpty:
		c.prepareRebalance(o, g)
	}
}

// prepareRebalance moves g to PreparingRebalance: members waiting for
// their assignment are told to rejoin, and the join phase is timed by the
// initial delay (from Empty) or the rebalance timeout.
func (c *Coordinator) prepareRebalance(o *out, g *group) {
	if g.state == stateCompleting {
		c.propagateAssignment(o, g, kerr.RebalanceInProgress.Code, true)
	}
	clear(g.pendingSync)
	g.syncDeadline = time.Time{}
	rt := g.rebalanceTimeout()
	delay := c.cfg.InitialRebalanceDelay
	g.initialDelay = g.state == stateEmpty && delay > 0
	if g.initialDelay {
		g.curDelay = delay
		g.initialRemaining = max(rt-delay, 0)
		g.joinDeadline = c.now.Add(delay)
	} else {
		g.joinDeadline = c.now.Add(rt)
	}
	g.transition(statePreparing, c.now)
	c.tryCompleteJoin(o, g)
}

// tryCompleteJoin ends the join phase early once every member rejoined
// (never during the initial delay, which always runs its course).
func (c *Coordinator) tryCompleteJoin(o *out, g *group) {
	if g.state == statePreparing && !g.initialDelay && g.allJoined() {
		c.completeJoin(o, g)
	}
}

// joinTimedOut handles the end of the join phase's timer.
func (c *Coordinator) joinTimedOut(o *out, g *group) {
	if g.initialDelay && g.newMemberAdded && g.initialRemaining > 0 {
		g.newMemberAdded = false
		delay := min(c.cfg.InitialRebalanceDelay, g.initialRemaining)
		g.initialRemaining = max(g.initialRemaining-g.curDelay, 0)
		g.curDelay = delay
		g.joinDeadline = c.now.Add(delay)
		return
	}
	c.completeJoin(o, g)
}

// completeJoin ends the join phase (Kafka's onCompleteJoin): dynamic
// members that did not rejoin leave, a new generation starts and every
// waiting JoinGroup is answered.
func (c *Coordinator) completeJoin(o *out, g *group) {
	for _, m := range g.memberList() {
		if m.join == nil && m.instanceID == nil {
			c.answerMember(o, g, m, kerr.UnknownMemberID.Code)
			g.remove(m.id)
		}
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined: wait again.
		g.initialDelay = false
		g.joinDeadline = c.now.Add(g.rebalanceTimeout())
		return
	}
	g.initialDelay = false
	g.joinDeadline = time.Time{}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = nil
		g.transition(stateEmpty, c.now)
		c.storeGroup(o, g, nil, nil)
		return
	}
	p := g.selectProtocol()
	g.protocol = &p
	g.transition(stateCompleting, c.now)
	c.answerJoins(o, g)
}

// answerJoins answers every parked JoinGroup of the new generation and
// starts waiting for every member's SyncGroup.
func (c *Coordinator) answerJoins(o *out, g *group) {
	for _, m := range g.memberList() {
		if m.join != nil {
			w := m.join
			m.join = nil
			o.reply(w.id, c.joinResponse(g, w, m.id, g.leader, m.id == g.leader, false))
		}
		c.heartbeat(m)
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	g.syncDeadline = c.now.Add(g.rebalanceTimeout())
}

// joinResponse is a successful JoinGroup answer for the current generation.
func (c *Coordinator) joinResponse(g *group, w *waiter, memberID, leader string, withMembers, skip bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = w.version
	r.Generation = g.generation
	r.ProtocolType = g.protocolType
	r.Protocol = g.protocol
	r.LeaderID = leader
	r.MemberID = memberID
	r.SkipAssignment = skip
	if withMembers {
		r.Members = g.joinMembers()
	}
	return r
}

// joinMembers is the member list the leader receives.
func (g *group) joinMembers() []kmsg.JoinGroupResponseMember {
	ms := make([]kmsg.JoinGroupResponseMember, 0, len(g.order))
	for _, m := range g.memberList() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadata(*g.protocol)
		ms = append(ms, jm)
	}
	return ms
}

func joinError(w *waiter, memberID string, code int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = w.version
	r.MemberID = memberID
	r.ErrorCode = code
	return r
}

func syncResponse(w *waiter, g *group, assignment []byte, code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = w.version
	r.ErrorCode = code
	if code == 0 {
		r.ProtocolType = g.protocolType
		r.Protocol = g.protocol
		r.MemberAssignment = assignment
	}
	return r
}

// propagateAssignment answers every parked SyncGroup with the member's
// assignment, or with code (clearing assignments when reset).
func (c *Coordinator) propagateAssignment(o *out, g *group, code int16, reset bool) {
	for _, m := range g.memberList() {
		if reset {
			m.assignment = nil
		}
		if m.sync != nil {
			o.reply(m.sync.id, syncResponse(m.sync, g, m.assignment, code))
			m.sync = nil
			c.heartbeat(m)
		}
	}
}

// answerMember answers m's parked requests with code.
func (c *Coordinator) answerMember(o *out, g *group, m *member, code int16) {
	if m.join != nil {
		o.reply(m.join.id, joinError(m.join, m.id, code))
		m.join = nil
	}
	if m.sync != nil {
		o.reply(m.sync.id, syncResponse(m.sync, g, nil, code))
		m.sync = nil
	}
}

// removeMember drops m (expired, left or fenced) and rebalances.
func (c *Coordinator) removeMember(o *out, g *group, m *member) {
	c.answerMember(o, g, m, kerr.UnknownMemberID.Code)
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompleting:
		c.maybePrepareRebalance(o, g)
	case statePreparing:
		c.tryCompleteJoin(o, g)
	}
}

// heartbeat restarts m's session timer.
func (c *Coordinator) heartbeat(m *member) {
	m.deadline = c.now.Add(ms(m.sessionTimeout))
}

// storeGroup writes g's metadata record with the given assignments; done,
// if set, runs when the record's batch completes.
func (c *Coordinator) storeGroup(o *out, g *group, assignment map[string][]byte, done doneFunc) {
	o.record(groupKey(g.id), groupValue(g, assignment))
	if done != nil {
		o.done = append(o.done, done)
	}
}
