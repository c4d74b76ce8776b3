package partition

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/storage"
)

// Watcher is woken (non-blocking send on C) whenever a watched partition's
// high watermark or log end moves, or its role changes. One Watcher may
// watch many partitions: a fetch or an acks=all produce spanning several
// partitions waits on one channel.
type Watcher struct {
	C chan struct{}
	// Fired is set before each wake-up. A fetch session shares one C
	// among a Watcher per partition and learns which partitions changed
	// from its FireQueue, which a Watcher joins when Fired goes from
	// false to true.
	Fired atomic.Bool
	q     *FireQueue // nil: no queue
}

// NewWatcher returns a Watcher with a one-slot channel.
func NewWatcher() *Watcher { return &Watcher{C: make(chan struct{}, 1)} }

// NewWatcherOn returns a Watcher that wakes c (shared with other
// Watchers; give it one slot) and, if q is not nil, queues itself on q
// when it fires while unmarked.
func NewWatcherOn(c chan struct{}, q *FireQueue) *Watcher { return &Watcher{C: c, q: q} }

// Mark marks w fired and queues it, as a wake-up does, without sending
// on C: the next drain of its queue returns it.
func (w *Watcher) Mark() {
	if !w.Fired.Swap(true) && w.q != nil {
		w.q.push(w)
	}
}

// fire marks w and wakes its channel; sends never block.
func (w *Watcher) fire() {
	w.Mark()
	select {
	case w.C <- struct{}{}:
	default:
	}
}

// FireQueue lists the Watchers that fired since it was last drained, each
// once, so that a fetch session's wake-up costs O(changed partitions)
// rather than a scan of the session. Its mutex is a leaf lock: push runs
// under a partition's mu and nothing is locked while it is held.
type FireQueue struct {
	mu    sync.Mutex
	fired []*Watcher
}

func (q *FireQueue) push(w *Watcher) {
	q.mu.Lock()
	q.fired = append(q.fired, w)
	q.mu.Unlock()
}

// Drain appends the queued Watchers to buf, clears their marks and
// empties the queue. A partition change notified after a Watcher's mark
// is cleared queues it again; one notified before it is visible to a read
// made after Drain returns.
func (q *FireQueue) Drain(buf []*Watcher) []*Watcher {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range q.fired {
		w.Fired.Store(false)
	}
	buf = append(buf, q.fired...)
	clear(q.fired)
	q.fired = q.fired[:0]
	return buf
}

// Watch registers w.
func (p *Partition) Watch(w *Watcher) {
	p.mu.Lock()
	p.watchers[w] = struct{}{}
	p.mu.Unlock()
}

// Unwatch removes w.
func (p *Partition) Unwatch(w *Watcher) {
	p.mu.Lock()
	delete(p.watchers, w)
	p.mu.Unlock()
}

// notify wakes every watcher. Called with mu held; sends never block.
func (p *Partition) notify() {
	for w := range p.watchers {
		w.fire()
	}
}

// FetchResult is what a read returns for one partition.
type FetchResult struct {
	// Records locates the batches to send; the caller reads them (see
	// storage.Range for what may happen to them meanwhile).
	Records          storage.Range
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// AbortedTxns are, for a read_committed read, the aborted transactions
	// the consumer must drop records of (a non-nil slice, possibly empty);
	// nil for read_uncommitted.
	AbortedTxns []storage.AbortedTxn
}

// Fetch reads for a consumer: from offset, at most maxBytes (the first
// batch whole if minOneBatch), never at or above the high watermark, nor
// (readCommitted) at or above the last stable offset. The client's
// current leader epoch, if given (>= 0), must match ours. A read_committed
// read lists the aborted transactions among what it returns.
func (p *Partition) Fetch(offset int64, maxBytes int, minOneBatch bool, currentEpoch int32, readCommitted bool) (FetchResult, error) {
	p.mu.Lock()
	res, err := p.readState(currentEpoch)
	p.mu.Unlock()
	if err != nil {
		return res, err
	}
	limit := res.HighWatermark
	if readCommitted {
		limit = res.LastStableOffset
	}
	r, err := p.log.ReadRange(offset, maxBytes, limit, minOneBatch)
	if err != nil {
		return res, p.readError(err)
	}
	res.Records = r
	if readCommitted {
		res.AbortedTxns, err = p.abortedIn(offset, r, limit)
	}
	return res, err
}

