// Package partition holds one replica of one partition: its log, its role
// (leader or follower) and leader epoch, the high watermark, the ISR, and
// the requests waiting for the high watermark or the log end to move.
//
// Each Partition guards its state with one short mutex; no other lock is
// taken while it is held, except the log's own (storage calls are made
// under it so that appends, truncation and role changes are serialized).
// Waiters are woken by Watchers, never by polling.
package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/storage"
)

// Errors a Partition returns; handlers map them to Kafka error codes.
var (
	ErrNotLeader             = errors.New("partition: not the leader")                // NOT_LEADER_OR_FOLLOWER
	ErrNotEnoughReplicas     = errors.New("partition: ISR below min.insync.replicas") // NOT_ENOUGH_REPLICAS
	ErrNotEnoughReplicasLate = errors.New("partition: ISR shrank below min.insync.replicas after append")
	ErrMessageTooLarge       = errors.New("partition: batch larger than max.message.bytes")
	ErrFencedLeaderEpoch     = errors.New("partition: request leader epoch is older than ours")
	ErrUnknownLeaderEpoch    = errors.New("partition: request leader epoch is newer than ours")
	ErrOffsetOutOfRange      = storage.ErrOffsetOutOfRange
	ErrStorage               = errors.New("partition: storage failed") // KAFKA_STORAGE_ERROR
	ErrInvalidRecord         = errors.New("partition: invalid record") // INVALID_RECORD
	ErrTimeout               = errors.New("partition: timed out waiting for replication")
	// ErrOffsetNotAvailable: a new leader's high watermark is still below
	// the start of its leader epoch, so it does not know the partition's
	// end yet (OFFSET_NOT_AVAILABLE, retriable; KIP-207).
	ErrOffsetNotAvailable = errors.New("partition: high watermark not known yet in this leader epoch")
)

// Config is the part of the topic configuration the data path needs.
type Config struct {
	MinInsyncReplicas int
	MaxMessageBytes   int
	LogAppendTime     bool
	// Recompress and Compression: the topic's compression.type, when it is
	// not "producer", as a codec id batches are re-encoded with.
	Recompress  bool
	Compression int8
	// ReplicaLagTimeMax is replica.lag.time.max.ms: a follower that has not
	// caught up for this long leaves the ISR.
	ReplicaLagTimeMax time.Duration
	// ProducerIDExpiration is producer.id.expiration.ms: ExpireProducers
	// drops the state of producers idle this long (0: never).
	ProducerIDExpiration time.Duration
	Storage              storage.Config
}

// State is the replica's role as decided by the controller.
type State struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// Options create a Partition.
type Options struct {
	Topic   string
	TopicID [16]byte
	Index   int32
	LocalID int32
	Log     *storage.Log
	// HW is the checkpointed high watermark.
	HW     int64
	Config Config
	Now    func() time.Time
	Logger *slog.Logger
	// AlterISR sends a leader's ISR change to the controller. It must not
	// block nor call back into the partition before returning; the outcome
	// comes back through CompleteAlter.
	AlterISR func(AlterISR)
	// Eligible reports whether a broker may join an ISR (registered,
	// unfenced, not shutting down).
	Eligible func(id int32) bool
}

// Partition is one local replica.
type Partition struct {
	Topic    string
	TopicID  [16]byte
	Index    int32
	localID  int32
	log      *storage.Log
	now      func() time.Time
	logger   *slog.Logger
	alter    func(AlterISR)
	eligible func(int32) bool

	mu        sync.Mutex
	state     State
	cfg       Config
	hw        int64
	watchers  map[*Watcher]struct{}
	failed    error
	leader    *leaderState // non-nil while this replica leads
	producers producers    // idempotent and transactional producers' state
	txns      txnState     // the partition's open and unreplicated transactions (txn.go)
	// verifying holds the KIP-890 verification entries of producers with
	// no open transaction here, by producer id (txn.go); lastGuard is the
	// last guard handed out (guards start at 1: 0 means "not verified").
	verifying map[int64]*verification
	lastGuard uint64
}

