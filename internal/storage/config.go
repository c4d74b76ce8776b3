package storage

import (
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
)

// Config holds the topic-level settings a log obeys. Field comments give the
// Kafka topic config each one mirrors.
type Config struct {
	SegmentBytes       int64 // segment.bytes, default 1073741824
	SegmentMs          int64 // segment.ms, default 604800000
	RetentionMs        int64 // retention.ms, default 604800000; -1 = no time limit
	RetentionBytes     int64 // retention.bytes, default -1 = no limit
	IndexIntervalBytes int64 // index.interval.bytes, default 4096
	SegmentIndexBytes  int64 // segment.index.bytes, default 10485760
	FlushMessages      int64 // flush.messages, default math.MaxInt64 (never)
	FlushMs            int64 // flush.ms, default math.MaxInt64 (never)

	// cleanup.policy (default "delete"). Delete keeps retention.ms and
	// retention.bytes in force; with Compact alone they do not apply
	// (normalized sets both to -1). Compact enables Log.Compact. A Config
	// with neither set behaves as "delete".
	Compact bool // cleanup.policy contains "compact"
	Delete  bool // cleanup.policy contains "delete"
	// Compaction settings, taken as given (0 is a valid value for each).
	DeleteRetentionMs      int64   // delete.retention.ms, default 86400000
	MinCompactionLagMs     int64   // min.compaction.lag.ms, default 0
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio, default 0.5; clamped to [0, 1]
}

// DefaultConfig returns Kafka's defaults for the topic configs in Config.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 60 * 60 * 1000,
		RetentionMs:        7 * 24 * 60 * 60 * 1000,
		RetentionBytes:     -1,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,

		Delete:                 true,
		DeleteRetentionMs:      24 * 60 * 60 * 1000,
		MinCleanableDirtyRatio: 0.5,
	}
}

// Bounds the log applies to configured values (see normalized).
const (
	minSegmentBytes = 14 // Kafka's lower bound for segment.bytes
	// maxSegmentBytes keeps every file position representable in the
	// int32 position field of the offset index.
	maxSegmentBytes   = math.MaxInt32
	minIndexBytes     = timeEntrySize
	maxRelativeOffset = math.MaxInt32
)

// normalized returns c with out-of-range values clamped to what the on-disk
// format can represent and non-positive values replaced by their defaults.
func (c Config) normalized() Config {
	d := DefaultConfig()
	c.SegmentBytes = clamp(orDefault(c.SegmentBytes, d.SegmentBytes), minSegmentBytes, maxSegmentBytes)
	c.SegmentMs = orDefault(c.SegmentMs, d.SegmentMs)
	c.SegmentIndexBytes = clamp(orDefault(c.SegmentIndexBytes, d.SegmentIndexBytes), minIndexBytes, math.MaxInt32)
	c.IndexIntervalBytes = max(c.IndexIntervalBytes, 0)
	c.FlushMessages = orDefault(c.FlushMessages, d.FlushMessages)
	c.FlushMs = max(c.FlushMs, 0)
	if c.Compact && !c.Delete {
		c.RetentionMs, c.RetentionBytes = -1, -1
	}
	c.DeleteRetentionMs = max(c.DeleteRetentionMs, 0)
	c.MinCompactionLagMs = max(c.MinCompactionLagMs, 0)
	c.MinCleanableDirtyRatio = min(max(c.MinCleanableDirtyRatio, 0), 1)
	if math.IsNaN(c.MinCleanableDirtyRatio) {
		c.MinCleanableDirtyRatio = d.MinCleanableDirtyRatio
	}
	return c
}

func orDefault(v, d int64) int64 {
	if v <= 0 {
		return d
	}
	return v
}

func clamp(v, lo, hi int64) int64 { return min(max(v, lo), hi) }

// Errors returned by a Log. Callers translate them to Kafka error codes:
// ErrOffsetOutOfRange to OFFSET_OUT_OF_RANGE, ErrLogFailed and ErrClosed to
// KAFKA_STORAGE_ERROR, ErrNonContiguous and invalid batches (wrapping the
// record package's errors) to CORRUPT_MESSAGE / INVALID_RECORD.
var (
	// ErrOffsetOutOfRange: a read or truncate offset outside [log start, LEO].
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrLogFailed: the log hit an I/O error and is stopped (sticky).
	ErrLogFailed = errors.New("storage: log failed")
	// ErrClosed: the log was closed or deleted.
	ErrClosed = errors.New("storage: log closed")
	// ErrNonContiguous: a follower append does not start at the log end
	// offset, or its batches do not follow each other.
	ErrNonContiguous = errors.New("storage: batch offsets do not continue the log")
	// ErrInvalidBatch: the bytes handed to an append are not whole v2
	// batches (also wraps the record package's error when there is one).
	ErrInvalidBatch = errors.New("storage: invalid batch")
	// ErrNotSynced: SyncTo found the batches it was to sync truncated away
	// (the replica stopped leading meanwhile); they must not be
	// acknowledged. The log stays usable.
	ErrNotSynced = errors.New("storage: batches not synced")
)

// Options are the per-open inputs of a Log.
type Options struct {
	// Config: start from DefaultConfig(). Non-positive sizes and periods
	// fall back to defaults, but RetentionMs and RetentionBytes are taken
	// as given: 0 means "retain nothing", -1 "no limit".
	Config         Config
	RecoveryPoint  int64            // from the recovery-point checkpoint; 0 if unknown
	LogStartOffset int64            // from the log-start checkpoint; 0 if unknown
	Clean          bool             // the log dir had a clean-shutdown marker: skip the recovery scan
	Now            func() time.Time // clock for segment.ms, retention.ms and flush.ms; nil = time.Now
	Logger         *slog.Logger     // nil = slog.Default()
	// OnFailure, if set, is told of the log's sticky failure (an error
	// wrapping ErrLogFailed) once, when it happens. It is called with the
	// log's mutex held: it must not call the Log, and must not block.
	OnFailure func(err error)
	// Lazy opens a log whose directory does not exist yet without
	// creating anything on disk: the log is empty at LogStartOffset, and
	// its directory, first segment and epoch checkpoint are created (with
	// OnCreate first) just before its first batch is written (see
	// Log.materialize). A partition that never receives a record then
	// costs no file, and creating thousands of partitions costs no IO.
	Lazy bool
	// OnCreate, if set, runs right after a lazy log's directory is made
	// and before any other file of it is created (the Manager writes
	// partition.metadata there). An error fails the log.
	OnCreate func(dir string) error
	// PersistLogStart, if set, makes the log's current log start offset
	// durable (the Manager writes its dir's log-start-offset-checkpoint);
	// Log.PersistLogStart calls it with no lock of the log's held.
	PersistLogStart func() error
	// FS is the filesystem the log's files live on; nil = vfs.Default
	// (the OS). Tests pass an in-memory one (vfs.NewStrictMem) to crash
	// the log, or vfs.Inject to fail its IO.
	FS vfs.FS
}