// abortedIn lists the aborted transactions a read_committed consumer
// needs for the batches of r, read from offset below limit: those of the
// .txnindex that end at or after offset and start before the first offset
// not returned (docs/transactions-reference.md §8).
func (p *Partition) abortedIn(offset int64, r storage.Range, limit int64) ([]storage.AbortedTxn, error) {
	if r.Size == 0 {
		return []storage.AbortedTxn{}, nil
	}
	txns, err := p.log.CollectAbortedTxns(offset, upperBound(offset, r, limit))
	if err != nil {
		return nil, p.readError(err)
	}
	if txns == nil {
		txns = []storage.AbortedTxn{}
	}
	return txns, nil
}

// upperBound returns an offset at least the first one after the batches
// of r (read from offset, below limit) and at most limit: the base offset
// of the batch stored right after r when there is one (one header read),
// else (r ends its segment file) the end of r's last batch, found by
// walking r's batch headers, else limit. Listing too many aborted
// transactions is harmless (a consumer ignores those it reaches no batch
// of); too few would deliver aborted records.
func upperBound(offset int64, r storage.Range, limit int64) int64 {
	if next, ok := batchAt(r.File, r.Pos+int64(r.Size)); ok && next > offset {
		return min(next, limit)
	}
	if end, ok := rangeEnd(r); ok {
		return min(end, limit)
	}
	return limit
}

// batchAt returns the base offset of the batch whose header is at pos in
// f, if a whole header is there.
func batchAt(f io.ReaderAt, pos int64) (int64, bool) {
	var b [record.HeaderSize]byte
	if n, err := f.ReadAt(b[:], pos); n < len(b) && err != nil {
		return 0, false
	}
	h, err := record.ParseHeader(b[:])
	if err != nil {
		return 0, false
	}
	return h.BaseOffset, true
}

// rangeEnd returns the offset after the last batch of r, walking its
// batch headers (one read each); ok is false if they do not tile r.
func rangeEnd(r storage.Range) (int64, bool) {
	var b [record.HeaderSize]byte
	pos, end, next := r.Pos, r.Pos+int64(r.Size), int64(-1)
	for pos < end {
		if n, err := r.File.ReadAt(b[:], pos); n < len(b) && err != nil {
			return 0, false
		}
		h, err := record.ParseHeader(b[:])
		if err != nil {
			return 0, false
		}
		next, pos = h.NextOffset(), pos+int64(h.Size())
	}
	return next, pos == end && next >= 0
}

func (p *Partition) readState(currentEpoch int32) (FetchResult, error) {
	res := FetchResult{HighWatermark: p.hw, LastStableOffset: p.lastStable(), LogStartOffset: p.log.LogStartOffset()}
	switch {
	case p.failed != nil:
		return res, fmt.Errorf("%w: %v", ErrStorage, p.failed)
	case !p.isLeader():
		return res, ErrNotLeader
	}
	return res, p.checkEpoch(currentEpoch)
}

