package partition

import (
	"errors"
	"fmt"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/storage"
)

// Transactions in one partition (docs/transactions-reference.md §4, §7,
// §8). A producer's first transactional data batch opens its transaction
// here (producerEntry.txnFirst, and txnState.ongoing by first offset); a
// marker (a control batch, AppendMarker) closes it. An aborted transaction
// that had data leaves an entry in the log's .txnindex. A closed
// transaction stays "unreplicated" until the high watermark passes its
// marker. The last stable offset (LSO) is the first offset of the oldest
// ongoing or unreplicated transaction when that is below the high
// watermark, else the high watermark: every offset below it is decided and
// replicated, and read_committed consumers read up to it.
//
// Leader, followers and replay on open or truncation apply batches and
// markers through the same applyBatch, so every replica derives the same
// state from the same log. The leader alone checks: a non-transactional
// batch of a producer with an open transaction, a transactional batch
// opening a transaction without KIP-890 verification, a marker of an
// older producer or coordinator epoch are refused; what a follower
// replicates is applied whatever it holds (surprises are logged).

// Errors of transactional appends; handlers map them to Kafka's codes.
var (
	// ErrInvalidTxnState: a non-transactional batch from a producer with
	// an open transaction here, or a transactional batch opening a
	// transaction that was not verified with the transaction coordinator
	// (or whose verification a marker overtook) (INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("partition: invalid transaction state")
	// ErrCoordinatorFenced: a marker from a transaction coordinator epoch
	// older than the producer's last marker's (TRANSACTION_COORDINATOR_FENCED).
	ErrCoordinatorFenced = errors.New("partition: transaction coordinator epoch is older")
)

// completedTxn is a transaction closed by its marker at lastOffset.
type completedTxn struct {
	pid, firstOffset, lastOffset int64
	aborted                      bool
}

// txnState is the partition-wide view of transactions.
type txnState struct {
	// ongoing maps the first offset of each open transaction to its
	// producer (one per producer: producerEntry.txnFirst).
	ongoing map[int64]int64
	// unreplicated are the closed transactions whose marker may be at or
	// above the high watermark, in marker order; pruned as the HW or the
	// log start passes their markers.
	unreplicated []completedTxn
}

// newTxnState derives the open transactions from producer state.
func newTxnState(ps producers) txnState {
	t := txnState{ongoing: map[int64]int64{}}
	for id, e := range ps {
		if e.txnFirst >= 0 {
			t.ongoing[e.txnFirst] = id
		}
	}
	return t
}

// firstOngoing returns the first offset of the oldest open transaction.
func (t *txnState) firstOngoing() (int64, bool) {
	first, ok := int64(0), false
	for off := range t.ongoing {
		if !ok || off < first {
			first, ok = off, true
		}
	}
	return first, ok
}

// prune drops the unreplicated transactions whose marker is below hw or
// below the log start.
func (t *txnState) prune(hw, logStart int64) {
	keep := t.unreplicated[:0]
	for _, c := range t.unreplicated {
		if c.lastOffset >= hw && c.lastOffset >= logStart {
			keep = append(keep, c)
		}
	}
	clear(t.unreplicated[len(keep):])
	t.unreplicated = keep
}

// firstUnstable returns the first offset of the oldest transaction that
// is open or unreplicated (after prune).
func (t *txnState) firstUnstable() (int64, bool) {
	first, ok := t.firstOngoing()
	for _, c := range t.unreplicated {
		if !ok || c.firstOffset < first {
			first, ok = c.firstOffset, true
		}
	}
	return first, ok
}

// lastStable computes the LSO. Called with mu held.
func (p *Partition) lastStable() int64 {
	start := p.log.LogStartOffset()
	p.txns.prune(p.hw, start)
	first, ok := p.txns.firstUnstable()
	if !ok {
		return p.hw
	}
	return min(max(first, start), p.hw)
}

