package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// joinCall is one JoinGroup being processed.
type joinCall struct {
	w                *waiter
	client           Client
	req              *kmsg.JoinGroupRequest
	protocols        []protocol
	rebalanceTimeout int32
}

// JoinGroup handles JoinGroup v0-v9. The answer usually comes later, when
// the rebalance's join phase ends.
func (c *Coordinator) JoinGroup(now time.Time, id RequestID, client Client, req *kmsg.JoinGroupRequest) Effects {
	o := c.begin(now)
	j := &joinCall{w: &waiter{id: id, version: req.Version}, client: client, req: req,
		rebalanceTimeout: req.RebalanceTimeoutMillis}
	if req.Version == 0 || j.rebalanceTimeout < 0 {
		j.rebalanceTimeout = req.SessionTimeoutMillis
	}
	for _, p := range req.Protocols {
		j.protocols = append(j.protocols, protocol{name: p.Name, metadata: p.Metadata})
	}
	c.join(o, j)
	return c.finish(o)
}

func (c *Coordinator) join(o *out, j *joinCall) {
	req := j.req
	if code := c.validateJoin(req); code != 0 {
		c.joinFail(o, j, req.MemberID, code)
		return
	}
	g := c.groups[req.Group]
	if g == nil && req.MemberID != "" {
		c.joinFail(o, j, req.MemberID, kerr.UnknownMemberID.Code)
		return
	}
	if g == nil {
		g = newGroup(req.Group)
		c.groups[req.Group] = g
	}
	if req.MemberID == "" {
		c.joinNew(o, g, j)
	} else {
		c.joinKnown(o, g, j)
	}
	c.tryCompleteJoin(o, g)
}

func (c *Coordinator) validateJoin(req *kmsg.JoinGroupRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	s := ms(req.SessionTimeoutMillis)
	if s < c.cfg.MinSessionTimeout || s > c.cfg.MaxSessionTimeout {
		return kerr.InvalidSessionTimeout.Code
	}
	return 0
}

func (c *Coordinator) joinFail(o *out, j *joinCall, memberID string, code int16) {
	o.reply(j.w.id, joinError(j.w, memberID, code))
}

// joinNew handles a JoinGroup without a member id.
func (c *Coordinator) joinNew(o *out, g *group, j *joinCall) {
	if !g.supports(j.req.ProtocolType, j.protocols) {
		c.joinFail(o, j, "", kerr.InconsistentGroupProtocol.Code)
		return
	}
	if _, static := g.staticMember(j.req.InstanceID); !static && len(g.members) >= c.cfg.MaxSize {
		c.joinFail(o, j, "", kerr.GroupMaxSizeReached.Code)
		return
	}
	id := c.newMemberID(g, j.client.ID)
	switch {
	case j.req.InstanceID != nil:
		c.joinStatic(o, g, j, id)
	case j.req.Version >= 4: // KIP-394: hand out the id, expect a rejoin
		g.pendingIDs[id] = c.now.Add(ms(j.req.SessionTimeoutMillis))
		c.joinFail(o, j, id, kerr.MemberIDRequired.Code)
	default:
		c.addMember(o, g, j, id)
	}
}

// newMemberID returns client.id + "-" + a UUID not used in g.
func (c *Coordinator) newMemberID(g *group, clientID string) string {
	for {
		id := clientID + "-" + c.cfg.UUID()
		_, pending := g.pendingIDs[id]
		if g.members[id] == nil && !pending {
			return id
		}
	}
}

// addMember adds a new member waiting on its JoinGroup and rebalances.
func (c *Coordinator) addMember(o *out, g *group, j *joinCall, id string) {
	m := &member{id: id, instanceID: j.req.InstanceID, clientID: j.client.ID, clientHost: j.client.Host,
		protocolType: j.req.ProtocolType, isNew: true}
	setProtocols(m, j)
	if g.state == statePreparing && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m, j.w)
	m.deadline = c.now.Add(c.cfg.NewMemberJoinTimeout)
	c.maybePrepareRebalance(o, g)
}

func setProtocols(m *member, j *joinCall) {
	m.protocols = j.protocols
	m.rebalanceTimeout = j.rebalanceTimeout
	m.sessionTimeout = j.req.SessionTimeoutMillis
}

// setJoin parks w as m's JoinGroup; a JoinGroup it supersedes is told to
// rejoin so that no request is left unanswered.
func setJoin(o *out, m *member, w *waiter) {
	if m.join != nil {
		o.reply(m.join.id, joinError(m.join, m.id, kerr.RebalanceInProgress.Code))
	}
	m.join = w
}

// joinKnown handles a JoinGroup carrying a member id.
func (c *Coordinator) joinKnown(o *out, g *group, j *joinCall) {
	id := j.req.MemberID
	if !g.supports(j.req.ProtocolType, j.protocols) {
		c.joinFail(o, j, id, kerr.InconsistentGroupProtocol.Code)
		return
	}
	if _, ok := g.pendingIDs[id]; ok {
		c.joinPending(o, g, j)
		return
	}
	if code := g.validateMember(id, j.req.InstanceID); code != 0 {
		c.joinFail(o, j, id, code)
		return
	}
	c.rejoin(o, g, g.members[id], j)
}

// joinPending admits a member that got its id from MEMBER_ID_REQUIRED.
func (c *Coordinator) joinPending(o *out, g *group, j *joinCall) {
	if len(g.members) >= c.cfg.MaxSize {
		delete(g.pendingIDs, j.req.MemberID)
		c.joinFail(o, j, j.req.MemberID, kerr.GroupMaxSizeReached.Code)
		return
	}
	c.addMember(o, g, j, j.req.MemberID)
}

// rejoin handles a JoinGroup of an existing member, by group state.
func (c *Coordinator) rejoin(o *out, g *group, m *member, j *joinCall) {
	switch g.state {
	case statePreparing:
		c.updateMember(o, g, m, j)
	case stateCompleting:
		if !m.matches(j.protocols) {
			c.updateMember(o, g, m, j)
			return
		}
		// Lost its JoinGroup answer: repeat it.
		o.reply(j.w.id, c.joinResponse(g, j.w, m.id, g.leader, m.id == g.leader, false))
	case stateStable:
		if m.id == g.leader || !m.matches(j.protocols) {
			// A leader's join forces a rebalance (e.g. topic metadata changed).
			c.updateMember(o, g, m, j)
			return
		}
		o.reply(j.w.id, c.joinResponse(g, j.w, m.id, g.leader, false, false))
	default:
		c.joinFail(o, j, m.id, kerr.UnknownMemberID.Code)
	}
}

func (c *Coordinator) updateMember(o *out, g *group, m *member, j *joinCall) {
	setProtocols(m, j)
	setJoin(o, m, j.w)
	c.maybePrepareRebalance(o, g)
}

// validateMember checks that memberID is in g and, for a static member,
// that it is the instance's current member id (Kafka's
// validateCurrentMember).
func (g *group) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case cur != memberID:
			return kerr.FencedInstanceID.Code
		}
		return 0
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}
