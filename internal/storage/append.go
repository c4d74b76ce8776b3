package storage

import (
	"fmt"

	"github.com/fjordlog/fjord/internal/record"
)

// AppendInfo describes an append.
type AppendInfo struct {
	FirstOffset, LastOffset int64 // offsets of the first and last record appended
	MaxTimestamp            int64
	LogAppendTime           int64 // always -1: the caller applies LogAppendTime
	NumBatches              int
	// RolledTo is the base offset of the newest segment the append rolled
	// to (a batch of it starts there), or -1 when it did not roll.
	RolledTo int64
	// SyncTo is, when flush.messages or flush.ms asks for a flush, the
	// offset the caller must make durable with SyncTo before it
	// acknowledges the append; -1 otherwise. The append does not fsync
	// itself, so concurrent appends share fsyncs (group commit).
	SyncTo int64
}

// AppendAsLeader appends one whole v2 batch that the caller already
// validated (record.Validate). The log takes ownership of batch: it
// rewrites baseOffset to the log end offset and partitionLeaderEpoch to
// epoch in place, records epoch in the leader-epoch cache when it is new
// (start offset = the batch's base offset), rolls the active segment first
// when segment.bytes, segment.ms, a full index or the relative offset range
// require it, writes the bytes with one write call and reports in
// AppendInfo.SyncTo whether flush.messages / flush.ms want it fsynced.
//
// Errors: ErrInvalidBatch when batch is not exactly one v2 batch (the log
// stays usable); an error wrapping ErrLogFailed after an I/O failure.
func (l *Log) AppendAsLeader(batch []byte, epoch int32) (AppendInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return AppendInfo{}, err
	}
	h, err := record.ParseHeader(batch)
	if err != nil || h.Size() != len(batch) {
		return AppendInfo{}, fmt.Errorf("%w: want exactly one v2 batch (%d bytes): %v", ErrInvalidBatch, len(batch), err)
	}
	leo := l.LogEndOffset()
	record.SetBaseOffset(batch, leo)
	record.SetPartitionLeaderEpoch(batch, epoch)
	if err := l.assignEpoch(epoch, leo); err != nil {
		return AppendInfo{}, err
	}
	return l.appendValidated(batch)
}

// AppendAsFollower appends whole v2 batches (concatenated) that keep their
// offsets and leader epochs, as fetched from the leader. Every batch is
// CRC-checked; the first must start at the log end offset and each next
// one right after the previous. The epoch cache learns each batch's
// partitionLeaderEpoch. Nothing is written unless all batches pass.
//
// Errors: ErrInvalidBatch (wrapping the record error) or ErrNonContiguous
// leave the log usable; I/O failures wrap ErrLogFailed.
func (l *Log) AppendAsFollower(batches []byte) (AppendInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return AppendInfo{}, err
	}
	if err := l.checkFollowerBatches(batches); err != nil {
		return AppendInfo{}, err
	}
	for pos := 0; pos < len(batches); {
		h, _ := record.ParseHeader(batches[pos:])
		if err := l.assignEpoch(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
			return AppendInfo{}, err
		}
		pos += h.Size()
	}
	return l.appendValidated(batches)
}

// checkFollowerBatches validates every batch and their offsets. In a
// compacted log (cleanup.policy=compact) batches may skip offsets, as the
// leader's cleaner leaves gaps: they must then only increase.
func (l *Log) checkFollowerBatches(batches []byte) error {
	next := l.LogEndOffset()
	for pos := 0; pos < len(batches); {
		h, err := record.Validate(batches[pos:])
		if err != nil {
			return fmt.Errorf("%w: at byte %d: %w", ErrInvalidBatch, pos, err)
		}
		if h.BaseOffset != next && !(l.cfg.Compact && h.BaseOffset > next) {
			return fmt.Errorf("%w: batch at byte %d has base offset %d, want %d", ErrNonContiguous, pos, h.BaseOffset, next)
		}
		next = h.NextOffset()
		pos += h.Size()
	}
	return nil
}

