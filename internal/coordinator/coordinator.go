// Package coordinator is the group coordinator's IO shell: one runner per
// partition of __consumer_offsets this broker leads, each an event loop
// around a pure group.Coordinator that appends its records to the
// partition, reports them durable once the high watermark passes them, and
// delivers replies to waiting requests.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is Kafka's internal topic for group metadata and offsets.
const OffsetsTopic = "__consumer_offsets"

// groupTick is how often coordinators run their timeouts.
const groupTick = 200 * time.Millisecond

// ErrNotCoordinator means this broker does not coordinate the group.
var ErrNotCoordinator = kerr.NotCoordinator

// Options configure a Manager.
type Options struct {
	NodeID int32
	Config group.Config
	// Partitions returns the number of partitions of __consumer_offsets,
	// 0 while it does not exist.
	Partitions func() int32
	Logger     *slog.Logger
	// Now is the node's wall clock, read by every coordinator for group
	// timers, commit timestamps and offset retention, and for the
	// timestamps of the batches it appends; nil = time.Now.
	Now func() time.Time
}

// loadRetry is the wait before loading a partition again after a failed
// load; requests meanwhile get COORDINATOR_LOAD_IN_PROGRESS.
const loadRetry = time.Second

// Manager owns the coordinators of this broker.
type Manager struct {
	o      Options
	ids    atomic.Uint64
	mu     sync.Mutex
	coords map[int32]*coordRunner
	// last is the newest runner of each partition, running or stopping:
	// its successor loads only once it has stopped.
	last map[int32]*coordRunner
}

// NewManager returns a Manager with no coordinators.
func NewManager(o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{o: o, coords: map[int32]*coordRunner{}, last: map[int32]*coordRunner{}}
}

// OnPartition starts or stops the coordinator of __consumer_offsets
// partition idx as this broker gains or loses its leadership: p is the
// local replica (nil if none), leader and epoch the partition's current
// leader and leader epoch. Called in metadata order.
//
// A partition has one runner at a time: a new one answers
// COORDINATOR_LOAD_IN_PROGRESS until its predecessor has stopped (its
// last command done), and only then reads the log. A runner appends and
// counts its appends durable only while the replica leads in the epoch it
// was started for (partition.AppendInEpoch), so a runner of an earlier
// leadership can neither write nor acknowledge in a later one.
func (g *Manager) OnPartition(idx int32, p *partition.Partition, leader, epoch int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := g.coords[idx]
	lead := p != nil && leader == g.o.NodeID
	if cur != nil && (!lead || cur.epoch != epoch) {
		cur.stop()
		delete(g.coords, idx)
		cur = nil
	}
	if lead && cur == nil {
		r := newCoordRunner(g.o.Logger, idx, p, epoch, g.o.Config, g.o.Now)
		if prev := g.last[idx]; prev != nil {
			r.prev = prev.stopped
		}
		g.coords[idx], g.last[idx] = r, r
		go r.run()
	}
}

// StopAll stops every coordinator (shutdown or topic deletion).
func (g *Manager) StopAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for idx, r := range g.coords {
		r.stop()
		delete(g.coords, idx)
	}
}

// runner returns the coordinator of groupID's partition, or nil.
func (g *Manager) runner(groupID string) *coordRunner {
	n := g.o.Partitions()
	if n <= 0 {
		return nil
	}
	idx := group.PartitionFor(groupID, n)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.coords[idx]
}

// Do serves one single-group request on this broker's coordinator.
func (g *Manager) Do(ctx context.Context, groupID string, client group.Client, req kmsg.Request) (kmsg.Response, error) {
	r := g.runner(groupID)
	if r == nil {
		return nil, ErrNotCoordinator
	}
	return r.do(ctx, g.ids.Add(1), client, req)
}

// All serves a request on every local coordinator (ListGroups).
func (g *Manager) All(ctx context.Context, req kmsg.Request) ([]kmsg.Response, error) {
	g.mu.Lock()
	runners := make([]*coordRunner, 0, len(g.coords))
	for _, r := range g.coords {
		runners = append(runners, r)
	}
	g.mu.Unlock()
	var out []kmsg.Response
	for _, r := range runners {
		resp, err := r.do(ctx, g.ids.Add(1), group.Client{}, req)
		if err != nil {
			return nil, err
		}
		out = append(out, resp)
	}
	return out, nil
}

