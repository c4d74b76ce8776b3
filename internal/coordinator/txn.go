package coordinator

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transaction coordinator's shell: one runner per partition of
// __transaction_state this broker leads, each driving a pure
// txn.Coordinator, appending its records, and sending the transaction
// markers it asks for (MarkerSender) until every partition has one.

// TransactionTopic is Kafka's internal topic of transaction state.
const TransactionTopic = "__transaction_state"

// txnTick is how often transaction coordinators run their timers (the
// timeout reaper and transactional.id expiry keep their own intervals).
const txnTick = 500 * time.Millisecond

// MarkerSender writes the marker m to each of tps (grouped by the
// partitions' leaders, as WriteTxnMarkers requests) and returns one
// Kafka error code per partition, in order: 0 once the marker is
// durable, or when the partition no longer exists. A request that fails
// as a whole answers every partition it carried with a retriable code
// (NETWORK_EXCEPTION). It returns early, with retriable codes, when ctx
// ends.
type MarkerSender func(ctx context.Context, m record.Marker, tps []txn.TopicPartition) []int16

// TxnOptions configure a TxnManager.
type TxnOptions struct {
	NodeID int32
	// Config is the coordinators' configuration; its NewProducerID is
	// called on a runner's goroutine.
	Config txn.Config
	// Partitions returns the number of partitions of __transaction_state,
	// 0 while it does not exist.
	Partitions func() int32
	Markers    MarkerSender
	Logger     *slog.Logger
	Now        func() time.Time
}

// TxnManager owns this broker's transaction coordinators.
type TxnManager struct {
	o       TxnOptions
	ids     atomic.Uint64
	runners *runnerSet
}

// NewTxnManager returns a TxnManager with no coordinators.
func NewTxnManager(o TxnOptions) *TxnManager {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &TxnManager{o: o, runners: newRunnerSet()}
}

// OnPartition starts or stops the coordinator of __transaction_state
// partition idx as this broker gains or loses its leadership (see
// runnerSet.onPartition): p is the local replica (nil if none), leader
// and epoch the partition's leader and leader epoch, which is also the
// coordinator epoch its markers carry.
func (t *TxnManager) OnPartition(idx int32, p *partition.Partition, leader, epoch int32) {
	lead := p != nil && leader == t.o.NodeID
	t.runners.onPartition(idx, lead, epoch, func(prev *runner) *runner {
		return newRunner(runnerConfig{
			kind: "transaction", idx: idx, p: p, epoch: epoch, tick: txnTick, now: t.o.Now, log: t.o.Logger,
			newMachine: func() machine { return &txnMachine{m: t, c: txn.New(t.o.Config, epoch)} },
		}, prev)
	})
}

// StopAll stops every coordinator and waits for them (shutdown).
func (t *TxnManager) StopAll() { t.runners.stopAll() }

// runner returns the coordinator of transactionalID's partition, or nil.
func (t *TxnManager) runner(transactionalID string) *runner {
	n := t.o.Partitions()
	if n <= 0 {
		return nil
	}
	return t.runners.get(txn.PartitionFor(transactionalID, n))
}

// Do serves one request of a single transactional id (InitProducerId,
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions of
// ids of one partition) on this broker's coordinator;
// ErrNotCoordinator when this broker does not coordinate the id.
func (t *TxnManager) Do(ctx context.Context, transactionalID string, req kmsg.Request) (kmsg.Response, error) {
	r := t.runner(transactionalID)
	if r == nil {
		return nil, ErrNotCoordinator
	}
	id := t.ids.Add(1)
	rep, err := r.call(ctx, id, func() reply { return reply{resp: TxnErrorResponse(req, kerr.CoordinatorLoadInProgress.Code)} },
		func(m machine, now time.Time) (effects, error) {
			x := m.(*txnMachine)
			e, err := x.c.Handle(now, txn.RequestID(id), req)
			return x.effects(e), err
		})
	return rep.resp, err
}

// List answers ListTransactions from every local coordinator: the
// matching transactions, or COORDINATOR_LOAD_IN_PROGRESS while one of
// them is loading.
func (t *TxnManager) List(ctx context.Context, req *kmsg.ListTransactionsRequest) ([]kmsg.ListTransactionsResponseTransactionState, error) {
	var out []kmsg.ListTransactionsResponseTransactionState
	for _, r := range t.runners.all() {
		states, loading, err := query(ctx, r, func(m machine, now time.Time) []kmsg.ListTransactionsResponseTransactionState {
			return m.(*txnMachine).c.ListTransactions(now, req)
		})
		switch {
		case err == ErrNotCoordinator:
			continue // stopped meanwhile: its transactions are listed by its successor
		case err != nil:
			return nil, err
		case loading:
			return nil, kerr.CoordinatorLoadInProgress
		}
		out = append(out, states...)
	}
	return out, nil
}

// txnMachine adapts a txn.Coordinator to the runner.
type txnMachine struct {
	m *TxnManager
	c *txn.Coordinator
}

func (x *txnMachine) loadBatch(now time.Time, h record.Header, b []byte) error {
	if h.IsControl() {
		return nil
	}
	recs, err := record.Records(b)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if err := x.c.Load(now, rec.Key, rec.Value); err != nil {
			x.m.o.Logger.Warn("skipping unreadable __transaction_state record", "err", err)
		}
	}
	return nil
}

func (x *txnMachine) loaded(now time.Time) effects { return x.effects(x.c.Loaded(now)) }

func (x *txnMachine) appended(now time.Time, id uint64, _ int64) effects {
	return x.effects(x.c.Appended(now, txn.BatchID(id)))
}

func (x *txnMachine) appendFailed(now time.Time, id uint64, err error) effects {
	return x.effects(x.c.AppendFailed(now, txn.BatchID(id), err))
}

func (x *txnMachine) tick(now time.Time) effects { return x.effects(x.c.Tick(now)) }

func (x *txnMachine) unload() []reply { return txnReplies(x.c.Unload()) }

// effects converts the coordinator's effects; marker requests start
// marker senders once the call's batch is appended.
func (x *txnMachine) effects(e txn.Effects) effects {
	out := effects{replies: txnReplies(e.Replies)}
	if e.Append != nil {
		recs := make([]record.Record, len(e.Append.Records))
		for i, rec := range e.Append.Records {
			recs[i] = record.Record{Key: rec.Key, Value: rec.Value}
		}
		out.append = &batch{id: uint64(e.Append.ID), records: recs}
	}
	if len(e.Markers) > 0 {
		markers := e.Markers
		out.after = func(r *runner) {
			for _, mr := range markers {
				x.sendMarkers(r, mr)
			}
		}
	}
	return out
}

func txnReplies(rs []txn.Reply) []reply {
	out := make([]reply, len(rs))
	for i, rep := range rs {
		out[i] = reply{id: uint64(rep.ID), resp: rep.Response}
	}
	return out
}
