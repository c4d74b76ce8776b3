package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
)

// Log is one partition's replica log.
//
// Concurrency contract: the mutating methods (appends, AppendAbortedTxn,
// truncations, retention, SetLogStartOffset, UpdateConfig, Flush, Close,
// Delete) are called by one goroutine at a time — the partition layer
// serializes them. Read, OffsetForTimestamp, CollectAbortedTxns, the offset
// getters, Size, Err and the epoch queries may be called from any
// goroutine concurrently with them.
type Log struct {
	fs     vfs.FS // Options.FS
	dir    string
	logger *slog.Logger
	now    func() time.Time

	// mu guards everything below it; mutators hold it exclusively,
	// readers shared. Never held while calling out of the package.
	mu        sync.RWMutex
	cfg       Config
	segs      []*segment // by base offset; the last is the active segment
	epochs    *epochCache
	lastFlush int64 // ms
	closed    bool
	// unborn is set while a lazily opened log has no files (Options.Lazy):
	// it is empty, its one segment has no file, and epoch changes are kept
	// in memory until materialize writes them with the first batch.
	unborn   bool
	onCreate func(dir string) error

	// Readable without mu.
	leo           atomic.Int64
	logStart      atomic.Int64
	recoveryPoint atomic.Int64
	failure       atomic.Pointer[error]
	onFailure     func(error)  // Options.OnFailure
	persistStart  func() error // Options.PersistLogStart

	cleaner cleanerState // log compaction (compact.go); not guarded by mu

	// reshapes counts the changes that rewrite or drop segment bytes
	// (truncation, restart, compaction swaps), under mu; flushes tracks
	// the background flushes of rolled segments (rollflush.go).
	reshapes uint64
	flushes  sync.WaitGroup

	// written counts the bytes appended since the log was opened, under
	// mu; flushedMark is its value when the last flush began
	// (tailflush.go).
	written     atomic.Int64
	flushedMark atomic.Int64

	snaps []int64 // offsets of the producer-state snapshots, ascending (snapshot.go); under mu

	syncMu sync.Mutex // serialises SyncTo's flushes (tailflush.go)
}

// Open opens or creates the log in dir (dir is <log.dir>/<topic>-<partition>).
//
// Unless opts.Clean, it recovers: it scans every batch from the segment
// holding opts.RecoveryPoint to the end, validating each (length, CRC-32C,
// magic, increasing offsets), truncates at the first torn or corrupt batch,
// drops any later segments, rebuilds the indexes of the scanned segments and
// fsyncs the result. Index files found missing or inconsistent are rebuilt
// in either case. The log start offset is max(opts.LogStartOffset, first
// segment base); when it lies beyond the recovered end the log restarts
// empty there.
func Open(dir string, opts Options) (*Log, error) {
	l := &Log{fs: opts.FS, dir: dir, logger: opts.Logger, now: opts.Now, cfg: opts.Config.normalized(), onFailure: opts.OnFailure,
		persistStart: opts.PersistLogStart}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	l.logger = l.logger.With("log", dir)
	if l.now == nil {
		l.now = time.Now
	}
	if l.fs == nil {
		l.fs = vfs.Default
	}
	l.lastFlush = l.nowMs()
	if opts.Lazy {
		if _, err := l.fs.Stat(dir); errors.Is(err, os.ErrNotExist) {
			l.onCreate = opts.OnCreate
			l.initUnborn(max(opts.LogStartOffset, 0))
			return l, nil
		}
	}
	if err := vfs.MkdirAllSynced(l.fs, dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	if err := l.load(opts); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	return l, nil
}

func (l *Log) nowMs() int64 { return l.now().UnixMilli() }

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// segmentFor returns the index of the segment holding offset: the last one
// whose base is <= offset (0 when offset is below every base).
func (l *Log) segmentFor(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	return max(i-1, 0)
}

// segmentEnd is the offset after segment i's data.
func (l *Log) segmentEnd(i int) int64 {
	if i+1 < len(l.segs) {
		return l.segs[i+1].base
	}
	return l.segs[i].next
}

// fail records err as the log's sticky failure (the first one wins),
// tells Options.OnFailure, and returns the error callers see from now on.
func (l *Log) fail(op string, err error) error {
	wrapped := fmt.Errorf("%w: %s: %s: %w", ErrLogFailed, l.dir, op, err)
	if l.failure.CompareAndSwap(nil, &wrapped) {
		l.logger.Error("storage: log failed, stopping it", "op", op, "err", err)
		if l.onFailure != nil {
			l.onFailure(wrapped)
		}
	}
	return *l.failure.Load()
}

// Err returns nil, or the sticky failure (wrapping ErrLogFailed).
func (l *Log) Err() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// usable returns the error a call must fail with, if any; mu must be held.
func (l *Log) usable() error {
	if err := l.Err(); err != nil {
		return err
	}
	if l.closed {
		return ErrClosed
	}
	return nil
}

// LogStartOffset returns the first offset a reader may ask for.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset returns the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// RecoveryPoint returns the offset below which every batch is fsynced.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the config in force (after clamping).
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// UpdateConfig replaces the topic config. Index preallocation sizes apply
// from the next segment on.
func (l *Log) UpdateConfig(c Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = c.normalized()
}

// Size returns the bytes held by all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.sizeLocked()
}

