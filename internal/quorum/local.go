// Package quorum replicates the metadata log: an ordered log of opaque
// entries that every controller agrees on. It knows nothing of what the
// entries mean.
//
// Local is the single-voter quorum: a node that is its own only voter
// commits an entry as soon as it is durable in its write-ahead log. The
// Raft quorum for several controllers implements the same contract.
package quorum

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Entry is one committed log entry.
type Entry struct {
	Offset int64
	Data   []byte
}

// frameHeader is the size of an entry's header in the WAL: int32 length,
// uint32 CRC-32C of the data.
const frameHeader = 8

// maxEntry bounds one entry so a corrupt length cannot make recovery
// allocate without limit.
const maxEntry = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("quorum: closed")

// Local is a single-voter metadata log backed by an fsynced file. Append
// is safe for concurrent use; entries are committed in call order.
type Local struct {
	mu   sync.Mutex
	f    *os.File
	next int64
	err  error
}

// OpenLocal opens (or creates) the log in dir and returns it with every
// committed entry, in order. A torn or corrupt tail left by a crash is cut
// off: it was never acknowledged, since Append returns only after fsync.
func OpenLocal(dir string) (*Local, []Entry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "metadata.wal"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	entries, good, err := scan(f)
	if err == nil {
		err = truncateTail(f, good)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return &Local{f: f, next: int64(len(entries))}, entries, nil
}

// scan reads frames until the first torn or corrupt one, returning the
// entries and the byte length of the good prefix.
func scan(f *os.File) ([]Entry, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	r := bufio.NewReader(f)
	var entries []Entry
	var good int64
	hdr := make([]byte, frameHeader)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return entries, good, nil
		}
		n := binary.BigEndian.Uint32(hdr)
		if n > maxEntry {
			return entries, good, nil
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return entries, good, nil
		}
		if crc32.Checksum(data, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return entries, good, nil
		}
		entries = append(entries, Entry{Offset: int64(len(entries)), Data: data})
		good += frameHeader + int64(n)
	}
}

func truncateTail(f *os.File, good int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != good {
		if err := f.Truncate(good); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	_, err = f.Seek(good, io.SeekStart)
	return err
}

// Append writes the entries durably and returns the offset of the first.
// An I/O error is sticky: the log refuses every later append, since the
// file's tail is then unknown.
func (l *Local) Append(data [][]byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	var buf []byte
	for _, d := range data {
		if len(d) > maxEntry {
			return 0, fmt.Errorf("quorum: entry of %d bytes exceeds %d", len(d), maxEntry)
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(d)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(d, castagnoli))
		buf = append(buf, d...)
	}
	if _, err := l.f.Write(buf); err != nil {
		l.err = fmt.Errorf("quorum: write: %w", err)
		return 0, l.err
	}
	if err := l.f.Sync(); err != nil {
		l.err = fmt.Errorf("quorum: sync: %w", err)
		return 0, l.err
	}
	first := l.next
	l.next += int64(len(data))
	return first, nil
}

// Close closes the log.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = ErrClosed
	}
	return l.f.Close()
}
