package txn

import (
	"cmp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// txnState is a transaction's state; the values are Kafka's state ids,
// written in TransactionLogValue.TransactionStatus.
type txnState int8

const (
	stateEmpty txnState = iota
	stateOngoing
	statePrepareCommit
	statePrepareAbort
	stateCompleteCommit
	stateCompleteAbort
	stateDead              // only ever pending: expiry writes a tombstone
	statePrepareEpochFence // never written; folded into the fencing abort
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
	"CompleteAbort", "Dead", "PrepareEpochFence"}

// String is the state's name as DescribeTransactions and ListTransactions
// show it.
func (s txnState) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "Unknown"
	}
	return stateNames[s]
}

func (s txnState) isPrepare() bool { return s == statePrepareCommit || s == statePrepareAbort }

func (s txnState) isComplete() bool { return s == stateCompleteCommit || s == stateCompleteAbort }

// expirable reports whether an id in this state may be expired (Kafka's
// isExpirationAllowed).
func (s txnState) expirable() bool { return s == stateEmpty || s.isComplete() }

// validPrevious lists, per target state, the states it may be entered
// from (reference §1; PrepareAbort includes Kafka 4.x's TV2 aborts from
// Empty and Complete*).
var validPrevious = map[txnState][]txnState{
	stateEmpty:             {stateEmpty, stateCompleteCommit, stateCompleteAbort},
	stateOngoing:           {stateOngoing, stateEmpty, stateCompleteCommit, stateCompleteAbort},
	statePrepareCommit:     {stateOngoing},
	statePrepareAbort:      {stateOngoing, statePrepareEpochFence, stateEmpty, stateCompleteCommit, stateCompleteAbort},
	stateCompleteCommit:    {statePrepareCommit},
	stateCompleteAbort:     {statePrepareAbort},
	stateDead:              {stateEmpty, stateCompleteCommit, stateCompleteAbort},
	statePrepareEpochFence: {stateOngoing},
}

func canTransition(from, to txnState) bool { return slices.Contains(validPrevious[to], from) }

// Producer id and epoch sentinels (RecordBatch.NO_PRODUCER_ID/EPOCH).
const (
	noProducerID    int64 = -1
	noProducerEpoch int16 = -1
	maxEpoch        int16 = 32767
)

// exhausted reports whether epoch may no longer be handed to a client:
// 32767 is kept so the coordinator can always fence once more.
func exhausted(epoch int16) bool { return epoch >= maxEpoch-1 }

// bumped is epoch+1, saturating at 32767.
func bumped(epoch int16) int16 {
	if epoch >= maxEpoch {
		return maxEpoch
	}
	return epoch + 1
}

// txnMeta is one transactional id's state (Kafka's TransactionMetadata).
type txnMeta struct {
	id         string
	pid        int64
	prevPID    int64 // the pid the last transition replaced
	nextPID    int64 // TV2 epoch overflow: the pid Complete switches to
	epoch      int16
	lastEpoch  int16 // not persisted; -1 after a load
	timeoutMs  int32
	state      txnState
	partitions map[TopicPartition]struct{}
	startMs    int64 // -1 until the first partition is added
	updateMs   int64
	clientTV   int16 // the transaction version of the last transition

	// pending is the transition whose record is being appended (or, in
	// Prepare*, the Complete* transition waiting for the markers): Kafka's
	// pendingState. Requests that meet it get CONCURRENT_TRANSACTIONS.
	pending *transit
	// failedFence: a fencing abort failed to append after the epoch was
	// already bumped in memory; the next fence does not bump again.
	failedFence bool
	marker      markerPhase
}

// markerPhase tracks the markers of a Prepare* transaction.
type markerPhase struct {
	stopped bool      // a marker failed for good; Complete waits for a reload
	writing bool      // the Complete record is being appended
	retryAt time.Time // the Complete append failed; append again at this time
}

// transit is the value of a transition (Kafka's TxnTransitMetadata): what
// its record holds and what is applied once the record is durable.
type transit struct {
	state      txnState
	pid        int64
	prevPID    int64
	nextPID    int64
	epoch      int16
	lastEpoch  int16
	timeoutMs  int32
	partitions []TopicPartition
	startMs    int64
	updateMs   int64
	clientTV   int16
}

