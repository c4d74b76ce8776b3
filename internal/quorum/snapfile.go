package quorum

// Snapshot files.
//
// A snapshot lives in RaftConfig.Dir as snap-<20-digit index>.snap:
//
//	uint32 CRC-32C of the rest (big endian) | marshalled raftpb.Snapshot
//
// The raftpb.Snapshot carries its metadata (index, term, conf state) and
// the state machine's serialized state. Files are written atomically
// (temporary file, fsync, rename, directory fsync); once the WAL has been
// rewritten to start after a snapshot, older snapshots are deleted.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fjordlog/fjord/internal/vfs"
	"go.etcd.io/raft/v3/raftpb"
)

func snapName(index uint64) string { return fmt.Sprintf("snap-%020d.snap", index) }

// saveSnapshotFile writes s durably.
func saveSnapshotFile(fs vfs.FS, dir string, s raftpb.Snapshot) error {
	b, err := s.Marshal()
	if err != nil {
		return err
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), crc32.Checksum(b, castagnoli))
	buf = append(buf, b...)
	if err := vfs.WriteFileAtomic(fs, dir, snapName(s.Metadata.Index), buf); err != nil {
		return fmt.Errorf("quorum: save snapshot %d: %w", s.Metadata.Index, err)
	}
	return nil
}

// listSnapshots returns the snapshot file names in dir, newest first, and
// deletes leftover temporary files.
func listSnapshots(fs vfs.FS, dir string) ([]string, error) {
	names, err := readDirNames(fs, dir)
	if err != nil {
		return nil, err
	}
	var snaps []string
	for _, n := range names {
		if !strings.HasPrefix(n, "snap-") {
			continue
		}
		if strings.HasSuffix(n, vfs.TempSuffix) {
			if err := fs.Remove(filepath.Join(dir, n)); err != nil {
				return nil, err
			}
			continue
		}
		if strings.HasSuffix(n, ".snap") && len(n) == len(snapName(0)) {
			snaps = append(snaps, n)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(snaps)))
	return snaps, nil
}

// loadSnapshotFile returns the newest readable snapshot in dir, or an
// empty one if there is none. An unreadable file is logged and skipped.
func loadSnapshotFile(fs vfs.FS, dir string, log *slog.Logger) (raftpb.Snapshot, error) {
	names, err := listSnapshots(fs, dir)
	if err != nil {
		return raftpb.Snapshot{}, err
	}
	for _, n := range names {
		s, err := readSnapshotFile(fs, filepath.Join(dir, n))
		if err == nil {
			return s, nil
		}
		log.Warn("quorum: skipping unreadable snapshot", "file", n, "err", err)
	}
	return raftpb.Snapshot{}, nil
}

func readSnapshotFile(fs vfs.FS, path string) (raftpb.Snapshot, error) {
	var s raftpb.Snapshot
	b, err := vfs.ReadFile(fs, path)
	if err != nil {
		return s, err
	}
	if len(b) < 4 || crc32.Checksum(b[4:], castagnoli) != binary.BigEndian.Uint32(b) {
		return s, errors.New("checksum mismatch")
	}
	if err := s.Unmarshal(b[4:]); err != nil {
		return s, err
	}
	if filepath.Base(path) != snapName(s.Metadata.Index) {
		return s, errors.New("index does not match the file name")
	}
	return s, nil
}

// removeOldSnapshots deletes the snapshot files older than index.
func removeOldSnapshots(fs vfs.FS, dir string, index uint64) error {
	names, err := listSnapshots(fs, dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n < snapName(index) {
			if err := fs.Remove(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}