// New wraps an opened log.
func New(o Options) *Partition {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.AlterISR == nil {
		o.AlterISR = func(AlterISR) {}
	}
	if o.Eligible == nil {
		o.Eligible = func(int32) bool { return true }
	}
	hw := min(max(o.HW, o.Log.LogStartOffset()), o.Log.LogEndOffset())
	p := &Partition{
		Topic: o.Topic, TopicID: o.TopicID, Index: o.Index, localID: o.LocalID, log: o.Log, now: o.Now,
		logger: o.Logger.With("topic", o.Topic, "partition", o.Index),
		alter:  o.AlterISR, eligible: o.Eligible,
		hw: hw, cfg: o.Config, watchers: map[*Watcher]struct{}{},
		state: State{Leader: -1, LeaderEpoch: -1}, verifying: map[int64]*verification{},
	}
	if err := p.rebuildProducers(); err != nil {
		_ = p.fail(err)
	}
	return p
}

// Log returns the replica's log (for retention and checkpointing by the owner).
func (p *Partition) Log() *storage.Log { return p.log }

// SetState applies the controller's view of the partition: becoming
// leader (a new leader epoch starts at the log end offset and is recorded
// in the epoch cache), staying leader with a new ISR, or following. Every
// watcher is woken so that requests waiting on a replica that lost
// leadership fail promptly.
func (p *Partition) SetState(s State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.Replicas, s.ISR = slices.Clone(s.Replicas), slices.Clone(s.ISR)
	old := p.state
	if s.LeaderEpoch == old.LeaderEpoch && s.Leader == old.Leader && s.PartitionEpoch < old.PartitionEpoch {
		return // older than what an AlterPartition answer already taught us
	}
	p.state = s
	switch {
	case s.Leader != p.localID:
		p.leader = nil
	case p.leader == nil || s.LeaderEpoch != old.LeaderEpoch:
		p.becomeLeader()
	case s.PartitionEpoch != old.PartitionEpoch:
		p.leader.pending = nil // the committed state moved on
		p.syncFollowers()
	default:
		p.syncFollowers() // an AlterPartition answer took the epoch first
	}
	p.maybeAdvanceHW()
	p.notify()
}

// SetConfig changes the topic configuration.
func (p *Partition) SetConfig(c Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = c
	p.log.UpdateConfig(c.Storage)
}

// IsLeader reports whether this replica leads the partition.
func (p *Partition) IsLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isLeader()
}

func (p *Partition) isLeader() bool { return p.state.Leader == p.localID && p.failed == nil }

// HighWatermark returns the high watermark.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hw
}

// LeaderEpoch returns the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.LeaderEpoch
}

// CheckEpoch validates a client's CurrentLeaderEpoch (-1 means none).
func (p *Partition) CheckEpoch(epoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkEpoch(epoch)
}

func (p *Partition) checkEpoch(epoch int32) error {
	switch {
	case epoch < 0 || epoch == p.state.LeaderEpoch:
		return nil
	case epoch < p.state.LeaderEpoch:
		return ErrFencedLeaderEpoch
	default:
		return ErrUnknownLeaderEpoch
	}
}

// fail stops the replica after a storage error: it no longer serves reads
// or writes, and waiters are woken to fail. Called with mu held.
func (p *Partition) fail(err error) error {
	if p.failed == nil {
		p.failed = err
		p.logger.Error("replica stopped after storage error", "err", err)
		p.notify()
	}
	return fmt.Errorf("%w: %v", ErrStorage, err)
}

// minISR is the effective min.insync.replicas: never more than the
// replication factor (KIP-966). Called with mu held.
func (p *Partition) minISR() int {
	return min(p.cfg.MinInsyncReplicas, len(p.state.Replicas))
}

// AppendResult describes a leader append.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	// SyncTo, when >= 0, is the offset flush.messages / flush.ms want
	// durable before the append is acknowledged: the caller calls Sync
	// with it (outside any lock of its own; concurrent calls share
	// fsyncs).
	SyncTo int64
}

