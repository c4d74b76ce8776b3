package storage

import "fmt"

// TruncateTo removes every batch whose base offset is >= offset and fixes
// the indexes, the epoch cache and the recovery point. offset is expected
// to be a batch boundary; if it falls inside a batch, that batch is kept
// whole, and the new log end offset is the batch's end (> offset).
// offset == LEO is a no-op; offset outside [log start, LEO] returns
// ErrOffsetOutOfRange.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	leo := l.LogEndOffset()
	if offset < l.LogStartOffset() || offset > leo {
		return fmt.Errorf("%w: truncate to %d, log [%d, %d]", ErrOffsetOutOfRange, offset, l.LogStartOffset(), leo)
	}
	if offset == leo {
		// No data to remove, but an epoch that starts here holds no
		// records: drop it, or a follower that led it briefly would keep
		// reporting it as its last fetched epoch and diverge forever.
		return l.dropEpochsFrom(offset)
	}
	l.logger.Info("storage: truncating log", "offset", offset, "leo", leo)
	if err := l.dropSnapshotsAbove(offset); err != nil { // made durable by truncateSegments' directory fsync
		return err
	}
	if err := l.truncateSegments(offset); err != nil {
		return l.fail("truncate", err)
	}
	l.leo.Store(l.active().next)
	l.recoveryPoint.Store(min(l.RecoveryPoint(), l.LogEndOffset()))
	return l.dropEpochsFrom(l.LogEndOffset())
}

// dropEpochsFrom drops the epoch cache entries starting at or after end.
// Called with mu held.
func (l *Log) dropEpochsFrom(end int64) error {
	if l.epochs.truncateFromEnd(end) {
		return l.persistEpochs("truncate")
	}
	return nil
}

// truncateSegments deletes the segments starting at or after offset (the
// first segment always stays) and cuts the one holding offset, with its
// aborted-transaction entries at or above offset.
func (l *Log) truncateSegments(offset int64) error {
	l.reshapes++
	for len(l.segs) > 1 && l.active().base >= offset {
		s := l.active()
		l.segs = l.segs[:len(l.segs)-1]
		if err := s.remove(); err != nil {
			return err
		}
	}
	a := l.active()
	if err := a.truncateTo(offset, l.cfg.IndexIntervalBytes); err != nil {
		return err
	}
	if err := a.truncateTxns(offset); err != nil {
		return err
	}
	if a.size == 0 {
		a.rollBase = -1
	} else if a.rollBase < 0 { // a sealed segment became active again
		a.rollBase = l.loadedRollBase(a)
	}
	if err := a.persistIndexes(l.cfg.SegmentIndexBytes, false); err != nil {
		return err
	}
	return l.fs.SyncDir(l.dir)
}

// TruncateFullyAndStartAt deletes every segment and restarts the log empty
// at offset: log start = LEO = recovery point = offset, empty epoch cache.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: restart at %d", ErrOffsetOutOfRange, offset)
	}
	l.logger.Info("storage: truncating fully", "new_start", offset, "leo", l.LogEndOffset())
	if err := l.restartAt(offset); err != nil {
		return l.fail("truncate fully", err)
	}
	return nil
}

// restartAt replaces all segments by one empty segment at offset.
func (l *Log) restartAt(offset int64) error {
	if l.unborn { // still no files: stay so, empty at offset
		l.initUnborn(offset)
		return nil
	}
	l.reshapes++
	if err := l.dropSnapshotsAbove(-1); err != nil {
		return err
	}
	old := l.segs
	l.segs = nil
	for _, s := range old {
		if err := s.remove(); err != nil {
			return err
		}
	}
	if err := l.loadEmpty(offset); err != nil {
		return err
	}
	return l.fs.SyncDir(l.dir)
}

