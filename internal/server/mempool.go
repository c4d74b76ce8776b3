package server

import (
	"context"
	"sync"
)

// memPool bounds the bytes of requests read but not yet served
// (queued.max.request.bytes), as Kafka's memory pool does: a connection
// reserves a frame's size once the size is read, before its bytes, and
// while the pool is exhausted it stops reading (its peer sees
// back-pressure through TCP) until served requests give memory back. Like
// Kafka's non-strict pool, a reservation succeeds whenever any memory is
// left, so one frame larger than what remains (or than the whole pool)
// still goes through; the pool then runs negative until it is returned.
// A nil *memPool is unbounded.
type memPool struct {
	mu    sync.Mutex
	avail int64
	freed chan struct{} // closed and replaced when memory comes back
}

// newMemPool returns a pool of limit bytes, nil (unbounded) for limit <= 0.
func newMemPool(limit int64) *memPool {
	if limit <= 0 {
		return nil
	}
	return &memPool{avail: limit, freed: make(chan struct{})}
}

// acquire reserves n bytes, waiting while the pool is exhausted; false
// when ctx ends first.
func (m *memPool) acquire(ctx context.Context, n int) bool {
	if m == nil {
		return true
	}
	for {
		m.mu.Lock()
		if m.avail > 0 {
			m.avail -= int64(n)
			m.mu.Unlock()
			return true
		}
		freed := m.freed
		m.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// release gives n reserved bytes back and wakes the waiting readers.
func (m *memPool) release(n int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.avail += int64(n)
	close(m.freed)
	m.freed = make(chan struct{})
	m.mu.Unlock()
}
