package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fjordlog/fjord/internal/vfs"
)

// load builds the in-memory state from dir; see Open.
func (l *Log) load(opts Options) error {
	var err error
	if l.epochs, err = loadEpochCache(l.fs, l.dir); err != nil {
		return err
	}
	if err := finishCleanerSwaps(l.fs, l.dir, l.logger); err != nil {
		return err
	}
	bases, err := listSegments(l.fs, l.dir)
	if err != nil {
		return err
	}
	for _, base := range bases {
		s, err := openSegment(l.fs, l.dir, base, l.cfg)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
	}
	if len(l.segs) == 0 {
		err = l.loadEmpty(max(opts.LogStartOffset, 0))
	} else {
		err = l.loadSegments(opts)
	}
	if err != nil {
		return err
	}
	if err := l.loadTxnIndexes(); err != nil {
		return err
	}
	return l.loadSnapshotList()
}

// loadSegments loads (after a clean shutdown) or recovers the segments
// found, then sets the offsets.
func (l *Log) loadSegments(opts Options) error {
	var err error
	if opts.Clean {
		err = l.loadClean()
	} else {
		err = l.recover(opts.RecoveryPoint)
	}
	if err != nil {
		return err
	}
	return l.finishLoad(opts.LogStartOffset)
}

// loadSnapshotList finds the producer-state snapshots and removes those
// the loaded log no longer vouches for: above its end (lost in a crash),
// below its first segment.
func (l *Log) loadSnapshotList() error {
	if err := l.loadSnapshots(); err != nil {
		return err
	}
	n := len(l.snaps)
	if err := l.dropSnapshotsAbove(l.LogEndOffset()); err != nil {
		return err
	}
	if err := l.pruneSnapshots(); err != nil {
		return err
	}
	if len(l.snaps) != n {
		return l.fs.SyncDir(l.dir)
	}
	return nil
}

// loadEmpty creates the first segment of a new log at start.
func (l *Log) loadEmpty(start int64) error {
	s, err := createSegment(l.fs, l.dir, start, l.cfg)
	if err != nil {
		return err
	}
	l.segs = []*segment{s}
	l.leo.Store(start)
	l.logStart.Store(start)
	l.recoveryPoint.Store(start)
	if l.epochs.clear() {
		return l.epochs.persist()
	}
	return nil
}

// listSegments returns the base offsets of dir's .log files, in order, and
// removes leftovers: temporary and *.deleted files, and index files whose
// .log is gone.
func listSegments(fs vfs.FS, dir string) ([]int64, error) {
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	logs := map[int64]bool{}
	var orphans []string
	for _, e := range entries {
		name := e.Name()
		base, suffix, ok := parseSegmentName(name)
		switch {
		case strings.HasSuffix(name, ".deleted") || strings.HasSuffix(name, ".tmp"):
			orphans = append(orphans, name)
		case ok && suffix == logSuffix:
			logs[base] = true
		case ok:
			orphans = append(orphans, name) // kept only if its .log exists
		}
	}
	return keepSegments(fs, dir, logs, orphans)
}

