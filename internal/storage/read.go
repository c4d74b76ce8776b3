package storage

import (
	"errors"
	"fmt"
	"io"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/vfs"
)

// ReadInfo is the result of a Read.
type ReadInfo struct {
	// Bytes holds whole batches, concatenated, exactly as stored. The
	// caller owns it.
	Bytes []byte
}

// Range is whole batches of one segment file, exactly as stored: Size
// bytes at Pos of File. It lets a fetch response send stored bytes
// straight from the file (sendfile) after the log's lock is released, so
// its reader must expect what may happen meanwhile:
//
//   - the segment is deleted or replaced (retention, compaction, the
//     partition leaving the node) and File closed: reads fail with
//     os.ErrClosed (the fetch's connection closes, as Kafka's does);
//   - the log is truncated (only when a leader becomes a follower): the
//     bytes may be shorter than Size, or be the new log's batches at those
//     positions, the last one possibly cut short. Followers and consumers
//     drop a trailing partial batch, as Kafka's do.
//
// Appends never change bytes inside a Range. The zero Range is empty.
type Range struct {
	File vfs.File
	Pos  int64
	Size int
	// Data, when not nil, is a copy of the range's Size bytes, taken
	// under the log's lock because locating the range had them in
	// memory already (a small read at the tail, the common follower and
	// consumer fetch): the caller sends it instead of reading File again.
	Data []byte
}

// Bytes reads the range into a new slice (Data when the range has it).
func (r Range) Bytes() ([]byte, error) {
	if r.Size == 0 {
		return nil, nil
	}
	if r.Data != nil {
		return r.Data, nil
	}
	b := make([]byte, r.Size)
	if _, err := r.File.ReadAt(b, r.Pos); err != nil {
		return nil, err
	}
	return b, nil
}

// Read returns whole batches starting with the batch that contains offset,
// stopping before the first batch whose last offset is >= maxOffset (pass
// the high watermark for consumers, the LEO for followers) and before
// maxBytes would be exceeded — except that with minOneBatch the first
// batch is returned whole even when larger than maxBytes. Like Kafka, a read
// returns batches of one segment only; the next read continues in the next.
//
// offset == LEO, or offset >= maxOffset, returns no bytes and no error.
// offset below the log start or above the LEO returns ErrOffsetOutOfRange.
// Safe to call concurrently with appends.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64, minOneBatch bool) (ReadInfo, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	r, err := l.rangeLocked(offset, maxBytes, maxOffset, minOneBatch)
	if err != nil || r.Size == 0 {
		return ReadInfo{}, err
	}
	b, err := r.Bytes()
	if err != nil {
		return ReadInfo{}, l.fail("read", err)
	}
	return ReadInfo{Bytes: b}, nil
}

// ReadRange is Read without reading: it locates the batches Read would
// return and leaves reading them to the caller (see Range). Its cost does
// not grow with the bytes located: an offset index lookup and a few
// batch headers at each end.
func (l *Log) ReadRange(offset int64, maxBytes int, maxOffset int64, minOneBatch bool) (Range, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.rangeLocked(offset, maxBytes, maxOffset, minOneBatch)
}

// rangeLocked is ReadRange with l.mu held.
func (l *Log) rangeLocked(offset int64, maxBytes int, maxOffset int64, minOneBatch bool) (Range, error) {
	if err := l.usable(); err != nil {
		return Range{}, err
	}
	leo := l.LogEndOffset()
	if offset < l.LogStartOffset() || offset > leo {
		return Range{}, fmt.Errorf("%w: offset %d, log [%d, %d]", ErrOffsetOutOfRange, offset, l.LogStartOffset(), leo)
	}
	maxOffset = min(maxOffset, leo)
	if offset >= maxOffset {
		return Range{}, nil
	}
	for i := l.segmentFor(offset); i < len(l.segs); i++ {
		r, found, err := l.rangeInSegment(l.segs[i], offset, maxBytes, maxOffset, minOneBatch)
		if err != nil || found {
			return r, err
		}
	}
	return Range{}, nil
}

// rangeInSegment locates a read in one segment; found is false when no
// batch of the segment reaches offset (the caller moves to the next one).
// One header scanner serves both ends of the range, and when the range
// lies in the bytes it read, they are copied into Range.Data: a read at
// the tail then costs one read of the file, not three.
func (l *Log) rangeInSegment(s *segment, offset int64, maxBytes int, maxOffset int64, minOne bool) (Range, bool, error) {
	sc := newHeaderScanner(s.f, l.scanFrom(s, offset), s.size)
	defer sc.release()
	start, h, found, err := l.locate(s, sc, offset)
	if err != nil || !found {
		return Range{}, found, err
	}
	if h.LastOffset() >= maxOffset || (h.Size() > maxBytes && !minOne) {
		return Range{}, true, nil
	}
	limit := start + max(int64(maxBytes), int64(h.Size()))
	end, err := l.batchesEnd(s, sc, start, limit, maxOffset)
	if err != nil {
		return Range{}, true, err
	}
	r := Range{File: s.f, Pos: start, Size: int(end - start)}
	if b, ok := sc.buffered(start, r.Size); ok && r.Size > 0 {
		r.Data = append([]byte(nil), b...)
	}
	return r, true, nil
}

