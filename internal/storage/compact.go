package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordlog/fjord/internal/record"
)

// Log compaction (cleanup.policy=compact), the job of Kafka's log cleaner.
//
// Compact works on the cleanable range: the closed segments, oldest first,
// that lie wholly below the high watermark, stopping at the first one whose
// largest timestamp is younger than min.compaction.lag.ms. It runs when the
// dirty ratio — bytes of cleanable segments at or after the cleaner
// checkpoint over bytes of all cleanable segments — reaches
// min.cleanable.dirty.ratio. Then:
//
//  1. It decodes every batch of the range and maps each record key to the
//     offset of its latest record (keys of the whole range, not only of the
//     dirty part, so correctness never depends on the checkpoint). It also
//     notes each producer id's last data batch. A record of a transaction
//     enters the map only when the transaction's COMMIT marker follows in
//     the range: a record of an aborted transaction, or of one still open
//     at the end of the range (the caller may pass the high watermark,
//     which can lie above the last stable offset), never supersedes
//     another record. Control records never enter it.
//  2. It rewrites each segment, oldest first, into <base>.log.cleaned:
//     a record survives when its key is null, or no later record of the key
//     exists in the range, and — for a tombstone (null value) — when its
//     segment's largest timestamp is at most delete.retention.ms old. A
//     batch whose records all survive is copied byte for byte; a batch that
//     lost some is re-encoded (record.RebuildBatch) with the same header —
//     base offset, lastOffsetDelta, timestamps, producer fields, leader
//     epoch, attributes and codec — and a new CRC; a batch that lost all is
//     dropped, except the last data batch of a producer id, kept empty so
//     the producer's sequence state survives a rebuild from the log.
//     Control batches (transaction markers), and batches whose records do
//     not decode, are copied unchanged: compaction never drops a marker.
//     A segment in which nothing changes is not rewritten.
//  3. It writes the cleaned segment's indexes (*.index.cleaned,
//     *.timeindex.cleaned), fsyncs all three, and swaps them in under the
//     log's write lock: rename each *.cleaned to *.swap — the .log last, so
//     a <base>.log.swap marks a committed swap — fsync the directory, rename
//     each *.swap over its final name (the .log last), fsync again. A
//     cleaned segment left with no batch is deleted instead, unless it is
//     the first segment (the log start offset never moves) or has
//     aborted-transaction entries. The cleaned segment has the same base
//     offset, so it keeps the original's .txnindex file and entries.
//
// Offsets never change; compaction only leaves gaps, inside batches and
// between them (so AppendAsFollower accepts increasing, non-contiguous
// batches when the log's config has Compact). The log start offset, the
// log end offset, the active segment and everything at or above the high
// watermark are untouched. A cleaned .log keeps the original's
// modification time, which retention uses for segments without
// timestamps.
//
// Crash safety: Open (finishCleanerSwaps) deletes every *.cleaned file,
// completes the swap of every segment that has a <base>.log.swap, and
// deletes other *.swap files, so the log holds either the old or the
// cleaned version of each segment. Segments are cleaned oldest first, so an
// interrupted run never drops a tombstone while an older value of its key
// survives in an earlier segment.
//
// Concurrency: Compact runs concurrently with appends, reads and the other
// mutators. It reads segment files under the log's read lock, one block at
// a time, checking the segment is still closed and unchanged; writes the
// cleaned copy with no lock held; and takes the write lock only for the
// swap, after checking again. If a truncation, retention or restart removed
// or changed a segment meanwhile, the run stops (without error) and leaves
// the rest for the next call. Compact calls are serialized by their own
// mutex, taken before Log.mu.
//
// Memory: the key map holds every distinct key of the cleanable range
// (Kafka bounds its map with log.cleaner.dedupe.buffer.size and cleans in
// several passes; we do not yet).

// File suffixes of a cleaning in progress, added after the segment suffix.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// cleanedWriteBuf is the write buffer of a cleaned segment.
const cleanedWriteBuf = 1 << 20

// errSegmentChanged: a segment being cleaned was removed, truncated or
// became active again; the run stops and the next call starts over.
var errSegmentChanged = errors.New("storage: segment changed during compaction")

