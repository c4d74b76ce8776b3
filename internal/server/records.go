package server

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch responses without copies (issue 12): a handler answers a Fetch with
// a *FetchResponse whose partitions' record bytes stay in the segment
// files. The writer encodes the rest of the response with kmsg, with a
// 16-byte placeholder where each partition's records go, and then writes
// the encoded pieces and the files' bytes in order: on a plain TCP
// connection with sendfile(2) (the bytes go from the page cache to the
// socket), on TLS by reading them into the write buffer (one copy, no
// allocation).

// FileRecords are stored record batches to send from a file: Len bytes at
// Pos of File. The file may be closed or truncated before the writer
// reads it (see storage.Range); the connection is then closed, as Kafka
// closes it when a FileRecords shrinks while it is sent.
type FileRecords struct {
	File io.ReaderAt // an *os.File (any syscall.Conn) is sent with sendfile
	Pos  int64
	Len  int
	// Data, when not nil, holds the Len bytes already (storage.Range's
	// Data): they are written from it, and File is not read.
	Data []byte
}

// PartitionFile places FileRecords in a FetchResponse: they are the
// record bytes of Topics[Topic].Partitions[Partition].
type PartitionFile struct {
	Topic, Partition int
	FileRecords
}

// FetchResponse is a Fetch response whose listed partitions' record bytes
// are sent from files. Files name distinct partitions, in any order (the
// writer sorts them into encoding order); their RecordBatches are
// ignored. A handler's Fetch answer may be a *FetchResponse wherever it
// may be a *kmsg.FetchResponse.
type FetchResponse struct {
	*kmsg.FetchResponse
	Files []PartitionFile
}

// Materialize reads every file's bytes into its partition's RecordBatches
// and returns the plain response (for tests and for answers that are not
// written to a client connection).
func (r *FetchResponse) Materialize() (*kmsg.FetchResponse, error) {
	for _, f := range r.Files {
		b := f.Data
		if b == nil {
			b = make([]byte, f.Len)
			if _, err := f.File.ReadAt(b, f.Pos); err != nil {
				return nil, err
			}
		}
		r.Topics[f.Topic].Partitions[f.Partition].RecordBatches = b
	}
	r.Files = nil
	return r.FetchResponse, nil
}

const (
	placeholderSize = 16
	// sendfileMin is the smallest record payload sent with sendfile:
	// below it, reading into the write buffer and sending the response
	// in one write costs fewer system calls.
	sendfileMin = 16 << 10
)

// placeholderNonce makes placeholders unguessable, so no byte sequence a
// client controls (a topic name) can be mistaken for one.
var placeholderNonce = func() (b [placeholderSize - 4]byte) {
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return b
}()

var errRecordsChanged = errors.New("server: stored records changed while being sent")

