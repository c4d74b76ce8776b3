package partition

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
)

// DeleteRecords (KIP-107) on the leader: the log start offset moves up to
// the requested offset, durably, and the segments wholly below it go
// (storage/logstart.go gives the order and why it is crash safe).
// Followers learn the new log start from the LogStartOffset of their
// fetch responses (AppendFromLeader) and report theirs in their fetches;
// the low watermark, the smallest log start over the leader and its live
// followers, tells when every replica has it (Kafka's
// lowWatermarkIfLeader, which DelayedDeleteRecords waits on).

// ErrPolicyViolation: records of a topic whose cleanup.policy lacks
// "delete" cannot be deleted (POLICY_VIOLATION).
var ErrPolicyViolation = errors.New("partition: cleanup.policy does not allow deleting records")

// DeleteToHW is DeleteRecords' offset meaning "the high watermark".
const DeleteToHW int64 = -1

// DeleteRecords raises the log start offset to offset (DeleteToHW: the
// high watermark) and returns the new log start offset; the caller then
// waits for the low watermark to reach it (WaitForLowWatermark). It
// fails with ErrNotLeader when this replica does not lead,
// ErrPolicyViolation on a compact-only topic, ErrOffsetOutOfRange when
// offset is above the high watermark (or below -1). An offset at or below
// the log start changes nothing. The new start is persisted before the
// call returns; a storage error stops the replica (ErrStorage).
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	target, moved, err := p.advanceStart(offset)
	if err != nil || !moved {
		return target, err
	}
	// The checkpoint is written without the partition's lock: appends and
	// fetches go on meanwhile (they read the new start already).
	if err := p.log.PersistLogStart(); err != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		return -1, p.fail(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.log.DeleteSegmentsBelowStart(); err != nil {
		return -1, p.fail(err)
	}
	return target, nil
}

// advanceStart checks a DeleteRecords request and raises the in-memory log
// start; it returns the log start the request asks for (at least the
// current one) and whether it moved.
func (p *Partition) advanceStart(offset int64) (int64, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkDeleteRecords(offset); err != nil {
		return -1, false, err
	}
	if offset == DeleteToHW {
		offset = p.hw
	}
	moved, err := p.log.AdvanceLogStart(offset)
	if err != nil {
		return -1, false, p.fail(err)
	}
	if moved {
		p.logger.Info("log start offset advanced by DeleteRecords", "logStartOffset", offset)
		p.notify() // followers' long polls: they learn the new start sooner
	}
	return max(offset, p.log.LogStartOffset()), moved, nil
}

// checkDeleteRecords validates a request. Called with mu held.
func (p *Partition) checkDeleteRecords(offset int64) error {
	switch {
	case p.failed != nil:
		return fmt.Errorf("%w: %v", ErrStorage, p.failed)
	case !p.isLeader():
		return ErrNotLeader
	case !p.cfg.Storage.Delete:
		return ErrPolicyViolation
	case offset < DeleteToHW || offset > p.hw:
		return fmt.Errorf("%w: delete records up to %d, high watermark %d", ErrOffsetOutOfRange, offset, p.hw)
	}
	return nil
}

// LowWatermark returns, on the leader, the smallest log start offset over
// the leader and the followers on live brokers (Options.Eligible), as
// the followers last reported them in their fetches (0 for a follower
// that has not fetched in this leader epoch yet).
func (p *Partition) LowWatermark() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lowWatermark()
}

func (p *Partition) lowWatermark() (int64, error) {
	switch {
	case p.failed != nil:
		return -1, fmt.Errorf("%w: %v", ErrStorage, p.failed)
	case !p.isLeader() || p.leader == nil:
		return -1, ErrNotLeader
	}
	low := p.log.LogStartOffset()
	for id, f := range p.leader.followers {
		if p.eligible(id) {
			low = min(low, f.logStart)
		}
	}
	return low, nil
}

// WaitForLowWatermark blocks until the low watermark reaches offset and
// returns it. It returns ErrNotLeader if leadership is lost while
// waiting, and ctx's error (with the low watermark then) when ctx ends
// first. Followers' fetches reporting a higher log start wake it.
func (p *Partition) WaitForLowWatermark(ctx context.Context, offset int64) (int64, error) {
	w := NewWatcher()
	p.Watch(w)
	defer p.Unwatch(w)
	for {
		low, err := p.LowWatermark()
		if err != nil || low >= offset {
			return low, err
		}
		select {
		case <-w.C:
		case <-ctx.Done():
			return low, ctx.Err()
		}
	}
}

// LogDir returns the log directory (one of log.dirs) holding the
// replica's log, and the bytes its segments hold (DescribeLogDirs).
func (p *Partition) LogDir() (dir string, size int64) {
	return filepath.Dir(p.log.Dir()), p.log.Size()
}