func keepSegments(fs vfs.FS, dir string, logs map[int64]bool, candidates []string) ([]int64, error) {
	for _, name := range candidates {
		if base, _, ok := parseSegmentName(name); ok && logs[base] {
			continue
		}
		if err := fs.Remove(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}

// parseSegmentName splits "<20 digits><suffix>" for the segment file
// suffixes.
func parseSegmentName(name string) (int64, string, bool) {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		digits, found := strings.CutSuffix(name, suffix)
		if !found || len(digits) != 20 {
			continue
		}
		base, err := strconv.ParseInt(digits, 10, 64)
		return base, suffix, err == nil && base >= 0
	}
	return 0, "", false
}

// loadClean trusts the segments after a clean shutdown: it loads (or
// rebuilds) their indexes and finds the end of the last one by walking the
// headers after its last index entry. A tail that does not parse is
// recovered after all.
func (l *Log) loadClean() error {
	last := len(l.segs) - 1
	for i := range last {
		if err := l.loadIndexes(i); err != nil {
			return err
		}
	}
	a := l.active()
	err := l.tryLoadIndexes(last)
	if err == nil {
		err = a.replayTail(l.cfg.IndexIntervalBytes)
	}
	if err == nil || !untrusted(err) {
		return err
	}
	l.logger.Warn("storage: active segment needs recovery despite clean shutdown", "base", a.base, "reason", err)
	if _, err := l.recoverSegment(last); err != nil {
		return err
	}
	return l.syncSegment(a, false)
}

// loadIndexes loads segment i's index files, rebuilding them (from headers,
// without CRC checks) when missing or inconsistent with the .log file.
func (l *Log) loadIndexes(i int) error {
	s := l.segs[i]
	err := l.tryLoadIndexes(i)
	if err == nil {
		return nil
	}
	if !untrusted(err) {
		return err
	}
	l.logger.Warn("storage: rebuilding index files", "base", s.base, "reason", err)
	if pos, err := s.rebuild(l.cfg.IndexIntervalBytes, s.base, false); err != nil {
		return fmt.Errorf("segment %d unreadable at position %d: %w", s.base, pos, err)
	}
	s.sealTimeIndex() // never the active segment (see the callers)
	s.offIdx.stale, s.timeIdx.stale = true, true
	return s.persistIndexes(0, true)
}

// tryLoadIndexes reads segment i's index files and checks them against the
// .log file: the last offset entry must point at a batch with that last
// offset, and no entry may point past the segment's offsets.
func (l *Log) tryLoadIndexes(i int) error {
	s := l.segs[i]
	if err := s.offIdx.load(s.fs, s.path(indexSuffix), offsetEntriesIncreasing); err != nil {
		return err
	}
	if err := s.timeIdx.load(s.fs, s.path(timeIndexSuffix), timeEntriesIncreasing); err != nil {
		return err
	}
	limit := int64(maxRelativeOffset)
	if i+1 < len(l.segs) {
		limit = l.segs[i+1].base - s.base - 1
	}
	if err := l.checkOffsetIndex(s, limit); err != nil {
		return err
	}
	ts, rel := s.timeIdx.last()
	if int64(rel) > limit || (rel < 0) {
		return fmt.Errorf("%w: time index entry past segment end", errBadIndex)
	}
	s.maxTs, s.maxTsOff = ts, s.base+int64(rel)
	s.next = s.base + limit + 1
	return nil
}

func (l *Log) checkOffsetIndex(s *segment, limit int64) error {
	n := s.offIdx.count()
	if n == 0 {
		return nil
	}
	rel, pos := s.offIdx.entry(n - 1)
	h, err := s.readHeaderAt(pos)
	if err != nil {
		return err
	}
	if h.LastOffset() != s.base+int64(rel) || int64(rel) > limit || rel < 0 {
		return fmt.Errorf("%w: last entry (%d, %d) does not match the log", errBadIndex, rel, pos)
	}
	return nil
}

// recover validates every batch from the recovery point rp onwards,
// cutting the log at the first bad one, then fsyncs what it kept. What
// lies below rp in its segment is trusted (recoverAbove).
func (l *Log) recover(rp int64) error {
	first := l.segmentFor(rp)
	for i := 0; i < first; i++ {
		if err := l.loadIndexes(i); err != nil {
			return err
		}
	}
	for i := first; i < len(l.segs); i++ {
		var truncated bool
		var err error
		if i == first && rp > l.segs[i].base {
			truncated, err = l.recoverAbove(i, rp)
		} else {
			truncated, err = l.recoverSegment(i)
		}
		if err != nil {
			return err
		}
		if truncated {
			if err := l.dropAfter(i); err != nil {
				return err
			}
			break
		}
		if i < len(l.segs)-1 {
			// Below the active segment: the next load trusts its
			// indexes, so the time index must end with its largest
			// timestamp, as it does after a roll (Kafka's recovery
			// appends this entry too).
			l.segs[i].sealTimeIndex()
		}
	}
	for i := first; i < len(l.segs); i++ {
		if err := l.syncSegment(l.segs[i], false); err != nil {
			return err
		}
	}
	return nil
}

// recoverSegment rebuilds segment i from its batches, CRC-checking each,
// and truncates it at the first bad batch. It reports whether it truncated.
func (l *Log) recoverSegment(i int) (bool, error) {
	s := l.segs[i]
	minOffset := s.base
	if i > 0 {
		minOffset = l.segs[i-1].next
	}
	pos, err := s.rebuild(l.cfg.IndexIntervalBytes, minOffset, true)
	s.offIdx.stale, s.timeIdx.stale = true, true
	s.unsynced = true // what was read may sit only in the page cache
	return l.cutAtBadBatch(s, pos, err)
}

// cutAtBadBatch ends a recovery scan of s that stopped at pos with err:
// nothing to do without an error, the segment truncated at pos after a
// data error (a torn or corrupt batch), err itself otherwise. It reports
// whether it truncated.
func (l *Log) cutAtBadBatch(s *segment, pos int64, err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	if !isDataError(err) {
		return false, err
	}
	l.logger.Warn("storage: recovery truncating log", "segment", s.base, "position", pos,
		"dropped_bytes", s.size-pos, "offset", s.next, "reason", err)
	return true, s.truncateFile(pos)
}

// untrusted reports whether err, from loading a segment's index files or
// reading its batches, means they cannot be trusted (missing, inconsistent
// or bad bytes) and are rebuilt, as opposed to an I/O failure.
func untrusted(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, errBadIndex) || isDataError(err)
}

