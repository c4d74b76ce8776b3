package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestThreeMembersJoinWithInitialDelay(t *testing.T) {
	h := newHarness(t)
	a := h.join(joinSpec{group: "g", version: 3, client: "a", topics: []string{"t"}})
	h.advance(time.Second)
	b := h.join(joinSpec{group: "g", version: 3, client: "b", topics: []string{"t"}})
	c := h.join(joinSpec{group: "g", version: 3, client: "c", topics: []string{"t"}})
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
	h.advance(2 * time.Second) // initial delay ends, but members joined meanwhile: extended
	if h.answered(a) {
		t.Fatal("join answered before the extended initial delay")
	}
	h.advance(3 * time.Second)
	ra := reply[*kmsg.JoinGroupResponse](h, a)
	rb := reply[*kmsg.JoinGroupResponse](h, b)
	rc := reply[*kmsg.JoinGroupResponse](h, c)
	for _, r := range []*kmsg.JoinGroupResponse{ra, rb, rc} {
		if r.ErrorCode != 0 || r.Generation != 1 || *r.Protocol != "range" || r.LeaderID != ra.MemberID {
			t.Fatalf("join response %+v", r)
		}
	}
	if ra.MemberID != "a-u1" || len(ra.Members) != 3 || len(rb.Members) != 0 {
		t.Fatalf("leader %s got %d members, follower %d", ra.MemberID, len(ra.Members), len(rb.Members))
	}
	if s := h.state("g"); s != "CompletingRebalance" {
		t.Fatalf("state %s", s)
	}
}

func TestInitialDelayBoundedByRebalanceTimeout(t *testing.T) {
	h := newHarness(t)
	a := h.join(joinSpec{group: "g", version: 3, client: "a", rebalance: 5000})
	for i := 0; i < 5; i++ { // a new member every second keeps extending...
		h.advance(time.Second)
		h.join(joinSpec{group: "g", version: 3, client: "x", rebalance: 5000})
	}
	// ...but only up to the rebalance timeout (3s + min(3s, 2s)).
	if !h.answered(a) {
		t.Fatal("join not answered after the rebalance timeout")
	}
}

func TestSyncPassesAssignmentsThrough(t *testing.T) {
	h := newHarness(t)
	h.manual = true
	a := h.join(joinSpec{group: "g", version: 3, client: "a"})
	b := h.join(joinSpec{group: "g", version: 3, client: "b"})
	h.settle(a)
	leader, follower := reply[*kmsg.JoinGroupResponse](h, a), reply[*kmsg.JoinGroupResponse](h, b)
	sf := h.sync("g", follower.MemberID, 1, nil)
	if h.answered(sf) {
		t.Fatal("follower sync answered before the leader's")
	}
	blob := []byte{0, 1, 2, 0xff}
	sl := h.sync("g", leader.MemberID, 1, map[string]string{leader.MemberID: "L", follower.MemberID: string(blob)})
	if h.answered(sl) || len(h.held) != 1 || len(h.held[0].Records) != 1 {
		t.Fatalf("leader sync should wait for one group record; held %d", len(h.held))
	}
	h.completeHeld(nil)
	if got := reply[*kmsg.SyncGroupResponse](h, sf); got.ErrorCode != 0 || string(got.MemberAssignment) != string(blob) {
		t.Fatalf("follower sync %+v", got)
	}
	if got := reply[*kmsg.SyncGroupResponse](h, sl); string(got.MemberAssignment) != "L" || *got.Protocol != "range" {
		t.Fatalf("leader sync %+v", got)
	}
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("state %s", s)
	}
}

func TestSyncStoreFailureRebalances(t *testing.T) {
	h := newHarness(t)
	h.manual = true
	a := h.join(joinSpec{group: "g", version: 3, client: "a"})
	h.advance(3 * time.Second)
	leader := reply[*kmsg.JoinGroupResponse](h, a).MemberID
	s := h.sync("g", leader, 1, map[string]string{leader: "x"})
	h.completeHeld(kerr.NotEnoughReplicas)
	if got := reply[*kmsg.SyncGroupResponse](h, s).ErrorCode; got != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("sync error %d", got)
	}
	if st := h.state("g"); st != "PreparingRebalance" {
		t.Fatalf("state %s", st)
	}
}

func TestHeartbeatDuringRebalanceThenRejoin(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a", "b", "c")
	d := h.join(joinSpec{group: "g", version: 3, client: "d"})
	for _, cl := range []string{"a", "b", "c"} {
		if code := h.heartbeat("g", ids[cl], gen, nil); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat %s: %d", cl, code)
		}
	}
	var rejoins []RequestID
	for _, cl := range []string{"a", "b", "c"} {
		rejoins = append(rejoins, h.join(joinSpec{group: "g", version: 3, member: ids[cl], client: cl}))
	}
	// Everyone rejoined: the join phase ends without waiting.
	for _, id := range append(rejoins, d) {
		if r := reply[*kmsg.JoinGroupResponse](h, id); r.ErrorCode != 0 || r.Generation != gen+1 {
			t.Fatalf("rejoin %+v", r)
		}
	}
	if r := reply[*kmsg.JoinGroupResponse](h, rejoins[0]); len(r.Members) != 4 || r.LeaderID != ids["a"] {
		t.Fatalf("leader got %d members, leader %s", len(r.Members), r.LeaderID)
	}
	if code := h.heartbeat("g", ids["a"], gen, nil); code != kerr.IllegalGeneration.Code {
		t.Fatalf("old generation heartbeat: %d", code)
	}
}

