package group

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups handles DescribeGroups v0-v6. Member metadata and
// assignments are shown only for Stable groups, as in Kafka. An unknown
// group is "Dead" (v6+: with GROUP_ID_NOT_FOUND).
func (c *Coordinator) DescribeGroups(now time.Time, id RequestID, req *kmsg.DescribeGroupsRequest) Effects {
	o := c.begin(now)
	r := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		r.Groups = append(r.Groups, c.describe(name, req.Version))
	}
	o.reply(id, r)
	return c.finish(o)
}

func (c *Coordinator) describe(name string, version int16) kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group = name
	g := c.groups[name]
	if g == nil {
		d.State = stateDead.String()
		if version >= 6 {
			d.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " not found."
			d.ErrorMessage = &msg
		}
		return d
	}
	d.State = g.state.String()
	if g.protocolType != nil {
		d.ProtocolType = *g.protocolType
	}
	stable := g.state == stateStable
	if stable {
		d.Protocol = *g.protocol
	}
	for _, m := range g.memberList() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		if stable {
			dm.ProtocolMetadata, dm.MemberAssignment = m.metadata(*g.protocol), m.assignment
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// ListGroups handles ListGroups v0-v5 for this coordinator's groups; the
// shell merges the answers of all coordinators. StatesFilter (v4+) and
// TypesFilter (v5+, every group here is "classic") are case-insensitive.
func (c *Coordinator) ListGroups(now time.Time, id RequestID, req *kmsg.ListGroupsRequest) Effects {
	o := c.begin(now)
	r := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if matchesFilter(req.TypesFilter, "classic") {
		for _, g := range c.sortedGroups() {
			if !matchesFilter(req.StatesFilter, g.state.String()) {
				continue
			}
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.GroupState, lg.GroupType = g.id, g.state.String(), "classic"
			if g.protocolType != nil {
				lg.ProtocolType = *g.protocolType
			}
			r.Groups = append(r.Groups, lg)
		}
	}
	o.reply(id, r)
	return c.finish(o)
}

func matchesFilter(filter []string, v string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if strings.EqualFold(f, v) {
			return true
		}
	}
	return false
}

// DeleteGroups handles DeleteGroups v0-v3: Empty groups are removed with
// tombstones for their offsets and metadata (answered once durable, and
// restored if the tombstones fail); others, and groups with an open
// transaction's offsets, get NON_EMPTY_GROUP, unknown ones
// GROUP_ID_NOT_FOUND.
func (c *Coordinator) DeleteGroups(now time.Time, id RequestID, req *kmsg.DeleteGroupsRequest) Effects {
	o := c.begin(now)
	r := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	var deleted []*group
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		g := c.groups[name]
		switch {
		case g == nil:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
		case g.state != stateEmpty || g.openTxn():
			rg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			c.deleteGroup(o, g)
			deleted = append(deleted, g)
		}
		r.Groups = append(r.Groups, rg)
	}
	if len(deleted) == 0 {
		o.reply(id, r)
		return c.finish(o)
	}
	o.done = append(o.done, func(o *out, code int16) {
		if code != 0 {
			c.restoreGroups(deleted, r, appendErrorCode(code, false))
		}
		o.reply(id, r)
	})
	return c.finish(o)
}

// deleteGroup tombstones g's offsets (committed or pending) and metadata
// and removes it.
func (c *Coordinator) deleteGroup(o *out, g *group) {
	for _, tp := range g.sortedOffsets() {
		o.record(offsetKey(g.id, tp), nil)
	}
	var pending []topicPartition
	for tp := range g.pendingCommits {
		if _, ok := g.offsets[tp]; !ok {
			pending = append(pending, tp)
		}
	}
	slices.SortFunc(pending, cmpTP)
	for _, tp := range pending {
		o.record(offsetKey(g.id, tp), nil)
	}
	clear(g.pendingCommits)
	c.dropGroup(o, g)
}

// restoreGroups puts back deleted groups whose tombstones failed, unless
// the name was reused meanwhile, and marks them failed in r.
func (c *Coordinator) restoreGroups(deleted []*group, r *kmsg.DeleteGroupsResponse, code int16) {
	for _, g := range deleted {
		if c.groups[g.id] == nil {
			g.state = stateEmpty
			c.groups[g.id] = g
		}
		for i := range r.Groups {
			if r.Groups[i].Group == g.id {
				r.Groups[i].ErrorCode = code
			}
		}
	}
}
