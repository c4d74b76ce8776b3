package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// harness drives a Coordinator like the shell would: it hands out request
// ids, keeps the durable log, and checks every request is answered once.
type harness struct {
	t       *testing.T
	c       *Coordinator
	now     time.Time
	nextID  RequestID
	replies map[RequestID]kmsg.Response
	codes   map[RequestID]int16 // Reply.Code of replies without a Response
	asked   map[RequestID]bool
	log     []Record      // durable records, in order
	batches []loggedBatch // durable batches, in order
	leo     int64         // log end offset
	held    []*Append     // appends not yet completed (manual mode)
	manual  bool          // when false, appends complete at once
	session int32         // session timeout of joins that set none (ms)
}

func testConfig() Config {
	n := 0
	cfg := DefaultConfig()
	cfg.UUID = func() string { n++; return fmt.Sprintf("u%d", n) }
	return cfg
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, testConfig())
}

func newHarnessWith(t *testing.T, cfg Config) *harness {
	return &harness{t: t, c: New(cfg), now: t0, replies: map[RequestID]kmsg.Response{}, codes: map[RequestID]int16{},
		asked: map[RequestID]bool{}}
}

// loggedBatch is one durable batch and its base offset.
type loggedBatch struct {
	base int64
	a    *Append
}

// durable puts a in the log and returns its base offset; a marker takes
// one offset.
func (h *harness) durable(a *Append) int64 {
	base := h.leo
	h.batches = append(h.batches, loggedBatch{base, a})
	h.log = append(h.log, a.Records...)
	h.leo += int64(max(1, len(a.Records)))
	return base
}

// replayInto loads h's log into r's coordinator, as a shell would.
func (h *harness) replayInto(r *harness) {
	h.t.Helper()
	for _, lb := range h.batches {
		b := LoadedBatch{Producer: lb.a.Producer, Marker: lb.a.Marker}
		for i, rec := range lb.a.Records {
			b.Records = append(b.Records, LoadedRecord{Offset: lb.base + int64(i), Key: rec.Key, Value: rec.Value})
		}
		if err := r.c.LoadBatch(r.now, b); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) id() RequestID {
	h.nextID++
	h.asked[h.nextID] = true
	return h.nextID
}

// apply records replies and completes appends (unless manual).
func (h *harness) apply(eff Effects) {
	h.t.Helper()
	for _, r := range eff.Replies {
		if !h.asked[r.ID] {
			h.t.Fatalf("reply for unknown request %d", r.ID)
		}
		if _, dup := h.replies[r.ID]; dup {
			h.t.Fatalf("request %d answered twice", r.ID)
		}
		h.replies[r.ID] = r.Response
		if r.Response == nil {
			h.codes[r.ID] = r.Code
		}
	}
	if eff.Append == nil {
		return
	}
	if h.manual {
		h.held = append(h.held, eff.Append)
		return
	}
	h.apply(h.c.Appended(h.now, eff.Append.ID, h.durable(eff.Append)))
}

// completeHeld completes the held appends in order; err nil means durable.
func (h *harness) completeHeld(err error) {
	h.t.Helper()
	held := h.held
	h.held = nil
	for _, a := range held {
		if err == nil {
			h.apply(h.c.Appended(h.now, a.ID, h.durable(a)))
		} else {
			h.apply(h.c.AppendFailed(h.now, a.ID, err))
		}
	}
}

func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.now = h.now.Add(d)
	h.apply(h.c.Tick(h.now))
}

func (h *harness) answered(id RequestID) bool {
	_, ok := h.replies[id]
	return ok
}

func reply[T kmsg.Response](h *harness, id RequestID) T {
	h.t.Helper()
	r, ok := h.replies[id]
	if !ok {
		h.t.Fatalf("request %d not answered", id)
	}
	return r.(T)
}

// joinSpec describes one JoinGroup.
type joinSpec struct {
	group, member string
	instance      *string
	version       int16
	session       int32
	rebalance     int32
	topics        []string
	protocols     []string
	client        string
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func (h *harness) join(s joinSpec) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID, req.InstanceID = s.version, s.group, s.member, s.instance
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = orDefault(s.session, orDefault(h.session, 10000)), orDefault(s.rebalance, 10000)
	req.ProtocolType = "consumer"
	if s.protocols == nil {
		s.protocols = []string{"range"}
	}
	for _, p := range s.protocols {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p, consumerMeta(s.topics...)
		req.Protocols = append(req.Protocols, jp)
	}
	id := h.id()
	h.apply(h.c.JoinGroup(h.now, id, Client{ID: orString(s.client, "client"), Host: "/127.0.0.1"}, req))
	return id
}