// cleanerState is a Log's compaction state.
type cleanerState struct {
	mu         sync.Mutex   // serializes Compact; taken before Log.mu
	checkpoint atomic.Int64 // the log is clean below this offset
}

// CompactStats describes one Compact call.
type CompactStats struct {
	DirtyRatio        float64 // dirty / cleanable bytes at the start; 0 when nothing is cleanable
	Cleaned           bool    // a cleaning ran (the ratio reached min.cleanable.dirty.ratio)
	SegmentsRewritten int     // segments replaced by their cleaned copy
	SegmentsDeleted   int     // segments left with no batch and deleted
	BytesBefore       int64   // bytes of the cleanable range before
	BytesAfter        int64   // and after
	RecordsRemoved    int64   // records removed, tombstones included
	TombstonesRemoved int64
	BatchesRemoved    int64
	CleanedTo         int64 // the cleaner checkpoint after the call
}

// CleanerCheckpoint returns the offset below which the log was cleaned
// (Kafka's cleaner-offset-checkpoint); 0 before the first cleaning.
func (l *Log) CleanerCheckpoint() int64 { return l.cleaner.checkpoint.Load() }

// SetCleanerCheckpoint restores the cleaner checkpoint (e.g. from a
// checkpoint file). It only steers when cleaning is due.
func (l *Log) SetCleanerCheckpoint(offset int64) { l.cleaner.checkpoint.Store(max(offset, 0)) }

// Compact cleans the log as described above when cleanup.policy includes
// compact and the dirty ratio of the cleanable range (closed segments below
// hw and older than min.compaction.lag.ms) reaches min.cleanable.dirty.ratio.
// It is meant to be called periodically, like ApplyRetention, from any
// goroutine; see the concurrency notes above.
//
// Errors: ErrClosed when the log is closed; I/O errors and corrupt stored
// batches fail the log (ErrLogFailed), like every storage error. A run cut
// short by a concurrent truncation or retention returns no error.
func (l *Log) Compact(hw int64) (CompactStats, error) {
	l.cleaner.mu.Lock()
	defer l.cleaner.mu.Unlock()
	p, err := l.planCompaction(hw)
	st := CompactStats{DirtyRatio: p.ratio, CleanedTo: l.CleanerCheckpoint()}
	if err != nil || !p.due() {
		return st, err
	}
	st.Cleaned = true
	err = l.runCompaction(p, &st)
	if errors.Is(err, errSegmentChanged) {
		l.logger.Info("storage: compaction stopped: the log changed under it")
		return st, nil
	}
	if err != nil {
		return st, err
	}
	l.cleaner.checkpoint.Store(p.end)
	st.CleanedTo = p.end
	l.logger.Info("storage: compacted log", "cleaned_to", p.end, "dirty_ratio", p.ratio,
		"bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter, "records_removed", st.RecordsRemoved,
		"tombstones_removed", st.TombstonesRemoved, "segments_rewritten", st.SegmentsRewritten,
		"segments_deleted", st.SegmentsDeleted)
	return st, nil
}

// cleanTarget is a cleanable segment as planned.
type cleanTarget struct {
	s         *segment
	size      int64
	largestTs int64     // for delete.retention.ms
	modTime   time.Time // kept by the cleaned copy (retention of timestamp-less segments)
}

// compactPlan is what one Compact call works on.
type compactPlan struct {
	cfg     Config
	now     int64
	targets []cleanTarget
	end     int64 // offset after the cleanable range
	ratio   float64
}

func (p *compactPlan) due() bool {
	return p.cfg.Compact && p.ratio > 0 && p.ratio >= p.cfg.MinCleanableDirtyRatio
}

// planCompaction picks the cleanable segments and computes the dirty ratio.
func (l *Log) planCompaction(hw int64) (*compactPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := &compactPlan{cfg: l.cfg, now: l.nowMs()}
	if err := l.usable(); err != nil || !p.cfg.Compact {
		return p, err
	}
	for i := 0; i < len(l.segs)-1 && l.segmentEnd(i) <= hw; i++ {
		s := l.segs[i]
		ts := s.largestTimestamp()
		// An empty segment (left so by an earlier cleaning) is never
		// too young.
		if lag := p.cfg.MinCompactionLagMs; lag > 0 && s.size > 0 && p.now-ts < lag {
			break
		}
		st, err := s.f.Stat()
		if err != nil {
			return p, l.fail("compact", err)
		}
		p.targets = append(p.targets, cleanTarget{s: s, size: s.size, largestTs: ts, modTime: st.ModTime()})
		p.end = l.segmentEnd(i)
	}
	p.ratio = l.dirtyRatio(p)
	return p, nil
}

