package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// machine is a pure coordinator (group.Coordinator, txn.Coordinator) as a
// runner drives it. Every method is called on the runner's goroutine only.
type machine interface {
	// loadBatch replays one whole batch of the partition (h is its
	// header, b its bytes), in offset order.
	loadBatch(now time.Time, h record.Header, b []byte) error
	// loaded ends the load.
	loaded(now time.Time) effects
	appended(now time.Time, id uint64, base int64) effects
	appendFailed(now time.Time, id uint64, err error) effects
	tick(now time.Time) effects
	// unload answers every waiting request (NOT_COORDINATOR).
	unload() []reply
}

// reply answers the request with id: a response, or a code alone (a
// group coordinator's transaction marker).
type reply struct {
	id   uint64
	resp kmsg.Response
	code int16
}

// batch is one batch a machine asks to append: a transaction marker's
// control batch, or records, transactional when producer is set.
type batch struct {
	id       uint64
	records  []record.Record
	producer *producer
	marker   *record.Marker
}

type producer struct {
	id    int64
	epoch int16
}

// effects are a machine call's outputs in the runner's terms; after runs
// on the runner once the replies are delivered and the batch appended
// (the transaction coordinator's marker requests).
type effects struct {
	replies []reply
	append  *batch
	after   func(r *runner)
}

// runnerConfig names a runner's partition and its cadence.
type runnerConfig struct {
	kind  string // "group" or "transaction", for logs
	idx   int32
	p     *partition.Partition
	epoch int32
	tick  time.Duration
	now   func() time.Time
	log   *slog.Logger
	// newMachine returns an empty machine for a (re)load.
	newMachine func() machine
}

// runner is the event loop of one coordinator partition: it waits for
// its predecessor to stop, loads the partition, then serves commands,
// ticks and high watermark movement until stopped. Goroutines it starts
// (workers, e.g. marker senders) end before stopped closes.
type runner struct {
	runnerConfig
	cmds    chan func()
	done    chan struct{}
	stopped chan struct{}
	prev    <-chan struct{} // the predecessor's stopped, nil if none
	once    sync.Once
	workers sync.WaitGroup

	// Owned by the loop.
	m       machine
	loading bool
	waiters map[uint64]chan reply
	pending []pendingAppend // appended, waiting for the HW, in order
}

type pendingAppend struct {
	id   uint64
	base int64
	next int64 // offset after the batch
}

func newRunner(c runnerConfig, prev *runner) *runner {
	r := &runner{
		runnerConfig: c, loading: true,
		cmds: make(chan func()), done: make(chan struct{}), stopped: make(chan struct{}),
		waiters: map[uint64]chan reply{},
	}
	if prev != nil {
		r.prev = prev.stopped
	}
	return r
}

func (r *runner) stop() { r.once.Do(func() { close(r.done) }) }

// run is the loop; it closes stopped when it and its workers are done.
func (r *runner) run() {
	defer close(r.stopped)
	defer r.workers.Wait()
	if r.prev != nil && !waitServing(r, r.prev) {
		return
	}
	w := partition.NewWatcher()
	r.p.Watch(w)
	defer r.p.Unwatch(w)
	if !r.loadRetrying() {
		return
	}
	r.loading = false
	r.log.Info(r.kind+" coordinator loaded", "partition", r.idx, "leaderEpoch", r.epoch)
	r.apply(r.m.loaded(r.now()))
	tick := time.NewTicker(r.tick)
	defer tick.Stop()
	for {
		select {
		case fn := <-r.cmds:
			fn()
		case <-tick.C:
			r.apply(r.m.tick(r.now()))
		case <-w.C:
			r.checkDurable()
		case <-r.done:
			r.unload()
			return
		}
	}
}

// waitServing answers commands (as loading) until ch delivers; false
// when the runner was stopped first.
func waitServing[T any](r *runner, ch <-chan T) bool {
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
func (r *runner) loadRetrying() bool {
	for {
		r.m = r.newMachine()
		err := r.load()
		if err == nil {
			return true
		}
		if errors.Is(err, errStopped) {
			return false
		}
		r.log.Error("cannot load "+r.kind+" coordinator; retrying", "partition", r.idx, "err", err, "retry", loadRetry)
		t := time.NewTimer(loadRetry)
		ok := waitServing(r, t.C)
		t.Stop()
		if !ok {
			return false
		}
	}
}

// load replays the partition's batches, from the log start to its end,
// serving requests as loading meanwhile.
func (r *runner) load() error {
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
		if off, err = r.loadBatches(b); err != nil {
			return err
		}
	}
	return nil
}