// Sync makes the batches below offset durable (AppendResult.SyncTo). A
// storage failure stops the replica; batches truncated before they were
// synced (leadership lost meanwhile) get ErrNotLeader.
func (p *Partition) Sync(offset int64) error {
	err := p.log.SyncTo(offset)
	if err == nil {
		return nil
	}
	if errors.Is(err, storage.ErrNotSynced) {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fail(err)
}

// AppendAsLeader validates and appends one producer batch (the request's
// records for this partition; ownership of the slice passes to the
// partition). acks is the request's acks; with -1 the append is refused
// up front when the ISR is smaller than min.insync.replicas. The caller
// must Sync(res.SyncTo) before acknowledging when res.SyncTo >= 0.
//
// A transactional batch is accepted only while its producer has an open
// transaction of the batch's epoch here: opening one needs KIP-890
// verification
// (VerificationGuard, then AppendVerified); without it the batch gets
// ErrInvalidTxnState. AppendAsLeader is AppendVerified with guard 0.
func (p *Partition) AppendAsLeader(batch []byte, acks int16) (AppendResult, error) {
	return p.appendAsLeader(batch, appendOpts{acks: acks, epoch: anyEpoch, from: fromClient, verified: true})
}

// anyEpoch is appendAsLeader's epoch for appends not fenced by one.
const anyEpoch = -1

// appendOpts says how appendAsLeader treats a batch.
type appendOpts struct {
	acks  int16
	epoch int32  // the leader epoch the append must happen in, or anyEpoch
	guard uint64 // the verification guard of a transactional batch, 0 for none
	from  origin // fromClient or fromCoordinator
	// verified: a transactional batch that opens a transaction must carry
	// its producer's current guard (always for clients).
	verified bool
}

// appendAsLeader is AppendAsLeader, refused with ErrNotLeader unless the
// replica leads in o.epoch (when not anyEpoch).
func (p *Partition) appendAsLeader(batch []byte, o appendOpts) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1, SyncTo: -1}
	h, err := validateProduce(batch)
	if err != nil {
		return res, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkAppend(h, o.acks, o.epoch); err != nil {
		if errors.Is(err, ErrNotEnoughReplicas) || errors.Is(err, ErrNotLeader) {
			p.producers.refuse(h, err)
		}
		return res, err
	}
	dup, err := p.producers.check(h, o.from)
	if err != nil {
		return res, err
	}
	if dup != nil { // a retried batch: answer with where it went the first time
		res.BaseOffset, res.LastOffset, res.LogStartOffset = dup.firstOffset, dup.lastOffset, p.log.LogStartOffset()
		return res, nil
	}
	if err := p.checkTxn(h, o); err != nil {
		return res, err
	}
	if batch, err = p.recompress(batch, h); err != nil {
		return res, err
	}
	return p.writeLocked(batch, h, o.from)
}

// writeLocked appends a checked batch (header h) as leader: it stamps
// LogAppendTime when the topic asks for it, saves a producer snapshot
// when the log rolls, applies the batch to the producer and transaction
// state, wakes the watchers and advances the HW. Called with mu held.
func (p *Partition) writeLocked(batch []byte, h record.Header, from origin) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1, SyncTo: -1}
	if p.cfg.LogAppendTime {
		res.LogAppendTime = p.now().UnixMilli()
		record.SetLogAppendTime(batch, res.LogAppendTime)
		h.MaxTimestamp = res.LogAppendTime
	}
	info, err := p.log.AppendAsLeader(batch, p.state.LeaderEpoch)
	if err != nil {
		return res, p.fail(err)
	}
	res.BaseOffset, res.LastOffset, res.LogStartOffset = info.FirstOffset, info.LastOffset, p.log.LogStartOffset()
	res.SyncTo = info.SyncTo
	if info.RolledTo >= 0 { // the state as of the new segment's base: before this batch
		if err := p.saveProducerSnapshot(info.RolledTo); err != nil {
			return res, err
		}
	}
	h.BaseOffset = info.FirstOffset
	if err := p.applyBatch(batch, h, from); err != nil {
		return res, err
	}
	p.notify() // LEO moved: followers' long polls
	p.maybeAdvanceHW()
	return res, nil
}

