package broker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/fjordlog/fjord/internal/metadata"
)

// metaState is the node's replica of the metadata: the quorum's state
// machine. It replays committed entries into images, hands each new image
// and its delta to the reconciler, and then publishes the image.
//
// Apply, Snapshot and Restore are called from the quorum's apply
// goroutine only; Image and WaitOffset from anywhere.
type metaState struct {
	logger    *slog.Logger
	reconcile func(img *metadata.Image, delta *metadata.Delta)
	img       atomic.Pointer[metadata.Image]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every new image
}

func newMetaState(logger *slog.Logger, reconcile func(*metadata.Image, *metadata.Delta)) *metaState {
	m := &metaState{logger: logger, reconcile: reconcile, changed: make(chan struct{})}
	m.img.Store(metadata.Empty())
	return m
}

// Image returns the latest image.
func (m *metaState) Image() *metadata.Image { return m.img.Load() }

// Apply replays one committed entry. An entry that does not decode or fit
// the image is skipped, identically on every node (they all replay the
// same entries against the same image), and logged loudly: it can only
// come from a bug.
func (m *metaState) Apply(index uint64, data []byte) {
	recs, err := metadata.DecodeBatch(data)
	if err != nil {
		m.logger.Error("undecodable metadata entry skipped", "offset", index, "err", err)
		return
	}
	img, delta, err := m.Image().Apply(int64(index), recs)
	if err != nil {
		m.logger.Error("inconsistent metadata entry skipped", "offset", index, "err", err)
		return
	}
	m.publish(img, delta)
}

// Snapshot serializes the latest image.
func (m *metaState) Snapshot() ([]byte, error) {
	return metadata.EncodeBatch(m.Image().Records())
}

// Restore replaces the image with a snapshot taken at index and
// reconciles every partition against it.
func (m *metaState) Restore(index uint64, data []byte) error {
	recs, err := metadata.DecodeBatch(data)
	if err != nil {
		return err
	}
	img, _, err := metadata.Empty().Apply(int64(index), recs)
	if err != nil {
		return err
	}
	m.publish(img, restoreDelta(m.Image(), img))
	return nil
}

func (m *metaState) publish(img *metadata.Image, delta *metadata.Delta) {
	m.reconcile(img, delta)
	m.img.Store(img)
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// WaitOffset blocks until the image has reached offset (or ctx ends).
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