// loadBatches replays the whole batches of b; it returns the offset after
// the last.
func (r *runner) loadBatches(b []byte) (int64, error) {
	var next int64
	now := r.now()
	for len(b) >= record.HeaderSize {
		h, err := record.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		if err := r.m.loadBatch(now, h, b[:h.Size()]); err != nil {
			return 0, err
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next, nil
}

// unload answers everything waiting with NOT_COORDINATOR.
func (r *runner) unload() {
	if r.m != nil && !r.loading {
		r.deliver(r.m.unload())
	}
	for id, ch := range r.waiters {
		close(ch)
		delete(r.waiters, id)
	}
}

// post runs fn on the loop; false when the runner stopped first.
func (r *runner) post(ctx context.Context, fn func()) bool {
	select {
	case r.cmds <- fn:
		return true
	case <-r.stopped:
	case <-r.done:
	case <-ctx.Done():
	}
	return false
}

// call runs start (a machine call that answers id, given the loaded
// machine) on the loop and waits for id's reply; while the partition
// loads, the reply is loading() at once. ErrNotCoordinator when the
// runner stopped first or start refused the request; ctx's error when
// ctx ended first.
func (r *runner) call(ctx context.Context, id uint64, loading func() reply, start func(m machine, now time.Time) (effects, error)) (reply, error) {
	ch := make(chan reply, 1)
	cmd := func() {
		if r.loading {
			ch <- loading()
			return
		}
		r.waiters[id] = ch
		eff, err := start(r.m, r.now())
		if err != nil {
			delete(r.waiters, id)
			close(ch)
			return
		}
		r.apply(eff)
	}
	if !r.post(ctx, cmd) {
		if ctx.Err() != nil {
			return reply{}, ctx.Err()
		}
		return reply{}, ErrNotCoordinator
	}
	select {
	case rep, ok := <-ch:
		if !ok {
			return reply{}, ErrNotCoordinator
		}
		return rep, nil
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

// query runs fn on the loop with the loaded machine and returns its
// result; loading is true (and fn not run) while the partition loads.
func query[T any](ctx context.Context, r *runner, fn func(m machine, now time.Time) T) (v T, loading bool, err error) {
	ch := make(chan T, 1)
	cmd := func() {
		if r.loading {
			loading = true
			close(ch)
			return
		}
		ch <- fn(r.m, r.now())
	}
	if !r.post(ctx, cmd) {
		if ctx.Err() != nil {
			return v, false, ctx.Err()
		}
		return v, false, ErrNotCoordinator
	}
	select {
	case v, ok := <-ch:
		return v, !ok, nil
	case <-ctx.Done():
		return v, false, ctx.Err()
	}
}

// apply delivers replies, appends the batch, then runs after.
func (r *runner) apply(eff effects) {
	r.deliver(eff.replies)
	if eff.append != nil {
		r.append(eff.append)
	}
	if eff.after != nil {
		eff.after(r)
	}
}

func (r *runner) deliver(replies []reply) {
	for _, rep := range replies {
		if ch, ok := r.waiters[rep.id]; ok {
			ch <- rep
			delete(r.waiters, rep.id)
		}
	}
}

// append writes one batch with acks=all semantics, fenced by the
// runner's leader epoch: refused when the ISR is below
// min.insync.replicas, durable once the HW passes it.
func (r *runner) append(a *batch) {
	res, err := r.write(a)
	if err == nil && res.SyncTo >= 0 {
		err = r.p.Sync(res.SyncTo) // flush.messages / flush.ms on the internal topic
	}
	if err != nil {
		r.apply(r.m.appendFailed(r.now(), a.id, appendError(err)))
		return
	}
	r.pending = append(r.pending, pendingAppend{a.id, res.BaseOffset, res.LastOffset + 1})
	r.checkDurable()
}

// write appends a's batch to the partition in the runner's epoch: a's
// transaction marker as a control batch, or its records, transactional
// (producer id and epoch, base sequence -1) when a has a producer.
func (r *runner) write(a *batch) (partition.AppendResult, error) {
	if a.marker != nil {
		return r.p.AppendMarkerInEpoch(*a.marker, r.epoch)
	}
	b, err := record.BuildBatch(record.CompressionNone, r.now().UnixMilli(), a.records)
	if err != nil {
		return partition.AppendResult{}, err
	}
	if a.producer != nil {
		record.SetProducer(b, a.producer.id, a.producer.epoch, -1, true)
	}
	return r.p.AppendInEpoch(b, r.epoch)
}

// checkDurable reports, in append order, the batches the HW has passed,
// and fails the rest if leadership in the runner's epoch was lost.
func (r *runner) checkDurable() {
	hw, leader := r.p.HighWatermarkInEpoch(r.epoch)
	for len(r.pending) > 0 {
		pb := r.pending[0]
		switch {
		case pb.next <= hw:
			r.pending = r.pending[1:]
			r.apply(r.m.appended(r.now(), pb.id, pb.base))
		case !leader:
			r.pending = r.pending[1:]
			r.apply(r.m.appendFailed(r.now(), pb.id, kerr.NotLeaderForPartition))
		default:
			return
		}
	}
}

// spawn runs fn as one of the runner's workers: it gets a context that
// ends when the runner stops, and the runner's stopped waits for it.
func (r *runner) spawn(fn func(ctx context.Context)) {
	r.workers.Add(1)
	go func() {
		defer r.workers.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-r.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		fn(ctx)
	}()
}
