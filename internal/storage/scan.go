package storage

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/fjordlog/fjord/internal/record"
)

// Scanner buffer sizes: reads only need headers near an index entry;
// recovery streams whole batches.
const (
	headerScanBuf   = 16 << 10
	recoveryScanBuf = 1 << 20
)

var headerBufPool = sync.Pool{New: func() any { b := make([]byte, headerScanBuf); return &b }}

// errBadOffsets reports stored batches whose offsets go backwards or do not
// fit the segment; recovery treats it like a corrupt batch.
var errBadOffsets = errors.New("storage: batch offsets out of order")

// isDataError reports whether err describes bad bytes in a segment (as
// opposed to an I/O failure reading them).
func isDataError(err error) bool {
	return errors.Is(err, record.ErrTruncated) || errors.Is(err, record.ErrCorrupt) ||
		errors.Is(err, record.ErrInvalid) || errors.Is(err, errBadOffsets)
}

// scanner walks the batches of a segment file between two positions. It
// reads the file in large blocks and parses headers in memory, so walking
// many small batches costs few system calls. In whole mode it also
// CRC-checks each batch (record.Validate) and returns its bytes.
//
// Returned slices alias the scanner's buffer and are valid until next.
type scanner struct {
	r      io.ReaderAt
	pos    int64 // position of the next batch
	end    int64 // scanning stops here
	whole  bool
	buf    []byte
	bufPos int64 // file position of buf[0]
	n      int   // valid bytes in buf
	pooled *[]byte
}

// newHeaderScanner returns a header-only scanner over [pos, end); call
// release when done.
func newHeaderScanner(r io.ReaderAt, pos, end int64) *scanner {
	p := headerBufPool.Get().(*[]byte)
	return &scanner{r: r, pos: pos, end: end, buf: *p, pooled: p}
}

// newBatchScanner returns a whole-batch, CRC-checking scanner over [0, end).
func newBatchScanner(r io.ReaderAt, end int64) *scanner { return newBatchScannerAt(r, 0, end) }

// newBatchScannerAt returns a whole-batch, CRC-checking scanner over [pos, end).
func newBatchScannerAt(r io.ReaderAt, pos, end int64) *scanner {
	return &scanner{r: r, pos: pos, end: end, whole: true, buf: make([]byte, min(recoveryScanBuf, max(end-pos, record.HeaderSize)))}
}

func (s *scanner) release() {
	if s.pooled != nil {
		headerBufPool.Put(s.pooled)
		s.pooled, s.buf = nil, nil
	}
}

// next returns the position, header and (in whole mode) bytes of the next
// batch. It returns io.EOF at the end, a data error (isDataError) at a
// torn or invalid batch, and any other error for a failed read.
func (s *scanner) next() (pos int64, h record.Header, data []byte, err error) {
	pos = s.pos
	if pos >= s.end {
		return pos, h, nil, io.EOF
	}
	if s.end-pos < record.HeaderSize {
		return pos, h, nil, record.ErrTruncated
	}
	b, err := s.window(pos, record.HeaderSize)
	if err != nil {
		return pos, h, nil, err
	}
	if h, err = record.ParseHeader(b); err != nil {
		return pos, h, nil, err
	}
	size := int64(h.Size())
	if pos+size > s.end {
		return pos, h, nil, record.ErrTruncated
	}
	if s.whole {
		if data, err = s.window(pos, int(size)); err != nil {
			return pos, h, nil, err
		}
		if h, err = record.Validate(data); err != nil {
			return pos, h, nil, err
		}
	}
	s.pos = pos + size
	return pos, h, data, nil
}

// seek makes pos the position of the next batch; buffered bytes stay
// usable.
func (s *scanner) seek(pos int64) { s.pos = pos }

// buffered returns the file bytes [pos, pos+n) if the scanner holds them.
// The slice aliases the scanner's buffer.
func (s *scanner) buffered(pos int64, n int) ([]byte, bool) {
	off := pos - s.bufPos
	if s.n == 0 || off < 0 || off+int64(n) > int64(s.n) {
		return nil, false
	}
	return s.buf[off : off+int64(n)], true
}

// window returns the file bytes [pos, pos+n), reading a new block when
// they are not buffered. The caller guarantees pos+n <= s.end.
func (s *scanner) window(pos int64, n int) ([]byte, error) {
	off := pos - s.bufPos
	if off >= 0 && off+int64(n) <= int64(s.n) {
		return s.buf[off : off+int64(n)], nil
	}
	if n > len(s.buf) {
		s.buf = make([]byte, n)
	}
	want := int(min(int64(len(s.buf)), s.end-pos))
	got, err := s.r.ReadAt(s.buf[:want], pos)
	if got < want {
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("short read at %d: %d of %d bytes", pos, got, want)
		}
		s.n = 0
		return nil, err
	}
	s.bufPos, s.n = pos, got
	return s.buf[:n], nil
}