func (l *Log) sizeLocked() int64 {
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// SegmentInfo describes one segment (for tests and tooling).
type SegmentInfo struct {
	BaseOffset, NextOffset int64
	Size                   int64
	MaxTimestamp           int64
	IndexEntries           int
	TimeIndexEntries       int
}

// Segments describes the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{s.base, l.segmentEnd(i), s.size, s.maxTs, s.offIdx.count(), s.timeIdx.count()}
	}
	return out
}

// Flush fsyncs every batch up to the log end offset, and the index files
// and directory with it, then moves the recovery point to the LEO.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.flushLocked()
}

func (l *Log) flushLocked() error {
	if l.unborn { // nothing on disk, nothing to flush
		l.lastFlush = l.nowMs()
		return nil
	}
	for i := l.segmentFor(l.RecoveryPoint()); i < len(l.segs); i++ {
		if err := l.syncSegment(l.segs[i], i == len(l.segs)-1); err != nil {
			return l.fail("flush", err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("flush", err)
	}
	l.recoveryPoint.Store(l.LogEndOffset())
	l.flushedMark.Store(l.written.Load())
	l.lastFlush = l.nowMs()
	return nil
}

// syncSegment fsyncs a segment's .log and .txnindex and writes and fsyncs
// its indexes (preallocated when it is the active segment, trimmed
// otherwise).
func (l *Log) syncSegment(s *segment, active bool) error {
	if err := s.sync(); err != nil {
		return err
	}
	if err := s.syncTxns(); err != nil {
		return err
	}
	if !s.offIdx.dirty() && !s.timeIdx.dirty() {
		return nil
	}
	prealloc := int64(0)
	if active {
		prealloc = l.cfg.SegmentIndexBytes
	}
	return s.persistIndexes(prealloc, true)
}

// maybeFlush flushes when flush.messages or flush.ms says so.
func (l *Log) maybeFlush() error {
	if l.flushDue() {
		return l.flushLocked()
	}
	return nil
}

// flushDue reports whether flush.messages or flush.ms asks for a flush.
// mu must be held.
func (l *Log) flushDue() bool {
	unflushed := l.LogEndOffset() - l.RecoveryPoint()
	return unflushed > 0 && (unflushed >= l.cfg.FlushMessages || l.nowMs()-l.lastFlush >= l.cfg.FlushMs)
}

// Close flushes the log, writes trimmed index files (with a final time
// index entry, as Kafka does) and closes the files. Closing a failed log
// closes its files without flushing and returns the failure. Later calls
// return ErrClosed.
func (l *Log) Close() error {
	defer l.flushes.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	err := l.Err()
	if err == nil {
		err = l.closeCleanly()
	}
	l.closeFiles()
	return err
}

func (l *Log) closeCleanly() error {
	if l.unborn {
		return nil
	}
	a := l.active()
	a.sealTimeIndex()
	if err := a.persistIndexes(0, true); err != nil {
		return l.fail("close", err)
	}
	return l.flushLocked()
}

// closeFiles closes every segment file; mu must be held (or l unpublished).
func (l *Log) closeFiles() {
	for _, s := range l.segs {
		if s.f == nil { // an unborn log's segment
			continue
		}
		if err := s.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			l.logger.Warn("storage: closing segment", "base", s.base, "err", err)
		}
	}
	l.closed = true
}

// Delete closes the log without flushing and removes its directory. For a
// log a Manager loaded, use Manager.Remove, which also forgets it.
func (l *Log) Delete() error {
	defer l.flushes.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closeFiles()
	}
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("storage: delete %s: %w", l.dir, err)
	}
	return nil
}
