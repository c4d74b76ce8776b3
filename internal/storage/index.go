package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/fjordlog/fjord/internal/vfs"
)

// Index entry sizes, as in Kafka's files.
const (
	offsetEntrySize = 8  // int32 relative offset, int32 position
	timeEntrySize   = 12 // int64 timestamp, int32 relative offset
)

// errBadIndex reports an index file that cannot be trusted; it is rebuilt.
var errBadIndex = errors.New("storage: inconsistent index file")

// indexBuf holds one index file's entries in memory, encoded exactly as in
// the file, and tracks how much of it the file already holds.
//
// Appending allocates only when the slice grows (amortised O(1)).
type indexBuf struct {
	b          []byte // entries, file encoding
	size       int    // entry size
	maxEntries int    // entries allowed before the segment must roll
	synced     int    // prefix of b the file is known to hold
	stale      bool   // the file may hold bytes past synced that b no longer has
}

func (x *indexBuf) count() int { return len(x.b) / x.size }

func (x *indexBuf) full() bool { return x.count() >= x.maxEntries }

// truncate keeps the first n entries.
func (x *indexBuf) truncate(n int) {
	x.b = x.b[:n*x.size]
	if x.synced > len(x.b) {
		x.synced = len(x.b)
		x.stale = true
	}
}

// reset drops every entry.
func (x *indexBuf) reset() { x.truncate(0) }

func (x *indexBuf) dirty() bool { return x.synced < len(x.b) || x.stale }