func TestSessionExpiryTriggersRebalance(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a", "b", "c")
	for i := 0; i < 4; i++ {
		h.advance(3 * time.Second)
		h.heartbeat("g", ids["a"], gen, nil)
		h.heartbeat("g", ids["b"], gen, nil)
	}
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s after c's session expired", s)
	}
	if code := h.heartbeat("g", ids["c"], gen, nil); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: %d", code)
	}
	ja := h.join(joinSpec{group: "g", version: 3, member: ids["a"], client: "a"})
	jb := h.join(joinSpec{group: "g", version: 3, member: ids["b"], client: "b"})
	if r := reply[*kmsg.JoinGroupResponse](h, ja); r.Generation != gen+1 || len(r.Members) != 2 {
		t.Fatalf("rejoin %+v", r)
	}
	_ = jb
}

func TestRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a", "b")
	ja := h.join(joinSpec{group: "g", version: 3, member: ids["a"], client: "a"}) // leader forces a rebalance
	h.advance(5 * time.Second)
	h.heartbeat("g", ids["b"], gen, nil) // b keeps heartbeating but never rejoins
	h.advance(5 * time.Second)
	r := reply[*kmsg.JoinGroupResponse](h, ja)
	if r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("join after rebalance timeout %+v", r)
	}
	if code := h.heartbeat("g", ids["b"], gen, nil); code != kerr.UnknownMemberID.Code {
		t.Fatalf("dropped member heartbeat: %d", code)
	}
}

func TestLeaveGroupBatched(t *testing.T) {
	h := newHarness(t)
	ids, _ := stableGroup(h, "a", "b", "c")
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version, req.Group = 5, "g"
	for _, m := range []string{ids["b"], ids["c"], "nobody"} {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m
		req.Members = append(req.Members, lm)
	}
	id := h.id()
	h.apply(h.c.LeaveGroup(h.now, id, req))
	r := reply[*kmsg.LeaveGroupResponse](h, id)
	want := []int16{0, 0, kerr.UnknownMemberID.Code}
	for i, m := range r.Members {
		if m.ErrorCode != want[i] {
			t.Fatalf("member %d: %d, want %d", i, m.ErrorCode, want[i])
		}
	}
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
	j := h.join(joinSpec{group: "g", version: 3, member: ids["a"], client: "a"})
	if r := reply[*kmsg.JoinGroupResponse](h, j); len(r.Members) != 1 {
		t.Fatalf("rejoin %+v", r)
	}
}

func TestLeaveGroupV0AndLastMemberEmptiesGroup(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a")
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version, req.Group, req.MemberID = 0, "g", ids["a"]
	id := h.id()
	h.apply(h.c.LeaveGroup(h.now, id, req))
	if r := reply[*kmsg.LeaveGroupResponse](h, id); r.ErrorCode != 0 {
		t.Fatalf("leave %d", r.ErrorCode)
	}
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("state %s", s)
	}
	// The empty generation was written.
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(h.log[len(h.log)-1].Value); err != nil || v.Generation != gen+1 || len(v.Members) != 0 {
		t.Fatalf("empty group record %+v %v", v, err)
	}
}

func TestSyncTimeoutRemovesSilentMembers(t *testing.T) {
	h := newHarness(t)
	a := h.join(joinSpec{group: "g", version: 3, client: "a"})
	b := h.join(joinSpec{group: "g", version: 3, client: "b"})
	h.settle(a)
	leader, follower := reply[*kmsg.JoinGroupResponse](h, a), reply[*kmsg.JoinGroupResponse](h, b)
	h.sync("g", leader.MemberID, 1, map[string]string{leader.MemberID: "x"})
	for i := 0; i < 4; i++ { // b heartbeats but never sends SyncGroup
		h.advance(3 * time.Second)
		h.heartbeat("g", leader.MemberID, 1, nil)
		if i < 3 {
			h.heartbeat("g", follower.MemberID, 1, nil)
		}
	}
	if code := h.heartbeat("g", follower.MemberID, 1, nil); code != kerr.UnknownMemberID.Code {
		t.Fatalf("silent member heartbeat: %d", code)
	}
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
}

