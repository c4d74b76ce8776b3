package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/fjordlog/fjord/internal/vfs"
)

// Aborted-transaction indexes (Kafka's .txnindex files). Each segment may
// have <20-digit base offset>.txnindex beside its .log: the aborted
// transactions whose ABORT marker lies in the segment, in marker order,
// each a 34-byte big-endian entry
//
//	int16 version (0), int64 producerId, int64 firstOffset,
//	int64 lastOffset, int64 lastStableOffset
//
// The file is append-only, never preallocated, and created with its first
// entry: a segment without aborted transactions has none (nor do idle
// partitions). Its entries are also kept in memory (they are few and
// small), so CollectAbortedTxns, on the read_committed fetch path, never
// reads a file.
//
// Life cycle, beside the other segment files:
//   - AppendAbortedTxn writes the entry to the file at once (so it survives
//     a process crash as the marker batch does) without fsync; the flushes
//     of the segment (syncSegment, the rolled and tail flushes, Close)
//     fsync it. An entry written below the recovery point or into a closed
//     segment is fsynced at once, since no later flush covers it.
//   - Truncating the log to X drops the entries with lastOffset >= X: the
//     file is cut (and fsynced) at the entry boundary, or removed when no
//     entry remains; the files of removed segments go with them. This must
//     be durable before new data reuses those offsets, since a stale entry
//     would make a replayed marker look already indexed.
//   - Retention, a restart and recovery remove a segment's file with its
//     .log (segment.remove).
//   - Compaction rewrites segments one by one under the same base offset,
//     so the cleaned segment keeps the original's .txnindex file and
//     entries as they are; it never drops control batches (markers) and
//     never deletes a segment whose index has entries.
//   - Open loads each segment's file and keeps the longest valid prefix —
//     version 0, not all zeros, 0 <= firstOffset <= lastOffset, lastOffset
//     within the segment's offsets (at least its base, below the next
//     segment's base or the recovered log end) and strictly increasing, no
//     torn trailing entry — cutting the file to it (fsynced). The partition's replay of markers
//     after a crash (AppendAbortedTxn is idempotent) re-adds entries lost
//     with unflushed bytes.

// txnIndexSuffix is the file name suffix of a segment's aborted-transaction index.
const txnIndexSuffix = ".txnindex"

// Entry layout.
const (
	txnEntrySize    = 34
	txnEntryVersion = 0
)

