package storage

import (
	"errors"
	"os"
	"slices"

	"github.com/fjordlog/fjord/internal/vfs"
)

// Flushing rolled segments off the append path (issue 12): a roll only
// writes the sealed segment's trimmed indexes and creates the new
// segment's files; the fsyncs that let the recovery point move to the new
// base (the old segments' .log and index files, then the directory) run on
// a goroutine, as Kafka's scheduler flushes up to the new segment after a
// roll. No append waits for them.
//
// Until that flush finishes the recovery point stays where it was, so a
// crash meanwhile recovers those segments by scanning them: exactly the
// state before the roll. The flush raises the recovery point only if the
// segments it synced are still the log's below the new base (no
// truncation, compaction swap or restart happened meanwhile: l.reshapes is
// unchanged); otherwise a later flush or roll covers them. A failed fsync
// of a segment the log still holds fails the log (fail-stop); one of a
// segment retention deleted meanwhile is ignored.

// rolledSegment is a segment to flush, with its file, size and
// aborted-transaction index state taken under l.mu.
type rolledSegment struct {
	s           *segment
	f           vfs.File
	size        int64
	txns        int  // entries in its .txnindex
	txnUnsynced bool // the .txnindex needs an fsync
}

// toFlush describes s for a flush that runs without l.mu; mu must be held.
func toFlush(s *segment) rolledSegment {
	return rolledSegment{s, s.f, s.size, len(s.txn.entries), s.txn.unsynced}
}

// flushRolledAsync starts the flush of every segment below base not yet
// covered by the recovery point. Called by roll with mu held.
func (l *Log) flushRolledAsync(base int64) {
	var segs []rolledSegment
	for i := l.segmentFor(l.RecoveryPoint()); i < len(l.segs) && l.segs[i].base < base; i++ {
		segs = append(segs, toFlush(l.segs[i]))
	}
	reshapes := l.reshapes
	l.flushes.Add(1)
	go func() {
		defer l.flushes.Done()
		l.finishRolledFlush(base, reshapes, segs, rolledSync(l, segs))
	}()
}

// rolledSync is syncRolled; tests replace it to hold a flush.
var rolledSync = syncRolled

// syncRolled fsyncs each segment's .log and index files, then l's
// directory; errs[i] is segment i's error, errs[len(segs)] the
// directory's. It runs without l.mu: it reads only l.fs and l.dir, which
// never change.
func syncRolled(l *Log, segs []rolledSegment) []error {
	errs := make([]error, len(segs)+1)
	for i, r := range segs {
		errs[i] = syncSegmentFiles(r)
	}
	errs[len(segs)] = l.fs.SyncDir(l.dir)
	return errs
}

// syncSegmentFiles fsyncs a sealed segment's .log, .index and .timeindex,
// and its .txnindex when it had unsynced entries.
func syncSegmentFiles(r rolledSegment) error {
	if err := r.f.Sync(); err != nil {
		return err
	}
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		if err := vfs.SyncFile(r.s.fs, r.s.path(suffix)); err != nil {
			return err
		}
	}
	if r.txnUnsynced {
		return syncTxnFile(r.s.fs, r.s.path(txnIndexSuffix))
	}
	return nil
}

// finishRolledFlush applies a rolled (or tail) flush's outcome under mu:
// it fails the log on an error that concerns what the log still holds,
// and raises the recovery point to base when the synced segments are
// still the log's segments below base.
func (l *Log) finishRolledFlush(base int64, reshapes uint64, segs []rolledSegment, errs []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.Err() != nil {
		return
	}
	if err := l.rolledFlushError(segs, errs); err != nil {
		l.fail("flush rolled segment", err)
		return
	}
	if l.reshapes != reshapes || base > l.LogEndOffset() {
		return
	}
	for _, r := range segs {
		if r.s.size == r.size { // nothing was appended to it since
			r.s.unsynced = false
		}
		if r.txnUnsynced && len(r.s.txn.entries) == r.txns { // no entry either
			r.s.txn.unsynced = false
		}
	}
	l.recoveryPoint.Store(max(l.RecoveryPoint(), base))
}

// rolledFlushError returns the first error of a segment the log still
// holds, or of the directory; mu must be held.
func (l *Log) rolledFlushError(segs []rolledSegment, errs []error) error {
	for i, r := range segs {
		if errs[i] != nil && slices.Contains(l.segs, r.s) {
			return errs[i]
		}
	}
	if err := errs[len(segs)]; err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
