package group

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCommitIsAnsweredAndVisibleOnlyWhenDurable(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a")
	h.manual = true
	c := h.commit("g", ids["a"], gen, "t", map[int32]int64{0: 42, 1: 7})
	if h.answered(c) || len(h.held) != 1 || len(h.held[0].Records) != 2 {
		t.Fatal("commit must wait for its two records")
	}
	if p := h.fetchOne("g", "t", 0, false); p.Offset != -1 {
		t.Fatalf("pending commit visible: %d", p.Offset)
	}
	if p := h.fetchOne("g", "t", 0, true); p.ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require stable: %d", p.ErrorCode)
	}
	h.completeHeld(nil)
	if codes := commitCodes(reply[*kmsg.OffsetCommitResponse](h, c)); !reflect.DeepEqual(codes, []int16{0, 0}) {
		t.Fatalf("commit codes %v", codes)
	}
	p := h.fetchOne("g", "t", 0, true)
	if p.Offset != 42 || p.LeaderEpoch != 5 || *p.Metadata != "m42" {
		t.Fatalf("fetched %+v", p)
	}
	if p := h.fetchOne("g", "t", 9, false); p.Offset != -1 || p.LeaderEpoch != -1 {
		t.Fatalf("unknown partition %+v", p)
	}
}

func TestFailedCommitIsNotApplied(t *testing.T) {
	h := newHarness(t)
	h.commit("solo", "", -1, "t", map[int32]int64{0: 1})
	h.manual = true
	c := h.commit("solo", "", -1, "t", map[int32]int64{0: 2})
	h.completeHeld(kerr.NotEnoughReplicas)
	if codes := commitCodes(reply[*kmsg.OffsetCommitResponse](h, c)); codes[0] != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("codes %v", codes)
	}
	if p := h.fetchOne("solo", "t", 0, true); p.Offset != 1 {
		t.Fatalf("offset %d after failed commit, want 1", p.Offset)
	}
}