// coordRunner is the event loop of one coordinator.
type coordRunner struct {
	logger  *slog.Logger
	idx     int32
	p       *partition.Partition
	epoch   int32
	cfg     group.Config
	now     func() time.Time
	cmds    chan func()
	done    chan struct{}
	stopped chan struct{}
	prev    <-chan struct{} // the predecessor's stopped, nil if none
	once    sync.Once

	// Owned by the loop.
	c       *group.Coordinator
	loading bool
	waiters map[group.RequestID]chan kmsg.Response
	pending []pendingBatch // appended, waiting for the HW, in order
}

type pendingBatch struct {
	id   group.BatchID
	next int64 // offset after the batch
}

func newCoordRunner(logger *slog.Logger, idx int32, p *partition.Partition, epoch int32, cfg group.Config, now func() time.Time) *coordRunner {
	return &coordRunner{
		logger: logger, idx: idx, p: p, epoch: epoch, cfg: cfg, now: now, loading: true,
		cmds: make(chan func()), done: make(chan struct{}), stopped: make(chan struct{}),
		waiters: map[group.RequestID]chan kmsg.Response{},
	}
}

func (r *coordRunner) stop() {
	r.once.Do(func() { close(r.done) })
}

// run waits for its predecessor, loads the partition, then serves
// commands, ticks and HW movement.
func (r *coordRunner) run() {
	defer close(r.stopped)
	if r.prev != nil && !serveLoadingUntil(r, r.prev) {
		return
	}
	w := partition.NewWatcher()
	r.p.Watch(w)
	defer r.p.Unwatch(w)
	if !r.loadRetrying() {
		return
	}
	r.loading = false
	r.logger.Info("group coordinator loaded", "partition", r.idx, "leaderEpoch", r.epoch)
	tick := time.NewTicker(groupTick)
	defer tick.Stop()
	for {
		select {
		case fn := <-r.cmds:
			fn()
		case <-tick.C:
			r.apply(r.c.Tick(r.now()))
		case <-w.C:
			r.checkDurable()
		case <-r.done:
			r.unload()
			return
		}
	}
}

// serveLoadingUntil answers commands (as loading) until ch delivers; false
// when the runner was stopped first.
func serveLoadingUntil[T any](r *coordRunner, ch <-chan T) bool {
	for {
		select {
		case <-ch:
			return true
		case fn := <-r.cmds:
			fn()
		case <-r.done:
			return false
		}
	}
}

// loadRetrying loads the partition, retrying after loadRetry while a load
// fails; false when the runner was stopped first.
func (r *coordRunner) loadRetrying() bool {
	for {
		r.c = group.New(r.cfg)
		err := r.load()
		if err == nil {
			return true
		}
		if errors.Is(err, errStopped) {
			return false
		}
		r.logger.Error("cannot load group coordinator; retrying", "partition", r.idx, "err", err, "retry", loadRetry)
		t := time.NewTimer(loadRetry)
		ok := serveLoadingUntil(r, t.C)
		t.Stop()
		if !ok {
			return false
		}
	}
}

var errStopped = errors.New("coordinator: stopped while loading")

// load replays the partition's records, from the log start to its end,
// serving requests with COORDINATOR_LOAD_IN_PROGRESS meanwhile.
func (r *coordRunner) load() error {
	end := r.p.LogEndOffset()
	for off := r.p.LogStartOffset(); off < end; {
		select {
		case fn := <-r.cmds:
			fn()
			continue
		case <-r.done:
			return errStopped
		default:
		}
		b, err := r.p.ReadLocal(off, 1<<20, end)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return fmt.Errorf("coordinator: nothing to read at %d below the log end %d", off, end)
		}
		next, err := r.loadBatches(b)
		if err != nil {
			return err
		}
		off = next
	}
	return nil
}

