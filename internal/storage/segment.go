package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/vfs"
)

// File name suffixes of a segment.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// segmentPath returns <dir>/<20-digit base><suffix>.
func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// segment is one .log file with its two indexes and its aborted
// transactions. The owning Log's mutex guards every field: appenders hold
// it exclusively, readers shared.
type segment struct {
	fs   vfs.FS
	dir  string
	base int64
	f    vfs.File // nil while the log is unborn

	size     int64 // bytes of whole batches in the file
	next     int64 // offset after the last batch; base when empty
	maxTs    int64 // largest batch maxTimestamp; -1 when none
	maxTsOff int64 // last offset of the batch carrying maxTs
	sinceIdx int64 // bytes appended since the last offset index entry
	rollBase int64 // ms; segment.ms counts from here (-1: not yet set)
	unsynced bool  // the .log file has bytes not yet fsynced

	offIdx  offsetIndex
	timeIdx timeIndex
	txn     txnIndex // aborted transactions (txnindex.go)
}

func newSegment(fs vfs.FS, dir string, base int64, f vfs.File, cfg Config) *segment {
	return &segment{
		fs: fs, dir: dir, base: base, f: f, next: base, maxTs: -1, maxTsOff: base, rollBase: -1,
		offIdx:  newOffsetIndex(cfg.SegmentIndexBytes),
		timeIdx: newTimeIndex(cfg.SegmentIndexBytes),
	}
}

