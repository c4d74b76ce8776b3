package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fjordlog/fjord/internal/vfs"
)

// Producer-state snapshots (issue 12). The partition above keeps its
// idempotent producers' state in memory and saves it here now and then
// as <20-digit offset>.snapshot: the state after every batch below that
// offset, as Kafka's .snapshot files, in an encoding that is the
// partition's (the log treats it as opaque bytes). After a restart the
// partition loads the newest snapshot and replays the batches from its
// offset instead of rescanning the log.
//
// The log keeps the files consistent with its batches: a truncation drops
// the snapshots above the truncation point and fsyncs the directory before
// it returns, so no snapshot can describe batches that are gone and then
// rewritten; a restart at an offset drops them all; opening drops those
// above the recovered end; retention drops those below the first segment.
// Of the rest it keeps the ones at segment bases (taken at rolls, as
// Kafka keeps one per segment) and the newest snapshotsKept others.
// Snapshots are written without fsync: one lost or torn by a power
// failure fails its reader's checksum, and an older one, or a scan, is
// used instead.

const snapshotSuffix = ".snapshot"

// snapshotsKept is how many snapshots not at a segment base are kept.
const snapshotsKept = 2

// SnapshotFileName is the name of the snapshot file at offset in the log's
// directory.
func SnapshotFileName(offset int64) string { return fmt.Sprintf("%020d%s", offset, snapshotSuffix) }

// SaveSnapshot writes data as the snapshot at offset, which must lie
// within [first segment base, log end offset] (else it is ignored, as it
// is while the log has no files: an empty log has no state). A failed
// write fails the log.
func (l *Log) SaveSnapshot(offset int64, data []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if l.unborn || offset > l.LogEndOffset() || offset < l.segs[0].base {
		return nil
	}
	if err := writeFileNoSync(l.fs, l.dir, SnapshotFileName(offset), data); err != nil {
		return l.fail("snapshot", err)
	}
	if i, found := slices.BinarySearch(l.snaps, offset); !found {
		l.snaps = slices.Insert(l.snaps, i, offset)
	}
	return l.pruneSnapshots()
}

// Snapshots returns the offsets of the log's snapshots, oldest first.
func (l *Log) Snapshots() []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.snaps)
}

// ReadSnapshot returns the bytes of the snapshot at offset.
func (l *Log) ReadSnapshot(offset int64) ([]byte, error) {
	return vfs.ReadFile(l.fs, filepath.Join(l.dir, SnapshotFileName(offset)))
}

// writeFileNoSync replaces dir/name with data through a temporary file
// and a rename, without fsync.
func writeFileNoSync(fs vfs.FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+vfs.TempSuffix)
	err := vfs.WriteFile(fs, tmp, data, 0o644)
	if err == nil {
		err = fs.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		fs.Remove(tmp)
	}
	return err
}

// loadSnapshots lists dir's snapshot files, oldest first.
func (l *Log) loadSnapshots() error {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return err
	}
	l.snaps = l.snaps[:0]
	for _, e := range entries {
		digits, ok := strings.CutSuffix(e.Name(), snapshotSuffix)
		if !ok || len(digits) != 20 {
			continue
		}
		if off, err := strconv.ParseInt(digits, 10, 64); err == nil && off >= 0 {
			l.snaps = append(l.snaps, off)
		}
	}
	slices.Sort(l.snaps)
	return nil
}

// dropSnapshotsAbove removes the snapshots above offset; the caller
// fsyncs the directory. mu must be held.
func (l *Log) dropSnapshotsAbove(offset int64) error {
	i, _ := slices.BinarySearch(l.snaps, offset+1)
	return l.removeSnapshots(func(off int64) bool { return off > offset }, i)
}

// pruneSnapshots removes the snapshots below the first segment and those
// that are neither at a segment base nor among the newest snapshotsKept.
// mu must be held.
func (l *Log) pruneSnapshots() error {
	first := l.segs[0].base
	others := 0
	keep := make(map[int64]bool, len(l.snaps))
	for i := len(l.snaps) - 1; i >= 0; i-- {
		off := l.snaps[i]
		switch {
		case off < first:
		case l.isSegmentBase(off):
			keep[off] = true
		case others < snapshotsKept:
			keep[off] = true
			others++
		}
	}
	return l.removeSnapshots(func(off int64) bool { return !keep[off] }, 0)
}

func (l *Log) isSegmentBase(off int64) bool {
	_, found := slices.BinarySearchFunc(l.segs, off, func(s *segment, off int64) int {
		switch {
		case s.base < off:
			return -1
		case s.base > off:
			return 1
		}
		return 0
	})
	return found
}

// removeSnapshots deletes the files of the snapshots from l.snaps[from:]
// for which drop holds.
func (l *Log) removeSnapshots(drop func(int64) bool, from int) error {
	kept := l.snaps[:from]
	var errs []error
	for _, off := range l.snaps[from:] {
		if !drop(off) {
			kept = append(kept, off)
			continue
		}
		if err := l.fs.Remove(filepath.Join(l.dir, SnapshotFileName(off))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			kept = append(kept, off)
		}
	}
	l.snaps = kept
	if err := errors.Join(errs...); err != nil {
		return l.fail("remove snapshot", err)
	}
	return nil
}
