package handlers

import (
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/fakeclock"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionFetch is a consumer's Fetch v13 of "local" partition 0 at
// offset, on session id/epoch, naming the partition only when named.
func sessionFetch(id, epoch int32, named bool, offset int64) *kmsg.FetchRequest {
	var topics []kmsg.FetchRequestTopic
	if named {
		t := fetchTopic("", localID, 2, 0)
		t.Partitions[0].FetchOffset = offset
		topics = append(topics, t)
	}
	r := fetchByID(13, topics...)
	r.SessionID, r.SessionEpoch = id, epoch
	return r
}

func sessionPartitions(resp *kmsg.FetchResponse) int {
	n := 0
	for _, t := range resp.Topics {
		n += len(t.Partitions)
	}
	return n
}

// A session answers in full when opened, then only what changed: nothing
// while nothing moves, the partition once it has records (as a change of
// high watermark too), nothing again once the client's offset caught up.
func TestFetchSessionIncremental(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	open := fetchOf(serve(t, h, sessionFetch(0, 0, true, 0)))
	if open.ErrorCode != 0 || open.SessionID == 0 || sessionPartitions(open) != 1 {
		t.Fatalf("opening: error %d session %d partitions %d", open.ErrorCode, open.SessionID, sessionPartitions(open))
	}
	id := open.SessionID
	if r := fetchOf(serve(t, h, sessionFetch(id, 1, false, 0))); r.ErrorCode != 0 || r.SessionID != id || sessionPartitions(r) != 0 {
		t.Fatalf("idle incremental: error %d session %d partitions %d", r.ErrorCode, r.SessionID, sessionPartitions(r))
	}
	if _, err := p.AppendAsLeader(oneRecord(t), 1); err != nil {
		t.Fatal(err)
	}
	r := fetchOf(serve(t, h, sessionFetch(id, 2, false, 0)))
	if sessionPartitions(r) != 1 || len(r.Topics[0].Partitions[0].RecordBatches) == 0 || r.Topics[0].Partitions[0].HighWatermark != 1 {
		t.Fatalf("after an append: %+v", r.Topics)
	}
	if r := fetchOf(serve(t, h, sessionFetch(id, 3, true, 1))); sessionPartitions(r) != 0 {
		t.Fatalf("caught up: %d partitions, want none", sessionPartitions(r))
	}
}

// Session errors: a wrong epoch, an unknown id, a switch from topic ids to
// names; a closed session is gone.
func TestFetchSessionErrors(t *testing.T) {
	h := leadersNode(t)
	id := fetchOf(serve(t, h, sessionFetch(0, 0, true, 0))).SessionID
	named := sessionFetch(id, 1, false, 0)
	named.Version = 12
	for _, tc := range []struct {
		name string
		req  *kmsg.FetchRequest
		want *kerr.Error
	}{
		{"wrong epoch", sessionFetch(id, 5, false, 0), kerr.InvalidFetchSessionEpoch},
		{"unknown id", sessionFetch(id+1, 1, false, 0), kerr.FetchSessionIDNotFound},
		{"names in an id session", named, kerr.FetchSessionTopicIDError},
	} {
		if r := fetchOf(serve(t, h, tc.req)); r.ErrorCode != tc.want.Code || sessionPartitions(r) != 0 {
			t.Errorf("%s: error %d, %d partitions; want %s", tc.name, r.ErrorCode, sessionPartitions(r), tc.want)
		}
	}
	if r := fetchOf(serve(t, h, sessionFetch(id, -1, true, 0))); r.ErrorCode != 0 || r.SessionID != 0 || sessionPartitions(r) != 1 {
		t.Fatalf("closing fetch: error %d session %d partitions %d", r.ErrorCode, r.SessionID, sessionPartitions(r))
	}
	if r := fetchOf(serve(t, h, sessionFetch(id, 1, false, 0))); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: error %d", r.ErrorCode)
	}
}