// dirtyRatio returns the share of the planned bytes in segments that end
// after the cleaner checkpoint; mu must be held.
func (l *Log) dirtyRatio(p *compactPlan) float64 {
	if cp := l.CleanerCheckpoint(); cp > l.LogEndOffset() { // truncated below it
		l.cleaner.checkpoint.Store(l.LogEndOffset())
	}
	firstDirty := max(l.CleanerCheckpoint(), l.LogStartOffset())
	var dirty, total int64
	for i, t := range p.targets {
		total += t.size
		if l.segmentEnd(i) > firstDirty {
			dirty += t.size
		}
	}
	if total == 0 {
		return 0
	}
	return float64(dirty) / float64(total)
}

// cleaner is one compaction run.
type cleaner struct {
	log       *Log
	plan      *compactPlan
	st        *CompactStats
	keys      map[string]int64 // key -> offset of its latest record
	lastBatch map[int64]int64  // producer id -> base offset of its last data batch
	// openTxns holds, per producer id, the keys written by its
	// transaction not yet ended in the scan, until its marker decides
	// whether they enter keys.
	openTxns map[int64][]keyAt
}

// keyAt is a record key and the record's offset.
type keyAt struct {
	key    string
	offset int64
}

// segmentTally counts what cleaning one segment removed.
type segmentTally struct{ records, tombstones, batches int64 }

func (l *Log) runCompaction(p *compactPlan, st *CompactStats) error {
	c := &cleaner{log: l, plan: p, st: st, keys: map[string]int64{}, lastBatch: map[int64]int64{}, openTxns: map[int64][]keyAt{}}
	for _, t := range p.targets {
		st.BytesBefore += t.size
		if err := c.scanKeys(t); err != nil {
			return l.compactError(err)
		}
	}
	for _, t := range p.targets {
		if err := c.clean(t); err != nil {
			return l.compactError(err)
		}
	}
	return nil
}

// compactError classifies an error of a run: a changed segment or a
// closed log pass through; anything else fails the log.
func (l *Log) compactError(err error) error {
	if errors.Is(err, errSegmentChanged) || errors.Is(err, ErrLogFailed) {
		return err
	}
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed || errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	return l.fail("compact", err)
}

// scanKeys records the latest offset of every key in t whose record
// counts (see noteKeys), and the last data batch of every producer id.
func (c *cleaner) scanKeys(t cleanTarget) error {
	sc := newBatchScanner(segmentGuard{c.log, t}, t.size)
	for {
		pos, h, data, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("segment %d position %d: %w", t.s.base, pos, err)
		}
		if h.IsControl() {
			c.endTxn(h, data)
			continue
		}
		if h.ProducerID >= 0 {
			c.lastBatch[h.ProducerID] = h.BaseOffset
		}
		c.noteKeys(h, data)
	}
}

// noteKeys maps the keys of a data batch to their offsets; the keys of a
// transactional batch wait in openTxns for their transaction's marker.
func (c *cleaner) noteKeys(h record.Header, data []byte) {
	recs, err := record.Records(data)
	if err != nil {
		return // copied unchanged by clean, which logs it
	}
	for _, r := range recs {
		if r.Key == nil {
			continue
		}
		k := keyAt{string(r.Key), h.BaseOffset + int64(r.OffsetDelta)}
		if h.IsTransactional() {
			c.openTxns[h.ProducerID] = append(c.openTxns[h.ProducerID], k)
		} else {
			c.noteKey(k)
		}
	}
}

// noteKey records k unless its key already has a later record (a
// committed transaction's keys are noted at its marker, after later ones).
func (c *cleaner) noteKey(k keyAt) {
	if cur, ok := c.keys[k.key]; !ok || k.offset > cur {
		c.keys[k.key] = k.offset
	}
}