// newMeta is a fresh id's metadata: Empty with epoch -1, which the first
// InitProducerId bumps to 0.
func newMeta(id string, pid int64, timeoutMs int32, nowMs int64) *txnMeta {
	return &txnMeta{id: id, pid: pid, prevPID: noProducerID, nextPID: noProducerID, epoch: noProducerEpoch,
		lastEpoch: noProducerEpoch, timeoutMs: timeoutMs, state: stateEmpty,
		partitions: map[TopicPartition]struct{}{}, startMs: -1, updateMs: nowMs}
}

// transitTo starts a transition to state from m's current values; the
// caller changes what the transition changes.
func (m *txnMeta) transitTo(state txnState, nowMs int64) transit {
	return transit{state: state, pid: m.pid, prevPID: m.pid, nextPID: noProducerID, epoch: m.epoch,
		lastEpoch: m.lastEpoch, timeoutMs: m.timeoutMs, partitions: m.sortedPartitions(), startMs: m.startMs,
		updateMs: nowMs}
}

// apply makes a durable transition current (Kafka's completeTransitionTo).
func (m *txnMeta) apply(t *transit) {
	switch t.state {
	case stateEmpty:
		m.timeoutMs, m.epoch, m.lastEpoch, m.pid, m.prevPID = t.timeoutMs, t.epoch, t.lastEpoch, t.pid, t.prevPID
		// Kafka keeps the old start in memory here while the record says
		// -1; the record's value is taken so a reload describes the same.
		m.startMs = t.startMs
		clear(m.partitions)
	case stateOngoing:
		m.startMs = t.startMs
		for _, tp := range t.partitions {
			m.partitions[tp] = struct{}{}
		}
	case statePrepareCommit, statePrepareAbort:
		m.startMs = t.startMs
		if t.clientTV >= 2 {
			m.epoch, m.lastEpoch, m.nextPID = t.epoch, t.lastEpoch, t.nextPID
		}
	case stateCompleteCommit, stateCompleteAbort:
		m.startMs = t.startMs
		clear(m.partitions)
		if t.clientTV >= 2 {
			m.epoch, m.lastEpoch, m.prevPID, m.pid, m.nextPID = t.epoch, t.lastEpoch, t.prevPID, t.pid, t.nextPID
		}
		m.marker = markerPhase{}
	}
	m.clientTV, m.updateMs, m.pending, m.state = t.clientTV, t.updateMs, nil, t.state
}

func (m *txnMeta) sortedPartitions() []TopicPartition {
	tps := make([]TopicPartition, 0, len(m.partitions))
	for tp := range m.partitions {
		tps = append(tps, tp)
	}
	sortPartitions(tps)
	return tps
}

func sortPartitions(tps []TopicPartition) {
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
}

// write makes t m's pending transition and adds its record to o. Once the
// record's batch completes, t is applied (success) or dropped (failure,
// clearing the pending state) and done, if set, gets the request's error
// code (0, or the append error mapped by appendErrorCode). A transition
// the state table forbids is refused with INVALID_TXN_STATE (done is not
// called); callers never build one.
func (c *Coordinator) write(o *out, m *txnMeta, t transit, done func(o *out, code int16)) int16 {
	if !canTransition(m.state, t.state) {
		return kerr.InvalidTxnState.Code
	}
	p := &t
	m.pending = p
	o.record(txnKey(m.id), c.txnValue(p), func(o *out, raw int16) {
		code := c.settle(m, p, raw)
		if done != nil {
			done(o, code)
		}
	})
	return 0
}

// settle applies or drops transition t of m after its append.
func (c *Coordinator) settle(m *txnMeta, t *transit, raw int16) int16 {
	if c.txns[m.id] != m || m.pending != t {
		return kerr.NotCoordinator.Code
	}
	if raw != 0 {
		m.pending = nil
		return appendErrorCode(raw)
	}
	m.apply(t)
	return 0
}