// persist brings the file at path up to date with the in-memory entries:
// it writes the unsynced tail, sizes the file to prealloc bytes (the active
// segment's preallocation) or trims it to the entries (prealloc 0), and
// fsyncs when sync is set.
func (x *indexBuf) persist(fs vfs.FS, path string, prealloc int64, sync bool) error {
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	err = x.writeTo(f, prealloc, sync)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (x *indexBuf) writeTo(f vfs.File, prealloc int64, sync bool) error {
	if x.stale {
		// Zero whatever the file held past the entries we still trust.
		if err := f.Truncate(int64(x.synced)); err != nil {
			return err
		}
	}
	if _, err := f.WriteAt(x.b[x.synced:], int64(x.synced)); err != nil {
		return err
	}
	// A whole number of entries, as Kafka rounds its index files, so a
	// preallocated file loads (load) like a trimmed one.
	prealloc -= prealloc % int64(x.size)
	if err := f.Truncate(max(prealloc, int64(len(x.b)))); err != nil {
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	x.synced, x.stale = len(x.b), false
	return nil
}

// load reads the entries of the file at path. Trailing zero bytes (the
// unused part of a preallocated file) are ignored; increasing reports
// whether entry i may follow entry i-1. Any other inconsistency, and a
// missing file, is an error.
func (x *indexBuf) load(fs vfs.FS, path string, increasing func(b []byte, i int) bool) error {
	data, err := vfs.ReadFile(fs, path)
	if err != nil {
		return err
	}
	if len(data)%x.size != 0 {
		return fmt.Errorf("%w: %s: size %d", errBadIndex, path, len(data))
	}
	n := 1
	for n < len(data)/x.size && increasing(data, n) {
		n++
	}
	if len(data) == 0 {
		n = 0
	}
	if !allZero(data[n*x.size:]) {
		return fmt.Errorf("%w: %s: entry %d out of order", errBadIndex, path, n)
	}
	x.b = data[:n*x.size]
	x.synced, x.stale = len(x.b), len(data) > len(x.b)
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// offsetIndex maps the last offset of some batches (relative to the segment
// base) to the file position where the batch starts.
type offsetIndex struct{ indexBuf }

func newOffsetIndex(maxBytes int64) offsetIndex {
	return offsetIndex{indexBuf{size: offsetEntrySize, maxEntries: int(maxBytes / offsetEntrySize)}}
}

func (x *offsetIndex) entry(i int) (rel int32, pos int64) {
	e := x.b[i*offsetEntrySize:]
	return int32(binary.BigEndian.Uint32(e)), int64(binary.BigEndian.Uint32(e[4:]))
}

func (x *offsetIndex) append(rel int32, pos int64) {
	x.b = binary.BigEndian.AppendUint32(x.b, uint32(rel))
	x.b = binary.BigEndian.AppendUint32(x.b, uint32(pos))
}

// lookup returns the position of the last indexed batch whose last offset
// is <= rel, or 0: the batch holding rel starts at or after it.
func (x *offsetIndex) lookup(rel int32) int64 {
	i := sort.Search(x.count(), func(i int) bool {
		r, _ := x.entry(i)
		return r > rel
	})
	if i == 0 {
		return 0
	}
	_, pos := x.entry(i - 1)
	return pos
}

// lastWithin returns the position of the last indexed batch that starts
// at or before pos and whose last offset is below rel, or 0. Entries
// increase in both, so the batches before it satisfy both bounds too.
func (x *offsetIndex) lastWithin(pos, rel int64) int64 {
	i := sort.Search(x.count(), func(i int) bool {
		r, p := x.entry(i)
		return p > pos || int64(r) >= rel
	})
	if i == 0 {
		return 0
	}
	_, p := x.entry(i - 1)
	return p
}

// lastPos returns the position of the last indexed batch, or 0.
func (x *offsetIndex) lastPos() int64 {
	if x.count() == 0 {
		return 0
	}
	_, pos := x.entry(x.count() - 1)
	return pos
}

// truncateToPos drops the entries of batches starting at or after pos.
func (x *offsetIndex) truncateToPos(pos int64) {
	x.truncate(sort.Search(x.count(), func(i int) bool {
		_, p := x.entry(i)
		return p >= pos
	}))
}

func offsetEntriesIncreasing(b []byte, i int) bool {
	cur, prev := b[i*offsetEntrySize:], b[(i-1)*offsetEntrySize:]
	return int32(binary.BigEndian.Uint32(cur)) > int32(binary.BigEndian.Uint32(prev)) &&
		int32(binary.BigEndian.Uint32(cur[4:])) > int32(binary.BigEndian.Uint32(prev[4:]))
}

// timeIndex maps the segment's largest timestamp so far to the (relative)
// last offset of the batch that carried it. Timestamps strictly increase.
type timeIndex struct{ indexBuf }

func newTimeIndex(maxBytes int64) timeIndex {
	return timeIndex{indexBuf{size: timeEntrySize, maxEntries: int(maxBytes / timeEntrySize)}}
}

func (x *timeIndex) entry(i int) (ts int64, rel int32) {
	e := x.b[i*timeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), int32(binary.BigEndian.Uint32(e[8:]))
}

// last returns the last entry, or (-1, 0) when there is none.
func (x *timeIndex) last() (ts int64, rel int32) {
	if x.count() == 0 {
		return -1, 0
	}
	return x.entry(x.count() - 1)
}

// maybeAppend adds (ts, rel) when ts is larger than the last entry's.
func (x *timeIndex) maybeAppend(ts int64, rel int32) {
	if last, _ := x.last(); ts > last {
		x.b = binary.BigEndian.AppendUint64(x.b, uint64(ts))
		x.b = binary.BigEndian.AppendUint32(x.b, uint32(rel))
	}
}

// lookupBelow returns the relative offset of the last entry whose timestamp
// is < ts: no record at or before that offset reaches ts.
func (x *timeIndex) lookupBelow(ts int64) (rel int32, ok bool) {
	i := sort.Search(x.count(), func(i int) bool {
		t, _ := x.entry(i)
		return t >= ts
	})
	if i == 0 {
		return 0, false
	}
	_, rel = x.entry(i - 1)
	return rel, true
}

// truncateToOffset drops the entries pointing at relative offsets >= rel.
func (x *timeIndex) truncateToOffset(rel int32) {
	x.truncate(sort.Search(x.count(), func(i int) bool {
		_, r := x.entry(i)
		return r >= rel
	}))
}

func timeEntriesIncreasing(b []byte, i int) bool {
	cur, prev := b[i*timeEntrySize:], b[(i-1)*timeEntrySize:]
	return int64(binary.BigEndian.Uint64(cur)) > int64(binary.BigEndian.Uint64(prev)) &&
		int32(binary.BigEndian.Uint32(cur[8:])) >= int32(binary.BigEndian.Uint32(prev[8:]))
}
