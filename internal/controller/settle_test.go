package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A CreateTopics whose commit timed out may still commit. Its retry is
// decided after a barrier entry, on an image that holds the first
// attempt: TOPIC_ALREADY_EXISTS, and only one Topic record in the log.
func TestCreateTopicsRetryAfterTimeoutCommitsOnce(t *testing.T) {
	h := newHarness(t, 3, nil)
	ctx := context.Background()
	h.log.limboNext = true
	req := []CreateTopic{{Name: "t", NumPartitions: 3, ReplicationFactor: 3}}
	res, err := h.c.CreateTopics(ctx, req)
	if err != nil || !errors.Is(res[0].Err, kerr.NotController) {
		t.Fatalf("first attempt: %+v %v, want NOT_CONTROLLER", res, err)
	}
	res, err = h.c.CreateTopics(ctx, req)
	if err != nil || !errors.Is(res[0].Err, kerr.TopicAlreadyExists) {
		t.Fatalf("retry: %+v %v, want TOPIC_ALREADY_EXISTS", res, err)
	}
	topics := 0
	for _, e := range h.log.entries {
		recs, err := metadata.DecodeBatch(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if _, ok := r.(metadata.Topic); ok {
				topics++
			}
		}
	}
	if topics != 1 {
		t.Fatalf("%d Topic records committed, want 1", topics)
	}
	if _, ok := h.replay(t).Topic("t"); !ok {
		t.Fatal("topic missing after replay")
	}
}

// Heartbeats count when they arrive: a broker that heartbeated while the
// event loop was stuck in a slow commit is not fenced when the loop
// resumes past its old session.
func TestHeartbeatsJudgedOnReceipt(t *testing.T) {
	h := newHarness(t, 3, map[string]string{"broker.session.timeout.ms": "9000"})
	ctx := context.Background()
	gate, entered := make(chan struct{}), make(chan struct{})
	h.log.gate, h.log.entered = gate, entered
	created := make(chan error, 1)
	go func() {
		_, err := h.c.CreateTopics(ctx, []CreateTopic{{Name: "big", NumPartitions: 6, ReplicationFactor: 3}})
		created <- err
	}()
	<-entered // the event loop is stuck in the commit
	h.clock.Advance(8 * time.Second)
	// The heartbeats arrive while the loop is stuck and give up waiting
	// for it (as when the tick comes first): only their arrival counts.
	beatCtx, cancel := context.WithCancel(ctx)
	beats := make(chan error, 3)
	for id := int32(1); id <= 3; id++ {
		go func() {
			_, err := h.c.BrokerHeartbeat(beatCtx, Heartbeat{ID: id, Epoch: h.epochs[id], MetadataOffset: 1 << 40})
			beats <- err
		}()
	}
	for id := int32(1); id <= 3; id++ {
		for { // the heartbeats are waiting for the loop; wait until each has arrived
			if r, ok := h.c.receipt(h.latest(), id); ok && r.at.Equal(h.clock.Now()) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	for range 3 {
		if err := <-beats; !errors.Is(err, context.Canceled) {
			t.Fatalf("heartbeat: %v, want it to give up", err)
		}
	}
	h.clock.Advance(4 * time.Second) // 12 s since the last processed heartbeat, 4 s since the last received
	close(gate)
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if err := h.c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	for id, b := range h.latest().Brokers {
		if b.Fenced {
			t.Errorf("broker %d fenced although its heartbeat arrived 4 s ago", id)
		}
	}
}