// LastStableOffset returns the last stable offset: the first offset of the
// oldest transaction that is open or whose marker is not yet below the
// high watermark, clamped to the log start, when that is below the high
// watermark; else the high watermark. It moves only when the high
// watermark does (or the log start), so the watchers woken by the high
// watermark are woken by it too.
func (p *Partition) LastStableOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastStable()
}

// replayBatches applies whole batches, as appended, to the producer and
// transaction state. Called with mu held; a storage error has failed the
// replica.
func (p *Partition) replayBatches(b []byte, from origin) error {
	for len(b) >= record.HeaderSize {
		h, err := record.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			return nil
		}
		if err := p.applyBatch(b[:h.Size()], h, from); err != nil {
			return err
		}
		b = b[h.Size():]
	}
	return nil
}

// applyBatch applies one appended batch b (header h, its offsets
// assigned): a data batch is recorded and, if transactional, opens its
// producer's transaction; a marker closes it. Any transactional batch
// ends its producer's verification entry. Called with mu held.
func (p *Partition) applyBatch(b []byte, h record.Header, from origin) error {
	if h.ProducerID < 0 {
		return nil
	}
	if h.IsControl() {
		return p.applyControl(b, h, from)
	}
	e := p.producers.record(h)
	if !h.IsTransactional() {
		return nil
	}
	delete(p.verifying, h.ProducerID)
	if e.txnFirst < 0 {
		e.txnFirst = h.BaseOffset
		p.txns.ongoing[h.BaseOffset] = h.ProducerID
	}
	return nil
}