// AbortedTxn is one entry of a segment's .txnindex: an aborted transaction
// of ProducerID from FirstOffset to LastOffset (the ABORT marker's offset);
// LastStableOffset is the first offset of the earliest transaction still
// open in the partition when the marker was written (LastOffset+1 if none).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// appendTxnEntry appends t's file encoding to b.
func appendTxnEntry(b []byte, t AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, txnEntryVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(t.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(t.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(t.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(t.LastStableOffset))
}

// parseTxnEntry decodes the entry at the start of b (len >= txnEntrySize);
// ok is false for an unknown version or an all-zero entry (the unwritten
// tail of a file after a power failure; no real entry is all zeros, as its
// lastStableOffset would be 0 for a transaction ending at offset 0).
func parseTxnEntry(b []byte) (AbortedTxn, bool) {
	b = b[:txnEntrySize]
	if binary.BigEndian.Uint16(b) != txnEntryVersion || allZero(b) {
		return AbortedTxn{}, false
	}
	return AbortedTxn{
		ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
		FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
		LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
		LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
	}, true
}

// txnIndex is a segment's aborted transactions, in file order; the file
// holds exactly these entries (or does not exist when there are none).
// Guarded by the owning Log's mutex, like the rest of the segment.
type txnIndex struct {
	entries  []AbortedTxn
	unsynced bool // the file has bytes not yet fsynced
}

// last returns the last entry, if any.
func (x *txnIndex) last() (AbortedTxn, bool) {
	if len(x.entries) == 0 {
		return AbortedTxn{}, false
	}
	return x.entries[len(x.entries)-1], true
}

// countBelow returns how many entries have lastOffset < offset (a prefix,
// as lastOffset increases).
func (x *txnIndex) countBelow(offset int64) int {
	n := len(x.entries)
	for n > 0 && x.entries[n-1].LastOffset >= offset {
		n--
	}
	return n
}

// collect appends to out the entries with lastOffset >= fetchOffset and
// firstOffset < upperBound, and reports whether one has lastStableOffset
// >= upperBound: no transaction with data below upperBound was still open
// when that marker was written, so later segments hold nothing more to
// list. (Kafka stops at that entry; the entries after it in the segment
// cannot start below upperBound, so reading the segment to its end
// returns the same list for well-formed entries.)
func (x *txnIndex) collect(out []AbortedTxn, fetchOffset, upperBound int64) ([]AbortedTxn, bool) {
	complete := false
	for _, e := range x.entries {
		if e.LastOffset >= fetchOffset && e.FirstOffset < upperBound {
			out = append(out, e)
		}
		complete = complete || e.LastStableOffset >= upperBound
	}
	return out, complete
}

// appendTxn writes t at the end of the segment's .txnindex (creating it)
// without fsync, then records it in memory.
func (s *segment) appendTxn(t AbortedTxn) error {
	f, err := s.fs.OpenFile(s.path(txnIndexSuffix), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(appendTxnEntry(nil, t), int64(len(s.txn.entries))*txnEntrySize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	s.txn.entries = append(s.txn.entries, t)
	s.txn.unsynced = true
	return nil
}

// syncTxns fsyncs the segment's .txnindex when it has unsynced bytes.
func (s *segment) syncTxns() error {
	if !s.txn.unsynced {
		return nil
	}
	if err := syncTxnFile(s.fs, s.path(txnIndexSuffix)); err != nil {
		return err
	}
	s.txn.unsynced = false
	return nil
}

// syncTxnFile fsyncs a .txnindex file; a file that no longer exists (a
// truncation removed it) needs nothing.
func syncTxnFile(fs vfs.FS, path string) error {
	if err := vfs.SyncFile(fs, path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// truncateTxns drops the entries with lastOffset >= offset and makes that
// durable: the file is cut at the entry boundary and fsynced, or removed
// when no entry remains (the caller fsyncs the directory).
func (s *segment) truncateTxns(offset int64) error {
	n := s.txn.countBelow(offset)
	if n == len(s.txn.entries) {
		return nil
	}
	if err := cutTxnFile(s.fs, s.path(txnIndexSuffix), n); err != nil {
		return err
	}
	s.txn.entries = s.txn.entries[:n:n]
	s.txn.unsynced = false
	return nil
}

// cutTxnFile keeps the first n entries of the file at path, fsynced, or
// removes it when n is 0.
func cutTxnFile(fs vfs.FS, path string, n int) error {
	if n == 0 {
		if err := fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	f, err := fs.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(n) * txnEntrySize)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeTxnFile deletes a leftover .txnindex of the segment's name (see
// createFiles).
func (s *segment) removeTxnFile() error {
	if err := s.fs.Remove(s.path(txnIndexSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// loadTxns reads the segment's .txnindex, keeping the longest prefix of
// valid entries below end (see the file comment), and cuts the file to
// it. It reports whether it dropped anything (removed reports a file
// removed, whose directory entry the caller fsyncs).
func (s *segment) loadTxns(end int64) (dropped, removed bool, err error) {
	path := s.path(txnIndexSuffix)
	data, err := vfs.ReadFile(s.fs, path)
	if errors.Is(err, os.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	s.txn = txnIndex{entries: s.validTxnPrefix(data, end)}
	n := len(s.txn.entries)
	if n*txnEntrySize == len(data) {
		return false, false, nil
	}
	return true, n == 0, cutTxnFile(s.fs, path, n)
}

// validTxnPrefix decodes the entries of data up to the first one that is
// torn or invalid for this segment (see the file comment).
func (s *segment) validTxnPrefix(data []byte, end int64) []AbortedTxn {
	var out []AbortedTxn
	prev := s.base - 1
	for b := data; len(b) >= txnEntrySize; b = b[txnEntrySize:] {
		t, ok := parseTxnEntry(b)
		if !ok || t.FirstOffset < 0 || t.FirstOffset > t.LastOffset || t.LastOffset <= prev || t.LastOffset >= end {
			break
		}
		out = append(out, t)
		prev = t.LastOffset
	}
	return out
}

// loadTxnIndexes loads every segment's .txnindex once the segments are
// loaded or recovered (see the file comment); called by load.
func (l *Log) loadTxnIndexes() error {
	removedAny := false
	for i, s := range l.segs {
		dropped, removed, err := s.loadTxns(l.segmentEnd(i))
		if err != nil {
			return fmt.Errorf("segment %d: load %s: %w", s.base, txnIndexSuffix, err)
		}
		if dropped {
			l.logger.Warn("storage: dropped invalid or truncated aborted-transaction index entries",
				"segment", s.base, "kept", len(s.txn.entries))
		}
		removedAny = removedAny || removed
	}
	if removedAny {
		return l.fs.SyncDir(l.dir)
	}
	return nil
}

// AppendAbortedTxn records t in the .txnindex of the segment that holds
// offset t.LastOffset (normally the active segment; the marker was just
// appended there). It is idempotent: an entry whose LastOffset is not above
// the last entry already in that segment's index is ignored (recovery
// replays markers and calls it again), as is one below the first segment
// (already deleted). Not fsynced by itself: the bytes are written at once
// and fsynced when the segment is flushed (the same flush paths as
// .log/.index: rolled-segment flush, FlushTail, Close) — except that an
// entry landing in a closed segment or below the recovery point, which no
// later flush covers, is fsynced before the call returns.
//
// Called by the goroutine that appends to the log (a mutator).
//
// Errors: ErrOffsetOutOfRange when t.LastOffset is not below the log end
// offset or FirstOffset is not in [0, LastOffset] (the log stays usable);
// an error wrapping ErrLogFailed after an I/O failure.
func (l *Log) AppendAbortedTxn(t AbortedTxn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if t.LastOffset >= l.LogEndOffset() || t.FirstOffset < 0 || t.FirstOffset > t.LastOffset {
		return fmt.Errorf("%w: aborted transaction %d..%d of producer %d, log end %d",
			ErrOffsetOutOfRange, t.FirstOffset, t.LastOffset, t.ProducerID, l.LogEndOffset())
	}
	i := l.segmentFor(t.LastOffset)
	s := l.segs[i]
	if last, ok := s.txn.last(); t.LastOffset < s.base || (ok && t.LastOffset <= last.LastOffset) {
		return nil
	}
	if err := s.appendTxn(t); err != nil {
		return l.fail("append aborted transaction", err)
	}
	if i < len(l.segs)-1 || t.LastOffset < l.RecoveryPoint() {
		if err := s.syncTxns(); err != nil {
			return l.fail("append aborted transaction", err)
		}
	}
	return nil
}

// CollectAbortedTxns returns the aborted transactions a read_committed
// fetch must list: starting with the segment holding fetchOffset, every
// entry with LastOffset >= fetchOffset and FirstOffset < upperBound, in
// index order; it stops after the first segment in which an entry has
// LastStableOffset >= upperBound (Kafka's LocalLog.collectAbortedTransactions).
// Never nil-vs-empty sensitive: returns nil when none.
//
// It reads only memory and may run concurrently with appends. Errors:
// ErrClosed, or the log's sticky failure (ErrLogFailed).
func (l *Log) CollectAbortedTxns(fetchOffset, upperBound int64) ([]AbortedTxn, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return nil, err
	}
	var out []AbortedTxn
	for i := l.segmentFor(fetchOffset); i < len(l.segs); i++ {
		var complete bool
		if out, complete = l.segs[i].txn.collect(out, fetchOffset, upperBound); complete {
			break
		}
	}
	return out, nil
}