// A forgotten partition leaves the session: later appends do not bring it
// back.
func TestFetchSessionForgets(t *testing.T) {
	h := leadersNode(t)
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	h.d.Now = clk.Now
	p := h.d.Partitions.Partition("local", 0)
	id := fetchOf(serve(t, h, sessionFetch(0, 0, true, 0))).SessionID
	forget := sessionFetch(id, 1, false, 0)
	forget.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{{TopicID: localID, Partitions: []int32{0}}}
	fetchOf(serve(t, h, forget))
	if _, err := p.AppendAsLeader(oneRecord(t), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(sessionSweep) // the sweep must not find it either
	if r := fetchOf(serve(t, h, sessionFetch(id, 2, false, 0))); sessionPartitions(r) != 0 {
		t.Fatalf("forgotten partition answered: %+v", r.Topics)
	}
}

// A session's long poll wakes on an append to a session partition the
// request does not name, including one appended between the answer's
// read and the wait (the partition's watcher is registered before it is
// read).
func TestFetchSessionLongPoll(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	id := fetchOf(serve(t, h, sessionFetch(0, 0, true, 0))).SessionID
	r := sessionFetch(id, 1, false, 0)
	r.MaxWaitMillis, r.MinBytes = 60000, 1
	go func() {
		time.Sleep(50 * time.Millisecond)
		if _, err := p.AppendAsLeader(oneRecord(t), 1); err != nil {
			t.Error(err)
		}
	}()
	resp := fetchOf(serve(t, h, r)) // serve fails after 5 s without an answer
	if sessionPartitions(resp) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("long poll answered %+v", resp.Topics)
	}
}

// The cache keeps max.incremental.fetch.session.cache.slots sessions: a
// consumer finds none free (it is answered without a session) unless one
// is idle past the eviction age; a follower's session takes a consumer's.
func TestFetchSessionSlots(t *testing.T) {
	c := newFetchSessions(1)
	now := time.Unix(1000, 0)
	full := func(replica int32) *kmsg.FetchRequest {
		r := sessionFetch(0, 0, true, 0)
		r.ReplicaID = replica
		return r
	}
	first := c.resolve(full(-1), now)
	if first.s == nil {
		t.Fatal("first session not created")
	}
	if c.resolve(full(-1), now.Add(time.Second)).s != nil {
		t.Fatal("a second consumer session evicted a fresh one")
	}
	if c.resolve(full(-1), now.Add(sessionEvictAge)).s == nil {
		t.Fatal("a stale session was not evicted")
	}
	if c.resolve(full(2), now.Add(sessionEvictAge+time.Second)).s == nil {
		t.Fatal("a follower's session did not take a consumer's slot")
	}
	if c.resolve(full(-1), now.Add(sessionEvictAge+2*time.Second)).s != nil {
		t.Fatal("a consumer's session took a fresh follower's slot")
	}
}

// A session reads, between sweeps, only the partitions whose watcher
// fired (each once), in session order; partitions that sent records move
// to the end of that order, which a full read then follows.
func TestFetchSessionChangedOrder(t *testing.T) {
	now := time.Unix(1000, 0)
	s := &fetchSession{index: map[sessionKey]*sessionPart{}, byW: map[*partition.Watcher]*sessionPart{}, swept: now}
	r := fetchByID(12, fetchTopic("t", metadata.UUID{}, 0, 0, 1, 2))
	s.update(r)
	order := func(es []examined) (out []int32) {
		for _, e := range es {
			out = append(out, e.key.partition)
		}
		return out
	}
	if got := order(s.toExamine(false, nil, now, map[*sessionPart]bool{})); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("new partitions read %v, want all three in order", got)
	}
	if got := order(s.toExamine(false, nil, now, map[*sessionPart]bool{})); len(got) != 0 {
		t.Fatalf("nothing fired, read %v", got)
	}
	p2, p0 := s.index[sessionKey{name: "t", partition: 2}], s.index[sessionKey{name: "t", partition: 0}]
	p2.w.Mark()
	p2.w.Mark()
	p0.w.Mark()
	if got := order(s.toExamine(false, nil, now, map[*sessionPart]bool{})); !slices.Equal(got, []int32{0, 2}) {
		t.Fatalf("after 2 and 0 fired, read %v, want [0 2]", got)
	}
	s.commit([]sent{{sp: p0, records: true}, {sp: p2}})
	if got := order(s.toExamine(false, nil, now.Add(sessionSweep), map[*sessionPart]bool{})); !slices.Equal(got, []int32{1, 2, 0}) {
		t.Fatalf("sweep after 0 sent records read %v, want [1 2 0]", got)
	}
}
