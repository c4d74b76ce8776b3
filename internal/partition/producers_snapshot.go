package partition

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/storage"
)

// Producer-state snapshots (issue 12): the idempotent producers' state is
// saved through the log (storage.Log.SaveSnapshot) as it stands after
// every batch below an offset: when the log rolls (at the new segment's
// base, as Kafka snapshots at each roll), when the owner flushes a log's
// tail (FlushTail), and when the broker shuts down (SaveProducerState). A
// replica opening or truncating its log loads the newest snapshot at or
// below its end and replays only the batches after it (rebuildProducers),
// so an idle producer's dedup state survives a restart however much was
// written since, without rescanning the log.
//
// Encoding (big endian), version 3:
//
//	version int16 | crc32c uint32 (of what follows) | count uint32 |
//	count × { producer id int64 | epoch int16 | last timestamp int64 |
//	          txn first offset int64 | coordinator epoch int32 | n uint8 |
//	          n × { first seq int32 | last seq int32 | first offset int64 | last offset int64 } }
//
// Producers are in id order; n is at most cachedBatches, and may be 0 (a
// producer known only from markers or from batches without sequences).
// The txn first offset is the producer's open transaction's (-1: none);
// the partition's open transactions are derived from it on load.
// Versions 1 and 2 are read, no longer written: version 2 lacks the
// transaction fields (no open transaction, coordinator epoch -1), version
// 1 also the last timestamp (its producers get unknownTimestamp); both
// have n >= 1.

const snapshotVersion = 3

const (
	snapshotHeaderSize  = 2 + 4 + 4
	snapshotEntrySizeV1 = 8 + 2 + 1
	snapshotEntrySizeV2 = 8 + 2 + 8 + 1
	snapshotEntrySize   = 8 + 2 + 8 + 8 + 4 + 1
	snapshotBatchSize   = 4 + 4 + 8 + 8
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// errSnapshot reports a snapshot that cannot be used.
var errSnapshot = errors.New("partition: bad producer snapshot")

// encode returns the snapshot encoding of ps.
func (ps producers) encode() []byte {
	ids := make([]int64, 0, len(ps))
	size := snapshotHeaderSize
	for id, e := range ps {
		ids = append(ids, id)
		size += snapshotEntrySize + len(e.batches)*snapshotBatchSize
	}
	slices.Sort(ids)
	b := make([]byte, snapshotHeaderSize, size)
	binary.BigEndian.PutUint16(b, snapshotVersion)
	binary.BigEndian.PutUint32(b[6:], uint32(len(ids)))
	for _, id := range ids {
		e := ps[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTimestamp))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		b = append(b, byte(len(e.batches)))
		for _, pb := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(pb.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(pb.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(pb.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(pb.lastOffset))
		}
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], crc32c))
	return b
}

// decodeProducers parses a snapshot; any damage (short, bad checksum,
// unknown version, trailing bytes, impossible values) is errSnapshot.
func decodeProducers(b []byte) (producers, error) {
	if len(b) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes", errSnapshot, len(b))
	}
	v := binary.BigEndian.Uint16(b)
	if v < 1 || v > snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", errSnapshot, v)
	}
	if binary.BigEndian.Uint32(b[2:]) != crc32.Checksum(b[6:], crc32c) {
		return nil, fmt.Errorf("%w: checksum mismatch", errSnapshot)
	}
	n := binary.BigEndian.Uint32(b[6:])
	rest := b[snapshotHeaderSize:]
	if uint64(n) > uint64(len(rest)/snapshotEntrySizeV1) {
		return nil, fmt.Errorf("%w: %d producers in %d bytes", errSnapshot, n, len(rest))
	}
	ps := make(producers, n)
	txnFirsts := map[int64]bool{}
	for range n {
		id, e, tail, err := decodeEntry(rest, v)
		if err != nil {
			return nil, err
		}
		if _, dup := ps[id]; dup {
			return nil, fmt.Errorf("%w: producer %d twice", errSnapshot, id)
		}
		if e.txnFirst >= 0 && txnFirsts[e.txnFirst] {
			return nil, fmt.Errorf("%w: two transactions start at %d", errSnapshot, e.txnFirst)
		}
		txnFirsts[e.txnFirst] = true
		ps[id], rest = e, tail
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errSnapshot, len(rest))
	}
	return ps, nil
}

// decodeEntry parses one producer of a version v snapshot and returns the
// bytes after it.
func decodeEntry(b []byte, v uint16) (int64, *producerEntry, []byte, error) {
	size := [...]int{1: snapshotEntrySizeV1, 2: snapshotEntrySizeV2, 3: snapshotEntrySize}[v]
	if len(b) < size {
		return 0, nil, nil, fmt.Errorf("%w: truncated producer", errSnapshot)
	}
	id := int64(binary.BigEndian.Uint64(b))
	e := newProducerEntry(int16(binary.BigEndian.Uint16(b[8:])))
	e.lastTimestamp = unknownTimestamp
	if v >= 2 {
		e.lastTimestamp = int64(binary.BigEndian.Uint64(b[10:]))
	}
	if v >= 3 {
		e.txnFirst = int64(binary.BigEndian.Uint64(b[18:]))
		e.coordEpoch = int32(binary.BigEndian.Uint32(b[26:]))
	}
	n := int(b[size-1])
	b = b[size:]
	if id < 0 || (n == 0 && v < 3) || n > cachedBatches || len(b) < n*snapshotBatchSize || e.txnFirst < -1 {
		return 0, nil, nil, fmt.Errorf("%w: producer %d with %d batches, transaction at %d", errSnapshot, id, n, e.txnFirst)
	}
	if n > 0 {
		e.batches = make([]producerBatch, n)
	}
	for i := range e.batches {
		e.batches[i] = producerBatch{
			firstSeq:    int32(binary.BigEndian.Uint32(b)),
			lastSeq:     int32(binary.BigEndian.Uint32(b[4:])),
			firstOffset: int64(binary.BigEndian.Uint64(b[8:])),
			lastOffset:  int64(binary.BigEndian.Uint64(b[16:])),
		}
		b = b[snapshotBatchSize:]
	}
	return id, e, b, nil
}