// endTxn ends the open transaction of the control batch's producer: on a
// COMMIT its keys are noted, on an ABORT forgotten. Other control batches,
// and a marker that does not decode, change nothing (the transaction's
// keys then stay out of the map).
func (c *cleaner) endTxn(h record.Header, data []byte) {
	m, ok, err := record.ParseMarker(data)
	if err != nil || !ok {
		return
	}
	keys := c.openTxns[h.ProducerID]
	delete(c.openTxns, h.ProducerID)
	if m.Commit {
		for _, k := range keys {
			c.noteKey(k)
		}
	}
}

// clean writes t's cleaned copy and swaps it in, unless nothing changed.
func (c *cleaner) clean(t cleanTarget) error {
	dir, base := c.log.dir, t.s.base
	f, err := c.log.fs.OpenFile(segmentPath(dir, base, logSuffix)+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	ns := newSegment(c.log.fs, dir, base, f, c.plan.cfg)
	installed := false
	defer func() {
		if !installed {
			f.Close()
			removeCleanedFiles(c.log.fs, dir, base)
		}
	}()
	tally, changed, err := c.copyKept(t, ns)
	if err != nil || !changed {
		c.st.BytesAfter += t.size
		return err
	}
	if err := c.finishCleaned(ns, t.modTime); err != nil {
		return err
	}
	outcome, err := c.log.installCleaned(t, c.plan.targets[len(c.plan.targets)-1], ns)
	installed = outcome == segmentSwapped
	if err == nil {
		c.count(outcome, ns.size, tally)
	}
	return err
}

func (c *cleaner) count(outcome cleanOutcome, size int64, t segmentTally) {
	if outcome == segmentDeleted {
		c.st.SegmentsDeleted++
	} else {
		c.st.SegmentsRewritten++
	}
	c.st.BytesAfter += size
	c.st.RecordsRemoved += t.records
	c.st.TombstonesRemoved += t.tombstones
	c.st.BatchesRemoved += t.batches
}

// copyKept writes the surviving batches of t to ns and reports whether
// anything was removed.
func (c *cleaner) copyKept(t cleanTarget, ns *segment) (segmentTally, bool, error) {
	var tally segmentTally
	w := bufio.NewWriterSize(segmentWriter{ns}, cleanedWriteBuf)
	expired := c.plan.now-t.largestTs > c.plan.cfg.DeleteRetentionMs
	changed := false
	sc := newBatchScanner(segmentGuard{c.log, t}, t.size)
	for {
		pos, h, data, err := sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return tally, false, fmt.Errorf("segment %d position %d: %w", t.s.base, pos, err)
		}
		out, same, err := c.filterBatch(h, data, expired, &tally)
		if err != nil {
			return tally, false, fmt.Errorf("segment %d batch %d: %w", t.s.base, h.BaseOffset, err)
		}
		changed = changed || !same
		if _, err := w.Write(out); err != nil {
			return tally, false, err
		}
	}
	return tally, changed, w.Flush()
}

// filterBatch returns the bytes to keep of one batch (nil: drop it) and
// whether they are the batch unchanged.
func (c *cleaner) filterBatch(h record.Header, data []byte, expired bool, tally *segmentTally) ([]byte, bool, error) {
	if h.IsControl() {
		return data, true, nil
	}
	recs, err := record.Records(data)
	if err != nil {
		c.log.logger.Warn("storage: compaction keeps a batch it cannot decode", "offset", h.BaseOffset, "err", err)
		return data, true, nil
	}
	kept := recs[:0]
	for _, r := range recs {
		if c.keep(h, r, expired) {
			kept = append(kept, r)
			continue
		}
		tally.records++
		if r.Value == nil {
			tally.tombstones++
		}
	}
	lastOfProducer := h.ProducerID >= 0 && c.lastBatch[h.ProducerID] == h.BaseOffset
	switch {
	case len(kept) == len(recs) && (len(recs) > 0 || lastOfProducer):
		return data, true, nil
	case len(kept) == 0 && !lastOfProducer:
		tally.batches++
		return nil, false, nil
	}
	b, err := record.RebuildBatch(h, kept)
	return b, false, err
}

// keep reports whether record r of the batch h survives.
func (c *cleaner) keep(h record.Header, r record.Record, tombstonesExpired bool) bool {
	if r.Key == nil {
		return true
	}
	if latest, ok := c.keys[string(r.Key)]; ok && latest > h.BaseOffset+int64(r.OffsetDelta) {
		return false
	}
	return r.Value != nil || !tombstonesExpired
}

