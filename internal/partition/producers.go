package partition

import (
	"errors"
	"math"

	"github.com/fjordlog/fjord/internal/record"
)

// Idempotent producer state (reference/kafka-replication.md §6): per
// producer id, its epoch and its last five batches' sequence ranges and
// offsets. The leader checks each idempotent batch against it (a retried
// batch is answered with its original offsets, a gap in sequences or an
// old epoch is refused); leader and followers both record every appended
// batch, so the state survives a change of leader. It is built from batch
// headers only, and from transaction markers (txn.go): per producer its
// open transaction's first offset and its last marker's coordinator epoch.

// Errors of idempotent appends; handlers map them to Kafka's codes.
var (
	ErrOutOfOrderSequence   = errors.New("partition: out of order sequence number") // OUT_OF_ORDER_SEQUENCE_NUMBER
	ErrInvalidProducerEpoch = errors.New("partition: producer epoch is older")      // INVALID_PRODUCER_EPOCH
)

// cachedBatches is how many batches per producer are remembered for
// duplicate detection: the client's max.in.flight.requests bound (5).
const cachedBatches = 5

// producerRebuildBytes bounds how much of the log tail a replica scans to
// rebuild producer state when it opens or truncates a log that has no
// usable snapshot (producers_snapshot.go). Producers
// idle for longer than that much data lose their dedup state, as if it
// had expired; a retry is always recent, so no duplicate can slip through
// that way in practice.
var producerRebuildBytes int64 = 64 << 20 // a variable for tests

type producerBatch struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
}

type producerEntry struct {
	epoch   int16
	batches []producerBatch // oldest first, at most cachedBatches
	// lastTimestamp is the max timestamp of the producer's last batch
	// (ms), what producer.id.expiration.ms counts from, as in Kafka;
	// unknownTimestamp for state loaded from a version-1 snapshot.
	lastTimestamp int64
	// refused is the error of the producer's expected next batch, refused
	// retriably (ISR below min.insync.replicas, not leader) since its last
	// append; nil otherwise. A later batch that skips exactly that one gets
	// the same error instead of OUT_OF_ORDER_SEQUENCE_NUMBER: it was
	// pipelined behind the refused batch, and a client such as franz-go
	// answers an out-of-order error by bumping its producer epoch and
	// re-sequencing every unacknowledged batch, which duplicates the ones
	// that were written but not yet acknowledged.
	refused error
	// txnFirst is the first offset of the producer's open transaction in
	// this partition (Kafka's currentTxnFirstOffset), -1 when none: set by
	// its first transactional data batch, cleared by a marker.
	txnFirst int64
	// coordEpoch is the transaction coordinator epoch of the producer's
	// last marker here, -1 when none.
	coordEpoch int32
}

// newProducerEntry is the state of a producer first seen with epoch.
func newProducerEntry(epoch int16) *producerEntry {
	return &producerEntry{epoch: epoch, txnFirst: -1, coordEpoch: -1}
}

// origin is where an appended batch comes from: it decides which checks
// it went through and how producer-state surprises are reported.
type origin int

const (
	fromClient      origin = iota // a producer's batch on the leader (AppendAsLeader, AppendVerified)
	fromCoordinator               // a coordinator's batch or marker on the leader (AppendInEpoch, AppendMarker)
	fromLeader                    // a follower's append of what it fetched
	fromReplay                    // replay of the log on open or truncation
)

type producers map[int64]*producerEntry

// lastSeq is the sequence of a batch's last record, wrapping as Kafka does.
func lastSeq(h record.Header) int32 {
	if int64(h.BaseSequence)+int64(h.LastOffsetDelta) > math.MaxInt32 {
		return int32(int64(h.BaseSequence) + int64(h.LastOffsetDelta) - math.MaxInt32 - 1)
	}
	return h.BaseSequence + h.LastOffsetDelta
}

func inSequence(last, next int32) bool {
	return next == last+1 || (last == math.MaxInt32 && next == 0)
}

// check decides a leader append of an idempotent batch: a duplicate of a
// cached batch (returned), an error, or acceptance (nil, nil). A
// coordinator's batch without a sequence (BaseSequence -1) has only its
// epoch checked.
func (ps producers) check(h record.Header, from origin) (*producerBatch, error) {
	if h.ProducerID < 0 {
		return nil, nil
	}
	e := ps[h.ProducerID]
	noSeq := from == fromCoordinator && h.BaseSequence == noSequence
	switch {
	case e == nil:
		return nil, nil // unknown producer (new, or its state expired): accept, as Kafka does (KIP-360)
	case h.ProducerEpoch < e.epoch:
		return nil, ErrInvalidProducerEpoch
	case noSeq:
		return nil, nil
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return nil, ErrOutOfOrderSequence
		}
		return nil, nil
	}
	last := lastSeq(h)
	for i := range e.batches {
		if b := &e.batches[i]; b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b, nil
		}
	}
	if n := len(e.batches); n > 0 && !inSequence(e.batches[n-1].lastSeq, h.BaseSequence) {
		if e.refused != nil {
			return nil, e.refused
		}
		return nil, ErrOutOfOrderSequence
	}
	return nil, nil
}