func orDefault(v, d int32) int32 {
	if v == 0 {
		return d
	}
	return v
}

func orString(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func (h *harness) sync(group, member string, gen int32, assign map[string]string) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 5, group, member, gen
	for m, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, []byte(a)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	id := h.id()
	h.apply(h.c.SyncGroup(h.now, id, req))
	return id
}

func (h *harness) heartbeat(group, member string, gen int32, instance *string) int16 {
	h.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.Generation, req.InstanceID = 4, group, member, gen, instance
	id := h.id()
	h.apply(h.c.Heartbeat(h.now, id, req))
	return reply[*kmsg.HeartbeatResponse](h, id).ErrorCode
}

// commit commits offsets (partition → offset) of one topic.
func (h *harness) commit(group, member string, gen int32, topic string, offsets map[int32]int64) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 8, group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < 64; p++ {
		if o, ok := offsets[p]; ok {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			meta := fmt.Sprintf("m%d", o)
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, o, 5, &meta
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	req.Topics = append(req.Topics, rt)
	id := h.id()
	h.apply(h.c.OffsetCommit(h.now, id, req))
	return id
}

func commitCodes(r *kmsg.OffsetCommitResponse) []int16 {
	var codes []int16
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

// fetchAll fetches every committed offset of group (v8 batched form).
func (h *harness) fetchAll(group string, stable bool) kmsg.OffsetFetchResponseGroup {
	h.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.RequireStable = 8, stable
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	req.Groups = append(req.Groups, rg)
	id := h.id()
	h.apply(h.c.OffsetFetch(h.now, id, req))
	return reply[*kmsg.OffsetFetchResponse](h, id).Groups[0]
}

// fetchOne fetches one partition with the v7 form.
func (h *harness) fetchOne(group, topic string, partition int32, stable bool) kmsg.OffsetFetchResponseTopicPartition {
	h.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, group, stable
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	id := h.id()
	h.apply(h.c.OffsetFetch(h.now, id, req))
	return reply[*kmsg.OffsetFetchResponse](h, id).Topics[0].Partitions[0]
}

func (h *harness) describe(groups ...string) []kmsg.DescribeGroupsResponseGroup {
	h.t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version, req.Groups = 5, groups
	id := h.id()
	h.apply(h.c.DescribeGroups(h.now, id, req))
	return reply[*kmsg.DescribeGroupsResponse](h, id).Groups
}

func (h *harness) state(group string) string {
	h.t.Helper()
	return h.describe(group)[0].State
}

// stableGroup builds a Stable group "g" with the given member client ids
// (v3 joins, no initial delay) and returns member ids by client id and the
// generation.
func stableGroup(h *harness, clients ...string) (map[string]string, int32) {
	h.t.Helper()
	var joins []RequestID
	for _, cl := range clients {
		joins = append(joins, h.join(joinSpec{group: "g", version: 3, client: cl, topics: []string{"t"}}))
	}
	h.settle(joins[0])
	ids := map[string]string{}
	var leader string
	var gen int32
	for i, cl := range clients {
		r := reply[*kmsg.JoinGroupResponse](h, joins[i])
		if r.ErrorCode != 0 {
			h.t.Fatalf("join %s: error %d", cl, r.ErrorCode)
		}
		ids[cl], leader, gen = r.MemberID, r.LeaderID, r.Generation
	}
	assign := map[string]string{}
	for cl, id := range ids {
		assign[id] = "assign-" + cl
	}
	for _, id := range ids {
		if id != leader {
			h.sync("g", id, gen, nil)
		}
	}
	h.sync("g", leader, gen, assign)
	if s := h.state("g"); s != "Stable" {
		h.t.Fatalf("group state %s, want Stable", s)
	}
	return ids, gen
}

func str(s string) *string { return &s }

// settle ticks a second at a time until request id is answered.
func (h *harness) settle(id RequestID) {
	h.t.Helper()
	for i := 0; i < 60 && !h.answered(id); i++ {
		h.advance(time.Second)
	}
}
