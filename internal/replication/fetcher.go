package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchVersion is the Fetch version we send: the last one with topic
// names, and the first with LastFetchedEpoch and DivergingEpoch (KIP-320).
const fetchVersion = 12

// idle is a wait that only a new assignment or Close ends.
const idle = time.Duration(math.MaxInt64)

var errNoAddress = errors.New("replication: leader address unknown")

// fetcher fetches every partition assigned to one leader. Its goroutine
// alone owns the connection and the round state (ready set, stale queue,
// session); parts, abort and gen are guarded by Manager.mu.
type fetcher struct {
	m      *Manager
	o      *Options
	leader int32
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // a partition was assigned
	parts  map[TopicPartition]*assignment
	// While a Fetch is in flight, abort cancels it (guarded by
	// Manager.mu; nil between rounds): a partition assigned meanwhile
	// must not wait for the leader's long poll to end (assigned).
	abort context.CancelFunc
	// gen moves (under Manager.mu) whenever parts or a partition's
	// backoff changes; the fetcher then rebuilds its ready set.
	gen uint64

	// The round state below is owned by the fetcher goroutine and read
	// and written without a lock (rebuild happens to hold Manager.mu for
	// the assignments it reads). The ready set is rebuilt when gen moved,
	// a backoff ended, or every readyRefresh; between rebuilds a round
	// with no throttle active in which no partition's state became known
	// or unknown touches only the stale partitions, so it costs
	// O(changed partitions), not O(assigned).
	ready    map[TopicPartition]*inflight
	order    []*inflight // the ready set, in request order
	builtGen uint64
	retryAt  time.Time // a backed-off partition becomes ready (zero: none)
	builtAt  time.Time
	// stale queues, each once, exactly the ready partitions with in.stale
	// set: every one after a rebuild, those a response answered
	// (handleResponse, through markStale), and those whose last re-read
	// failed (in.p == nil), retried every round until they recover or a
	// rebuild drops them. reread drains it at the start of a round.
	stale []*inflight
	// fetching is the session's partitions: the ready partitions, in
	// order, whose fetch state is known (in.p != nil) and that the
	// follower throttle does not hold. It persists across rounds and is
	// recomputed from order only after a rebuild, when a partition's
	// state became known or unknown, or while the throttle holds or held
	// partitions (choose).
	fetching []*inflight
	changed  []*inflight // the round's re-read partitions not held; reused

	conn    *leaderConn // nil until dialed, and after an error
	sess    session     // the incremental fetch session with the leader
	failing bool        // the last round failed at the fetcher level (for logging)
	// heldLast are the partitions the follower throttle left out of the
	// last request (nil: none).
	heldLast map[TopicPartition]bool
}

// inflight is one partition of a Fetch request.
type inflight struct {
	a     *assignment
	p     *partition.Partition
	st    partition.FetchState
	stale bool // queued in fetcher.stale: st must be re-read before the next request
}

func newFetcher(m *Manager, leader int32) *fetcher {
	ctx, cancel := context.WithCancel(m.ctx)
	return &fetcher{
		m: m, o: &m.o, leader: leader, log: m.o.Logger.With("leader", leader),
		ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1),
		parts: map[TopicPartition]*assignment{},
	}
}

// poke wakes the fetcher if it idles. Never blocks.
func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// assigned tells the fetcher that a partition was assigned to it (new, or
// in a new epoch); called with Manager.mu held. A Fetch in flight is
// aborted (its connection is dropped, which ends the leader's long poll),
// so the partition joins the next request at once instead of after
// replica.fetch.wait.max.ms:
// after a failover the new leader's high watermark, and so every acks=all
// write, waits for its followers' first fetch of the partition.
func (f *fetcher) assigned() {
	f.gen++
	f.poke()
	if f.abort != nil {
		f.abort()
		f.abort = nil
	}
}

// run is the fetcher goroutine: fetch rounds until stopped.
func (f *fetcher) run() {
	defer f.m.wg.Done()
	defer f.closeClient()
	for f.ctx.Err() == nil {
		wait, wakeable := f.round()
		if wait > 0 {
			f.sleep(wait, wakeable)
		}
	}
}