// refuse remembers that h, the expected next batch of its producer, was
// refused retriably with err (see producerEntry.refused).
func (ps producers) refuse(h record.Header, err error) {
	e := ps[h.ProducerID]
	if h.ProducerID < 0 || e == nil || h.ProducerEpoch != e.epoch || len(e.batches) == 0 ||
		!inSequence(e.batches[len(e.batches)-1].lastSeq, h.BaseSequence) {
		return
	}
	e.refused = err
}

// noSequence is a batch's BaseSequence when it has none (a coordinator's
// transactional batch, a control batch).
const noSequence = -1

// record remembers an appended data batch (h carries its assigned base
// offset) and returns its producer's entry, nil for a batch without a
// producer id. A new epoch forgets the cached batches but keeps an open
// transaction; a batch without a sequence is not cached for duplicate
// detection.
func (ps producers) record(h record.Header) *producerEntry {
	if h.ProducerID < 0 {
		return nil
	}
	e := ps[h.ProducerID]
	switch {
	case e == nil:
		e = newProducerEntry(h.ProducerEpoch)
		ps[h.ProducerID] = e
	case h.ProducerEpoch > e.epoch:
		e.epoch, e.batches = h.ProducerEpoch, nil
	}
	e.refused = nil
	e.lastTimestamp = h.MaxTimestamp
	if h.BaseSequence == noSequence {
		return e
	}
	e.batches = append(e.batches, producerBatch{h.BaseSequence, lastSeq(h), h.BaseOffset, h.LastOffset()})
	if len(e.batches) > cachedBatches {
		e.batches = e.batches[1:]
	}
	return e
}

// unknownTimestamp marks an entry whose last batch's timestamp is not
// known (loaded from a version-1 snapshot): expire stamps it with the
// time it first sees it, so it expires a full period later at the
// earliest.
const unknownTimestamp = math.MinInt64

// expire drops the producers whose last batch is at least maxAge older
// than now (ms), as Kafka does every
// producer.id.expiration.check.interval.ms: their dedup state is gone,
// and their next batch is accepted as a new producer's (KIP-360). A
// producer with an open transaction is never dropped (the hanging
// transaction tools deal with those). It returns how many it dropped.
func (ps producers) expire(now, maxAge int64) int {
	n := 0
	for id, e := range ps {
		switch {
		case e.txnFirst >= 0:
		case e.lastTimestamp == unknownTimestamp:
			e.lastTimestamp = now
		case now-e.lastTimestamp >= maxAge:
			delete(ps, id)
			n++
		}
	}
	return n
}

// rebuildProducers rebuilds producer and transaction state: the newest
// usable snapshot and the batches after it, or (with none) the tail of
// the log. Markers are replayed too, and each abort's .txnindex entry is
// written again (the log ignores one it has), so an entry lost in a crash
// comes back. Verification entries are dropped. Called with mu held (or
// before the partition is shared); a storage error is the caller's to
// fail on.
func (p *Partition) rebuildProducers() error {
	ps, off := p.loadProducerSnapshot()
	p.resetProducers(ps)
	end := p.log.LogEndOffset()
	for off < end {
		info, err := p.log.Read(off, 1<<20, end, true)
		if err != nil {
			return err
		}
		if len(info.Bytes) == 0 {
			break
		}
		if err := p.replayBatches(info.Bytes, fromReplay); err != nil {
			return err
		}
		h, _ := record.ParseHeader(info.Bytes)
		off = lastBatchEnd(info.Bytes, h.BaseOffset)
	}
	return nil
}

// resetProducers replaces the producer state with ps and derives the
// open transactions from it. Called with mu held.
func (p *Partition) resetProducers(ps producers) {
	p.producers, p.txns, p.verifying = ps, newTxnState(ps), map[int64]*verification{}
}

// producerScanStart is the base offset of the oldest segment within the
// last producerRebuildBytes of the log.
func (p *Partition) producerScanStart() int64 {
	segs := p.log.Segments()
	start, size := p.log.LogStartOffset(), int64(0)
	for i := len(segs) - 1; i >= 0; i-- {
		size += segs[i].Size
		start = max(segs[i].BaseOffset, p.log.LogStartOffset())
		if size >= producerRebuildBytes {
			break
		}
	}
	return start
}

// lastBatchEnd returns the offset after the last whole batch in b.
func lastBatchEnd(b []byte, first int64) int64 {
	next := first
	for len(b) >= record.HeaderSize {
		h, err := record.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next
}
