package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup handles SyncGroup v0-v5. In CompletingRebalance the answer
// waits for the leader's assignment and for its record to be durable.
func (c *Coordinator) SyncGroup(now time.Time, id RequestID, req *kmsg.SyncGroupRequest) Effects {
	o := c.begin(now)
	w := &waiter{id: id, version: req.Version}
	if code := c.sync(o, w, req); code != 0 {
		o.reply(id, syncResponse(w, nil, nil, code))
	}
	return c.finish(o)
}

// sync parks or answers w; a non-zero result is an immediate error.
func (c *Coordinator) sync(o *out, w *waiter, req *kmsg.SyncGroupRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.groups[req.Group]
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if code := g.validateSync(req); code != 0 {
		return code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparing:
		return kerr.RebalanceInProgress.Code
	case stateCompleting:
		c.syncCompleting(o, g, m, w, req)
	case stateStable:
		delete(g.pendingSync, m.id)
		o.reply(w.id, syncResponse(w, g, m.assignment, 0))
		c.heartbeat(m)
	default:
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func (g *group) validateSync(req *kmsg.SyncGroupRequest) int16 {
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	switch {
	case req.Generation != g.generation:
		return kerr.IllegalGeneration.Code
	case req.ProtocolType != nil && (g.protocolType == nil || *req.ProtocolType != *g.protocolType):
		return kerr.InconsistentGroupProtocol.Code
	case req.Protocol != nil && (g.protocol == nil || *req.Protocol != *g.protocol):
		return kerr.InconsistentGroupProtocol.Code
	}
	return 0
}

// syncCompleting parks m's SyncGroup; the leader's carries the assignment,
// which is written and, once durable, handed to every member untouched.
func (c *Coordinator) syncCompleting(o *out, g *group, m *member, w *waiter, req *kmsg.SyncGroupRequest) {
	if m.sync != nil {
		o.reply(m.sync.id, syncResponse(m.sync, g, nil, kerr.RebalanceInProgress.Code))
	}
	m.sync = w
	delete(g.pendingSync, m.id)
	if m.id != g.leader {
		return
	}
	assignment := make(map[string][]byte, len(g.members))
	for id := range g.members {
		assignment[id] = []byte{}
	}
	for _, a := range req.GroupAssignment {
		if _, ok := assignment[a.MemberID]; ok {
			assignment[a.MemberID] = a.MemberAssignment
		}
	}
	gen := g.generation
	c.storeGroup(o, g, assignment, func(o *out, code int16) {
		c.assignmentStored(o, g, gen, assignment, code)
	})
}

// assignmentStored completes the rebalance once the leader's assignment is
// durable, unless the group moved on meanwhile.
func (c *Coordinator) assignmentStored(o *out, g *group, gen int32, assignment map[string][]byte, code int16) {
	if c.groups[g.id] != g || g.state != stateCompleting || g.generation != gen {
		return
	}
	if code != 0 {
		c.propagateAssignment(o, g, appendErrorCode(code, false), true)
		c.maybePrepareRebalance(o, g)
		return
	}
	for id, m := range g.members {
		m.assignment = assignment[id]
	}
	g.transition(stateStable, c.now)
	c.propagateAssignment(o, g, 0, false)
}

// Heartbeat handles Heartbeat v0-v4.
func (c *Coordinator) Heartbeat(now time.Time, id RequestID, req *kmsg.HeartbeatRequest) Effects {
	o := c.begin(now)
	r := req.ResponseKind().(*kmsg.HeartbeatResponse)
	r.ErrorCode = c.heartbeatCode(req)
	o.reply(id, r)
	return c.finish(o)
}

func (c *Coordinator) heartbeatCode(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.groups[req.Group]
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	switch g.state {
	case stateCompleting, stateStable:
		c.heartbeat(g.members[req.MemberID])
		return 0
	case statePreparing:
		c.heartbeat(g.members[req.MemberID])
		return kerr.RebalanceInProgress.Code
	}
	return kerr.UnknownMemberID.Code
}

// LeaveGroup handles LeaveGroup v0-v5; v3+ removes a batch of members,
// by member id or, with an empty member id, by group.instance.id.
func (c *Coordinator) LeaveGroup(now time.Time, id RequestID, req *kmsg.LeaveGroupRequest) Effects {
	o := c.begin(now)
	r := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if req.Group == "" {
		r.ErrorCode = kerr.InvalidGroupID.Code
		leaving = nil
	}
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = c.leave(o, c.groups[req.Group], lm)
		r.Members = append(r.Members, rm)
	}
	if req.Version < 3 && len(r.Members) == 1 {
		r.ErrorCode, r.Members = r.Members[0].ErrorCode, nil
	}
	o.reply(id, r)
	return c.finish(o)
}

// leave removes one member and returns its error code.
func (c *Coordinator) leave(o *out, g *group, lm kmsg.LeaveGroupRequestMember) int16 {
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	id := lm.MemberID
	if id == "" {
		cur, ok := g.staticMember(lm.InstanceID)
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		id = cur
	} else if _, ok := g.pendingIDs[id]; ok {
		delete(g.pendingIDs, id)
		c.tryCompleteJoin(o, g)
		return 0
	} else if code := g.validateMember(id, lm.InstanceID); code != 0 {
		return code
	}
	c.removeMember(o, g, g.members[id])
	return 0
}