func TestCommitValidation(t *testing.T) {
	h := newHarness(t)
	big := make([]byte, 5000)
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group = 8, "solo"
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	for i, meta := range []string{"ok", string(big)} {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = int32(i), 10, &meta
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	id := h.id()
	h.apply(h.c.OffsetCommit(h.now, id, req))
	want := []int16{0, kerr.OffsetMetadataTooLarge.Code}
	if codes := commitCodes(reply[*kmsg.OffsetCommitResponse](h, id)); !reflect.DeepEqual(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	c := h.commit("nogroup", "m", 3, "t", map[int32]int64{0: 1})
	if codes := commitCodes(reply[*kmsg.OffsetCommitResponse](h, c)); codes[0] != kerr.IllegalGeneration.Code {
		t.Fatalf("unknown group with generation: %v", codes)
	}
}

// TestReplayRebuildsState loads the log of one coordinator into a fresh
// one and compares every answer.
func TestReplayRebuildsState(t *testing.T) {
	h := newHarness(t)
	left := h.join(joinSpec{group: "left", version: 3, client: "x"})
	h.settle(left)
	leaveReq := kmsg.NewPtrLeaveGroupRequest()
	leaveReq.Group, leaveReq.MemberID = "left", reply[*kmsg.JoinGroupResponse](h, left).MemberID
	h.apply(h.c.LeaveGroup(h.now, h.id(), leaveReq)) // "left" is Empty at generation 2
	ids, gen := stableGroup(h, "a", "b", "c")
	h.commit("g", ids["a"], gen, "t", map[int32]int64{0: 10, 1: 11})
	h.commit("g", ids["b"], gen, "t", map[int32]int64{1: 21, 2: 22})
	h.commit("g", ids["c"], gen, "u", map[int32]int64{0: 5})
	h.commit("solo", "", -1, "t", map[int32]int64{3: 99})
	h.commit("gone", "", -1, "t", map[int32]int64{0: 1})
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version, del.Groups = 2, []string{"gone"}
	h.apply(h.c.DeleteGroups(h.now, h.id(), del))

	r := newHarness(t)
	r.now = h.now
	h.replayInto(r)
	if a, b := snapshot(h.c), snapshot(r.c); !reflect.DeepEqual(a, b) {
		t.Errorf("state:\n live   %+v\n replay %+v", a, b)
	}
	if len(snapshot(r.c)) != 3 {
		t.Errorf("replayed groups %v, want g, solo and left", snapshot(r.c))
	}
	for _, g := range []string{"g", "solo", "gone", "left"} {
		if a, b := h.describe(g), r.describe(g); !reflect.DeepEqual(a, b) {
			t.Errorf("describe %s:\n live   %+v\n replay %+v", g, a, b)
		}
		if a, b := h.fetchAll(g, true), r.fetchAll(g, true); !reflect.DeepEqual(a, b) {
			t.Errorf("fetch %s:\n live   %+v\n replay %+v", g, a, b)
		}
	}
	if a, b := listGroups(h), listGroups(r); !reflect.DeepEqual(a, b) {
		t.Errorf("list:\n live   %+v\n replay %+v", a, b)
	}
	if code := r.heartbeat("g", ids["b"], gen, nil); code != 0 {
		t.Errorf("heartbeat on the new coordinator: %d", code)
	}
	s := r.sync("g", ids["c"], gen, nil)
	if got := reply[*kmsg.SyncGroupResponse](r, s); string(got.MemberAssignment) != "assign-c" {
		t.Errorf("assignment after replay %q", got.MemberAssignment)
	}
}

func listGroups(h *harness) []kmsg.ListGroupsResponseGroup {
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	id := h.id()
	h.apply(h.c.ListGroups(h.now, id, req))
	return reply[*kmsg.ListGroupsResponse](h, id).Groups
}

func TestListGroupsFilters(t *testing.T) {
	h := newHarness(t)
	stableGroup(h, "a")
	h.commit("solo", "", -1, "t", map[int32]int64{0: 1})
	req := kmsg.NewPtrListGroupsRequest()
	req.Version, req.StatesFilter = 5, []string{"stable"}
	id := h.id()
	h.apply(h.c.ListGroups(h.now, id, req))
	gs := reply[*kmsg.ListGroupsResponse](h, id).Groups
	if len(gs) != 1 || gs[0].Group != "g" || gs[0].ProtocolType != "consumer" || gs[0].GroupType != "classic" {
		t.Fatalf("list %+v", gs)
	}
}

func TestOffsetExpiry(t *testing.T) {
	h := newHarness(t)
	h.session = 1800000
	h.advance(0)
	h.commit("solo", "", -1, "t", map[int32]int64{0: 1})
	ids, gen := stableGroup(h, "a")
	h.commit("g", ids["a"], gen, "t", map[int32]int64{0: 1})
	h.commit("g", ids["a"], gen, "old", map[int32]int64{0: 1}) // not subscribed
	keep := h.c.cfg.OffsetsRetention
	for elapsed := time.Duration(0); elapsed < keep+time.Hour; elapsed += 10 * time.Minute {
		h.advance(10 * time.Minute)
		h.heartbeat("g", ids["a"], gen, nil)
	}
	if gs := h.describe("solo"); gs[0].State != "Dead" {
		t.Fatalf("simple group not removed: %s", gs[0].State)
	}
	got := h.fetchAll("g", false)
	if len(got.Topics) != 1 || got.Topics[0].Topic != "t" {
		t.Fatalf("stable group kept %+v; want only its subscribed topic t", got.Topics)
	}
	tombstones := 0
	for _, rec := range h.log {
		if rec.Value == nil {
			tombstones++
		}
	}
	if tombstones != 3 { // solo's offset, solo's group, g's "old" offset
		t.Fatalf("%d tombstones, want 3", tombstones)
	}
}

func TestEmptyGroupOffsetsExpireAfterRetention(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a")
	h.commit("g", ids["a"], gen, "t", map[int32]int64{0: 1})
	h.advance(time.Minute) // session expires, the group becomes Empty
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("state %s", s)
	}
	h.advance(h.c.cfg.OffsetsRetention - time.Hour)
	if p := h.fetchOne("g", "t", 0, false); p.Offset != 1 {
		t.Fatal("offset expired early")
	}
	h.advance(2 * time.Hour)
	if s := h.state("g"); s != "Dead" {
		t.Fatalf("state %s after retention", s)
	}
}

func TestDeleteGroups(t *testing.T) {
	h := newHarness(t)
	stableGroup(h, "a")
	h.commit("solo", "", -1, "t", map[int32]int64{0: 1, 1: 2})
	h.manual = true
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version, req.Groups = 2, []string{"solo", "g", "none"}
	id := h.id()
	h.apply(h.c.DeleteGroups(h.now, id, req))
	if h.answered(id) || len(h.held[0].Records) != 3 {
		t.Fatal("delete must wait for 2 offset and 1 group tombstones")
	}
	h.completeHeld(nil)
	want := []int16{0, kerr.NonEmptyGroup.Code, kerr.GroupIDNotFound.Code}
	for i, g := range reply[*kmsg.DeleteGroupsResponse](h, id).Groups {
		if g.ErrorCode != want[i] {
			t.Errorf("%s: %d, want %d", g.Group, g.ErrorCode, want[i])
		}
	}
	if p := h.fetchOne("solo", "t", 0, false); p.Offset != -1 {
		t.Fatalf("deleted group still has offset %d", p.Offset)
	}
}

func TestDeleteGroupsFailureRestores(t *testing.T) {
	h := newHarness(t)
	h.commit("solo", "", -1, "t", map[int32]int64{0: 1})
	h.manual = true
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version, req.Groups = 2, []string{"solo"}
	id := h.id()
	h.apply(h.c.DeleteGroups(h.now, id, req))
	h.completeHeld(kerr.NotLeaderForPartition)
	if code := reply[*kmsg.DeleteGroupsResponse](h, id).Groups[0].ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("code %d", code)
	}
	if p := h.fetchOne("solo", "t", 0, false); p.Offset != 1 {
		t.Fatalf("offset %d after failed delete", p.Offset)
	}
}