// assignEpoch records (epoch, start) in the epoch cache if new and
// persists the cache. The common case (same epoch) costs one comparison.
func (l *Log) assignEpoch(epoch int32, start int64) error {
	if !l.epochs.isNew(epoch, start) {
		return nil
	}
	if last, ok := l.epochs.latest(); ok && epoch < last.epoch {
		l.logger.Warn("storage: epoch older than the cache's latest; truncating the cache", "epoch", epoch, "start", start, "latest", last.epoch)
	}
	l.epochs.assign(epoch, start)
	return l.persistEpochs("append")
}

// AssignEpoch records that epoch starts at the current log end offset, as
// Kafka does when a replica becomes leader, before any batch of that epoch
// is appended. It is a no-op unless epoch is newer than the latest entry.
func (l *Log) AssignEpoch(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if last, ok := l.epochs.latest(); ok && epoch <= last.epoch {
		return nil
	}
	return l.assignEpoch(epoch, l.LogEndOffset())
}

// appendValidated writes whole, checked batches whose offsets continue the
// log. Consecutive batches that fit in the active segment go out in one
// write call; a roll between batches splits the write.
func (l *Log) appendValidated(data []byte) (AppendInfo, error) {
	info := AppendInfo{FirstOffset: -1, LastOffset: -1, MaxTimestamp: -1, LogAppendTime: -1, RolledTo: -1, SyncTo: -1}
	if len(data) > 0 {
		if err := l.materialize(); err != nil {
			return info, err
		}
	}
	now := l.nowMs()
	pending := 0 // data[pending:pos] is indexed but not yet written
	for pos := 0; pos < len(data); {
		h, _ := record.ParseHeader(data[pos:])
		if l.needsRoll(l.active(), int64(pos-pending), h, now) {
			if err := l.writeActive(data[pending:pos]); err != nil {
				return info, err
			}
			pending = pos
			if err := l.roll(h.BaseOffset); err != nil {
				return info, err
			}
			info.RolledTo = h.BaseOffset
		}
		a := l.active()
		if a.size == 0 && pos == pending {
			a.rollBase = now
		}
		a.indexBatch(h, a.size+int64(pos-pending), l.cfg.IndexIntervalBytes)
		info.add(h)
		pos += h.Size()
	}
	if err := l.writeActive(data[pending:]); err != nil {
		return info, err
	}
	l.leo.Store(l.active().next)
	if l.flushDue() {
		info.SyncTo = l.LogEndOffset()
	}
	return info, nil
}

func (info *AppendInfo) add(h record.Header) {
	if info.NumBatches == 0 {
		info.FirstOffset = h.BaseOffset
	}
	info.LastOffset = h.LastOffset()
	info.MaxTimestamp = max(info.MaxTimestamp, h.MaxTimestamp)
	info.NumBatches++
}

func (l *Log) writeActive(b []byte) error {
	if err := l.active().write(b); err != nil {
		return l.fail("append", err)
	}
	l.written.Add(int64(len(b)))
	return nil
}

// needsRoll reports whether a batch must go to a new segment: the active
// one already holds data (pending counts bytes indexed but not yet
// written) and adding the batch would break segment.bytes, segment.ms has
// passed, an index is full, or the batch's last offset does not fit the
// index's 32-bit relative offset.
func (l *Log) needsRoll(s *segment, pending int64, h record.Header, now int64) bool {
	cur := s.size + pending
	if cur == 0 {
		return false
	}
	return cur+int64(h.Size()) > l.cfg.SegmentBytes ||
		(s.rollBase >= 0 && now-s.rollBase >= l.cfg.SegmentMs) ||
		s.offIdx.full() || s.timeIdx.full() ||
		h.LastOffset()-s.base > maxRelativeOffset
}

// roll seals the active segment — final time index entry, trimmed index
// files — and starts a new one at base. The fsyncs that move the recovery
// point to base run in the background (rollflush.go), as Kafka's do, so
// the append that triggers the roll does not wait for them.
func (l *Log) roll(base int64) error {
	old := l.active()
	old.sealTimeIndex()
	if err := old.persistIndexes(0, false); err != nil {
		return l.fail("roll", err)
	}
	s, err := createSegment(l.fs, l.dir, base, l.cfg)
	if err != nil {
		return l.fail("roll", err)
	}
	l.segs = append(l.segs, s)
	l.flushRolledAsync(base)
	l.logger.Debug("storage: rolled segment", "base", base, "previous", old.base, "previous_bytes", old.size)
	return nil
}
