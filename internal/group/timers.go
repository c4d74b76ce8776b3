package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Tick runs every timeout due at now: MEMBER_ID_REQUIRED reservations,
// member sessions, the join phase (initial delay / rebalance timeout), the
// wait for SyncGroups, and every RetentionCheckInterval offset expiry.
func (c *Coordinator) Tick(now time.Time) Effects {
	o := c.begin(now)
	for _, g := range c.sortedGroups() {
		c.tickGroup(o, g)
	}
	if c.lastRetention.IsZero() || due(c.lastRetention.Add(c.cfg.RetentionCheckInterval), now) {
		c.lastRetention = now
		c.expireOffsets(o)
	}
	return c.finish(o)
}

// NextDeadline is the earliest time at which Tick has work to do; the zero
// Time means "tick now".
func (c *Coordinator) NextDeadline() time.Time {
	if c.lastRetention.IsZero() {
		return time.Time{}
	}
	next := c.lastRetention.Add(c.cfg.RetentionCheckInterval)
	for _, g := range c.groups {
		for _, dl := range g.pendingIDs {
			next = earliest(next, dl)
		}
		for _, m := range g.members {
			next = earliest(next, m.deadline)
		}
		if g.state == statePreparing {
			next = earliest(next, g.joinDeadline)
		}
		if len(g.pendingSync) > 0 {
			next = earliest(next, g.syncDeadline)
		}
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// due reports whether deadline is set and reached at now.
func due(deadline, now time.Time) bool {
	return !deadline.IsZero() && !now.Before(deadline)
}

func (c *Coordinator) tickGroup(o *out, g *group) {
	c.expirePendingIDs(o, g)
	for _, m := range g.memberList() {
		if g.members[m.id] == m && due(m.deadline, c.now) {
			c.sessionExpired(o, g, m)
		}
	}
	if g.state == statePreparing && due(g.joinDeadline, c.now) {
		c.joinTimedOut(o, g)
	}
	if (g.state == stateCompleting || g.state == stateStable) && len(g.pendingSync) > 0 &&
		due(g.syncDeadline, c.now) {
		c.syncTimedOut(o, g)
	}
}

// expirePendingIDs forgets member ids handed out with MEMBER_ID_REQUIRED
// that did not come back within their session timeout.
func (c *Coordinator) expirePendingIDs(o *out, g *group) {
	expired := false
	for id, dl := range g.pendingIDs {
		if due(dl, c.now) {
			delete(g.pendingIDs, id)
			expired = true
		}
	}
	if expired {
		c.tryCompleteJoin(o, g)
	}
}

// sessionExpired removes m unless it is waiting in a rebalance, which
// counts as a heartbeat (Kafka's hasSatisfiedHeartbeat); a new member's
// JoinGroup does expire after NewMemberJoinTimeout.
func (c *Coordinator) sessionExpired(o *out, g *group, m *member) {
	if !m.isNew && (m.join != nil || m.sync != nil) {
		m.deadline = time.Time{} // rescheduled when the wait ends
		return
	}
	c.removeMember(o, g, m)
}

// syncTimedOut removes the members that never sent SyncGroup for this
// generation and starts a new rebalance.
func (c *Coordinator) syncTimedOut(o *out, g *group) {
	for _, id := range slices.Clone(g.order) {
		if g.pendingSync[id] {
			m := g.members[id]
			c.answerMember(o, g, m, kerr.UnknownMemberID.Code)
			g.remove(id)
		}
	}
	c.prepareRebalance(o, g)
}