func TestOffsetDelete(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a") // subscribed to "t"
	h.commit("g", ids["a"], gen, "t", map[int32]int64{0: 1})
	h.commit("g", ids["a"], gen, "other", map[int32]int64{0: 1})
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	for _, topic := range []string{"t", "other"} {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = topic
		rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
		req.Topics = append(req.Topics, rt)
	}
	id := h.id()
	h.apply(h.c.OffsetDelete(h.now, id, req))
	r := reply[*kmsg.OffsetDeleteResponse](h, id)
	if r.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code || r.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete %+v", r)
	}
	if p := h.fetchOne("g", "other", 0, false); p.Offset != -1 {
		t.Fatal("offset not deleted")
	}
	if p := h.fetchOne("g", "t", 0, false); p.Offset != 1 {
		t.Fatal("subscribed offset deleted")
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	h := newHarness(t)
	ids, gen := staticGroup(h, "s1")
	h.commit("g", ids["s1"], gen, "t", map[int32]int64{4: 40})
	var sawGroup, sawOffset bool
	for _, rec := range h.log {
		if g, ok := GroupForKey(rec.Key); !ok || g != "g" {
			t.Fatalf("GroupForKey = %q, %v", g, ok)
		}
		switch keyVersion(rec.Key) {
		case 1:
			var k kmsg.OffsetCommitKey
			var v kmsg.OffsetCommitValue
			if k.ReadFrom(rec.Key) != nil || v.ReadFrom(rec.Value) != nil {
				t.Fatal("offset record does not decode")
			}
			sawOffset = k.Topic == "t" && k.Partition == 4 && v.Version == 3 && v.Offset == 40 &&
				v.LeaderEpoch == 5 && v.Metadata == "m40" && v.CommitTimestamp == h.now.UnixMilli()
		case 2:
			var v kmsg.GroupMetadataValue
			if v.ReadFrom(rec.Value) != nil {
				t.Fatal("group record does not decode")
			}
			m := v.Members[0]
			sawGroup = v.Version == 3 && v.ProtocolType == "consumer" && *v.Protocol == "range" &&
				*v.Leader == ids["s1"] && v.Generation == gen && *m.InstanceID == "s1" &&
				string(m.Assignment) == "assign-s1" && m.SessionTimeoutMillis == 10000
		}
	}
	if !sawGroup || !sawOffset {
		t.Fatalf("records did not round-trip: group %v offset %v", sawGroup, sawOffset)
	}
	load := func(key, value []byte) error {
		return h.c.LoadBatch(h.now, LoadedBatch{Records: []LoadedRecord{{Offset: 100, Key: key, Value: value}}})
	}
	if err := load([]byte{0}, nil); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("short key: %v", err)
	}
	if err := load([]byte{0, 9, 1}, []byte{1}); err != nil {
		t.Fatalf("unknown key version not skipped: %v", err)
	}
}

