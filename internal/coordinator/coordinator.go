// Package coordinator is the IO shell of the group and transaction
// coordinators: one runner (runner.go) per partition of __consumer_offsets
// or __transaction_state this broker leads, each an event loop around a
// pure group.Coordinator or txn.Coordinator that appends its records
// (plain or transactional batches, and for groups the transaction markers
// WriteTxnMarkers brings) to the partition, reports them durable once the
// high watermark passes them, and delivers replies to waiting requests.
// A transaction coordinator's runner also sends the transaction markers
// its coordinator asks for (txn_markers.go).
package coordinator

import (
	"context"
	"errors"
	"log/slog"
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

var errStopped = errors.New("coordinator: stopped while loading")

// Manager owns the group coordinators of this broker.
type Manager struct {
	o       Options
	ids     atomic.Uint64
	runners *runnerSet
}

// NewManager returns a Manager with no coordinators.
func NewManager(o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Manager{o: o, runners: newRunnerSet()}
}

// OnPartition starts or stops the coordinator of __consumer_offsets
// partition idx as this broker gains or loses its leadership (see
// runnerSet.onPartition): p is the local replica (nil if none), leader
// and epoch the partition's current leader and leader epoch. Called in
// metadata order.
func (g *Manager) OnPartition(idx int32, p *partition.Partition, leader, epoch int32) {
	lead := p != nil && leader == g.o.NodeID
	g.runners.onPartition(idx, lead, epoch, func(prev *runner) *runner {
		return newRunner(runnerConfig{
			kind: "group", idx: idx, p: p, epoch: epoch, tick: groupTick, now: g.o.Now, log: g.o.Logger,
			newMachine: func() machine { return &groupMachine{c: group.New(g.o.Config), log: g.o.Logger, idx: idx} },
		}, prev)
	})
}

// StopAll stops every coordinator and waits for them (shutdown).
func (g *Manager) StopAll() { g.runners.stopAll() }

// runner returns the coordinator of groupID's partition, or nil.
func (g *Manager) runner(groupID string) *runner {
	n := g.o.Partitions()
	if n <= 0 {
		return nil
	}
	return g.runners.get(group.PartitionFor(groupID, n))
}

// Do serves one single-group request (TxnOffsetCommit included) on this
// broker's coordinator.
func (g *Manager) Do(ctx context.Context, groupID string, client group.Client, req kmsg.Request) (kmsg.Response, error) {
	r := g.runner(groupID)
	if r == nil {
		return nil, ErrNotCoordinator
	}
	return g.do(ctx, r, client, req)
}

// do serves req on r.
func (g *Manager) do(ctx context.Context, r *runner, client group.Client, req kmsg.Request) (kmsg.Response, error) {
	id := g.ids.Add(1)
	rep, err := r.call(ctx, id, func() reply { return reply{resp: loadingResponse(req)} },
		func(m machine, now time.Time) (effects, error) {
			gm := m.(*groupMachine)
			e, err := gm.c.Handle(now, group.RequestID(id), client, req)
			return gm.effects(e), err
		})
	return rep.resp, err
}

// CompleteTxn writes the transaction marker m to __consumer_offsets
// partition idx for WriteTxnMarkers, on that partition's coordinator,
// which then commits or drops the producer's pending offsets. It returns
// once the marker is durable (code 0) or has failed: code is then the
// partition's WriteTxnMarkers error, NOT_LEADER_OR_FOLLOWER when this
// broker does not coordinate the partition (or is still loading it, or
// stops meanwhile) so that the transaction coordinator retries. err is
// ctx's error when ctx ends first; the marker may still be written.
func (g *Manager) CompleteTxn(ctx context.Context, idx int32, m record.Marker) (code int16, err error) {
	r := g.runners.get(idx)
	if r == nil {
		return kerr.NotLeaderForPartition.Code, nil
	}
	id := g.ids.Add(1)
	rep, err := r.call(ctx, id, func() reply { return reply{code: kerr.NotLeaderForPartition.Code} },
		func(mc machine, now time.Time) (effects, error) {
			gm := mc.(*groupMachine)
			return gm.effects(gm.c.CompleteTxn(now, group.RequestID(id), m)), nil
		})
	switch {
	case errors.Is(err, ErrNotCoordinator):
		return kerr.NotLeaderForPartition.Code, nil
	case err != nil:
		return 0, err
	}
	return rep.code, nil
}

// All serves a request on every local coordinator (ListGroups).
func (g *Manager) All(ctx context.Context, req kmsg.Request) ([]kmsg.Response, error) {
	var out []kmsg.Response
	for _, r := range g.runners.all() {
		resp, err := g.do(ctx, r, group.Client{}, req)
		if err != nil {
			return nil, err
		}
		out = append(out, resp)
	}
	return out, nil
}

// groupMachine adapts a group.Coordinator to the runner.
type groupMachine struct {
	c   *group.Coordinator
	log *slog.Logger
	idx int32
}

func (gm *groupMachine) loadBatch(now time.Time, h record.Header, b []byte) error {
	lb, ok, err := gm.loadedBatch(h, b)
	if err != nil || !ok {
		return err
	}
	if err := gm.c.LoadBatch(now, lb); err != nil {
		gm.log.Warn("skipping unreadable __consumer_offsets records", "partition", gm.idx, "err", err)
	}
	return nil
}

// loadedBatch decodes one batch (header h) for group.LoadBatch: a data
// batch's records with their offsets and, if transactional, its producer;
// a control batch's transaction marker. ok is false for a batch to skip
// (another control type, or a marker that does not decode: logged).
func (gm *groupMachine) loadedBatch(h record.Header, b []byte) (lb group.LoadedBatch, ok bool, err error) {
	if h.IsControl() {
		m, marker, perr := record.ParseMarker(b)
		if perr != nil {
			gm.log.Warn("skipping malformed control batch of __consumer_offsets", "partition", gm.idx, "offset", h.BaseOffset, "err", perr)
			return lb, false, nil
		}
		return group.LoadedBatch{Marker: &m}, marker, nil
	}
	recs, err := record.Records(b)
	if err != nil {
		return lb, false, err
	}
	lb.Records = make([]group.LoadedRecord, len(recs))
	for i, rec := range recs {
		lb.Records[i] = group.LoadedRecord{Offset: h.BaseOffset + int64(rec.OffsetDelta), Key: rec.Key, Value: rec.Value}
	}
	if h.IsTransactional() {
		lb.Producer = &group.Producer{ID: h.ProducerID, Epoch: h.ProducerEpoch}
	}
	return lb, true, nil
}

func (gm *groupMachine) loaded(time.Time) effects { return effects{} }

func (gm *groupMachine) appended(now time.Time, id uint64, base int64) effects {
	return gm.effects(gm.c.Appended(now, group.BatchID(id), base))
}

func (gm *groupMachine) appendFailed(now time.Time, id uint64, err error) effects {
	return gm.effects(gm.c.AppendFailed(now, group.BatchID(id), err))
}

func (gm *groupMachine) tick(now time.Time) effects { return gm.effects(gm.c.Tick(now)) }

func (gm *groupMachine) unload() []reply { return groupReplies(gm.c.Unload()) }

// effects converts the coordinator's effects.
func (gm *groupMachine) effects(e group.Effects) effects {
	out := effects{replies: groupReplies(e.Replies)}
	if a := e.Append; a != nil {
		b := &batch{id: uint64(a.ID), marker: a.Marker}
		for _, rec := range a.Records {
			b.records = append(b.records, record.Record{Key: rec.Key, Value: rec.Value})
		}
		if a.Producer != nil {
			b.producer = &producer{id: a.Producer.ID, epoch: a.Producer.Epoch}
		}
		out.append = b
	}
	return out
}

func groupReplies(rs []group.Reply) []reply {
	out := make([]reply, len(rs))
	for i, rep := range rs {
		out[i] = reply{id: uint64(rep.ID), resp: rep.Response, code: rep.Code}
	}
	return out
}

// appendError maps a partition error to the Kafka error the coordinator
// translates (NOT_LEADER → NOT_COORDINATOR, NOT_ENOUGH_REPLICAS →
// COORDINATOR_NOT_AVAILABLE, ...) or, for the producer checks of
// transactional batches and markers, passes on.
func appendError(err error) error {
	switch {
	case errors.Is(err, partition.ErrNotLeader):
		return kerr.NotLeaderForPartition
	case errors.Is(err, partition.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas
	case errors.Is(err, partition.ErrMessageTooLarge):
		return kerr.MessageTooLarge
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch
	case errors.Is(err, partition.ErrCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced
	case errors.Is(err, partition.ErrInvalidTxnState):
		return kerr.InvalidTxnState
	}
	return kerr.CoordinatorNotAvailable
}

// loadingResponse answers a request that arrives while the coordinator is
// loading, as Kafka does: COORDINATOR_LOAD_IN_PROGRESS, except that a
// Heartbeat gets NONE, a SyncGroup REBALANCE_IN_PROGRESS and a
// TxnOffsetCommit below v2, whose clients do not know
// COORDINATOR_LOAD_IN_PROGRESS there, COORDINATOR_NOT_AVAILABLE.
func loadingResponse(req kmsg.Request) kmsg.Response {
	switch req.(type) {
	case *kmsg.HeartbeatRequest:
		return ErrorResponse(req, 0)
	case *kmsg.SyncGroupRequest:
		return ErrorResponse(req, kerr.RebalanceInProgress.Code)
	case *kmsg.TxnOffsetCommitRequest:
		if req.GetVersion() < 2 {
			return ErrorResponse(req, kerr.CoordinatorNotAvailable.Code)
		}
	}
	return ErrorResponse(req, kerr.CoordinatorLoadInProgress.Code)
}
