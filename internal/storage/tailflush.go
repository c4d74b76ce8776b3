package storage

import (
	"fmt"
	"io"
	"sort"
)

// Bounding what a restart re-checks (issue 12). After a crash a log
// re-checks (CRC) every batch from its recovery point on, and Kafka moves
// the recovery point only when a segment rolls, so a restart re-reads up
// to a whole segment (1 GiB by default) per partition. FlushTail lets the
// owner move it in between: it fsyncs what was appended since the recovery
// point, with the active segment's index entries, and raises the recovery
// point to the end it saw. The fsyncs run without the log's lock, as a
// rolled segment's flush does (rollflush.go), so appends do not wait.
//
// Recovery then trusts the part of the recovery point's segment below it
// (recoverAbove): the index entries of the batches there were fsynced with
// them, so it keeps those entries, walks the headers from the last one to
// the recovery point and CRC-checks only what follows. An index it cannot
// trust sends it back to re-checking the whole segment.

// UnflushedBytes is roughly how many bytes were appended since the last
// flush began (FlushTail, Flush, flush.messages/flush.ms); rolled
// segments' background flushes do not count.
func (l *Log) UnflushedBytes() int64 { return l.written.Load() - l.flushedMark.Load() }

// FlushTail fsyncs every batch appended so far, the index entries that
// describe them and the directory, then raises the recovery point to the
// log end offset it saw, unless the log was reshaped (truncated, restarted,
// compacted) meanwhile. Appends go on while it fsyncs. A failed fsync of
// what the log still holds fails the log.
func (l *Log) FlushTail() error {
	l.mu.Lock()
	if err := l.usable(); err != nil || l.unborn {
		l.mu.Unlock()
		return err
	}
	end := l.LogEndOffset()
	if end <= l.RecoveryPoint() {
		l.mu.Unlock()
		return nil
	}
	a := l.active()
	if err := a.persistIndexes(l.cfg.SegmentIndexBytes, false); err != nil {
		err = l.fail("flush", err)
		l.mu.Unlock()
		return err
	}
	var segs []rolledSegment
	for i := l.segmentFor(l.RecoveryPoint()); i < len(l.segs); i++ {
		segs = append(segs, toFlush(l.segs[i]))
	}
	reshapes := l.reshapes
	l.flushedMark.Store(l.written.Load())
	l.lastFlush = l.nowMs()
	l.flushes.Add(1)
	l.mu.Unlock()
	defer l.flushes.Done()
	l.finishRolledFlush(end, reshapes, segs, rolledSync(l, segs))
	return l.Err()
}

// SyncTo makes the batches below offset durable (what an append's
// AppendInfo.SyncTo asks for): it returns at once when the recovery point
// covers them and flushes the tail (FlushTail) otherwise. Callers of one
// log share flushes (group commit): a caller waits for the flush in
// progress, which covers every batch written before it began, and flushes
// again only if that was not enough. Batches truncated away before they
// were synced are an error: they must not be acknowledged.
func (l *Log) SyncTo(offset int64) error {
	if l.RecoveryPoint() >= offset {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.RecoveryPoint() >= offset {
		return nil
	}
	if err := l.FlushTail(); err != nil {
		return err
	}
	if rp := l.RecoveryPoint(); rp < offset {
		return fmt.Errorf("%w: batches below %d were truncated or reshaped before they were synced (recovery point %d)", ErrNotSynced, offset, rp)
	}
	return nil
}

// recoverAbove recovers segment i, which holds the recovery point rp above
// its base: it trusts the batches below rp and their index entries
// (trustBelow) and CRC-checks the batches from rp on, cutting the segment
// at the first bad one. It reports whether it cut.
func (l *Log) recoverAbove(i int, rp int64) (bool, error) {
	s := l.segs[i]
	pos, err := s.trustBelow(rp, l.cfg.IndexIntervalBytes)
	if err != nil {
		if !untrusted(err) {
			return false, err
		}
		l.logger.Warn("storage: recovering the whole segment holding the recovery point", "segment", s.base,
			"recovery_point", rp, "reason", err)
		return l.recoverSegment(i)
	}
	s.offIdx.stale, s.timeIdx.stale = true, true // the files may hold entries past what we kept
	s.unsynced = true
	cut, err := s.indexAll(newBatchScannerAt(s.f, pos, s.size), l.cfg.IndexIntervalBytes, s.next)
	return l.cutAtBadBatch(s, cut, err)
}

// trustBelow loads the segment's index files, keeps the entries of the
// batches that end below rp (the last one must point at a batch with that
// last offset) and walks the batch headers from there to rp, so that the
// indexes, next and maxTs describe exactly the batches below rp. It
// returns the position of the first batch at or after rp.
func (s *segment) trustBelow(rp, interval int64) (int64, error) {
	if err := s.offIdx.load(s.fs, s.path(indexSuffix), offsetEntriesIncreasing); err != nil {
		return 0, err
	}
	if err := s.timeIdx.load(s.fs, s.path(timeIndexSuffix), timeEntriesIncreasing); err != nil {
		return 0, err
	}
	n := sort.Search(s.offIdx.count(), func(i int) bool {
		rel, _ := s.offIdx.entry(i)
		return s.base+int64(rel) >= rp
	})
	s.offIdx.truncate(n)
	start, keep := int64(0), int32(-1)
	if n > 0 {
		rel, pos := s.offIdx.entry(n - 1)
		h, err := s.readHeaderAt(pos)
		if err != nil {
			return 0, err
		}
		if h.LastOffset() != s.base+int64(rel) {
			return 0, fmt.Errorf("%w: entry (%d, %d) does not match its batch", errBadIndex, rel, pos)
		}
		start, keep = pos, rel
	}
	// Time entries are added with offset entries, for the batches up to
	// that entry's: keep those of the offset entries kept.
	s.timeIdx.truncateToOffset(keep + 1)
	ts, rel := s.timeIdx.last()
	s.maxTs, s.maxTsOff = ts, s.base+int64(rel)
	return s.walkTo(start, rp, interval)
}

// walkTo indexes the batches from position start (an indexed batch, or
// 0) that end below offset rp, without CRC checks, and returns the
// position of the first batch that does not. Reaching the end of the file first means
// the data the recovery point vouched for is missing: a data error.
func (s *segment) walkTo(start, rp, interval int64) (int64, error) {
	s.next, s.sinceIdx = s.base, 0
	sc := newHeaderScanner(s.f, start, s.size)
	defer sc.release()
	for {
		pos, h, _, err := sc.next()
		if err == io.EOF {
			if s.next < rp {
				return 0, fmt.Errorf("%w: segment %d ends at offset %d, below the recovery point %d", errBadOffsets, s.base, s.next, rp)
			}
			return pos, nil
		}
		if err != nil {
			return 0, err
		}
		if h.NextOffset() > rp { // not wholly below rp (a log start moved into it can leave rp mid-batch)
			return pos, nil
		}
		if h.BaseOffset < s.next || h.LastOffset()-s.base > maxRelativeOffset {
			return 0, fmt.Errorf("%w: batch %d..%d in segment %d", errBadOffsets, h.BaseOffset, h.LastOffset(), s.base)
		}
		s.indexBatch(h, pos, interval)
	}
}
