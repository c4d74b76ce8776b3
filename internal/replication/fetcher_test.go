package replication

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rounds drives a fetcher's rounds by hand (no goroutine, no leader): it
// builds each request and applies a made-up response to it.
type rounds struct {
	t    *testing.T
	m    *Manager
	f    *fetcher
	logs map[TopicPartition]*storage.Log
	reps map[TopicPartition]*partition.Partition
}

// sent is what one request carried.
type sent struct {
	offsets   map[TopicPartition]int64 // fetch offset of each partition in it
	forgotten []TopicPartition
	parts     int // the partitions returned as fetched in the session
	wait      time.Duration
	full      bool
}

// newRounds makes node 1 a follower of leader 2 in epoch 5 of tps, each
// over a log of its own, all assigned to one fetcher.
func newRounds(t *testing.T, throttle Throttle, tps ...TopicPartition) *rounds {
	r := &rounds{t: t, logs: map[TopicPartition]*storage.Log{}, reps: map[TopicPartition]*partition.Partition{}}
	c := newCluster()
	for _, tp := range tps {
		l := openLog(t)
		p := partition.New(partition.Options{Topic: tp.Topic, Index: tp.Partition, LocalID: 1, Log: l, Logger: discard,
			Config: partition.Config{MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, ReplicaLagTimeMax: time.Minute, Storage: storage.DefaultConfig()}})
		r.logs[tp], r.reps[tp], c.replicas[tp] = l, p, p
		r.epoch(tp, 5)
	}
	r.m = NewManager(Options{NodeID: 1, Addr: c.addr, Partition: c.partition, Backoff: testBackoff, Logger: discard, Throttle: throttle})
	t.Cleanup(r.m.Close)
	r.f = newFetcher(r.m, 2)
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	for _, tp := range tps {
		a := &assignment{tp: tp, leader: 2, epoch: 5, f: r.f}
		r.m.parts[tp], r.f.parts[tp] = a, a
	}
	return r
}

// epoch moves tp's replica to leader 2's epoch e.
func (r *rounds) epoch(tp TopicPartition, e int32) {
	r.reps[tp].SetState(partition.State{Leader: 2, LeaderEpoch: e, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
}

// grow appends n records in epoch 5 to tp's log, as fetched.
func (r *rounds) grow(tp TopicPartition, n int) {
	l := r.logs[tp]
	appendRaw(r.t, l, batch(r.t, l.LogEndOffset(), 5, n, "g"))
}

// next builds the next request. The ready set is not refreshed for its
// age (readyRefresh) here: only assignments rebuild it, as the test says.
func (r *rounds) next() sent {
	r.f.builtAt = time.Now()
	req, parts, wait := r.f.buildRequest(func() {})
	s := sent{offsets: map[TopicPartition]int64{}, parts: len(parts), wait: wait, full: req.SessionEpoch == 0}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			s.offsets[TopicPartition{t.Topic, p.Partition}] = p.FetchOffset
		}
	}
	for _, t := range req.ForgottenTopics {
		for _, p := range t.Partitions {
			s.forgotten = append(s.forgotten, TopicPartition{t.Topic, p})
		}
	}
	slices.SortFunc(s.forgotten, func(a, b TopicPartition) int { return int(a.Partition - b.Partition) })
	return s
}

// answer applies the leader's response in session 9: the partitions
// answered carry no records (their high watermark moved).
func (r *rounds) answer(tps ...TopicPartition) {
	resp := kmsg.NewPtrFetchResponse()
	resp.SessionID = 9
	for _, tp := range tps {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = tp.Topic
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = tp.Partition
		t.Partitions = append(t.Partitions, p)
		resp.Topics = append(resp.Topics, t)
	}
	r.f.sess.answered(resp)
	r.f.handleResponse(resp)
}

// check fails the test unless s carried exactly offsets and forgotten,
// with parts partitions in the session.
func (r *rounds) check(step string, s sent, offsets map[TopicPartition]int64, forgotten []TopicPartition, parts int) {
	r.t.Helper()
	if !maps.Equal(s.offsets, offsets) || !slices.Equal(s.forgotten, forgotten) || s.parts != parts {
		r.t.Fatalf("%s: sent %v, forgot %v, %d in the session; want %v, %v, %d",
			step, s.offsets, s.forgotten, s.parts, offsets, forgotten, parts)
	}
}