func TestPartitionFor(t *testing.T) {
	cases := []struct {
		group string
		want  int32
	}{
		{"a", 47},                 // hashCode 97
		{"ab", 5},                 // 97*31 + 98 = 3105
		{"Zz", 12},                // 90*31 + 122 = 2912
		{"my-group", 12},          // hashCode -1906497762: abs
		{"polygenelubricants", 0}, // hashCode is Integer.MIN_VALUE: Utils.abs gives 0
		{"group-\U0001F600", 7},   // surrogate pair counts as two chars
		{"console-consumer-12345", 6},
	}
	for _, tc := range cases {
		if got := PartitionFor(tc.group, 50); got != tc.want {
			t.Errorf("PartitionFor(%q) = %d, want %d", tc.group, got, tc.want)
		}
	}
}

// groupSnapshot is the durable part of a group's state.
type groupSnapshot struct {
	State, Leader          string
	Generation             int32
	ProtocolType, Protocol string
	EmptySinceMs           int64
	Members                []string
	Offsets                map[topicPartition]offset
	Txn                    map[int64]map[topicPartition]offset // pending transactional offsets
}

func snapshot(c *Coordinator) map[string]groupSnapshot {
	snap := map[string]groupSnapshot{}
	for id, g := range c.groups {
		s := groupSnapshot{State: g.state.String(), Leader: g.leader, Generation: g.generation, Offsets: g.offsets,
			Txn: g.txnOffsets}
		if g.protocolType != nil {
			s.ProtocolType = *g.protocolType
		}
		if g.protocol != nil {
			s.Protocol = *g.protocol
		}
		if g.state == stateEmpty {
			s.EmptySinceMs = g.stateTime.UnixMilli()
		}
		for _, m := range g.memberList() {
			s.Members = append(s.Members, fmt.Sprintf("%s/%v/%s/%s/%d/%d/%x/%x", m.id, m.instanceID != nil, m.clientID,
				m.clientHost, m.rebalanceTimeout, m.sessionTimeout, m.metadata(s.Protocol), m.assignment))
		}
		snap[id] = s
	}
	return snap
}

// OffsetDelete's tombstone applies once durable, to what was written
// before it: a failed one deletes nothing, and a commit written after it
// stays.
func TestOffsetDeleteAppliesWhenDurable(t *testing.T) {
	h := newHarness(t)
	h.commit("solo", "", -1, "t", map[int32]int64{0: 1, 1: 2})
	del := func() RequestID {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = "solo"
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = "t"
		rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}, {Partition: 1}}
		req.Topics = append(req.Topics, rt)
		id := h.id()
		h.apply(h.c.OffsetDelete(h.now, id, req))
		return id
	}
	h.manual = true
	failed := del()
	h.completeHeld(kerr.NotEnoughReplicas)
	if r := reply[*kmsg.OffsetDeleteResponse](h, failed); r.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("failed delete %+v", r)
	}
	if p := h.fetchOne("solo", "t", 0, false); p.Offset != 1 {
		t.Fatalf("offset %d after a failed delete", p.Offset)
	}
	del()
	if p := h.fetchOne("solo", "t", 0, false); p.Offset != 1 {
		t.Fatalf("offset %d before the tombstone is durable", p.Offset)
	}
	h.commit("solo", "", -1, "t", map[int32]int64{1: 3}) // after the tombstone
	h.completeHeld(nil)
	if p := h.fetchOne("solo", "t", 0, false); p.Offset != -1 {
		t.Fatalf("offset %d after the delete", p.Offset)
	}
	if p := h.fetchOne("solo", "t", 1, false); p.Offset != 3 {
		t.Fatalf("commit written after the tombstone: offset %d", p.Offset)
	}
}
