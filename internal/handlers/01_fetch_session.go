package handlers

// Incremental fetch sessions (KIP-227) for Fetch v7+, consumers and
// followers alike.
//
// A client sends SessionEpoch 0 (a full request) to open a session: the
// node keeps the request's partitions and their fetch state, answers every
// partition as a sessionless fetch does, and returns the session's id. Its
// next requests carry the id and epochs 1, 2, ...: they list only the
// partitions whose fetch state changed (and ForgottenTopics to drop), and
// the answer lists only the partitions with something new: records, an
// error, a diverging epoch, or a high watermark, last stable offset or log
// start offset other than the one last sent. Epoch -1 with an id closes the
// session; epoch 0 with an id closes it and opens a new one. An unknown id
// is FETCH_SESSION_ID_NOT_FOUND, a wrong epoch INVALID_FETCH_SESSION_EPOCH,
// a switch between topic names (v7-12) and ids (v13+) within a session
// FETCH_SESSION_TOPIC_ID_ERROR; each is a top-level error, and the client
// opens a new session.
//
// Each session partition has its own partition.Watcher on one channel and
// one FireQueue of the session, registered while it is in the session: a
// request reads only the partitions it names and those whose watcher fired
// since they were last read (drained from the queue, never found by a
// scan), and, once a second (and whenever the metadata image changed), all
// of them; so a follower's wake-up costs O(changed partitions), not
// O(session). The long poll waits on the session's channel. The session's
// order is kept as a sequence number per partition, so moving the
// partitions that sent records to the end is O(moved) too.
//
// The cache holds max.incremental.fetch.session.cache.slots sessions. When
// full, a new session takes the slot of the least recently used session
// idle for 120 s, or else (for a follower) of the least recently used
// consumer session; otherwise the fetch is answered without a session (id
// 0), which is always valid. Sessions idle for 120 s are dropped when a new
// one is made. Partitions that answered with records move to the end of
// the session's order, so one busy partition cannot starve the others of
// the response's byte budget (as Kafka).

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	defaultSessionSlots = 1000              // max.incremental.fetch.session.cache.slots
	sessionEvictAge     = 120 * time.Second // Kafka's min.incremental.fetch.session.eviction.ms
	sessionSweep        = time.Second       // every partition is re-read at least this often
)

// fetchSessions is a node's session cache; mu guards the map and each
// session's lastUsed. Lock order: fetchSessions.mu, then fetchSession.mu.
type fetchSessions struct {
	mu    sync.Mutex
	byID  map[int32]*fetchSession
	slots int
}

func newFetchSessions(slots int) *fetchSessions {
	if slots < 0 {
		slots = defaultSessionSlots
	}
	return &fetchSessions{byID: map[int32]*fetchSession{}, slots: slots}
}

// sessionKey names a session partition: by topic id from v13, by name
// before (the other field is zero).
type sessionKey struct {
	id        [16]byte
	name      string
	partition int32
}

// sessionPart is one partition of a session.
type sessionPart struct {
	key   sessionKey
	req   kmsg.FetchRequestTopicPartition // the latest fetch state sent
	p     *partition.Partition            // watched while in the session
	w     *partition.Watcher
	order uint64 // position in the session's order: lower first
	hw    int64  // last sent; -2 before the first answer
	lso   int64
	start int64
}

// fetchSession is one session; mu guards everything but id, replica and
// usesIDs.
type fetchSession struct {
	id       int32
	replica  int32 // -1 for consumers
	usesIDs  bool
	wake     chan struct{}
	mu       sync.Mutex
	epoch    int32          // the next request's epoch
	parts    []*sessionPart // in no particular order; see sessionPart.order
	index    map[sessionKey]*sessionPart
	byW      map[*partition.Watcher]*sessionPart
	fired    partition.FireQueue // the watchers of s that fired
	drained  []*partition.Watcher
	seq      uint64 // the next order
	swept    time.Time
	img      *metadata.Image // the image of the last full read
	lastUsed time.Time       // guarded by fetchSessions.mu
	closed   bool
}

