package partition

import (
	"slices"
	"testing"
)

// A Watcher joins its queue once per firing: marks before a drain queue
// it once, the drain clears the mark, and a later mark queues it again.
func TestFireQueue(t *testing.T) {
	var q FireQueue
	c := make(chan struct{}, 1)
	a, b := NewWatcherOn(c, &q), NewWatcherOn(c, &q)
	a.fire()
	a.fire()
	b.Mark()
	got := q.Drain(nil)
	if !slices.Equal(got, []*Watcher{a, b}) {
		t.Fatalf("drained %v, want [a b]", got)
	}
	if a.Fired.Load() || b.Fired.Load() {
		t.Fatal("drain left a mark")
	}
	if len(c) != 1 {
		t.Fatal("fire did not wake the channel")
	}
	if got := q.Drain(nil); len(got) != 0 {
		t.Fatalf("second drain %v, want none", got)
	}
	b.fire()
	if got := q.Drain(nil); !slices.Equal(got, []*Watcher{b}) {
		t.Fatalf("after a new firing drained %v, want [b]", got)
	}
}