// readError maps a storage read error: out-of-range is the client's
// problem; anything else stops the replica.
func (p *Partition) readError(err error) error {
	if errors.Is(err, ErrOffsetOutOfRange) {
		return ErrOffsetOutOfRange
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fail(err)
}

// Offsets is the answer to a ListOffsets lookup.
type Offsets struct {
	Offset      int64
	Timestamp   int64
	LeaderEpoch int32
}

// Special ListOffsets timestamps.
const (
	Latest       int64 = -1
	Earliest     int64 = -2
	MaxTimestamp int64 = -3
)

// Isolation is whose view of the log a ListOffsets lookup takes.
type Isolation int8

// Isolation levels: Kafka's IsolationLevel values, and the replicas' view.
const (
	// ReadUncommitted: consumers' default, up to the high watermark.
	ReadUncommitted Isolation = 0
	// ReadCommitted: read_committed consumers, up to the last stable offset.
	ReadCommitted Isolation = 1
	// ReplicaView: a replica (ListOffsets with a replica id), up to the
	// log end offset.
	ReplicaView Isolation = -1
)

// ListOffset answers ListOffsets: earliest (-2) is the log start offset,
// latest (-1) the end of what iso may read — the high watermark
// (ReadUncommitted), the last stable offset (ReadCommitted), the log end
// offset (ReplicaView: a follower recovering from OFFSET_OUT_OF_RANGE) —
// and a timestamp the first offset whose timestamp is at least it, below
// that end, or -1. While a leader's high watermark is below the start of
// its epoch, a client's latest or timestamp lookup gets
// ErrOffsetNotAvailable.
func (p *Partition) ListOffset(ts int64, currentEpoch int32, iso Isolation) (Offsets, error) {
	p.mu.Lock()
	st, err := p.readState(currentEpoch)
	epoch := p.state.LeaderEpoch
	hwUnknown := p.leader != nil && p.hw < p.leader.epochStart
	p.mu.Unlock()
	if err != nil {
		return Offsets{}, err
	}
	if hwUnknown && iso != ReplicaView && ts != Earliest {
		// A stale high watermark (after a restart or a leader change)
		// would send a client back in the log.
		return Offsets{}, ErrOffsetNotAvailable
	}
	limit := st.HighWatermark
	switch iso {
	case ReadCommitted:
		limit = st.LastStableOffset
	case ReplicaView:
		limit = p.log.LogEndOffset()
	}
	switch ts {
	case Earliest:
		return Offsets{Offset: st.LogStartOffset, Timestamp: -1, LeaderEpoch: p.epochAt(st.LogStartOffset, epoch)}, nil
	case Latest:
		return Offsets{Offset: limit, Timestamp: -1, LeaderEpoch: epoch}, nil
	}
	off, found, err := p.byTimestamp(ts, limit)
	if err != nil || !found {
		return Offsets{Offset: -1, Timestamp: -1, LeaderEpoch: -1}, err
	}
	off.LeaderEpoch = p.epochAt(off.Offset, epoch)
	return off, nil
}

func (p *Partition) byTimestamp(ts, hw int64) (Offsets, bool, error) {
	if ts == MaxTimestamp {
		return p.maxTimestamp(hw)
	}
	off, t, found, err := p.log.OffsetForTimestamp(ts)
	if err != nil {
		return Offsets{}, false, p.readError(err)
	}
	if !found || off >= hw {
		return Offsets{}, false, nil
	}
	return Offsets{Offset: off, Timestamp: t}, true, nil
}

// epochAt returns the leader epoch of the record at offset from the epoch
// cache, or the current epoch when the cache does not know.
func (p *Partition) epochAt(offset int64, current int32) int32 {
	latest, ok := p.log.LatestEpoch()
	if !ok {
		return current
	}
	for e := latest; e >= 0; e-- {
		start, ok := p.log.EpochStartOffset(e)
		if ok && start <= offset {
			return e
		}
	}
	return current
}

// maxTimestamp finds the record with the largest timestamp below hw
// (ListOffsets MAX_TIMESTAMP, KIP-734). It scans batch headers from the log
// start: this lookup is rare and administrative, and touches no records
// except in the one batch that holds the maximum.
func (p *Partition) maxTimestamp(hw int64) (Offsets, bool, error) {
	best := Offsets{Offset: -1, Timestamp: -1}
	var bestBatch []byte
	for off := p.log.LogStartOffset(); off < hw; {
		info, err := p.log.Read(off, 1<<20, hw, true)
		if err != nil {
			return best, false, p.readError(err)
		}
		if len(info.Bytes) == 0 {
			break
		}
		off = p.scanMax(info.Bytes, &best, &bestBatch)
	}
	if bestBatch == nil {
		return best, false, nil
	}
	o, t, ok, err := record.FirstOffsetAtOrAfterTimestamp(bestBatch, best.Timestamp)
	if err != nil || !ok {
		return best, false, err
	}
	return Offsets{Offset: o, Timestamp: t}, true, nil
}

// scanMax walks whole batches in b, keeping the one with the largest
// maxTimestamp, and returns the offset after the last batch.
func (p *Partition) scanMax(b []byte, best *Offsets, bestBatch *[]byte) int64 {
	var next int64
	for len(b) >= record.HeaderSize {
		h, err := record.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		if h.MaxTimestamp > best.Timestamp {
			best.Timestamp = h.MaxTimestamp
			*bestBatch = b[:h.Size()]
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch on the leader: the
// largest epoch not above epoch and its end offset, (-1, -1) if unknown.
func (p *Partition) EndOffsetForEpoch(epoch, currentEpoch int32) (int32, int64, error) {
	p.mu.Lock()
	_, err := p.readState(currentEpoch)
	p.mu.Unlock()
	if err != nil {
		return -1, -1, err
	}
	e, end := p.log.EndOffsetForEpoch(epoch)
	return e, end, nil
}

// LogEndOffset returns the log end offset (ListOffsets latest for replicas).
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// ReadLocal reads whole batches from the local log, whatever this
// replica's role, up to maxOffset: for owners that replay a partition's
// content (the group coordinator loading __consumer_offsets).
func (p *Partition) ReadLocal(offset int64, maxBytes int, maxOffset int64) ([]byte, error) {
	info, err := p.log.Read(offset, maxBytes, maxOffset, true)
	if err != nil {
		return nil, p.readError(err)
	}
	return info.Bytes, nil
}

// LogStartOffset returns the log start offset.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }
