package controller

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
)

// partition returns partition 0 of topic in the latest image.
func (h *harness) partition(t *testing.T, topic string) metadata.PartitionImage {
	t.Helper()
	top, ok := h.latest().Topic(topic)
	if !ok {
		t.Fatalf("no topic %s", topic)
	}
	return top.Partitions[0]
}

// shrinkTo has the leader of topic's partition 0 propose isr.
func (h *harness) shrinkTo(t *testing.T, topic string, isr ...int32) {
	t.Helper()
	top, _ := h.latest().Topic(topic)
	p := top.Partitions[0]
	res, err := h.c.AlterPartition(context.Background(), p.Leader, h.epochs[p.Leader], []AlterPartitionItem{{
		TopicID: top.ID, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("shrink to %v: %v %v", isr, err, res)
	}
}

// expire lets every broker but alive miss heartbeats for a session and
// fences them.
func (h *harness) expire(t *testing.T, alive ...int32) {
	t.Helper()
	h.clock.Advance(10 * time.Second)
	h.beat(t, alive...)
	if err := h.c.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// rejoin registers broker id again, as a new process after a clean or
// unclean shutdown, and heartbeats it until unfenced.
func (h *harness) rejoin(t *testing.T, id int32, unclean bool) {
	t.Helper()
	ctx := context.Background()
	epoch, err := h.c.RegisterBroker(ctx, Registration{ID: id, Incarnation: fmt.Sprint("re", id, len(h.log.entries)), UncleanShutdown: unclean})
	if err != nil {
		t.Fatal(err)
	}
	h.epochs[id] = epoch
	if _, err := h.c.BrokerHeartbeat(ctx, Heartbeat{ID: id, Epoch: epoch, MetadataOffset: epoch}); err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, what string, p metadata.PartitionImage, leader int32, isr, elr []int32) {
	t.Helper()
	if p.Leader != leader || !slices.Equal(p.ISR, isr) || !slices.Equal(p.ELR, elr) {
		t.Fatalf("%s: leader %d ISR %v ELR %v, want leader %d ISR %v ELR %v", what, p.Leader, p.ISR, p.ELR, leader, isr, elr)
	}
}

// Replicas leaving an ISR smaller than min.insync.replicas become eligible
// (the high watermark cannot pass them); the ELR empties once the ISR is
// back to min.insync.replicas.
func TestELRFollowsISRBelowMinISR(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopicOn(t, h, "t", [][]int32{{1, 2, 3}}, map[string]string{"min.insync.replicas": "2"})
	want(t, "created", h.partition(t, "t"), 1, []int32{1, 2, 3}, nil)
	h.shrinkTo(t, "t", 1, 2) // still min.insync.replicas: 3 is not eligible
	want(t, "shrunk to 2", h.partition(t, "t"), 1, []int32{1, 2}, nil)
	h.shrinkTo(t, "t", 1) // below: 2 keeps every committed record
	want(t, "shrunk to 1", h.partition(t, "t"), 1, []int32{1}, []int32{2})
	h.shrinkTo(t, "t", 1, 3) // back to 2: the HW moves on without 2
	want(t, "expanded", h.partition(t, "t"), 1, []int32{1, 3}, nil)
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

// The scenario the chaos suite found: the ISR shrank to the leader alone,
// the leader died with a torn log (unclean shutdown). An ELR member leads
// instead of waiting for it, and when the old leader returns after its
// unclean shutdown it is not trusted as the last in-sync replica.
func TestELRMemberLeadsWhenTheLastISRMemberDies(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopicOn(t, h, "t", [][]int32{{1, 2, 3}}, map[string]string{"min.insync.replicas": "2"})
	h.shrinkTo(t, "t", 1) // followers 2 and 3 fell behind: ELR [2 3]
	h.expire(t, 2, 3)     // leader 1 dies
	want(t, "leader fenced", h.partition(t, "t"), 2, []int32{2}, []int32{1, 3})
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

func TestUncleanShutdownLeavesISRAndELR(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopicOn(t, h, "t", [][]int32{{1, 2, 3}}, map[string]string{"min.insync.replicas": "2"})
	h.shrinkTo(t, "t", 1) // ELR [2 3]
	h.expire(t, 1)        // 2 and 3 die: still ELR
	want(t, "followers fenced", h.partition(t, "t"), 1, []int32{1}, []int32{2, 3})
	h.expire(t) // then 1: leaderless, nobody usable
	want(t, "all fenced", h.partition(t, "t"), -1, []int32{1}, []int32{2, 3})
	h.rejoin(t, 1, true) // back with maybe a torn log: 2 and 3 hold the committed records
	want(t, "unclean return", h.partition(t, "t"), -1, []int32{2, 3}, nil)
	h.rejoin(t, 3, true) // an ELR member's unclean shutdown makes it ineligible too...
	want(t, "second unclean return", h.partition(t, "t"), -1, []int32{2}, nil)
	h.rejoin(t, 2, false) // ...and the clean one leads
	want(t, "clean return", h.partition(t, "t"), 2, []int32{2}, nil)
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

func TestUncleanShutdownOfTheOnlyCopyKeepsIt(t *testing.T) {
	h := newHarness(t, 2, nil)
	createTopic(t, h, "t", 1, 2, nil) // min.insync.replicas 1: no ELR
	h.expire(t, 1)                    // 2 dies: ISR [1], not eligible
	h.expire(t)                       // 1 dies
	want(t, "all fenced", h.partition(t, "t"), -1, []int32{1}, nil)
	h.rejoin(t, 1, true) // the best copy left, torn or not
	want(t, "unclean return of the last copy", h.partition(t, "t"), 1, []int32{1}, nil)
}