// ExpireProducers drops the state of the producers whose last batch is
// producer.id.expiration.ms older than now, except those with an open
// transaction, and the KIP-890 verification entries that old (the broker
// calls it every producer.id.expiration.check.interval.ms, on leaders and
// followers alike, as Kafka does). It returns how many producers it
// dropped.
func (p *Partition) ExpireProducers(now time.Time) int {
	if p.cfg.ProducerIDExpiration <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	maxAge := p.cfg.ProducerIDExpiration.Milliseconds()
	p.expireVerifications(now.UnixMilli(), maxAge)
	return p.producers.expire(now.UnixMilli(), maxAge)
}

// saveProducerSnapshot saves the producers' state as of offset (every
// batch below it recorded, none at or after it). mu must be held.
func (p *Partition) saveProducerSnapshot(offset int64) error {
	if err := p.log.SaveSnapshot(offset, p.producers.encode()); err != nil {
		return p.fail(err)
	}
	return nil
}

// SaveProducerState saves a producer-state snapshot at the log end offset
// (the broker calls it before closing the logs at shutdown, so the next
// start replays nothing).
func (p *Partition) SaveProducerState() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed != nil {
		return nil
	}
	return p.saveProducerSnapshot(p.log.LogEndOffset())
}

// FlushTail, once at least minBytes were appended since the log's last
// flush, fsyncs them while appends go on (storage.Log.FlushTail) and
// saves a producer-state snapshot at the log end, so that a restart after
// a crash re-checks and replays only what came after. It reports whether
// it flushed.
func (p *Partition) FlushTail(minBytes int64) (bool, error) {
	if p.log.UnflushedBytes() < max(minBytes, 1) {
		return false, nil
	}
	err := p.log.FlushTail()
	if errors.Is(err, storage.ErrClosed) { // the replica was removed meanwhile
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		return false, p.fail(err)
	}
	if p.failed != nil {
		return false, nil
	}
	return true, p.saveProducerSnapshot(p.log.LogEndOffset())
}

// loadProducerSnapshot returns the state of the newest usable snapshot
// (at or below the log end, at or above the log start) and its offset,
// or empty state and the offset a bounded scan starts from when there is
// none. A damaged snapshot is skipped with a warning.
func (p *Partition) loadProducerSnapshot() (producers, int64) {
	snaps := p.log.Snapshots()
	for i := len(snaps) - 1; i >= 0; i-- {
		off := snaps[i]
		if off > p.log.LogEndOffset() || off < p.log.LogStartOffset() {
			continue
		}
		b, err := p.log.ReadSnapshot(off)
		if err == nil {
			var ps producers
			if ps, err = decodeProducers(b); err == nil {
				return ps, off
			}
		}
		p.logger.Warn("ignoring producer-state snapshot", "offset", off, "err", err)
	}
	return producers{}, p.producerScanStart()
}

// splitAt returns the byte position in b (whole batches) of the first
// batch whose base offset is at least offset, or len(b).
func splitAt(b []byte, offset int64) int {
	pos := 0
	for pos+record.HeaderSize <= len(b) {
		h, err := record.ParseHeader(b[pos:])
		if err != nil || h.BaseOffset >= offset {
			return pos
		}
		pos += h.Size()
	}
	return len(b)
}

// ProducerInfo is one active producer of a partition, as
// DescribeProducers shows it.
type ProducerInfo struct {
	ID            int64
	Epoch         int16
	LastSequence  int32 // -1 when none is cached
	LastTimestamp int64 // -1 when unknown
	// CoordinatorEpoch is the coordinator epoch of the producer's last
	// marker, -1 when none.
	CoordinatorEpoch int32
	// CurrentTxnStartOffset is the first offset of the producer's open
	// transaction, -1 when none.
	CurrentTxnStartOffset int64
}

// ActiveProducers lists the producers whose state the replica keeps
// (idempotent and transactional), in id order. Followers answer too, as
// Kafka's do (kafka-transactions describe-producers --broker-id and
// find-hanging --broker-id ask a given replica); a failed replica gets
// ErrStorage.
func (p *Partition) ActiveProducers() ([]ProducerInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, p.failed)
	}
	out := make([]ProducerInfo, 0, len(p.producers))
	for id, e := range p.producers {
		info := ProducerInfo{ID: id, Epoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTimestamp,
			CoordinatorEpoch: e.coordEpoch, CurrentTxnStartOffset: e.txnFirst}
		if n := len(e.batches); n > 0 {
			info.LastSequence = e.batches[n-1].lastSeq
		}
		if info.LastTimestamp == unknownTimestamp {
			info.LastTimestamp = -1
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}
