package storage

import (
	"fmt"

	"github.com/fjordlog/fjord/internal/vfs"
)

// A lazily opened log (Options.Lazy) of a partition new to this node has no
// files until its first batch: Kafka creates a replica's directory, segment
// and index files when the replica is assigned, which makes creating ten
// thousand partitions cost tens of thousands of file creations and syncs
// on each broker before any of them is usable. An empty log loses nothing
// in a crash, so nothing needs to be on disk until there is data: the
// epoch history is kept in memory, and materialize writes it (fsynced,
// before the data, as assignEpoch always does) together with the
// directory and the first segment right before the first write. After a
// crash before that write the node finds no directory and opens the log
// anew, empty — the state it had.

// initUnborn sets l up as an empty log at start with no files.
func (l *Log) initUnborn(start int64) {
	l.unborn = true
	l.segs = []*segment{newSegment(l.fs, l.dir, start, nil, l.cfg)}
	l.epochs = &epochCache{fs: l.fs, dir: l.dir}
	l.leo.Store(start)
	l.logStart.Store(start)
	l.recoveryPoint.Store(start)
}

// materialize creates an unborn log's files: its directory (then
// Options.OnCreate), the active segment's files and the epoch checkpoint
// when the cache has entries. mu must be held exclusively. A failure
// fails the log.
func (l *Log) materialize() error {
	if !l.unborn {
		return nil
	}
	if err := vfs.MkdirAllSynced(l.fs, l.dir, 0o755); err != nil {
		return l.fail("create", err)
	}
	if l.onCreate != nil {
		if err := l.onCreate(l.dir); err != nil {
			return l.fail("create", err)
		}
	}
	if err := l.active().createFiles(l.cfg); err != nil {
		return l.fail("create", fmt.Errorf("segment %d: %w", l.active().base, err))
	}
	l.unborn = false
	if len(l.epochs.entries) > 0 {
		return l.persistEpochs("create")
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("create", err)
	}
	return nil
}

// persistEpochs writes the epoch checkpoint (fsynced), or nothing while
// the log is unborn: materialize writes it then. A failure fails the log.
func (l *Log) persistEpochs(op string) error {
	if l.unborn {
		return nil
	}
	if err := l.epochs.persist(); err != nil {
		return l.fail(op+": write leader-epoch-checkpoint", err)
	}
	return nil
}

// Unborn reports whether the log has no files yet (Options.Lazy).
func (l *Log) Unborn() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.unborn
}
