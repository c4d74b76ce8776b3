package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// staticGroup builds a Stable group of static members (JoinGroup v9).
func staticGroup(h *harness, instances ...string) (map[string]string, int32) {
	h.t.Helper()
	var joins []RequestID
	for _, in := range instances {
		joins = append(joins, h.join(joinSpec{group: "g", version: 9, instance: str(in), client: in, topics: []string{"t"}}))
	}
	h.settle(joins[0])
	ids := map[string]string{}
	var leader string
	var gen int32
	for i, in := range instances {
		r := reply[*kmsg.JoinGroupResponse](h, joins[i])
		if r.ErrorCode != 0 {
			h.t.Fatalf("static join %s: %d", in, r.ErrorCode)
		}
		ids[in], leader, gen = r.MemberID, r.LeaderID, r.Generation
	}
	assign := map[string]string{}
	for in, id := range ids {
		assign[id] = "assign-" + in
	}
	h.sync("g", leader, gen, assign)
	for _, id := range ids {
		if id != leader {
			h.sync("g", id, gen, nil)
		}
	}
	return ids, gen
}

func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	h := newHarness(t)
	ids, gen := staticGroup(h, "s1", "s2")
	h.manual = true
	j := h.join(joinSpec{group: "g", version: 8, instance: str("s2"), client: "s2", topics: []string{"t"}})
	if h.answered(j) || len(h.held) != 1 {
		t.Fatal("static rejoin must wait for its group record")
	}
	h.completeHeld(nil)
	r := reply[*kmsg.JoinGroupResponse](h, j)
	if r.ErrorCode != 0 || r.Generation != gen || r.MemberID == ids["s2"] || r.LeaderID != ids["s1"] {
		t.Fatalf("static rejoin %+v", r)
	}
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("state %s: a static rejoin must not rebalance", s)
	}
	if code := h.heartbeat("g", ids["s2"], gen, str("s2")); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old member id: %d, want FENCED_INSTANCE_ID", code)
	}
	if code := h.heartbeat("g", r.MemberID, gen, str("s2")); code != 0 {
		t.Fatalf("new member id: %d", code)
	}
	s := h.sync("g", r.MemberID, gen, nil)
	if got := reply[*kmsg.SyncGroupResponse](h, s); string(got.MemberAssignment) != "assign-s2" {
		t.Fatalf("assignment after static rejoin %q", got.MemberAssignment)
	}
}

func TestStaticLeaderRejoinV9SkipsAssignment(t *testing.T) {
	h := newHarness(t)
	ids, gen := staticGroup(h, "s1", "s2")
	j := h.join(joinSpec{group: "g", version: 9, instance: str("s1"), client: "s1", topics: []string{"t"}})
	r := reply[*kmsg.JoinGroupResponse](h, j)
	if !r.SkipAssignment || r.LeaderID != r.MemberID || r.MemberID == ids["s1"] || len(r.Members) != 2 || r.Generation != gen {
		t.Fatalf("static leader rejoin %+v", r)
	}
}

// A static member's rejoin rebalances only when the group's selected
// protocol would change (Kafka compares the protocol, not the metadata: a
// cooperative member's metadata always changes across a restart).
func TestStaticRejoinWithNewProtocolRebalances(t *testing.T) {
	h := newHarness(t)
	both := []string{"range", "sticky"}
	a := h.join(joinSpec{group: "g", version: 9, instance: str("s1"), client: "s1", protocols: both})
	b := h.join(joinSpec{group: "g", version: 9, instance: str("s2"), client: "s2", protocols: both})
	h.settle(a)
	leader, follower := reply[*kmsg.JoinGroupResponse](h, a), reply[*kmsg.JoinGroupResponse](h, b)
	h.sync("g", leader.MemberID, 1, nil)
	h.sync("g", follower.MemberID, 1, nil)
	h.join(joinSpec{group: "g", version: 9, instance: str("s2"), client: "s2", protocols: both, topics: []string{"new"}})
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("state %s: same selected protocol must not rebalance", s)
	}
	h.join(joinSpec{group: "g", version: 9, instance: str("s2"), client: "s2", protocols: []string{"sticky"}})
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s: selected protocol changes but a rebalance did not start", s)
	}
}

func TestStaticRejoinStoreFailureReverts(t *testing.T) {
	h := newHarness(t)
	ids, gen := staticGroup(h, "s1", "s2")
	h.manual = true
	j := h.join(joinSpec{group: "g", version: 8, instance: str("s2"), client: "s2", topics: []string{"t"}})
	h.completeHeld(kerr.NotLeaderForPartition)
	if code := reply[*kmsg.JoinGroupResponse](h, j).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("failed static rejoin: %d", code)
	}
	if code := h.heartbeat("g", ids["s2"], gen, str("s2")); code != 0 {
		t.Fatalf("old member id after revert: %d", code)
	}
}

func TestStaticMemberFencedWhileWaiting(t *testing.T) {
	h := newHarness(t)
	ids, _ := staticGroup(h, "s1", "s2")
	old := h.join(joinSpec{group: "g", version: 9, member: ids["s1"], instance: str("s1"), client: "s1", topics: []string{"t"}})
	h.join(joinSpec{group: "g", version: 9, instance: str("s1"), client: "s1", topics: []string{"t"}})
	if code := reply[*kmsg.JoinGroupResponse](h, old).ErrorCode; code != kerr.FencedInstanceID.Code {
		t.Fatalf("waiting join of the replaced id: %d", code)
	}
}

func TestStaticMemberLeavesByInstanceID(t *testing.T) {
	h := newHarness(t)
	staticGroup(h, "s1", "s2")
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version, req.Group = 4, "g"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.InstanceID = str("s2")
	req.Members = append(req.Members, lm)
	id := h.id()
	h.apply(h.c.LeaveGroup(h.now, id, req))
	if r := reply[*kmsg.LeaveGroupResponse](h, id); r.Members[0].ErrorCode != 0 {
		t.Fatalf("leave by instance id: %d", r.Members[0].ErrorCode)
	}
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
}
