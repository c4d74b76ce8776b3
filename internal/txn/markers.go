package txn

import (
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// completeRetryBackoff is how long a Complete record whose append failed
// with COORDINATOR_NOT_AVAILABLE waits before it is appended again.
const completeRetryBackoff = 100 * time.Millisecond

// beginComplete starts the marker phase of m, now in PrepareCommit or
// PrepareAbort: the Complete transition becomes pending (Kafka's
// prepareComplete) and markers go to every partition of the transaction;
// with none, Complete is written at once. It returns the Complete
// transition, whose producer id and epoch the client uses next.
func (c *Coordinator) beginComplete(o *out, m *txnMeta) *transit {
	t := m.completeTransit(c.nowMs())
	m.pending, m.marker = t, markerPhase{}
	if len(m.partitions) == 0 {
		c.writeComplete(o, m)
		return t
	}
	o.markers = append(o.markers, MarkerRequest{TransactionalID: m.id, ProducerID: m.pid, ProducerEpoch: m.epoch,
		Commit: m.state == statePrepareCommit, CoordinatorEpoch: c.coordEpoch, Partitions: m.sortedPartitions()})
	return t
}

// completeTransit is the CompleteCommit/CompleteAbort transition of a
// Prepare* transaction: no partitions; under TV2 an epoch overflow
// switches to the next producer id with epoch 0.
func (m *txnMeta) completeTransit(nowMs int64) *transit {
	state := stateCompleteAbort
	if m.state == statePrepareCommit {
		state = stateCompleteCommit
	}
	t := m.transitTo(state, nowMs)
	t.partitions, t.lastEpoch, t.clientTV = nil, m.epoch, m.clientTV
	if m.clientTV >= 2 && m.nextPID != noProducerID {
		t.pid, t.epoch = m.nextPID, 0
	}
	return &t
}

// writeComplete appends m's pending Complete transition, stamped now.
func (c *Coordinator) writeComplete(o *out, m *txnMeta) {
	t := m.pending
	t.updateMs = c.nowMs()
	m.marker.writing, m.marker.retryAt = true, time.Time{}
	delete(c.retries, m.id)
	o.record(txnKey(m.id), c.txnValue(t), func(o *out, raw int16) { c.completeDone(m, t, raw) })
}

// completeDone applies a durable Complete transition. On
// COORDINATOR_NOT_AVAILABLE the append is retried after a backoff; any
// other failure (NOT_COORDINATOR: leadership is going away) drops the
// transition, leaving the transaction in Prepare* for the next leader's
// load to finish.
func (c *Coordinator) completeDone(m *txnMeta, t *transit, raw int16) {
	if c.txns[m.id] != m || m.pending != t {
		return
	}
	m.marker.writing = false
	switch appendErrorCode(raw) {
	case 0:
		m.apply(t)
	case kerr.CoordinatorNotAvailable.Code:
		m.marker.retryAt = c.now.Add(completeRetryBackoff)
		c.retries[m.id] = m
	default:
		m.pending = nil
	}
}

// retryCompletes appends again the Complete records whose backoff is over.
func (c *Coordinator) retryCompletes(o *out) {
	ids := slices.Sorted(maps.Keys(c.retries))
	for _, id := range ids {
		if m := c.retries[id]; !c.now.Before(m.marker.retryAt) {
			c.writeComplete(o, m)
		}
	}
}

// MarkerDone reports the final outcome of the marker for tp of the
// transaction of transactionalID with the marker's producer id and epoch.
// Code 0 (also for a partition that no longer exists), or
// UNSUPPORTED_FOR_MESSAGE_FORMAT / UNSUPPORTED_VERSION, which Kafka treats
// as done, removes tp from the transaction; once none is left, the
// Complete record is written. Any other code (INVALID_PRODUCER_EPOCH,
// TRANSACTION_COORDINATOR_FENCED) stops the transaction's markers: it
// stays in Prepare* (requests get CONCURRENT_TRANSACTIONS) until the next
// load sends them again. A report for a transaction no longer in that
// marker phase is ignored.
func (c *Coordinator) MarkerDone(now time.Time, transactionalID string, producerID int64, producerEpoch int16,
	tp TopicPartition, code int16) Effects {
	o := c.begin(now)
	m := c.txns[transactionalID]
	if m == nil || !m.inMarkerPhase(producerID, producerEpoch) {
		return c.finish(o)
	}
	switch code {
	case 0, kerr.UnsupportedForMessageFormat.Code, kerr.UnsupportedVersion.Code:
	default:
		m.marker.stopped = true
		return c.finish(o)
	}
	if _, ok := m.partitions[tp]; !ok {
		return c.finish(o)
	}
	delete(m.partitions, tp)
	if len(m.partitions) == 0 && !m.marker.stopped {
		c.writeComplete(o, m)
	}
	return c.finish(o)
}

// inMarkerPhase reports whether m waits for the markers of producer id
// pid at epoch.
func (m *txnMeta) inMarkerPhase(pid int64, epoch int16) bool {
	return m.state.isPrepare() && m.pending != nil && m.pending.state.isComplete() && !m.marker.writing &&
		m.marker.retryAt.IsZero() && m.pid == pid && m.epoch == epoch
}

// Loaded ends the load: every transaction in PrepareCommit/PrepareAbort
// resumes its marker phase (markers to all its partitions, or Complete
// at once with none), and the timeout and expiry checks start their
// intervals now.
func (c *Coordinator) Loaded(now time.Time) Effects {
	o := c.begin(now)
	c.timers.start(now, c.cfg)
	for _, m := range c.sortedTxns() {
		if m.state.isPrepare() {
			c.beginComplete(o, m)
		}
	}
	return c.finish(o)
}