// sessionRequest is what a Fetch means for sessions.
type sessionRequest struct {
	s    *fetchSession // nil: sessionless
	full bool          // answer every partition
	err  *kerr.Error   // a top-level session error
}

// resolve applies a request's SessionID and SessionEpoch: it closes,
// creates or advances a session.
func (c *fetchSessions) resolve(r *kmsg.FetchRequest, now time.Time) sessionRequest {
	if r.Version < 7 || c.slots == 0 {
		return sessionRequest{full: true}
	}
	switch {
	case r.SessionEpoch == -1:
		c.close(r.SessionID)
		return sessionRequest{full: true}
	case r.SessionEpoch == 0:
		c.close(r.SessionID)
		return sessionRequest{s: c.create(r, now), full: true}
	}
	return c.advance(r, now)
}

// advance checks an incremental request against its session and applies
// its partition changes.
func (c *fetchSessions) advance(r *kmsg.FetchRequest, now time.Time) sessionRequest {
	c.mu.Lock()
	s := c.byID[r.SessionID]
	if s != nil {
		s.lastUsed = now
	}
	c.mu.Unlock()
	switch {
	case s == nil || s.replica != fetchReplica(r):
		return sessionRequest{err: kerr.FetchSessionIDNotFound}
	case s.usesIDs != (r.Version >= 13):
		return sessionRequest{err: kerr.FetchSessionTopicIDError}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || r.SessionEpoch != s.epoch {
		return sessionRequest{err: kerr.InvalidFetchSessionEpoch}
	}
	s.epoch = nextEpoch(s.epoch)
	s.update(r)
	return sessionRequest{s: s}
}

// nextEpoch follows epoch, wrapping to 1 (0 and -1 are reserved).
func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// create opens a session over r's partitions, or returns nil when the
// cache has no slot for it.
func (c *fetchSessions) create(r *kmsg.FetchRequest, now time.Time) *fetchSession {
	s := &fetchSession{replica: fetchReplica(r), usesIDs: r.Version >= 13, wake: make(chan struct{}, 1),
		epoch: 1, index: map[sessionKey]*sessionPart{}, byW: map[*partition.Watcher]*sessionPart{}, swept: now, lastUsed: now}
	c.mu.Lock()
	c.expire(now)
	if !c.makeRoom(s, now) {
		c.mu.Unlock()
		return nil
	}
	s.id = c.newID()
	c.byID[s.id] = s
	c.mu.Unlock()
	s.mu.Lock()
	s.update(r)
	s.mu.Unlock()
	return s
}

// newID returns an unused positive session id; mu must be held.
func (c *fetchSessions) newID() int32 {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		id := int32(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
		if _, used := c.byID[id]; id != 0 && !used {
			return id
		}
	}
}

// expire drops sessions idle for sessionEvictAge; mu must be held.
func (c *fetchSessions) expire(now time.Time) {
	for id, s := range c.byID {
		if now.Sub(s.lastUsed) >= sessionEvictAge {
			delete(c.byID, id)
			s.shut()
		}
	}
}

// makeRoom frees a slot for s if the cache is full and a session may
// give way; mu must be held.
func (c *fetchSessions) makeRoom(s *fetchSession, now time.Time) bool {
	if len(c.byID) < c.slots {
		return true
	}
	var victim *fetchSession
	for _, o := range c.byID {
		if (s.replica >= 0 && o.replica < 0 || now.Sub(o.lastUsed) >= sessionEvictAge) &&
			(victim == nil || o.lastUsed.Before(victim.lastUsed)) {
			victim = o
		}
	}
	if victim == nil {
		return false
	}
	delete(c.byID, victim.id)
	victim.shut()
	return true
}

// close drops session id, if any.
func (c *fetchSessions) close(id int32) {
	if id == 0 {
		return
	}
	c.mu.Lock()
	s := c.byID[id]
	delete(c.byID, id)
	c.mu.Unlock()
	if s != nil {
		s.shut()
	}
}

// shut unwatches every partition of a dropped session.
func (s *fetchSession) shut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, sp := range s.parts {
		sp.unwatch()
	}
	s.parts, s.index, s.byW = nil, nil, nil
}

func (sp *sessionPart) unwatch() {
	if sp.p != nil {
		sp.p.Unwatch(sp.w)
		sp.p = nil
	}
}

// update adds or updates the request's partitions and drops its
// forgotten ones; mu must be held. An updated partition is read by the
// next read (its watcher is marked fired).
func (s *fetchSession) update(r *kmsg.FetchRequest) {
	for i := range r.Topics {
		t := &r.Topics[i]
		for _, rp := range t.Partitions {
			s.put(topicKey(r.Version, t.Topic, t.TopicID, rp.Partition), rp)
		}
	}
	for _, f := range r.ForgottenTopics {
		for _, idx := range f.Partitions {
			s.forget(topicKey(r.Version, f.Topic, f.TopicID, idx))
		}
	}
}

func topicKey(version int16, name string, id [16]byte, idx int32) sessionKey {
	if version >= 13 {
		return sessionKey{id: id, partition: idx}
	}
	return sessionKey{name: name, partition: idx}
}

func (s *fetchSession) put(k sessionKey, rp kmsg.FetchRequestTopicPartition) {
	sp := s.index[k]
	if sp == nil {
		sp = &sessionPart{key: k, w: partition.NewWatcherOn(s.wake, &s.fired), order: s.seq, hw: -2, lso: -2, start: -2}
		s.seq++
		s.index[k] = sp
		s.byW[sp.w] = sp
		s.parts = append(s.parts, sp)
	}
	sp.req = rp
	sp.w.Mark()
}

func (s *fetchSession) forget(k sessionKey) {
	sp := s.index[k]
	if sp == nil {
		return
	}
	sp.unwatch()
	delete(s.index, k)
	delete(s.byW, sp.w)
	s.parts = slices.DeleteFunc(s.parts, func(o *sessionPart) bool { return o == sp })
}

// examined is a session partition read for one answer, with what it
// needs outside the session's lock.
type examined struct {
	sp             *sessionPart
	req            kmsg.FetchRequestTopicPartition
	key            sessionKey
	hw, lso, start int64 // last sent
}

// toExamine returns the partitions an answer reads, in session order:
// every one for a full answer, at the sweep or after a metadata change;
// else those in pending (read earlier in this request's long poll) or
// whose watcher fired. It clears the fired marks it consumes and adds the
// partitions to pending.
func (s *fetchSession) toExamine(full bool, img *metadata.Image, now time.Time, pending map[*sessionPart]bool) []examined {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drained = s.fired.Drain(s.drained[:0])
	var parts []*sessionPart
	if full || img != s.img || now.Sub(s.swept) >= sessionSweep {
		s.img, s.swept = img, now
		parts = s.parts
	} else {
		parts = s.changed(pending)
	}
	slices.SortFunc(parts, func(a, b *sessionPart) int { return cmp.Compare(a.order, b.order) })
	out := make([]examined, 0, len(parts))
	for _, sp := range parts {
		pending[sp] = true
		out = append(out, examined{sp: sp, req: sp.req, key: sp.key, hw: sp.hw, lso: sp.lso, start: sp.start})
	}
	return out
}

// changed returns, unordered, the session partitions in pending or whose
// watcher was just drained; mu must be held.
func (s *fetchSession) changed(pending map[*sessionPart]bool) []*sessionPart {
	parts := make([]*sessionPart, 0, len(pending)+len(s.drained))
	for sp := range pending {
		if s.index[sp.key] == sp { // not forgotten since
			parts = append(parts, sp)
		}
	}
	for _, w := range s.drained {
		if sp := s.byW[w]; sp != nil && !pending[sp] {
			pending[sp] = true // also dedups a watcher queued twice
			parts = append(parts, sp)
		}
	}
	return parts
}

// rewatch makes sp watch p, the partition this node now has under sp's
// name (nil: none), before it is read, so no change after the read goes
// unseen by the long poll.
func (s *fetchSession) rewatch(sp *sessionPart, p *partition.Partition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp.p == p || s.closed || s.index[sp.key] != sp {
		return
	}
	sp.unwatch()
	if p != nil {
		p.Watch(sp.w)
		sp.p = p
	}
}

// sent is what an answer told the client about one partition.
type sent struct {
	sp             *sessionPart
	hw, lso, start int64
	records        bool
}

// commit records what an answer sent, and moves the partitions that sent
// records to the end of the session's order (answered is in that order).
func (s *fetchSession) commit(answered []sent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range answered {
		a.sp.hw, a.sp.lso, a.sp.start = a.hw, a.lso, a.start
		if a.records {
			a.sp.order = s.seq
			s.seq++
		}
	}
}

// changed reports whether an incremental answer must carry a partition.
func (e *examined) changed(out *kmsg.FetchResponseTopicPartition, records int) bool {
	return records > 0 || out.ErrorCode != 0 || out.DivergingEpoch.Epoch >= 0 ||
		out.HighWatermark != e.hw || out.LastStableOffset != e.lso || out.LogStartOffset != e.start
}

// sessionAnswer is one read of a session: the response, its record
// bytes, and what it tells the client.
type sessionAnswer struct {
	resp *server.FetchResponse
	size int
	sent []sent
}

// fetchSession answers a Fetch on a session: at once when it has
// MinBytes, an error, or no wait; else after a long poll on the session's
// partitions.
func (h *Handlers) fetchSession(ctx context.Context, req *server.Request, r *kmsg.FetchRequest, sr sessionRequest) server.Reply {
	denied := h.sessionDenied(req, r, sr.s)
	pending := map[*sessionPart]bool{}
	a := h.readSession(req.Listener, r, sr, denied, pending)
	if a.size >= int(r.MinBytes) || r.MaxWaitMillis <= 0 || hasError(a.resp.FetchResponse) {
		sr.s.commit(a.sent)
		return respond(req, a.resp)
	}
	deadline := time.Now().Add(time.Duration(r.MaxWaitMillis) * time.Millisecond)
	return server.Reply{Later: func() kmsg.Response {
		return h.sessionLongPoll(ctx, req.Listener, r, sr, denied, pending, deadline)
	}}
}

// sessionLongPoll waits on the session's partitions until MinBytes are
// available or the deadline (MaxWaitMillis after the request) passes.
func (h *Handlers) sessionLongPoll(ctx context.Context, listener string, r *kmsg.FetchRequest, sr sessionRequest, denied fetchDenial, pending map[*sessionPart]bool, deadline time.Time) kmsg.Response {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case <-sr.s.wake:
			a := h.readSession(listener, r, sr, denied, pending)
			if a.size >= int(r.MinBytes) || hasError(a.resp.FetchResponse) {
				sr.s.commit(a.sent)
				return a.resp
			}
		case <-timer.C:
			a := h.readSession(listener, r, sr, denied, pending)
			sr.s.commit(a.sent)
			return a.resp
		case <-ctx.Done():
			return nil
		}
	}
}

// readSession reads the session's partitions to examine and builds the
// answer: every one of them when full, else those that changed.
func (h *Handlers) readSession(listener string, r *kmsg.FetchRequest, sr sessionRequest, denied fetchDenial, pending map[*sessionPart]bool) sessionAnswer {
	s, img := sr.s, h.d.Image()
	resp := &server.FetchResponse{FetchResponse: kmsg.NewPtrFetchResponse()}
	resp.SetVersion(r.Version)
	resp.SessionID = s.id
	a := sessionAnswer{resp: resp}
	budget := int(r.MaxBytes)
	if budget <= 0 {
		budget = 1 << 30
	}
	topics := map[sessionKey]int{} // partition -1: the topic's entry
	hints := fetchLeaderHints(img, listener, r.Version)
	for _, e := range s.toExamine(sr.full, img, h.d.Now(), pending) {
		name, known := sessionTopicName(img, e.key)
		if err := fetchTopicError(denied, name, known); err != nil {
			h.sessionAdd(&a, topics, e, fetchError(e.key.partition, err), server.FileRecords{})
			continue
		}
		exists := hasPartition(img, name, e.key.partition)
		if exists {
			s.rewatch(e.sp, h.d.Partitions.Partition(name, e.key.partition))
		}
		out, rec, _ := h.readOne(fetchReader{s.replica, readCommitted(r)}, name, exists, e.req, min(int(e.req.PartitionMaxBytes), budget-a.size), a.size == 0)
		if !sr.full && !e.changed(&out, rec.Len) {
			continue
		}
		hints.fetchPartition(name, &out)
		h.sessionAdd(&a, topics, e, out, rec)
	}
	hints.fetchBrokers(resp.FetchResponse)
	return a
}

// sessionTopicName is a session partition's topic name (false when the
// image has no such topic id).
func sessionTopicName(img *metadata.Image, k sessionKey) (string, bool) {
	if k.name != "" {
		return k.name, true
	}
	t, ok := img.Topics[metadata.UUID(k.id)]
	if !ok {
		return "", false
	}
	return t.Name, true
}

// sessionAdd puts one partition's answer in a, under its topic's entry.
func (h *Handlers) sessionAdd(a *sessionAnswer, topics map[sessionKey]int, e examined, out kmsg.FetchResponseTopicPartition, rec server.FileRecords) {
	tk := sessionKey{id: e.key.id, name: e.key.name, partition: -1}
	ti, ok := topics[tk]
	if !ok {
		t := kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = e.key.name, e.key.id
		a.resp.Topics = append(a.resp.Topics, t)
		ti = len(a.resp.Topics) - 1
		topics[tk] = ti
	}
	t := &a.resp.Topics[ti]
	if rec.Len > 0 {
		a.resp.Files = append(a.resp.Files, server.PartitionFile{Topic: ti, Partition: len(t.Partitions), FileRecords: rec})
		a.size += rec.Len
	}
	t.Partitions = append(t.Partitions, out)
	a.sent = append(a.sent, sent{sp: e.sp, hw: out.HighWatermark, lso: out.LastStableOffset, start: out.LogStartOffset, records: rec.Len > 0})
}

// sessionDenied decides a session request's authorization over every
// partition of the session.
func (h *Handlers) sessionDenied(req *server.Request, r *kmsg.FetchRequest, s *fetchSession) fetchDenial {
	if s.replica >= 0 {
		return fetchDenial{all: !h.authorizeCluster(req, metadata.ACLOpClusterAction)}
	}
	img := h.d.Image()
	names := func(yield func(string) bool) {
		for _, k := range s.keys() {
			if n, ok := sessionTopicName(img, k); ok && !yield(n) {
				return
			}
		}
	}
	return fetchDenial{topics: h.deniedTopics(req, metadata.ACLOpRead, names)}
}

// keys returns the session's partition keys.
func (s *fetchSession) keys() []sessionKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]sessionKey, len(s.parts))
	for i, sp := range s.parts {
		out[i] = sp.key
	}
	return out
}

// sessionError answers a request refused for its session.
func sessionError(r *kmsg.FetchRequest, err *kerr.Error) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(r.Version)
	resp.ErrorCode = err.Code
	return resp
}