// recompress re-encodes a producer batch with the topic's compression.type
// when it is set and differs from the producer's codec: the one case where
// the produce path decodes records, as in Kafka. Offsets, timestamps and
// producer fields are kept. Called with mu held.
func (p *Partition) recompress(batch []byte, h record.Header) ([]byte, error) {
	want := p.cfg.Compression
	if !p.cfg.Recompress || h.Compression() == want {
		return batch, nil
	}
	recs, err := record.Records(batch)
	if err != nil {
		return nil, err
	}
	tmpl := h
	tmpl.Attributes = h.Attributes&^record.CompressionMask | int16(want)
	return record.RebuildBatch(tmpl, recs)
}

func (p *Partition) checkAppend(h record.Header, acks int16, epoch int32) error {
	switch {
	case p.failed != nil:
		return fmt.Errorf("%w: %v", ErrStorage, p.failed)
	case !p.isLeader():
		return ErrNotLeader
	case epoch != anyEpoch && epoch != p.state.LeaderEpoch:
		return fmt.Errorf("%w: leader epoch %d, the appender's %d", ErrNotLeader, p.state.LeaderEpoch, epoch)
	case h.Size() > p.cfg.MaxMessageBytes:
		return fmt.Errorf("%w: %d bytes > %d", ErrMessageTooLarge, h.Size(), p.cfg.MaxMessageBytes)
	case acks == -1 && len(p.state.ISR) < p.minISR():
		return fmt.Errorf("%w: ISR %v, min.insync.replicas %d", ErrNotEnoughReplicas, p.state.ISR, p.cfg.MinInsyncReplicas)
	}
	return nil
}

// validateProduce checks a producer's records field: exactly one whole v2
// batch with a good CRC, base offset 0, at least one record with offsets
// dense (records count == lastOffsetDelta+1), no control records, and a
// producer id on a transactional batch.
func validateProduce(b []byte) (record.Header, error) {
	h, err := record.Validate(b)
	if err != nil {
		return h, err
	}
	switch {
	case h.Size() != len(b):
		return h, fmt.Errorf("%w: produce records must hold exactly one batch", record.ErrInvalid)
	case h.BaseOffset != 0:
		return h, fmt.Errorf("%w: batch base offset %d, expected 0", record.ErrInvalid, h.BaseOffset)
	case h.NumRecords <= 0 || int64(h.LastOffsetDelta) != int64(h.NumRecords)-1:
		return h, fmt.Errorf("%w: records count %d does not match lastOffsetDelta %d", record.ErrInvalid, h.NumRecords, h.LastOffsetDelta)
	case h.IsControl():
		return h, fmt.Errorf("%w: clients may not send control batches", record.ErrInvalid)
	case h.IsTransactional() && h.ProducerID < 0:
		return h, fmt.Errorf("%w: transactional batch without a producer id", record.ErrInvalid)
	}
	return h, nil
}

// WaitForHW blocks until the high watermark reaches offset (acks=all). It
// returns ErrNotLeader if leadership is lost while waiting, ctx's error on
// timeout, and ErrNotEnoughReplicasLate when the HW passed but the ISR is
// now smaller than min.insync.replicas.
func (p *Partition) WaitForHW(ctx context.Context, offset int64) error {
	w := NewWatcher()
	p.Watch(w)
	defer p.Unwatch(w)
	for {
		done, err := p.hwReached(offset)
		if done {
			return err
		}
		select {
		case <-w.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *Partition) hwReached(offset int64) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.failed != nil:
		return true, fmt.Errorf("%w: %v", ErrStorage, p.failed)
	case !p.isLeader():
		return true, ErrNotLeader
	case p.hw < offset:
		return false, nil
	case len(p.maximalISR()) < p.minISR(): // Kafka compares with the maximal ISR
		return true, ErrNotEnoughReplicasLate
	}
	return true, nil
}