// A round re-reads and sends only the partitions whose state changed; a
// partition that cannot be fetched (its replica left the assigned epoch)
// is left out but stays in the session, is retried every round and sent
// again when it recovers, and is forgotten when the ready set is rebuilt
// meanwhile, as are partitions no longer assigned.
func TestRoundFetchesChangedPartitions(t *testing.T) {
	a, b, c := TopicPartition{"t", 0}, TopicPartition{"t", 1}, TopicPartition{"t", 2}
	r := newRounds(t, nil, a, b, c)
	s := r.next()
	r.check("first", s, map[TopicPartition]int64{a: 0, b: 0, c: 0}, nil, 3)
	if !s.full {
		t.Fatal("first request is not full")
	}
	r.answer()
	r.check("idle", r.next(), map[TopicPartition]int64{}, nil, 3)

	r.grow(a, 3)
	r.answer(a)
	r.check("a answered", r.next(), map[TopicPartition]int64{a: 3}, nil, 3)

	r.epoch(b, 6) // a new leader epoch not assigned yet: b cannot be fetched
	r.answer(b)
	s = r.next()
	r.check("b failed", s, map[TopicPartition]int64{}, nil, 2)
	if s.wait > testBackoff {
		t.Fatalf("b failed: wait %v, want at most %v", s.wait, testBackoff)
	}
	r.answer()
	r.check("b still failing", r.next(), map[TopicPartition]int64{}, nil, 2)
	r.grow(b, 2)
	r.epoch(b, 5)
	r.answer() // b is not answered: only its retry can find it recovered
	r.check("b recovered", r.next(), map[TopicPartition]int64{b: 2}, nil, 3)

	r.f.sess.failed()
	s = r.next()
	r.check("full again", s, map[TopicPartition]int64{a: 3, b: 2, c: 0}, nil, 3)
	if !s.full {
		t.Fatal("request after a failure is not full")
	}

	r.epoch(b, 6)
	r.answer(b)
	r.check("b failed again", r.next(), map[TopicPartition]int64{}, nil, 2)
	r.answer()
	r.m.Remove(c)
	r.check("rebuilt", r.next(), map[TopicPartition]int64{}, []TopicPartition{b, c}, 1)
	r.answer()
	r.check("after the rebuild", r.next(), map[TopicPartition]int64{}, nil, 1)
}

// holdThrottle is a follower throttle that holds the partitions in hold
// while active.
type holdThrottle struct {
	mu     sync.Mutex
	active bool
	hold   map[TopicPartition]bool
}

func (h *holdThrottle) set(active bool, hold ...TopicPartition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.active, h.hold = active, map[TopicPartition]bool{}
	for _, tp := range hold {
		h.hold[tp] = true
	}
}

func (h *holdThrottle) Active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active
}

func (h *holdThrottle) Hold(topic string, p int32, _ bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active && h.hold[TopicPartition{topic, p}]
}

func (h *holdThrottle) Fetched(string, int32, int) {}

// A partition the follower throttle holds leaves the session, is not sent
// while held even if it changed, and rejoins it when released, with its
// current state.
func TestRoundThrottleHoldsPartitions(t *testing.T) {
	a, b := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	var h holdThrottle
	r := newRounds(t, &h, a, b)
	r.check("first", r.next(), map[TopicPartition]int64{a: 0, b: 0}, nil, 2)
	r.answer()

	h.set(true, b)
	s := r.next()
	r.check("b held", s, map[TopicPartition]int64{}, []TopicPartition{b}, 1)
	if s.wait > throttleRecheck {
		t.Fatalf("b held: wait %v, want at most %v", s.wait, throttleRecheck)
	}
	r.grow(a, 1)
	r.grow(b, 2)
	r.answer(a, b)
	r.check("b held, both changed", r.next(), map[TopicPartition]int64{a: 1}, nil, 1)
	r.answer()

	h.set(false)
	r.check("b released", r.next(), map[TopicPartition]int64{b: 2}, nil, 2)
	r.answer()
	r.check("idle", r.next(), map[TopicPartition]int64{}, nil, 2)
}
