package console

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSnapshotCacheSharesOneBuild(t *testing.T) {
	c := snapshotCache{ttl: time.Second}
	var builds atomic.Int32
	release := make(chan struct{})
	build := func() (*snapshot, error) {
		builds.Add(1)
		<-release
		return &snapshot{at: time.Now()}, nil
	}
	var wg sync.WaitGroup
	got := make([]*snapshot, 4)
	for i := range got {
		wg.Go(func() { got[i], _ = c.get(time.Second, build) })
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if builds.Load() != 1 {
		t.Errorf("%d builds for 4 concurrent callers, want 1", builds.Load())
	}
	for _, s := range got {
		if s != got[0] {
			t.Errorf("callers got different snapshots")
		}
	}
	if s, _ := c.get(time.Second, build); s != got[0] || builds.Load() != 1 {
		t.Errorf("a fresh snapshot was rebuilt")
	}
	c.invalidate()
	if s, _ := c.get(time.Second, build); s == got[0] || builds.Load() != 2 {
		t.Errorf("invalidate did not force a build")
	}
}

// TestSnapshotCacheServesSlightlyStaleDuringABuild: while a build runs, a
// snapshot older than maxAge (but within 1.5 × maxAge) is returned at once.
func TestSnapshotCacheServesSlightlyStaleDuringABuild(t *testing.T) {
	c := snapshotCache{ttl: 100 * time.Millisecond}
	old := &snapshot{at: time.Now().Add(-120 * time.Millisecond)}
	c.store(old)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_, _ = c.get(100*time.Millisecond, func() (*snapshot, error) {
			close(started)
			<-release
			return &snapshot{at: time.Now()}, nil
		})
	}()
	<-started
	s, _ := c.get(100*time.Millisecond, func() (*snapshot, error) {
		t.Error("a second build started while one was running")
		return nil, nil
	})
	if s != old {
		t.Errorf("got %v, want the slightly stale snapshot", s)
	}
	close(release)
}