// sleep waits d, or until the fetcher stops; a wakeable wait also ends
// when a partition is assigned.
func (f *fetcher) sleep(d time.Duration, wakeable bool) {
	wake := f.wake
	if !wakeable {
		wake = nil
	}
	var timeout <-chan time.Time
	if d != idle {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-f.ctx.Done():
	case <-wake:
	case <-timeout:
	}
}

// round sends one Fetch for the partitions ready to fetch and applies the
// response. It returns how long to wait before the next round, and
// whether a new assignment may cut that wait short.
func (f *fetcher) round() (time.Duration, bool) {
	ctx, cancel := context.WithCancel(f.ctx)
	defer f.endRound(cancel)
	req, parts, wait := f.buildRequest(cancel)
	if len(parts) == 0 {
		return wait, true
	}
	resp, err := f.fetch(ctx, req)
	switch {
	case err == nil:
		f.sess.answered(resp)
	case f.sess.refused(err):
		f.log.Debug("fetch session refused; opening a new one", "err", err)
		return 0, false
	default:
		f.sess.failed()
	}
	switch {
	case err != nil && f.ctx.Err() == nil && ctx.Err() != nil:
		// Aborted for a new partition: the connection, which carried the
		// abandoned long poll, is closed; the next request dials anew.
		f.log.Debug("fetch aborted for a newly assigned partition")
		return 0, false
	case err != nil:
		if f.ctx.Err() == nil {
			f.logFailure(err)
		}
		return f.o.Backoff, false
	}
	f.logRecovery()
	f.handleResponse(resp)
	return 0, false
}

// endRound forgets the round's abort and releases its context.
func (f *fetcher) endRound(cancel context.CancelFunc) {
	f.m.mu.Lock()
	f.abort = nil
	f.m.mu.Unlock()
	cancel()
}

// fetch sends req to the leader.
func (f *fetcher) fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	kresp, err := f.roundTrip(ctx, req, fetchVersion, f.o.MaxWait)
	if err != nil {
		return nil, err
	}
	if kresp.GetVersion() != fetchVersion { // a leader without KIP-320
		return nil, fmt.Errorf("replication: leader %d does not support Fetch v%d", f.leader, fetchVersion)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	return resp, nil
}

func (f *fetcher) logFailure(err error) {
	if !f.failing {
		f.log.Warn("replica fetcher cannot reach leader; backing off", "err", err, "backoff", f.o.Backoff)
		if f.o.OnLeaderUnreachable != nil {
			f.o.OnLeaderUnreachable(f.leader)
		}
	} else {
		f.log.Debug("replica fetcher still failing", "err", err)
	}
	f.failing = true
}

func (f *fetcher) logRecovery() {
	if f.failing {
		f.log.Info("replica fetcher reached leader again", "addr", f.conn.addr)
	}
	f.failing = false
}

// connect returns the connection to the leader's current address,
// dialing a new one when there is none, the address changed, or the
// SASL session would end before the next long poll does. fresh reports
// a new connection.
func (f *fetcher) connect(ctx context.Context) (c *leaderConn, fresh bool, err error) {
	addr, ok := f.o.Addr(f.leader)
	if !ok {
		return nil, false, errNoAddress
	}
	if f.conn != nil && f.conn.addr == addr && !f.conn.expiring(f.o.MaxWait+ioOverhead) {
		return f.conn, false, nil
	}
	f.closeClient()
	c, err = dialLeader(ctx, addr, fmt.Sprintf("fjord-replica-fetcher-%d", f.o.NodeID), f.o.Security)
	if err != nil {
		return nil, false, err
	}
	f.conn = c
	return c, true, nil
}

// roundTrip sends req to the leader at the highest version both support
// (at most want) and returns the response; the connection is closed on
// any error. hold is how long the leader may keep the request. A
// connection that was kept from earlier requests and turns out closed by
// the leader (its idle timeout, a restart) is replaced once at once, as a
// client does, rather than counted as the leader being unreachable.
func (f *fetcher) roundTrip(ctx context.Context, req kmsg.Request, want int16, hold time.Duration) (kmsg.Response, error) {
	c, fresh, err := f.connect(ctx)
	if err != nil {
		return nil, err
	}
	v := min(c.version(req), want)
	if v < 0 {
		f.closeClient()
		return nil, fmt.Errorf("replication: leader %d does not support %s", f.leader, kmsg.NameForKey(req.Key()))
	}
	req.SetVersion(v)
	resp, err := c.roundTrip(ctx, req, hold)
	if err != nil {
		f.closeClient()
		if !fresh && ctx.Err() == nil && closedByPeer(err) {
			return f.roundTrip(ctx, req, want, hold) // on a fresh connection: no third try
		}
		return nil, err
	}
	return resp, nil
}

// closedByPeer reports an error of a connection the other side closed.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (f *fetcher) closeClient() {
	if f.conn != nil {
		f.conn.close()
		f.conn = nil
	}
}

// readyRefresh bounds how long a ready partition's cached fetch state is
// trusted without a re-read (its log start offset moves by retention).
const readyRefresh = time.Second

// arm sets the round's abort and reports whether the ready set must be
// rebuilt, in one critical section, so no assignment falls between them.
func (f *fetcher) arm(abort context.CancelFunc, now time.Time) bool {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	f.abort = abort
	return f.ready == nil || f.gen != f.builtGen || (!f.retryAt.IsZero() && !now.Before(f.retryAt)) ||
		now.Sub(f.builtAt) >= readyRefresh
}

// rebuild recomputes the ready set from the assignments, keeping the
// cached states of partitions still assigned in the same epoch, and
// returns how long until the first backed-off one is ready (idle if none).
// Every ready partition is queued stale, and the queue holds nothing else.
func (f *fetcher) rebuild(now time.Time) time.Duration {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	wait := idle
	ready := make(map[TopicPartition]*inflight, len(f.parts))
	clear(f.order) // no dropped partition stays reachable from the tails
	clear(f.stale)
	f.order, f.stale = f.order[:0], f.stale[:0]
	for tp, a := range f.parts {
		switch {
		case a.stopped:
		case a.until.After(now):
			wait = min(wait, a.until.Sub(now))
		default:
			in := f.ready[tp]
			if in == nil || in.a != a {
				in = &inflight{a: a}
			}
			in.stale = true
			ready[tp] = in
			f.order = append(f.order, in)
			f.stale = append(f.stale, in)
		}
	}
	f.ready, f.builtGen, f.builtAt, f.retryAt = ready, f.gen, now, time.Time{}
	if wait != idle {
		f.retryAt = now.Add(wait)
	}
	return wait
}

// markStale queues in, a ready partition, for a re-read of its fetch
// state before the next request. Fetcher goroutine only.
func (f *fetcher) markStale(in *inflight) {
	if !in.stale {
		in.stale = true
		f.stale = append(f.stale, in)
	}
}

// buildRequest builds the Fetch for the ready partitions whose replica
// still follows our leader in the assigned epoch. A partition skipped for
// that is looked at again in the next round, and after Backoff at most.
// The partitions returned are fetching: owned by the fetcher, valid until
// the next call.
func (f *fetcher) buildRequest(abort context.CancelFunc) (*kmsg.FetchRequest, []*inflight, time.Duration) {
	now := time.Now()
	wait := idle
	if !f.retryAt.IsZero() {
		wait = f.retryAt.Sub(now)
	}
	rebuilt := f.arm(abort, now)
	if rebuilt {
		wait = f.rebuild(now)
	}
	moved := f.reread()
	if len(f.stale) > 0 { // states unknown: retried next round
		wait = min(wait, f.o.Backoff)
	}
	held := f.choose(rebuilt || moved)
	// Partitions held back (or released) leave (or rejoin) the session, as
	// Kafka's fetcher drops throttled partitions from its session builder.
	reshaped := rebuilt || !maps.Equal(held, f.heldLast)
	f.heldLast = held
	if len(held) > 0 {
		wait = min(wait, throttleRecheck)
	}
	req := f.newRequest()
	topics := map[string]int{}
	f.sess.fill(req, f.fetching, f.changed, reshaped, func(in *inflight) { f.addPartition(req, topics, in) })
	return req, f.fetching, wait
}

