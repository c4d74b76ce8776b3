package server

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// With queued.max.request.bytes exhausted by a request still being
// served, another connection's request is not read until that memory
// comes back; then it is served.
func TestMemoryPoolBackPressure(t *testing.T) {
	hold, held := make(chan struct{}), make(chan struct{})
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		if req.Body.Key() == 0 {
			close(held)
			<-hold
		}
		return Reply{Response: defaultResponse(req)}
	}}
	_, addr := startServer(t, Config{MaxQueuedRequestBytes: 1 << 20}, h)
	released := false
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	t.Cleanup(release) // before the server's Close, which waits for Handle
	big := kmsg.NewPtrProduceRequest()
	big.Version, big.Acks = 9, 1
	big.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, 2<<20)}}}}
	a := dial(t, addr)
	a.send(1, big) // larger than the pool: admitted (non-strict), held
	<-held
	b := dial(t, addr)
	md := metadataRequest(9)
	b.send(2, md)
	b.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := b.readFrame(); err == nil {
		t.Fatal("a request was served while the memory pool was exhausted")
	}
	release()
	b.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if corr, _ := b.recv(md, 9); corr != 2 {
		t.Fatalf("correlation %d", corr)
	}
	if corr, _ := a.recv(big, 9); corr != 1 {
		t.Fatalf("correlation %d", corr)
	}
}

// The pool: any remaining memory admits a reservation; an exhausted pool
// waits for a release or the context.
func TestMemoryPool(t *testing.T) {
	m := newMemPool(10)
	if !m.acquire(context.Background(), 25) { // more than the pool, admitted
		t.Fatal("first reservation refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if m.acquire(ctx, 1) {
		t.Fatal("reserved from an exhausted pool")
	}
	done := make(chan bool)
	go func() { done <- m.acquire(context.Background(), 1) }()
	m.release(25)
	if !<-done {
		t.Fatal("a waiting reservation failed after the release")
	}
	if newMemPool(0) != nil || !newMemPool(-1).acquire(context.Background(), 1<<40) {
		t.Fatal("an unbounded pool limited a reservation")
	}
}
