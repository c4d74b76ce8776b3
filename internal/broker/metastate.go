package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/fjordlog/fjord/internal/metadata"
)

// metaState is the node's replica of the metadata: the quorum's state
// machine. It replays committed entries into images on the quorum's apply
// goroutine (pure, in memory) and hands each new image and its delta to
// the reconciler goroutine, which turns them into local replica changes
// (disk IO: logs opened, created, removed) off the Raft loop and then
// publishes the image. A busy reconciler never holds up Raft: deltas that
// queue up meanwhile are merged and reconciled against the latest image.
//
// Two images: Applied is the state machine's (the controller decides on
// it, and a commit returns once it holds the change); Image is the
// published one, which this broker has reconciled: handlers serve it, so a
// client that sees a topic or a leader in Metadata finds the replica
// ready. Apply, Snapshot and Restore are called from the quorum's apply
// goroutine only; everything else from anywhere.
type metaState struct {
	logger    *slog.Logger
	reconcile func(img *metadata.Image, delta *metadata.Delta)
	applied   atomic.Pointer[metadata.Image]
	img       atomic.Pointer[metadata.Image]

	mu      sync.Mutex
	pending []*metadata.Delta // applied but not yet reconciled, in order
	wake    chan struct{}     // signalled when pending grows (capacity 1)
	changed chan struct{}     // closed and replaced on every published image

	failed   chan error // the first entry this node cannot read (see Failed)
	failOnce sync.Once
}

func newMetaState(logger *slog.Logger, reconcile func(*metadata.Image, *metadata.Delta)) *metaState {
	m := &metaState{logger: logger, reconcile: reconcile, changed: make(chan struct{}), wake: make(chan struct{}, 1),
		failed: make(chan error, 1)}
	m.img.Store(metadata.Empty())
	m.applied.Store(metadata.Empty())
	return m
}

// Image returns the latest published (reconciled) image.
func (m *metaState) Image() *metadata.Image { return m.img.Load() }

// Applied returns the latest applied image, which may be ahead of Image.
func (m *metaState) Applied() *metadata.Image { return m.applied.Load() }

// Apply replays one committed entry. An entry that does not decode or fit
// the image is skipped, identically on every node (they all replay the
// same entries against the same image), and logged loudly: it can only
// come from a bug.
func (m *metaState) Apply(index uint64, data []byte) {
	recs, err := metadata.DecodeBatch(data)
	if errors.Is(err, metadata.ErrNewerVersion) {
		m.fail(fmt.Errorf("metadata entry at offset %d: %w", index, err))
		return
	}
	if err != nil {
		m.logger.Error("undecodable metadata entry skipped", "offset", index, "err", err)
		return
	}
	img, delta, err := m.Applied().Apply(int64(index), recs)
	if err != nil {
		m.logger.Error("inconsistent metadata entry skipped", "offset", index, "err", err)
		return
	}
	m.enqueue(img, delta)
}

// Snapshot serializes the latest applied image.
func (m *metaState) Snapshot() ([]byte, error) {
	return metadata.EncodeSnapshot(m.Applied())
}

// Failed receives the first metadata entry this node cannot read because
// a newer release wrote it. Skipping it would leave this node's image
// behind every other's, so the node halts (as Kafka's metadata loader
// faults); the quorum keeps the entry for a node that can read it.
func (m *metaState) Failed() <-chan error { return m.failed }

func (m *metaState) fail(err error) {
	m.failOnce.Do(func() { m.failed <- err })
}

// Restore replaces the image with a snapshot taken at index and
// reconciles every partition against it.
func (m *metaState) Restore(index uint64, data []byte) error {
	recs, err := metadata.DecodeSnapshot(data)
	if err != nil {
		return err
	}
	img, _, err := metadata.Empty().Apply(int64(index), recs)
	if err != nil {
		return err
	}
	m.enqueue(img, restoreDelta(m.Applied(), img))
	return nil
}

// enqueue makes img the applied image and queues its delta; it never
// blocks on the reconciler.
func (m *metaState) enqueue(img *metadata.Image, delta *metadata.Delta) {
	m.mu.Lock()
	m.applied.Store(img)
	m.pending = append(m.pending, delta)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// run reconciles queued deltas until stop closes.
func (m *metaState) run(stop <-chan struct{}) {
	for {
		select {
		case <-m.wake:
			m.reconcilePending()
		case <-stop:
			return
		}
	}
}

// reconcilePending reconciles every queued delta, merged, against the
// applied image of that moment, and publishes that image.
func (m *metaState) reconcilePending() {
	m.mu.Lock()
	img, deltas := m.Applied(), m.pending
	m.pending = nil
	m.mu.Unlock()
	if len(deltas) == 0 {
		return
	}
	m.reconcile(img, metadata.MergeDeltas(deltas))
	m.publish(img)
}

func (m *metaState) publish(img *metadata.Image) {
	m.img.Store(img)
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// WaitOffset blocks until the published image has reached offset (or ctx
// ends).
func (m *metaState) WaitOffset(ctx context.Context, offset int64) error {
	for {
		m.mu.Lock()
		ch := m.changed
		m.mu.Unlock()
		if m.Image().Offset >= offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// restoreDelta is the delta from old to a restored image: every partition
// of the new image, and every topic of the old one that is gone.
func restoreDelta(old, img *metadata.Image) *metadata.Delta {
	d := fullDelta(img)
	d.DeletedTopics = map[metadata.UUID]*metadata.TopicImage{}
	for id, t := range old.Topics {
		if _, ok := img.Topics[id]; !ok {
			d.DeletedTopics[id] = t
		}
	}
	d.ChangedConfigs = map[metadata.ConfigKey]bool{}
	for k := range img.Configs {
		d.ChangedConfigs[k] = true
	}
	return d
}

// fullDelta is a delta that touches every partition of img.
func fullDelta(img *metadata.Image) *metadata.Delta {
	d := &metadata.Delta{ChangedPartitions: map[metadata.UUID]map[int32]bool{}}
	for id, t := range img.Topics {
		m := map[int32]bool{}
		for i := range t.Partitions {
			m[int32(i)] = true
		}
		d.ChangedPartitions[id] = m
	}
	return d
}