// reread drains the stale queue: it re-reads each partition's fetch
// state, lists it in changed, and queues again those whose state is
// unknown (in.p == nil: not fetched). It reports whether a partition's
// state became known or unknown, which changes fetching.
func (f *fetcher) reread() (moved bool) {
	clear(f.changed)
	f.changed = f.changed[:0]
	failed := f.stale[:0] // compacted in place: never ahead of the loop
	for _, in := range f.stale {
		known := in.p != nil
		if f.fetchState(in) {
			in.stale = false
		} else {
			in.p = nil // stays stale
			failed = append(failed, in)
		}
		moved = moved || known != (in.p != nil)
		f.changed = append(f.changed, in)
	}
	clear(f.stale[len(failed):])
	f.stale = failed
	return moved
}

// choose brings fetching up to date and returns the partitions the
// follower throttle holds (nil: none), which it drops from changed.
// Without a throttle active it recomputes fetching only when recompute is
// set or the last round held partitions; else fetching stays as it was.
func (f *fetcher) choose(recompute bool) map[TopicPartition]bool {
	if f.o.Throttle != nil && f.o.Throttle.Active() {
		return f.chooseThrottled()
	}
	if recompute || f.heldLast != nil {
		f.refetch(func(*inflight) bool { return true })
	}
	return nil
}

// chooseThrottled recomputes fetching without the partitions the throttle
// holds, and returns those; O(ready partitions), but only while the
// throttle is active.
func (f *fetcher) chooseThrottled() map[TopicPartition]bool {
	var held map[TopicPartition]bool
	f.refetch(func(in *inflight) bool {
		if !f.held(in) {
			return true
		}
		if held == nil {
			held = map[TopicPartition]bool{}
		}
		held[in.a.tp] = true
		return false
	})
	if held != nil {
		f.changed = slices.DeleteFunc(f.changed, func(in *inflight) bool { return held[in.a.tp] })
	}
	return held
}

// refetch sets fetching to the ready partitions, in order, whose state is
// known and that keep says to fetch.
func (f *fetcher) refetch(keep func(*inflight) bool) {
	clear(f.fetching)
	f.fetching = f.fetching[:0]
	for _, in := range f.order {
		if in.p != nil && keep(in) {
			f.fetching = append(f.fetching, in)
		}
	}
}

// throttleRecheck is how soon a fetcher whose partitions the follower
// throttle holds back looks at them again (the rate falls as its
// sampled windows age).
const throttleRecheck = 100 * time.Millisecond

// held reports whether the follower throttle leaves the partition out of
// this round's fetch.
func (f *fetcher) held(in *inflight) bool {
	if in.p == nil {
		return false
	}
	isr, _ := in.p.ISRState()
	return f.o.Throttle.Hold(in.a.tp.Topic, in.a.tp.Partition, slices.Contains(isr, f.o.NodeID))
}

func (f *fetcher) newRequest() *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = f.o.NodeID
	req.MaxWaitMillis = int32(f.o.MaxWait.Milliseconds())
	req.MinBytes, req.MaxBytes = f.o.MinBytes, f.o.MaxBytes
	req.IsolationLevel = 0
	return req
}

// fetchState re-reads the replica's next fetch position into in; false
// when the replica no longer follows our leader in the assigned epoch.
func (f *fetcher) fetchState(in *inflight) bool {
	p := in.p
	if p == nil {
		p = f.o.Partition(in.a.tp.Topic, in.a.tp.Partition)
	}
	if p == nil {
		return false
	}
	st, ok := p.FollowerFetchState()
	if !ok || st.LeaderEpoch != in.a.epoch || st.Leader != f.leader {
		return false
	}
	in.p, in.st = p, st
	return true
}

// addPartition adds one partition to req, grouping partitions by topic.
func (f *fetcher) addPartition(req *kmsg.FetchRequest, topics map[string]int, in *inflight) {
	i, ok := topics[in.a.tp.Topic]
	if !ok {
		t := kmsg.NewFetchRequestTopic()
		t.Topic = in.a.tp.Topic
		req.Topics = append(req.Topics, t)
		i = len(req.Topics) - 1
		topics[in.a.tp.Topic] = i
	}
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition = in.a.tp.Partition
	p.CurrentLeaderEpoch = in.a.epoch
	p.FetchOffset, p.LogStartOffset = in.st.FetchOffset, in.st.LogStartOffset
	p.LastFetchedEpoch = in.st.LastFetchedEpoch
	p.PartitionMaxBytes = f.o.PartitionMaxBytes
	req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
}