// scanFrom is where a walk of s's headers towards offset starts: the
// offset index's position for it.
func (l *Log) scanFrom(s *segment, offset int64) int64 {
	if rel := offset - s.base; rel > 0 {
		return s.offIdx.lookup(int32(min(rel, maxRelativeOffset)))
	}
	return 0
}

// batchesEnd returns the end of the whole batches from start (a batch
// boundary) that end at or before limit and whose last offsets are below
// maxOffset. It moves sc to the last offset index entry that satisfies
// both bounds and walks headers from there, so it reads at most about one
// index interval of headers plus a batch (nothing when sc holds them).
func (l *Log) batchesEnd(s *segment, sc *scanner, start, limit, maxOffset int64) (int64, error) {
	sc.seek(max(start, s.offIdx.lastWithin(limit, maxOffset-s.base)))
	for {
		pos, h, _, err := sc.next()
		switch {
		case err == io.EOF:
			return pos, nil
		case err != nil:
			return 0, l.fail("read", fmt.Errorf("segment %d position %d: %w", s.base, pos, err))
		case h.LastOffset() >= maxOffset || pos+int64(h.Size()) > limit:
			return pos, nil
		}
	}
}

// locate finds, walking sc's headers (started by scanFrom), the first
// batch of s whose last offset is >= offset.
func (l *Log) locate(s *segment, sc *scanner, offset int64) (int64, record.Header, bool, error) {
	for {
		pos, h, _, err := sc.next()
		if err == io.EOF {
			return 0, h, false, nil
		}
		if err != nil {
			return 0, h, false, l.fail("read", fmt.Errorf("segment %d position %d: %w", s.base, pos, err))
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
	}
}

// OffsetForTimestamp returns the earliest offset whose record timestamp
// is >= ts, and that timestamp; found is false when no record has such a
// timestamp. It picks the first segment whose largest timestamp reaches
// ts, narrows the search with the time and offset indexes, walks batch
// headers to the first batch whose maxTimestamp reaches ts, and decodes
// only that batch's records. Records below the log start are skipped.
// The special timestamps -1 (latest) and -2 (earliest) are the caller's.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return 0, 0, false, err
	}
	for _, s := range l.segs {
		if s.maxTs < ts || s.size == 0 {
			continue
		}
		off, t, ok, err := l.searchTime(s, ts)
		if err != nil || ok {
			return off, t, ok, err
		}
	}
	return -1, -1, false, nil
}

// searchTime returns the first record in s at or above the log start
// whose timestamp is >= ts.
func (l *Log) searchTime(s *segment, ts int64) (int64, int64, bool, error) {
	from := int64(0)
	if rel, ok := s.timeIdx.lookupBelow(ts); ok {
		from = s.offIdx.lookup(rel)
	}
	sc := newHeaderScanner(s.f, from, s.size)
	defer sc.release()
	for {
		pos, h, _, err := sc.next()
		if err == io.EOF {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, l.fail("timestamp lookup", fmt.Errorf("segment %d position %d: %w", s.base, pos, err))
		}
		if h.MaxTimestamp < ts || h.LastOffset() < l.LogStartOffset() {
			continue
		}
		off, t, ok, err := l.searchBatch(s, pos, h, ts)
		if err != nil || ok {
			return off, t, ok, err
		}
	}
}

// searchBatch decodes the records of the batch at pos to find the first
// one at or above the log start whose timestamp is >= ts. A CRC mismatch
// in stored data fails the log; a batch that does not decode (e.g. bad
// compressed data accepted from a producer) is an error for this call only.
func (l *Log) searchBatch(s *segment, pos int64, h record.Header, ts int64) (int64, int64, bool, error) {
	buf := make([]byte, h.Size())
	if _, err := s.f.ReadAt(buf, pos); err != nil {
		return 0, 0, false, l.fail("timestamp lookup", err)
	}
	recs, err := record.Records(buf)
	if errors.Is(err, record.ErrCorrupt) {
		return 0, 0, false, l.fail("timestamp lookup", fmt.Errorf("segment %d position %d: %w", s.base, pos, err))
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("storage: timestamp lookup in batch at offset %d: %w", h.BaseOffset, err)
	}
	for _, r := range recs {
		off, t := h.BaseOffset+int64(r.OffsetDelta), h.BaseTimestamp+r.TimestampDelta
		if h.LogAppendTime() {
			t = h.MaxTimestamp
		}
		if t >= ts && off >= l.LogStartOffset() {
			return off, t, true, nil
		}
	}
	return 0, 0, false, nil
}