// SetLogStartOffset raises the log start offset (DeleteRecords, or a
// follower following its leader's log start) and deletes the segments
// wholly below it. Lower values are ignored; values above the LEO return
// ErrOffsetOutOfRange (use TruncateFullyAndStartAt).
func (l *Log) SetLogStartOffset(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if offset > l.LogEndOffset() {
		return fmt.Errorf("%w: log start %d beyond LEO %d", ErrOffsetOutOfRange, offset, l.LogEndOffset())
	}
	if offset <= l.LogStartOffset() {
		return nil
	}
	l.logStart.Store(offset)
	if err := l.deleteSegmentsBelowStart(); err != nil {
		return err
	}
	return l.afterStartMoved()
}

// afterStartMoved trims the epoch cache to the new log start and keeps the
// recovery point at or above it.
func (l *Log) afterStartMoved() error {
	l.recoveryPoint.Store(max(l.RecoveryPoint(), l.LogStartOffset()))
	if l.epochs.truncateFromStart(l.LogStartOffset()) {
		return l.persistEpochs("log start")
	}
	return nil
}

// deleteSegmentsBelowStart deletes the non-active segments that end at or
// below the log start offset.
func (l *Log) deleteSegmentsBelowStart() error {
	start := l.LogStartOffset()
	_, err := l.deleteOldest(func(int) bool { return l.segmentEnd(0) <= start }, start)
	return err
}

// deleteOldest deletes segments from the front while del(0) holds, never
// the active segment and never one with data at or above limit. It raises
// the log start offset to the first remaining base offset.
func (l *Log) deleteOldest(del func(int) bool, limit int64) (int, error) {
	n := 0
	for len(l.segs) > 1 && l.segmentEnd(0) <= limit && del(0) {
		s := l.segs[0]
		l.segs = l.segs[1:]
		if err := s.remove(); err != nil {
			return n, l.fail("delete segment", err)
		}
		n++
		l.logger.Info("storage: deleted segment", "base", s.base, "bytes", s.size)
	}
	if n > 0 {
		l.logStart.Store(max(l.LogStartOffset(), l.segs[0].base))
		if err := l.pruneSnapshots(); err != nil {
			return n, err
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return n, l.fail("delete segment", err)
		}
	}
	return n, nil
}

// ApplyRetention deletes whole segments, oldest first, that breach
// retention.ms (largest timestamp older than now - retention.ms) or
// retention.bytes (while the log would stay at or above the limit without
// them) or that lie wholly below the log start offset — never the active
// segment and never a segment with data at or above hw — and advances the
// log start offset. It first rolls a non-empty active segment whose
// segment.ms has elapsed, and flushes when flush.ms says so. It returns
// the number of segments deleted.
func (l *Log) ApplyRetention(hw int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	now := l.nowMs()
	if a := l.active(); a.size > 0 && a.rollBase >= 0 && now-a.rollBase >= l.cfg.SegmentMs {
		if err := l.roll(l.LogEndOffset()); err != nil {
			return 0, err
		}
	}
	n, err := l.deleteRetained(hw, now)
	if err != nil {
		return n, err
	}
	if n > 0 {
		if err := l.afterStartMoved(); err != nil {
			return n, err
		}
	}
	return n, l.maybeFlush()
}

func (l *Log) deleteRetained(hw, now int64) (int, error) {
	start := l.LogStartOffset()
	n, err := l.deleteOldest(func(int) bool { return l.segmentEnd(0) <= start }, hw)
	if err != nil {
		return n, err
	}
	if ms := l.cfg.RetentionMs; ms >= 0 {
		m, err := l.deleteOldest(func(int) bool { return now-l.segs[0].largestTimestamp() > ms }, hw)
		if n += m; err != nil {
			return n, err
		}
	}
	if limit := l.cfg.RetentionBytes; limit >= 0 {
		excess := l.sizeLocked() - limit
		m, err := l.deleteOldest(func(int) bool {
			if excess-l.segs[0].size < 0 {
				return false
			}
			excess -= l.segs[0].size
			return true
		}, hw)
		n += m
		return n, err
	}
	return n, nil
}
