package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// joinStatic handles a JoinGroup without member id but with a
// group.instance.id (KIP-345).
func (c *Coordinator) joinStatic(o *out, g *group, j *joinCall, newID string) {
	oldID, ok := g.staticMember(j.req.InstanceID)
	if !ok {
		c.addMember(o, g, j, newID)
		return
	}
	c.replaceStatic(o, g, j, oldID, newID)
}

// savedMember is what a static rejoin changes, kept to revert it.
type savedMember struct {
	protocols        []protocol
	rebalanceTimeout int32
	sessionTimeout   int32
}

// replaceStatic gives a known static member a new member id. The old id is
// fenced: its waiting requests get FENCED_INSTANCE_ID. A Stable group whose
// protocol would not change does not rebalance; it stores the new id and
// answers once that record is durable.
func (c *Coordinator) replaceStatic(o *out, g *group, j *joinCall, oldID, newID string) {
	old := g.members[oldID]
	c.answerMember(o, g, old, kerr.FencedInstanceID.Code)
	saved := savedMember{old.protocols, old.rebalanceTimeout, old.sessionTimeout}
	prevLeader := g.leader
	m := g.replaceStatic(oldID, newID)
	c.heartbeat(m)
	setProtocols(m, j)
	m.join = j.w
	switch g.state {
	case stateStable:
		if p := g.selectProtocol(); g.protocol != nil && p == *g.protocol {
			c.storeStaticRejoin(o, g, m, saved, oldID, prevLeader)
			return
		}
		c.prepareRebalance(o, g)
	case stateCompleting:
		// The leader may be assigning to the old id: rebalance.
		c.prepareRebalance(o, g)
	}
	// PreparingRebalance: the member simply waits for the join phase.
}

// storeStaticRejoin persists the replaced member id, then answers the
// JoinGroup with the current generation (v9+: the leader is told to skip
// the assignment; before v9 the old leader id is returned so that a
// rejoining leader does not run a pointless assignment).
func (c *Coordinator) storeStaticRejoin(o *out, g *group, m *member, saved savedMember, oldID, prevLeader string) {
	w, newID := m.join, m.id
	c.storeGroup(o, g, g.assignments(), func(o *out, code int16) {
		if c.groups[g.id] != g || g.members[newID] != m || m.join != w {
			return // superseded: fenced again or answered by a rebalance
		}
		if code != 0 {
			c.revertStatic(o, g, m, saved, oldID)
			o.reply(w.id, joinError(w, "", appendErrorCode(code, false)))
			return
		}
		if g.state != stateStable {
			return // a rebalance started meanwhile; it answers the join
		}
		m.join = nil
		c.heartbeat(m)
		leader, isLeader := prevLeader, false
		if w.version >= 9 {
			leader, isLeader = g.leader, g.leader == newID
		}
		o.reply(w.id, c.joinResponse(g, w, newID, leader, isLeader, isLeader))
	})
}

// revertStatic undoes a static rejoin whose record failed to append.
func (c *Coordinator) revertStatic(_ *out, g *group, m *member, saved savedMember, oldID string) {
	m.join = nil
	g.replaceStatic(m.id, oldID)
	m.protocols, m.rebalanceTimeout, m.sessionTimeout = saved.protocols, saved.rebalanceTimeout, saved.sessionTimeout
	c.heartbeat(m)
}

// assignments maps each member to its current assignment.
func (g *group) assignments() map[string][]byte {
	a := make(map[string][]byte, len(g.members))
	for id, m := range g.members {
		a[id] = m.assignment
	}
	return a
}