func (r *coordRunner) loadBatches(b []byte) (int64, error) {
	var next int64
	now := r.now()
	for len(b) >= record.HeaderSize {
		h, err := record.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		recs, err := record.Records(b[:h.Size()])
		if err != nil {
			return 0, err
		}
		for _, rec := range recs {
			if err := r.c.Load(now, rec.Key, rec.Value); err != nil {
				r.logger.Warn("skipping unreadable __consumer_offsets record", "partition", r.idx, "err", err)
			}
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next, nil
}

// unload answers everything waiting with NOT_COORDINATOR.
func (r *coordRunner) unload() {
	if r.c != nil && !r.loading {
		r.deliver(r.c.Unload())
	}
	for id, ch := range r.waiters {
		close(ch)
		delete(r.waiters, id)
	}
}

// do runs one request on the loop and waits for its reply.
func (r *coordRunner) do(ctx context.Context, id uint64, client group.Client, req kmsg.Request) (kmsg.Response, error) {
	ch := make(chan kmsg.Response, 1)
	cmd := func() {
		if r.loading {
			ch <- loadingResponse(req)
			return
		}
		r.waiters[group.RequestID(id)] = ch
		eff, err := r.c.Handle(r.now(), group.RequestID(id), client, req)
		if err != nil {
			delete(r.waiters, group.RequestID(id))
			close(ch)
			return
		}
		r.apply(eff)
	}
	select {
	case r.cmds <- cmd:
	case <-r.stopped:
		return nil, ErrNotCoordinator
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, ErrNotCoordinator
		}
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// apply delivers replies and appends records.
func (r *coordRunner) apply(eff group.Effects) {
	r.deliver(eff.Replies)
	if eff.Append != nil {
		r.append(eff.Append)
	}
}

func (r *coordRunner) deliver(replies []group.Reply) {
	for _, rep := range replies {
		if ch, ok := r.waiters[rep.ID]; ok {
			ch <- rep.Response
			delete(r.waiters, rep.ID)
		}
	}
}

// append writes one batch with acks=all semantics: refused when the ISR is
// below min.insync.replicas, durable once the HW passes it.
func (r *coordRunner) append(a *group.Append) {
	recs := make([]record.Record, len(a.Records))
	for i, rec := range a.Records {
		recs[i] = record.Record{Key: rec.Key, Value: rec.Value}
	}
	batch, err := record.BuildBatch(record.CompressionNone, r.now().UnixMilli(), recs)
	if err == nil {
		var res partition.AppendResult
		if res, err = r.p.AppendInEpoch(batch, r.epoch); err == nil && res.SyncTo >= 0 {
			err = r.p.Sync(res.SyncTo) // flush.messages / flush.ms on __consumer_offsets
		}
		if err == nil {
			r.pending = append(r.pending, pendingBatch{a.ID, res.LastOffset + 1})
			r.checkDurable()
			return
		}
	}
	r.apply(r.c.AppendFailed(r.now(), a.ID, appendError(err)))
}

// checkDurable reports, in append order, the batches the HW has passed,
// and fails the rest if leadership in the runner's epoch was lost.
func (r *coordRunner) checkDurable() {
	hw, leader := r.p.HighWatermarkInEpoch(r.epoch)
	for len(r.pending) > 0 {
		pb := r.pending[0]
		switch {
		case pb.next <= hw:
			r.pending = r.pending[1:]
			r.apply(r.c.Appended(r.now(), pb.id))
		case !leader:
			r.pending = r.pending[1:]
			r.apply(r.c.AppendFailed(r.now(), pb.id, kerr.NotLeaderForPartition))
		default:
			return
		}
	}
}

// appendError maps a partition error to the Kafka error the coordinator
// translates (NOT_LEADER → NOT_COORDINATOR, NOT_ENOUGH_REPLICAS →
// COORDINATOR_NOT_AVAILABLE, ...).
func appendError(err error) error {
	switch {
	case errors.Is(err, partition.ErrNotLeader):
		return kerr.NotLeaderForPartition
	case errors.Is(err, partition.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas
	case errors.Is(err, partition.ErrMessageTooLarge):
		return kerr.MessageTooLarge
	}
	return kerr.CoordinatorNotAvailable
}

// loadingResponse answers a request that arrives while the coordinator is
// loading, as Kafka does: COORDINATOR_LOAD_IN_PROGRESS, except that a
// Heartbeat gets NONE and a SyncGroup REBALANCE_IN_PROGRESS.
func loadingResponse(req kmsg.Request) kmsg.Response {
	switch req.(type) {
	case *kmsg.HeartbeatRequest:
		return ErrorResponse(req, 0)
	case *kmsg.SyncGroupRequest:
		return ErrorResponse(req, kerr.RebalanceInProgress.Code)
	}
	return ErrorResponse(req, kerr.CoordinatorLoadInProgress.Code)
}
