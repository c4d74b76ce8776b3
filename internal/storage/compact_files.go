package storage

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fjordlog/fjord/internal/vfs"
)

// cleanedSuffixes are the files of a cleaned segment in commit order: the
// .log last, so that <base>.log.swap existing means all three are complete.
var cleanedSuffixes = []string{indexSuffix, timeIndexSuffix, logSuffix}

// commitCleaned swaps a cleaned segment's files in: every <name>.cleaned
// becomes <name>.swap (the commit point is the .log's rename), the
// directory is fsynced, every <name>.swap is renamed over <name>, and the
// directory is fsynced again. finishCleanerSwaps completes an interrupted
// commit.
func commitCleaned(fs vfs.FS, dir string, base int64) error {
	for _, suffix := range cleanedSuffixes {
		p := segmentPath(dir, base, suffix)
		if err := fs.Rename(p+cleanedSuffix, p+swapSuffix); err != nil {
			return err
		}
	}
	if err := fs.SyncDir(dir); err != nil {
		return err
	}
	for _, suffix := range cleanedSuffixes {
		p := segmentPath(dir, base, suffix)
		if err := fs.Rename(p+swapSuffix, p); err != nil {
			return err
		}
	}
	return fs.SyncDir(dir)
}

// removeCleanedFiles deletes the *.cleaned files of base (best effort:
// Open deletes whatever is left).
func removeCleanedFiles(fs vfs.FS, dir string, base int64) {
	for _, suffix := range cleanedSuffixes {
		fs.Remove(segmentPath(dir, base, suffix) + cleanedSuffix)
	}
}

// finishCleanerSwaps brings dir to a state without compaction leftovers,
// before Open lists the segments: *.cleaned files (an unfinished cleaned
// copy) are deleted; for every <base>.log.swap (a committed swap) each
// <base>.*.swap is renamed over its final name, the .log last; any other
// *.swap (a commit interrupted before its .log was renamed) is deleted.
// It is idempotent, so a crash during it is repaired by the next Open.
func finishCleanerSwaps(fs vfs.FS, dir string, logger *slog.Logger) error {
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return err
	}
	var swaps []string
	committed := map[int64]bool{}
	changed := false
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, cleanedSuffix):
			logger.Info("storage: deleting unfinished compaction output", "file", name)
			if err := fs.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			changed = true
		case strings.HasSuffix(name, swapSuffix):
			swaps = append(swaps, name)
			if base, suffix, ok := parseSegmentName(strings.TrimSuffix(name, swapSuffix)); ok && suffix == logSuffix {
				committed[base] = true
			}
		}
	}
	// Index files first, .log files last.
	slices.SortStableFunc(swaps, func(a, b string) int {
		return boolCmp(strings.HasSuffix(a, logSuffix+swapSuffix), strings.HasSuffix(b, logSuffix+swapSuffix))
	})
	for _, name := range swaps {
		if err := finishSwap(fs, dir, name, committed, logger); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		return fs.SyncDir(dir)
	}
	return nil
}

// finishSwap renames a *.swap file of a committed swap over its final
// name, and deletes any other.
func finishSwap(fs vfs.FS, dir, name string, committed map[int64]bool, logger *slog.Logger) error {
	final := strings.TrimSuffix(name, swapSuffix)
	base, _, ok := parseSegmentName(final)
	if ok && committed[base] {
		logger.Info("storage: completing interrupted compaction swap", "file", final)
		return fs.Rename(filepath.Join(dir, name), filepath.Join(dir, final))
	}
	logger.Info("storage: deleting uncommitted compaction swap file", "file", name)
	if err := fs.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}