// dropAfter deletes the segments after index i.
func (l *Log) dropAfter(i int) error {
	for _, s := range l.segs[i+1:] {
		l.logger.Warn("storage: recovery deleting segment after truncation point", "segment", s.base)
		if err := s.remove(); err != nil {
			return err
		}
	}
	l.segs = l.segs[:i+1]
	return nil
}

// finishLoad sets the offsets after the segments are loaded or recovered:
// LEO, log start, recovery point, epoch cache, index preallocation.
func (l *Log) finishLoad(startOffset int64) error {
	a := l.active()
	l.leo.Store(a.next)
	if startOffset > a.next {
		l.logger.Warn("storage: log start offset beyond the log end; restarting empty", "log_start", startOffset, "leo", a.next)
		return l.restartAt(startOffset)
	}
	l.logStart.Store(max(startOffset, l.segs[0].base))
	l.recoveryPoint.Store(a.next)
	if err := l.deleteSegmentsBelowStart(); err != nil {
		return err
	}
	if err := l.truncateEpochs(); err != nil {
		return err
	}
	a.rollBase = l.loadedRollBase(a)
	return a.persistIndexes(l.cfg.SegmentIndexBytes, false)
}

// loadedRollBase picks the segment.ms base of a reopened active segment:
// the first batch's timestamp when sane, else now.
func (l *Log) loadedRollBase(s *segment) int64 {
	now := l.nowMs()
	if s.size == 0 {
		return -1
	}
	h, err := s.readHeaderAt(0)
	if err != nil || h.MaxTimestamp < 0 || h.MaxTimestamp > now {
		return now
	}
	return h.MaxTimestamp
}

// truncateEpochs drops epoch entries outside [log start, LEO].
func (l *Log) truncateEpochs() error {
	end := l.epochs.truncateFromEnd(l.LogEndOffset())
	start := l.epochs.truncateFromStart(l.LogStartOffset())
	if end || start {
		return l.epochs.persist()
	}
	return nil
}
