package controller

import (
	"context"
	"slices"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
)

func TestFenceGoneMovesLeadershipsAtOnce(t *testing.T) {
	h := newHarness(t, 3, nil)
	ctx := context.Background()
	createTopic(t, h, "t", 6, 3, nil)
	before := len(h.log.entries)
	// A stale epoch is not the registration the proof is about.
	if fenced, err := h.c.FenceGone(ctx, 2, h.epochs[2]-1); err != nil || fenced {
		t.Fatalf("stale epoch: fenced %v err %v", fenced, err)
	}
	fenced, err := h.c.FenceGone(ctx, 2, h.epochs[2])
	if err != nil || !fenced {
		t.Fatalf("FenceGone: fenced %v err %v", fenced, err)
	}
	if n := len(h.log.entries) - before; n != 1 {
		t.Errorf("FenceGone committed %d entries, want one", n)
	}
	if !h.latest().Brokers[2].Fenced {
		t.Fatal("broker 2 not fenced")
	}
	top, _ := h.latest().Topic("t")
	for i, p := range top.Partitions {
		if p.Leader == 2 || p.Leader == -1 || slices.Contains(p.ISR, 2) {
			t.Errorf("partition %d after the fence: %+v", i, p)
		}
	}
	// Already fenced: nothing more to do; the clock never moved.
	if fenced, err := h.c.FenceGone(ctx, 2, h.epochs[2]); err != nil || fenced {
		t.Errorf("second FenceGone: fenced %v err %v", fenced, err)
	}
	if fenced, _ := h.c.FenceGone(ctx, 9, 1); fenced {
		t.Error("an unknown broker was fenced")
	}
}

// A falsely suspected broker is unfenced by its next heartbeat once caught
// up, and its registration (epoch) is kept: the suspicion cost one leader
// move.
func TestFalseFenceRecoversOnHeartbeat(t *testing.T) {
	h := newHarness(t, 3, nil)
	ctx := context.Background()
	createTopic(t, h, "t", 3, 3, nil)
	if _, err := h.c.FenceGone(ctx, 3, h.epochs[3]); err != nil {
		t.Fatal(err)
	}
	res, err := h.c.BrokerHeartbeat(ctx, Heartbeat{ID: 3, Epoch: h.epochs[3], MetadataOffset: h.latest().Offset})
	if err != nil || res.IsFenced || h.latest().Brokers[3].Fenced {
		t.Fatalf("heartbeat after a false fence: %+v %v", res, err)
	}
}

// A restarted broker that registers the endpoints of its old registration
// replaces it at once, without waiting for the old session to expire; one
// with other endpoints is a second live process and is refused.
func TestReRegistrationWithSameEndpointsIsImmediate(t *testing.T) {
	h := newHarness(t, 2, nil)
	ctx := context.Background()
	eps := []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9093}}
	epoch, err := h.c.RegisterBroker(ctx, Registration{ID: 3, Incarnation: "a", Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	h.c.BrokerHeartbeat(ctx, Heartbeat{ID: 3, Epoch: epoch, MetadataOffset: epoch})
	other := []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9999}}
	if _, err := h.c.RegisterBroker(ctx, Registration{ID: 3, Incarnation: "b", Endpoints: other}); err == nil {
		t.Error("a second live process with other endpoints was registered")
	}
	again, err := h.c.RegisterBroker(ctx, Registration{ID: 3, Incarnation: "c", Endpoints: eps, UncleanShutdown: true})
	if err != nil || again <= epoch {
		t.Fatalf("restart with the same endpoints: epoch %d err %v", again, err)
	}
	if b := h.latest().Brokers[3]; b.Incarnation != "c" || b.Epoch != again || !b.Fenced {
		t.Errorf("registration after the restart: %+v", b)
	}
}