// applyControl applies a control batch: a transaction marker; other
// control types carry no producer state. Called with mu held.
func (p *Partition) applyControl(b []byte, h record.Header, from origin) error {
	m, ok, err := record.ParseMarker(b)
	if err != nil {
		p.logger.Warn("ignoring a malformed control batch", "offset", h.BaseOffset, "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	return p.applyMarker(m, h.BaseOffset, h.MaxTimestamp, from)
}

// applyMarker applies marker m written at offset (timestamp ts): the
// producer takes its epoch (when newer: the cached batches are
// forgotten), its coordinator epoch and its timestamp, and its open
// transaction, if any, completes. On the leader the epochs were checked
// before the append (checkMarker); a follower applies what the leader
// wrote and only logs a marker older than its state, as Kafka does.
// Called with mu held.
func (p *Partition) applyMarker(m record.Marker, offset, ts int64, from origin) error {
	e := p.producers[m.ProducerID]
	if e == nil {
		e = newProducerEntry(m.ProducerEpoch)
		p.producers[m.ProducerID] = e
	}
	if from == fromLeader && (m.ProducerEpoch < e.epoch || m.CoordinatorEpoch < e.coordEpoch) {
		p.logger.Warn("replicated transaction marker is older than the producer state",
			"producerId", m.ProducerID, "offset", offset, "markerEpoch", m.ProducerEpoch, "epoch", e.epoch,
			"markerCoordinatorEpoch", m.CoordinatorEpoch, "coordinatorEpoch", e.coordEpoch)
	}
	if m.ProducerEpoch > e.epoch {
		e.epoch, e.batches = m.ProducerEpoch, nil
	}
	e.coordEpoch, e.lastTimestamp, e.refused = m.CoordinatorEpoch, ts, nil
	delete(p.verifying, m.ProducerID)
	if e.txnFirst < 0 {
		return nil // a marker with no open transaction here: written, nothing to close
	}
	c := completedTxn{pid: m.ProducerID, firstOffset: e.txnFirst, lastOffset: offset, aborted: !m.Commit}
	e.txnFirst = -1
	return p.completeTxn(c)
}

// completeTxn moves a transaction from ongoing to unreplicated and, for an
// abort, appends its .txnindex entry: its LastStableOffset is the first
// offset of the oldest other open transaction, else the offset after the
// marker. Called with mu held; a storage error fails the replica.
func (p *Partition) completeTxn(c completedTxn) error {
	delete(p.txns.ongoing, c.firstOffset)
	if c.lastOffset >= p.hw {
		p.txns.unreplicated = append(p.txns.unreplicated, c)
	}
	if !c.aborted {
		return nil
	}
	lso := c.lastOffset + 1
	if first, ok := p.txns.firstOngoing(); ok {
		lso = first
	}
	err := p.log.AppendAbortedTxn(storage.AbortedTxn{
		ProducerID: c.pid, FirstOffset: c.firstOffset, LastOffset: c.lastOffset, LastStableOffset: lso,
	})
	if err != nil {
		return p.fail(err)
	}
	return nil
}

// checkTxn applies the transactional rules to a leader append of a
// checked, non-duplicate data batch: a non-transactional batch of a
// producer with an open transaction is refused; a transactional one not
// continuing an open transaction of its epoch must carry its producer's
// current verification guard when o.verified, and must be of the
// verified epoch (an older one is fenced) and not start above the
// sequence the verification was asked for. Called with mu held.
func (p *Partition) checkTxn(h record.Header, o appendOpts) error {
	if h.ProducerID < 0 {
		return nil
	}
	e := p.producers[h.ProducerID]
	open := e != nil && e.txnFirst >= 0
	switch {
	case !h.IsTransactional() && open:
		return fmt.Errorf("%w: producer %d has a transaction open since offset %d: expected a transactional batch",
			ErrInvalidTxnState, h.ProducerID, e.txnFirst)
	case !h.IsTransactional() || e.inTxn(h.ProducerEpoch) || !o.verified:
		return nil
	}
	v := p.verifying[h.ProducerID]
	if o.guard == 0 || v == nil || v.guard != o.guard {
		return fmt.Errorf("%w: producer %d: partition was not added to the transaction (not verified)", ErrInvalidTxnState, h.ProducerID)
	}
	if h.ProducerEpoch < v.epoch {
		return fmt.Errorf("%w: producer %d: batch epoch %d, verified in %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, v.epoch)
	}
	if h.ProducerEpoch == v.epoch && h.BaseSequence > v.lowestSeq {
		return fmt.Errorf("%w: producer %d: the transaction's first batch has sequence %d, verified from %d",
			ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence, v.lowestSeq)
	}
	return nil
}

// inTxn reports whether the producer (nil: unknown) has an open
// transaction here, of epoch.
func (e *producerEntry) inTxn(epoch int16) bool {
	return e != nil && e.txnFirst >= 0 && e.epoch == epoch
}

// verification is a producer's KIP-890 verification entry: created when
// the produce handler starts asking the transaction coordinator whether
// this partition is in the producer's transaction, ended by any
// transactional batch or marker of the producer.
type verification struct {
	guard     uint64
	epoch     int16
	lowestSeq int32 // the lowest first sequence verified in epoch
	created   int64 // ms, for producer.id.expiration.ms
}

// VerificationGuard is called by the produce handler before a
// transactional batch of (producerID, epoch) whose first sequence is seq.
// need is false when the producer already has an open transaction of
// that epoch here (no check needed; append with guard 0). Otherwise it
// creates (or reuses) the producer's verification entry and returns its
// guard (never 0); the handler asks the transaction coordinator
// (AddPartitionsToTxn: VerifyOnly, or an add for transaction version 2)
// and then appends with AppendVerified. An open transaction of an older
// epoch does not count, as in Kafka (hasOngoingTransaction): under
// transaction version 2 every commit or abort bumps the epoch, and the
// next transaction's first batch may come before the previous one's
// marker; it must wait for the coordinator's add, which waits for that
// marker. A reused entry takes a newer epoch with its sequence, or the
// lower sequence of the same epoch.
func (p *Partition) VerificationGuard(producerID int64, epoch int16, seq int32) (guard uint64, need bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.producers[producerID].inTxn(epoch) {
		return 0, false
	}
	v := p.verifying[producerID]
	switch {
	case v == nil:
		p.lastGuard++
		v = &verification{guard: p.lastGuard, epoch: epoch, lowestSeq: seq, created: p.now().UnixMilli()}
		p.verifying[producerID] = v
	case epoch > v.epoch:
		v.epoch, v.lowestSeq = epoch, seq
	case epoch == v.epoch:
		v.lowestSeq = min(v.lowestSeq, seq)
	}
	return v.guard, true
}

// AppendVerified is AppendAsLeader for a transactional batch verified
// with the transaction coordinator under guard (VerificationGuard): when
// its producer has no open transaction of its epoch here, it is refused with
// ErrInvalidTxnState unless guard is the producer's current verification
// guard (a marker, or another transactional batch, landed between the
// check and the append). Guard 0 means "not verified": the batch is then
// accepted only into an already open transaction of its epoch, as by
// AppendAsLeader.
func (p *Partition) AppendVerified(batch []byte, acks int16, guard uint64) (AppendResult, error) {
	return p.appendAsLeader(batch, appendOpts{acks: acks, epoch: anyEpoch, guard: guard, from: fromClient, verified: true})
}

// expireVerifications drops the verification entries at least maxAge
// (ms) old. Called with mu held.
func (p *Partition) expireVerifications(now, maxAge int64) {
	for id, v := range p.verifying {
		if now-v.created >= maxAge {
			delete(p.verifying, id)
		}
	}
}

// AppendMarker appends the control batch of m as leader (acks=all
// semantics: refused up front with ErrNotEnoughReplicas below min ISR;
// the caller Syncs res.SyncTo when >= 0 and waits for the HW to pass
// res.LastOffset). m.ProducerEpoch below the producer's epoch is
// ErrInvalidProducerEpoch; m.CoordinatorEpoch below its last marker's is
// ErrCoordinatorFenced. An abort of a transaction that had data appends
// an AbortedTxn to the log's .txnindex. A marker with no open transaction
// is still written (it updates only the producer's epochs).
func (p *Partition) AppendMarker(m record.Marker) (AppendResult, error) {
	return p.appendMarker(m, anyEpoch)
}

// AppendMarkerInEpoch is AppendMarker refused with ErrNotLeader unless
// the replica leads in epoch (for coordinators).
func (p *Partition) AppendMarkerInEpoch(m record.Marker, epoch int32) (AppendResult, error) {
	return p.appendMarker(m, epoch)
}

func (p *Partition) appendMarker(m record.Marker, epoch int32) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1, SyncTo: -1}
	p.mu.Lock()
	defer p.mu.Unlock()
	batch := record.BuildControlBatch(m, p.now().UnixMilli())
	h, err := record.ParseHeader(batch)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if err := p.checkAppend(h, -1, epoch); err != nil {
		return res, err
	}
	if err := p.checkMarker(m); err != nil {
		return res, err
	}
	return p.writeLocked(batch, h, fromCoordinator)
}

// checkMarker applies the leader's epoch checks to a marker. Called with
// mu held.
func (p *Partition) checkMarker(m record.Marker) error {
	e := p.producers[m.ProducerID]
	switch {
	case m.ProducerID < 0:
		return fmt.Errorf("%w: marker without a producer id", ErrInvalidRecord)
	case e == nil:
		return nil
	case m.ProducerEpoch < e.epoch:
		return fmt.Errorf("%w: marker epoch %d, producer %d is at %d", ErrInvalidProducerEpoch, m.ProducerEpoch, m.ProducerID, e.epoch)
	case m.CoordinatorEpoch < e.coordEpoch:
		return fmt.Errorf("%w: marker coordinator epoch %d, producer %d's last was %d",
			ErrCoordinatorFenced, m.CoordinatorEpoch, m.ProducerID, e.coordEpoch)
	}
	return nil
}
