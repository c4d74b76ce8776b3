package storage

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/fjordlog/fjord/internal/vfs"
)

// leaderEpochFile is the per-partition epoch cache checkpoint.
const leaderEpochFile = "leader-epoch-checkpoint"

// epochEntry says that leader epoch epoch started at offset start.
type epochEntry struct {
	epoch int32
	start int64
}

// epochCache is the KIP-101 leader epoch history: entries with strictly
// increasing epochs and start offsets. The Log's mutex guards it.
type epochCache struct {
	fs      vfs.FS
	dir     string
	entries []epochEntry
}

// loadEpochCache reads dir's leader-epoch-checkpoint (none: empty cache).
func loadEpochCache(fs vfs.FS, dir string) (*epochCache, error) {
	c := &epochCache{fs: fs, dir: dir}
	lines, err := readCheckpointLines(fs, filepath.Join(dir, leaderEpochFile), 2)
	if err != nil {
		return nil, err
	}
	for _, f := range lines {
		e, eerr := strconv.ParseInt(f[0], 10, 32)
		s, serr := strconv.ParseInt(f[1], 10, 64)
		if eerr != nil || serr != nil {
			return nil, fmt.Errorf("storage: %s: malformed line %q %q", leaderEpochFile, f[0], f[1])
		}
		c.entries = append(c.entries, epochEntry{int32(e), s})
	}
	return c, nil
}

// persist atomically writes the checkpoint.
func (c *epochCache) persist() error {
	lines := make([]string, len(c.entries))
	for i, e := range c.entries {
		lines[i] = fmt.Sprintf("%d %d", e.epoch, e.start)
	}
	return vfs.WriteFileAtomic(c.fs, c.dir, leaderEpochFile, formatCheckpoint(lines))
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{epoch: -1, start: -1}, false
	}
	return c.entries[len(c.entries)-1], true
}

// isNew reports whether assign(epoch, start) would change the cache.
func (c *epochCache) isNew(epoch int32, start int64) bool {
	last, ok := c.latest()
	return epoch >= 0 && (!ok || epoch != last.epoch || start < last.start)
}

// assign records that epoch starts at start. Like Kafka, an entry that
// conflicts with the history (an epoch not above the latest, or a start
// offset not above the latest start) first removes the entries it
// contradicts. It returns whether the cache changed.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if !c.isNew(epoch, start) {
		return false
	}
	kept := c.entries[:0]
	for _, e := range c.entries {
		if e.epoch < epoch && e.start < start {
			kept = append(kept, e)
		}
	}
	c.entries = append(kept, epochEntry{epoch, start})
	return true
}

// truncateFromEnd removes the entries starting at or after end (the new
// log end offset after a truncation).
func (c *epochCache) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].start >= end {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops the entries wholly below a new log start offset;
// the epoch that was current at start is kept, starting at start.
func (c *epochCache) truncateFromStart(start int64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].start <= start {
		i++
	}
	if len(c.entries) == 0 || c.entries[0].start > start {
		return false
	}
	changed := i > 0 || c.entries[i].start != start
	c.entries = append(c.entries[:0], c.entries[i:]...)
	c.entries[0].start = start
	return changed
}

// clear removes every entry.
func (c *epochCache) clear() bool {
	changed := len(c.entries) > 0
	c.entries = c.entries[:0]
	return changed
}

// endOffsetFor implements Kafka's endOffsetFor: for the latest epoch,
// (epoch, leo); otherwise the largest known epoch <= epoch with the start
// offset of the next higher epoch; for an epoch below the first known one,
// (epoch, first start); (-1, -1) when epoch is above every known epoch or
// the cache is empty.
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	if last, ok := c.latest(); epoch < 0 || !ok || epoch > last.epoch {
		return -1, -1
	} else if epoch == last.epoch {
		return epoch, leo
	}
	hi := 0
	for c.entries[hi].epoch <= epoch {
		hi++
	}
	if hi == 0 {
		return epoch, c.entries[0].start
	}
	return c.entries[hi-1].epoch, c.entries[hi].start
}

// startOffset returns the start offset recorded for epoch.
func (c *epochCache) startOffset(epoch int32) (int64, bool) {
	for _, e := range c.entries {
		if e.epoch == epoch {
			return e.start, true
		}
	}
	return 0, false
}

// LatestEpoch returns the latest leader epoch in the epoch cache.
func (l *Log) LatestEpoch() (int32, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, ok := l.epochs.latest()
	return e.epoch, ok
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch with Kafka's semantics:
// for the latest epoch, (epoch, LEO); for an older one, the largest known
// epoch <= epoch and the start offset of the next higher epoch; for an
// epoch below the first known one, (epoch, first start offset); (-1, -1)
// when the epoch is newer than any known one or the cache is empty.
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.LogEndOffset())
}

// EpochStartOffset returns the start offset recorded for epoch.
func (l *Log) EpochStartOffset(epoch int32) (int64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.startOffset(epoch)
}
