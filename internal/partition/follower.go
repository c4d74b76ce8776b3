package partition

import (
	"errors"
	"fmt"

	"github.com/fjordlog/fjord/internal/storage"
)

// Follower-side replication (reference/kafka-replication.md §3): a
// follower appends what it fetched from the leader unchanged, takes the
// leader's high watermark and log start offset, and truncates a divergent
// suffix when the leader says so. Every call names the leader epoch the
// fetch was made in; a call for an epoch that is no longer current gets
// ErrStaleEpoch and changes nothing, so a fetch that raced a leader change
// can never write into the new epoch.

// ErrStaleEpoch is returned by follower calls made for an old leader epoch
// or when this replica is no longer a follower.
var ErrStaleEpoch = errors.New("partition: follower state is for an old leader epoch")

// FetchState is what a follower's next fetch asks for.
type FetchState struct {
	Leader           int32
	LeaderEpoch      int32
	FetchOffset      int64 // our log end offset
	LogStartOffset   int64
	LastFetchedEpoch int32 // epoch of our last batch, -1 if none
}

// FollowerFetchState returns the next fetch's parameters, or false when
// this replica does not follow a live leader.
func (p *Partition) FollowerFetchState() (FetchState, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isFollower() {
		return FetchState{}, false
	}
	last, ok := p.log.LatestEpoch()
	if !ok {
		last = -1
	}
	return FetchState{
		Leader: p.state.Leader, LeaderEpoch: p.state.LeaderEpoch,
		FetchOffset: p.log.LogEndOffset(), LogStartOffset: p.log.LogStartOffset(), LastFetchedEpoch: last,
	}, true
}

func (p *Partition) isFollower() bool {
	return p.failed == nil && p.state.Leader >= 0 && p.state.Leader != p.localID
}

// checkFollower verifies the call is for the current epoch. Called with mu held.
func (p *Partition) checkFollower(epoch int32) error {
	if p.failed != nil {
		return fmt.Errorf("%w: %v", ErrStorage, p.failed)
	}
	if !p.isFollower() || epoch != p.state.LeaderEpoch {
		return ErrStaleEpoch
	}
	return nil
}

// AppendFromLeader appends fetched batches (validated, offsets kept) and
// takes the leader's high watermark and log start offset. When
// flush.messages / flush.ms ask for it, the batches are fsynced before it
// returns (so before the next fetch reports them to the leader).
func (p *Partition) AppendFromLeader(epoch int32, batches []byte, leaderHW, leaderLogStart int64) error {
	syncTo, err := p.appendFromLeader(epoch, batches, leaderHW, leaderLogStart)
	if err != nil || syncTo < 0 {
		return err
	}
	return p.Sync(syncTo)
}

func (p *Partition) appendFromLeader(epoch int32, batches []byte, leaderHW, leaderLogStart int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollower(epoch); err != nil {
		return -1, err
	}
	syncTo := int64(-1)
	if len(batches) > 0 {
		info, err := p.log.AppendAsFollower(batches)
		if err != nil {
			return -1, p.followerError(err)
		}
		if err := p.recordFollowed(batches, info.RolledTo); err != nil {
			return -1, err
		}
		syncTo = info.SyncTo
	}
	if leaderLogStart > p.log.LogStartOffset() && leaderLogStart <= p.log.LogEndOffset() {
		if err := p.log.SetLogStartOffset(leaderLogStart); err != nil {
			return -1, p.followerError(err)
		}
	}
	p.setFollowerHW(leaderHW)
	return syncTo, nil
}

// recordFollowed applies appended batches to the producer and
// transaction state (markers included, with their .txnindex entries),
// saving a snapshot at rolledTo (when >= 0) as of the batches below it.
// Called with mu held; a storage error has failed the replica.
func (p *Partition) recordFollowed(batches []byte, rolledTo int64) error {
	if rolledTo < 0 {
		return p.replayBatches(batches, fromLeader)
	}
	i := splitAt(batches, rolledTo)
	if err := p.replayBatches(batches[:i], fromLeader); err != nil {
		return err
	}
	if err := p.saveProducerSnapshot(rolledTo); err != nil {
		return err
	}
	return p.replayBatches(batches[i:], fromLeader)
}

// setFollowerHW takes the leader's HW, clamped to our log. Called with mu held.
func (p *Partition) setFollowerHW(leaderHW int64) {
	hw := min(max(leaderHW, p.log.LogStartOffset()), p.log.LogEndOffset())
	if hw != p.hw {
		p.hw = hw
		p.notify()
	}
}

// followerError fails the replica on storage errors; a batch that does not
// fit (not contiguous, bad CRC) is returned as is and the fetch retried.
func (p *Partition) followerError(err error) error {
	if errors.Is(err, storage.ErrNonContiguous) || errors.Is(err, storage.ErrInvalidBatch) ||
		errors.Is(err, storage.ErrOffsetOutOfRange) {
		return err
	}
	return p.fail(err)
}

// TruncateOnDivergence truncates our log where it diverges from the
// leader's, given the leader's answer for our last fetched epoch
// (KIP-279/320): to the end of that epoch if we have it, else to the end
// of our largest epoch below it, and never past the leader's end offset.
func (p *Partition) TruncateOnDivergence(epoch int32, d Diverging) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollower(epoch); err != nil {
		return 0, err
	}
	to := min(d.EndOffset, p.log.LogEndOffset())
	if ours, end := p.log.EndOffsetForEpoch(d.Epoch); ours >= 0 {
		to = min(to, end)
	}
	return to, p.truncate(to)
}

// TruncateTo truncates our log to offset (follower recovery after
// OFFSET_OUT_OF_RANGE when we are ahead of the leader).
func (p *Partition) TruncateTo(epoch int32, offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollower(epoch); err != nil {
		return err
	}
	return p.truncate(min(offset, p.log.LogEndOffset()))
}

func (p *Partition) truncate(offset int64) error {
	if offset > p.log.LogEndOffset() {
		return nil
	}
	if offset == p.log.LogEndOffset() {
		// Nothing to cut, but drop epochs that start here with no record
		// (an epoch this replica led without appending).
		if err := p.log.TruncateTo(offset); err != nil {
			return p.followerError(err)
		}
		return nil
	}
	if offset < p.log.LogStartOffset() {
		return p.restartAt(offset)
	}
	p.logger.Warn("truncating divergent log suffix", "from", p.log.LogEndOffset(), "to", offset)
	if err := p.log.TruncateTo(offset); err != nil {
		return p.followerError(err)
	}
	p.hw = min(p.hw, p.log.LogEndOffset())
	if err := p.rebuildProducers(); err != nil {
		return p.fail(err)
	}
	return nil
}

// ResetTo empties our log and restarts it at offset (we are behind the
// leader's log start offset).
func (p *Partition) ResetTo(epoch int32, offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollower(epoch); err != nil {
		return err
	}
	return p.restartAt(offset)
}

func (p *Partition) restartAt(offset int64) error {
	p.logger.Warn("restarting log at the leader's log start offset", "offset", offset)
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return p.fail(err)
	}
	p.hw = offset
	p.resetProducers(producers{})
	return nil
}
