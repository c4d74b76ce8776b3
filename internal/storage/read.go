package storage

import (
	"errors"
	"fmt"
	"io"

	"github.com/fjordlog/fjord/internal/record"
)

// ReadInfo is the result of a Read.
type ReadInfo struct {
	// Bytes holds whole batches, concatenated, exactly as stored. The
	// caller owns it.
	Bytes []byte
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
	if err := l.usable(); err != nil {
		return ReadInfo{}, err
	}
	leo := l.LogEndOffset()
	if offset < l.LogStartOffset() || offset > leo {
		return ReadInfo{}, fmt.Errorf("%w: offset %d, log [%d, %d]", ErrOffsetOutOfRange, offset, l.LogStartOffset(), leo)
	}
	maxOffset = min(maxOffset, leo)
	if offset >= maxOffset {
		return ReadInfo{}, nil
	}
	for i := l.segmentFor(offset); i < len(l.segs); i++ {
		b, found, err := l.readSegment(l.segs[i], offset, maxBytes, maxOffset, minOneBatch)
		if err != nil || found {
			return ReadInfo{Bytes: b}, err
		}
	}
	return ReadInfo{}, nil
}

// readSegment reads from one segment; found is false when no batch of the
// segment reaches offset (the caller moves to the next segment).
func (l *Log) readSegment(s *segment, offset int64, maxBytes int, maxOffset int64, minOne bool) ([]byte, bool, error) {
	start, h, found, err := l.locate(s, offset)
	if err != nil || !found {
		return nil, found, err
	}
	if h.LastOffset() >= maxOffset || (h.Size() > maxBytes && !minOne) {
		return nil, true, nil
	}
	want := max(min(int64(maxBytes), s.size-start), int64(h.Size()))
	buf := make([]byte, want)
	if _, err := s.f.ReadAt(buf, start); err != nil {
		return nil, true, l.fail("read", err)
	}
	return buf[:wholeBatches(buf, maxOffset)], true, nil
}

// locate finds the first batch of s whose last offset is >= offset: it
// starts at the offset index's position for offset and walks headers.
func (l *Log) locate(s *segment, offset int64) (int64, record.Header, bool, error) {
	from := int64(0)
	if rel := offset - s.base; rel > 0 {
		from = s.offIdx.lookup(int32(min(rel, maxRelativeOffset)))
	}
	sc := newHeaderScanner(s.f, from, s.size)
	defer sc.release()
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

// wholeBatches returns the length of the prefix of b made of whole batches
// whose last offset is < maxOffset. b starts at a batch boundary and its
// first batch is whole.
func wholeBatches(b []byte, maxOffset int64) int {
	n := 0
	for n < len(b) {
		h, err := record.ParseHeader(b[n:])
		if err != nil || n+h.Size() > len(b) || (n > 0 && h.LastOffset() >= maxOffset) {
			break
		}
		n += h.Size()
	}
	return n
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