// finishCleaned fsyncs the cleaned .log, gives it the original's
// modification time and writes its indexes to *.index.cleaned and
// *.timeindex.cleaned.
func (c *cleaner) finishCleaned(ns *segment, modTime time.Time) error {
	if err := ns.sync(); err != nil {
		return err
	}
	if err := ns.fs.Chtimes(ns.path(logSuffix)+cleanedSuffix, time.Time{}, modTime); err != nil {
		return err
	}
	if _, err := ns.rebuild(c.plan.cfg.IndexIntervalBytes, ns.base, false); err != nil {
		return err
	}
	ns.sealTimeIndex()
	ns.offIdx.stale, ns.timeIdx.stale = true, true // clear leftovers of the same name
	if err := ns.offIdx.persist(ns.fs, ns.path(indexSuffix)+cleanedSuffix, 0, true); err != nil {
		return err
	}
	return ns.timeIdx.persist(ns.fs, ns.path(timeIndexSuffix)+cleanedSuffix, 0, true)
}

// cleanOutcome is what installCleaned did.
type cleanOutcome int

const (
	segmentKept    cleanOutcome = iota // nothing: the segment changed meanwhile
	segmentSwapped                     // the cleaned copy replaced the segment
	segmentDeleted                     // the segment was left empty and deleted
)

// installCleaned swaps ns in for t's segment under the write lock, or
// deletes the segment when ns is empty, not the first and without
// aborted-transaction entries. The log uses ns's file from segmentSwapped
// on. last is the plan's last segment: the
// key map describes the whole plan, so a truncation into it (which
// changes or removes last) must stop the run, lest records be dropped in
// favour of records that no longer exist. (Retention only removes
// segments from the front, which leaves the map valid.)
func (l *Log) installCleaned(t, last cleanTarget, ns *segment) (cleanOutcome, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.indexOfClosed(last); err != nil && last.s != t.s {
		return segmentKept, err
	}
	i, err := l.indexOfClosed(t)
	if err != nil {
		return segmentKept, err
	}
	l.reshapes++
	if ns.size == 0 && i > 0 && len(t.s.txn.entries) == 0 {
		l.segs = append(l.segs[:i], l.segs[i+1:]...)
		if err := t.s.remove(); err != nil {
			return segmentDeleted, l.fail("compact: delete empty segment", err)
		}
		return segmentDeleted, syncDirOrFail(l, "compact: delete empty segment")
	}
	if err := commitCleaned(l.fs, l.dir, t.s.base); err != nil {
		return segmentKept, l.fail("compact: swap segment", err)
	}
	ns.txn = t.s.txn // same base offset: the .txnindex file stays as it is
	l.segs[i] = ns
	if err := t.s.f.Close(); err != nil {
		l.logger.Warn("storage: closing compacted segment", "base", t.s.base, "err", err)
	}
	return segmentSwapped, nil
}

func syncDirOrFail(l *Log, op string) error {
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(op, err)
	}
	return nil
}

// indexOfClosed returns the index of t's segment when it is still a
// closed segment of the planned size; mu must be held.
func (l *Log) indexOfClosed(t cleanTarget) (int, error) {
	if err := l.usable(); err != nil {
		return -1, err
	}
	i := l.segmentFor(t.s.base)
	if l.segs[i] != t.s || i == len(l.segs)-1 || t.s.size != t.size {
		return -1, errSegmentChanged
	}
	return i, nil
}

// segmentGuard reads a segment being cleaned, under the log's read lock,
// failing with errSegmentChanged once the segment changed.
type segmentGuard struct {
	l *Log
	t cleanTarget
}

func (g segmentGuard) ReadAt(p []byte, off int64) (int, error) {
	g.l.mu.RLock()
	defer g.l.mu.RUnlock()
	if _, err := g.l.indexOfClosed(g.t); err != nil {
		return 0, err
	}
	return g.t.s.f.ReadAt(p, off)
}

// segmentWriter appends to a segment's file.
type segmentWriter struct{ s *segment }

func (w segmentWriter) Write(p []byte) (int, error) {
	if err := w.s.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}