func TestMemberIDRequired(t *testing.T) {
	h := newHarness(t)
	first := h.join(joinSpec{group: "g", version: 4, client: "cl"})
	r := reply[*kmsg.JoinGroupResponse](h, first)
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID != "cl-u1" {
		t.Fatalf("first join %+v", r)
	}
	second := h.join(joinSpec{group: "g", version: 4, member: r.MemberID, client: "cl"})
	h.advance(3 * time.Second)
	r2 := reply[*kmsg.JoinGroupResponse](h, second)
	if r2.ErrorCode != 0 || r2.MemberID != "cl-u1" || r2.LeaderID != "cl-u1" {
		t.Fatalf("second join %+v", r2)
	}
	// A reserved id that never comes back is forgotten after its session.
	lost := h.join(joinSpec{group: "g2", version: 4, client: "x"})
	id := reply[*kmsg.JoinGroupResponse](h, lost).MemberID
	h.advance(11 * time.Second)
	late := h.join(joinSpec{group: "g2", version: 4, member: id, client: "x"})
	if code := reply[*kmsg.JoinGroupResponse](h, late).ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired reservation: %d", code)
	}
}

func TestFencing(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a", "b")
	cases := []struct {
		name   string
		member string
		gen    int32
		want   int16
	}{
		{"ok", ids["a"], gen, 0},
		{"old generation", ids["a"], gen - 1, kerr.IllegalGeneration.Code},
		{"unknown member", "ghost", gen, kerr.UnknownMemberID.Code},
	}
	for _, tc := range cases {
		if got := h.heartbeat("g", tc.member, tc.gen, nil); got != tc.want {
			t.Errorf("heartbeat %s: %d, want %d", tc.name, got, tc.want)
		}
		s := h.sync("g", tc.member, tc.gen, nil)
		if got := reply[*kmsg.SyncGroupResponse](h, s).ErrorCode; got != tc.want {
			t.Errorf("sync %s: %d, want %d", tc.name, got, tc.want)
		}
		c := h.commit("g", tc.member, tc.gen, "t", map[int32]int64{0: 1})
		if got := commitCodes(reply[*kmsg.OffsetCommitResponse](h, c))[0]; got != tc.want {
			t.Errorf("commit %s: %d, want %d", tc.name, got, tc.want)
		}
	}
	simple := h.commit("g", "", -1, "t", map[int32]int64{0: 1})
	if got := commitCodes(reply[*kmsg.OffsetCommitResponse](h, simple))[0]; got != kerr.UnknownMemberID.Code {
		t.Errorf("simple commit into a live group: %d", got)
	}
	if got := h.heartbeat("nogroup", "x", 1, nil); got != kerr.UnknownMemberID.Code {
		t.Errorf("heartbeat unknown group: %d", got)
	}
}

func TestJoinValidation(t *testing.T) {
	h := newHarness(t)
	stableGroup(h, "a")
	cases := []struct {
		name string
		spec joinSpec
		want int16
	}{
		{"session too short", joinSpec{group: "g", version: 5, session: 1000}, kerr.InvalidSessionTimeout.Code},
		{"session too long", joinSpec{group: "g", version: 5, session: 3600000}, kerr.InvalidSessionTimeout.Code},
		{"no common protocol", joinSpec{group: "g", version: 3, protocols: []string{"sticky"}}, kerr.InconsistentGroupProtocol.Code},
		{"unknown member", joinSpec{group: "g", version: 5, member: "ghost"}, kerr.UnknownMemberID.Code},
		{"empty group id", joinSpec{group: "", version: 5}, kerr.InvalidGroupID.Code},
	}
	for _, tc := range cases {
		id := h.join(tc.spec)
		if got := reply[*kmsg.JoinGroupResponse](h, id).ErrorCode; got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestProtocolSelection(t *testing.T) {
	h := newHarness(t)
	a := h.join(joinSpec{group: "g", version: 3, client: "a", protocols: []string{"sticky", "range"}})
	h.join(joinSpec{group: "g", version: 3, client: "b", protocols: []string{"range", "sticky"}})
	h.join(joinSpec{group: "g", version: 3, client: "c", protocols: []string{"range", "roundrobin"}})
	h.settle(a)
	if p := *reply[*kmsg.JoinGroupResponse](h, a).Protocol; p != "range" {
		t.Fatalf("protocol %s, want range (the only one all support)", p)
	}
}

func TestDuplicateJoinAnswersTheOldRequest(t *testing.T) {
	h := newHarness(t)
	ids, _ := stableGroup(h, "a", "b")
	first := h.join(joinSpec{group: "g", version: 3, member: ids["a"], client: "a"})
	second := h.join(joinSpec{group: "g", version: 3, member: ids["a"], client: "a"})
	if code := reply[*kmsg.JoinGroupResponse](h, first).ErrorCode; code != kerr.RebalanceInProgress.Code {
		t.Fatalf("superseded join: %d", code)
	}
	if h.answered(second) {
		t.Fatal("second join answered before the rebalance ends")
	}
}

func TestUnloadAnswersEveryWaiter(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a", "b")
	h.manual = true
	j := h.join(joinSpec{group: "g", version: 3, member: ids["a"], client: "a"})
	c := h.commit("g", ids["b"], gen, "t", map[int32]int64{0: 1})
	for _, r := range h.c.Unload() {
		h.replies[r.ID] = r.Response
	}
	if code := reply[*kmsg.JoinGroupResponse](h, j).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("join: %d", code)
	}
	if code := commitCodes(reply[*kmsg.OffsetCommitResponse](h, c))[0]; code != kerr.NotCoordinator.Code {
		t.Fatalf("commit: %d", code)
	}
}