// writeFetch writes a FetchResponse with file-backed records.
func (c *conn) writeFetch(p pending, r *FetchResponse) error {
	slices.SortFunc(r.Files, func(a, b PartitionFile) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	holders := make([]byte, 0, placeholderSize*len(r.Files))
	for i, f := range r.Files {
		holders = append(holders, placeholderNonce[:]...)
		holders = binary.BigEndian.AppendUint32(holders, uint32(i))
		r.Topics[f.Topic].Partitions[f.Partition].RecordBatches = holders[i*placeholderSize : (i+1)*placeholderSize]
	}
	buf := getEncodeBuf()
	defer putEncodeBuf(buf)
	b := c.encode(p, r, buf)
	flexible := r.IsFlexible()
	pieces, err := splitAtPlaceholders(b, holders, flexible)
	if err != nil {
		return err
	}
	size := len(b) - 4
	for _, f := range r.Files {
		size += len(bytesLength(nil, f.Len, flexible)) + f.Len - len(bytesLength(nil, placeholderSize, flexible)) - placeholderSize
	}
	binary.BigEndian.PutUint32(b, uint32(size))
	for i, f := range r.Files {
		if _, err := c.bw.Write(pieces[i]); err != nil {
			return err
		}
		if _, err := c.bw.Write(bytesLength(c.lenBuf[:0], f.Len, flexible)); err != nil {
			return err
		}
		if err := c.sendRecords(f.FileRecords); err != nil {
			return err
		}
	}
	_, err = c.bw.Write(pieces[len(r.Files)])
	return err
}

// splitAtPlaceholders cuts the encoded response b around each placeholder
// and its length prefix: len(holders)/placeholderSize + 1 pieces.
func splitAtPlaceholders(b, holders []byte, flexible bool) ([][]byte, error) {
	prefix := bytesLength(nil, placeholderSize, flexible)
	pieces := make([][]byte, 0, len(holders)/placeholderSize+1)
	from := 0
	for len(holders) > 0 {
		h := holders[:placeholderSize]
		holders = holders[placeholderSize:]
		i := bytes.Index(b[from:], h)
		if i < len(prefix) || !bytes.Equal(b[from+i-len(prefix):from+i], prefix) {
			return nil, fmt.Errorf("server: record placeholder not found in the encoded fetch response")
		}
		pieces = append(pieces, b[from:from+i-len(prefix)])
		from += i + placeholderSize
	}
	return append(pieces, b[from:]), nil
}

// bytesLength appends the length prefix of an n-byte (non-null) bytes
// field: compact (uvarint n+1) in flexible versions, int32 before.
func bytesLength(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(dst, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// sendRecords writes f's bytes to the connection: with sendfile where the
// connection allows it and the payload is large, else through the write
// buffer.
func (c *conn) sendRecords(f FileRecords) error {
	if f.Data != nil {
		_, err := c.bw.Write(f.Data)
		return err
	}
	if _, ok := f.File.(syscall.Conn); ok && c.raw != nil && f.Len >= sendfileMin {
		if err := c.bw.Flush(); err != nil {
			return err
		}
		return sendFile(c.raw, f)
	}
	return c.copyRecords(f)
}

// copyRecords reads f's bytes straight into the write buffer's free
// space, flushing as it fills.
func (c *conn) copyRecords(f FileRecords) error {
	for pos, end := f.Pos, f.Pos+int64(f.Len); pos < end; {
		if c.bw.Available() == 0 {
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
		chunk := c.bw.AvailableBuffer()
		chunk = chunk[:min(int64(cap(chunk)), end-pos)]
		if _, err := f.File.ReadAt(chunk, pos); err != nil {
			return fmt.Errorf("%w: %w", errRecordsChanged, err)
		}
		if _, err := c.bw.Write(chunk); err != nil {
			return err
		}
		pos += int64(len(chunk))
	}
	return nil
}

// sendFile copies f's bytes from the file to the socket in the kernel.
// The file is held open (Control) while it is read, so a concurrent close
// never lets the descriptor be reused under the copy.
func sendFile(dst syscall.RawConn, f FileRecords) error {
	src, err := f.File.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	cerr := src.Control(func(sfd uintptr) {
		werr = sendFileFD(dst, int(sfd), f.Pos, f.Len)
	})
	if cerr != nil {
		return fmt.Errorf("%w: %w", errRecordsChanged, cerr)
	}
	return werr
}

// sendFileFD runs sendfile(2) until n bytes from pos of sfd are sent,
// waiting for the socket to drain (the poller) when its buffer is full.
func sendFileFD(dst syscall.RawConn, sfd int, pos int64, n int) error {
	var serr error
	err := dst.Write(func(dfd uintptr) bool {
		for n > 0 {
			m, err := syscall.Sendfile(int(dfd), sfd, &pos, n)
			n -= max(m, 0)
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
			case err != nil:
				serr = err
				return true
			case m == 0:
				serr = fmt.Errorf("%w: %w", errRecordsChanged, io.ErrUnexpectedEOF)
				return true
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return serr
}