// createSegment creates an empty segment at base with preallocated index
// files, replacing any files of that name.
func createSegment(fs vfs.FS, dir string, base int64, cfg Config) (*segment, error) {
	s := newSegment(fs, dir, base, nil, cfg)
	if err := s.createFiles(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// createFiles creates the files of an empty segment that has none yet
// (s.f is nil): the .log file and preallocated index files, replacing any
// files of those names (a leftover .txnindex is removed: the segment has
// no aborted transactions yet).
func (s *segment) createFiles(cfg Config) error {
	if err := s.removeTxnFile(); err != nil {
		return err
	}
	f, err := s.fs.OpenFile(s.path(logSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	s.offIdx.stale, s.timeIdx.stale = true, true // clear leftovers of the same name
	if err := s.persistIndexes(cfg.SegmentIndexBytes, false); err != nil {
		f.Close()
		return err
	}
	s.f = f
	return nil
}

// openSegment opens an existing .log file; its indexes still need loading.
func openSegment(fs vfs.FS, dir string, base int64, cfg Config) (*segment, error) {
	f, err := fs.OpenFile(segmentPath(dir, base, logSuffix), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := newSegment(fs, dir, base, f, cfg)
	s.size = st.Size()
	return s, nil
}

func (s *segment) path(suffix string) string { return segmentPath(s.dir, s.base, suffix) }

// indexBatch updates the segment's bookkeeping for a batch that starts at
// pos: next offset, largest timestamp and, every index.interval.bytes, an
// offset index entry and a time index entry.
func (s *segment) indexBatch(h record.Header, pos, interval int64) {
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp, h.LastOffset()
	}
	if s.sinceIdx > interval {
		s.offIdx.append(int32(h.LastOffset()-s.base), pos)
		s.timeIdx.maybeAppend(s.maxTs, int32(s.maxTsOff-s.base))
		s.sinceIdx = 0
	}
	s.sinceIdx += int64(h.Size())
	s.next = h.NextOffset()
}

// write appends whole batches at the end of the file (one pwrite).
func (s *segment) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := s.f.WriteAt(b, s.size); err != nil {
		return err
	}
	s.size += int64(len(b))
	s.unsynced = true
	return nil
}

// sealTimeIndex adds a final time index entry for the largest timestamp,
// as Kafka does when a segment stops being active, so a reload learns the
// segment's largest timestamp from the index alone: every segment but the
// active one is loaded without a scan (tryLoadIndexes) once it lies below
// the recovery point or after a clean shutdown, and OffsetForTimestamp
// skips a segment whose largest timestamp is below the one asked for.
func (s *segment) sealTimeIndex() {
	if s.maxTs >= 0 {
		s.timeIdx.maybeAppend(s.maxTs, int32(s.maxTsOff-s.base))
	}
}

// persistIndexes writes both index files (see indexBuf.persist).
func (s *segment) persistIndexes(prealloc int64, sync bool) error {
	if err := s.offIdx.persist(s.fs, s.path(indexSuffix), prealloc, sync); err != nil {
		return err
	}
	return s.timeIdx.persist(s.fs, s.path(timeIndexSuffix), prealloc, sync)
}

// sync fsyncs the .log file when it has unsynced bytes.
func (s *segment) sync() error {
	if !s.unsynced {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.unsynced = false
	return nil
}

// remove closes the segment and deletes its files.
func (s *segment) remove() error {
	var err error
	if s.f != nil {
		err = s.f.Close()
	}
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if rerr := s.fs.Remove(s.path(suffix)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// readHeaderAt decodes the batch header at pos.
func (s *segment) readHeaderAt(pos int64) (record.Header, error) {
	var b [record.HeaderSize]byte
	if pos+record.HeaderSize > s.size {
		return record.Header{}, record.ErrTruncated
	}
	if _, err := s.f.ReadAt(b[:], pos); err != nil {
		return record.Header{}, err
	}
	return record.ParseHeader(b[:])
}

// replayTail recomputes next, maxTs and sinceIdx by walking the batch
// headers after the last offset index entry; the indexes and maxTs must
// already describe everything before it. It returns a data error when the
// tail is not a sequence of whole batches.
func (s *segment) replayTail(interval int64) error {
	s.next, s.sinceIdx = s.base, 0
	if ts, rel := s.timeIdx.last(); ts > s.maxTs {
		s.maxTs, s.maxTsOff = ts, s.base+int64(rel)
	}
	sc := newHeaderScanner(s.f, s.offIdx.lastPos(), s.size)
	defer sc.release()
	for {
		pos, h, _, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if h.BaseOffset < s.next || h.LastOffset()-s.base > maxRelativeOffset {
			return errBadOffsets
		}
		s.indexBatch(h, pos, interval)
	}
}

// rebuild discards the indexes and recreates them from the batches,
// CRC-checking each when validate is set. It stops at the first batch that
// is torn, corrupt or whose offsets go backwards (from minOffset on) and
// returns that position with the data error; the caller truncates there.
// Like indexBatch, it adds time index entries only every
// index.interval.bytes: a caller rebuilding a segment that is not the
// active one must seal it (sealTimeIndex) before persisting the indexes.
func (s *segment) rebuild(interval, minOffset int64, validate bool) (int64, error) {
	s.offIdx.reset()
	s.timeIdx.reset()
	s.next, s.maxTs, s.maxTsOff, s.sinceIdx = s.base, -1, s.base, 0
	var sc *scanner
	if validate {
		sc = newBatchScanner(s.f, s.size)
	} else {
		sc = newHeaderScanner(s.f, 0, s.size)
		defer sc.release()
	}
	return s.indexAll(sc, interval, minOffset)
}

// indexAll indexes every batch sc yields (indexBatch) until the end of
// the file, returning s.size, or until the first batch that sc rejects or
// whose offsets go below minOffset or past the segment's relative range,
// returning its position with the data error.
func (s *segment) indexAll(sc *scanner, interval, minOffset int64) (int64, error) {
	minOffset = max(minOffset, s.base)
	for {
		pos, h, _, err := sc.next()
		if err == io.EOF {
			return s.size, nil
		}
		if err == nil && (h.BaseOffset < minOffset || h.LastOffset()-s.base > maxRelativeOffset) {
			err = fmt.Errorf("%w: batch %d..%d in segment %d", errBadOffsets, h.BaseOffset, h.LastOffset(), s.base)
		}
		if err != nil {
			return pos, err
		}
		s.indexBatch(h, pos, interval)
		minOffset = h.NextOffset()
	}
}

// truncateFile cuts the .log file at pos.
func (s *segment) truncateFile(pos int64) error {
	if err := s.f.Truncate(pos); err != nil {
		return err
	}
	s.size = pos
	s.unsynced = true
	return nil
}

// positionOf returns the position and base offset of the first batch whose
// base offset is >= offset (s.size and s.next when there is none).
func (s *segment) positionOf(offset int64) (int64, int64, error) {
	if offset <= s.base {
		return 0, s.base, nil
	}
	rel := int32(min(offset-1-s.base, maxRelativeOffset))
	sc := newHeaderScanner(s.f, s.offIdx.lookup(rel), s.size)
	defer sc.release()
	for {
		pos, h, _, err := sc.next()
		if err == io.EOF {
			return s.size, s.next, nil
		}
		if err != nil {
			return 0, 0, err
		}
		if h.BaseOffset >= offset {
			return pos, h.BaseOffset, nil
		}
	}
}

// truncateTo removes the batches whose base offset is >= offset (a batch
// that merely contains offset is kept) and fixes the indexes.
func (s *segment) truncateTo(offset, interval int64) error {
	pos, cut, err := s.positionOf(offset)
	if err != nil || pos == s.size {
		return err
	}
	if err := s.truncateFile(pos); err != nil {
		return err
	}
	s.offIdx.truncateToPos(pos)
	s.timeIdx.truncateToOffset(int32(cut - s.base))
	s.maxTs, s.maxTsOff = -1, s.base
	return s.replayTail(interval)
}

// largestTimestamp is the segment's largest record timestamp, or the
// file's modification time when no batch carries one (retention.ms).
func (s *segment) largestTimestamp() int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	if st, err := s.f.Stat(); err == nil {
		return st.ModTime().UnixMilli()
	}
	return -1
}
