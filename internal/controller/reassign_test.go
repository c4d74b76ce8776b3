package controller

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// partOf returns partition idx of topic name in the harness's latest image.
func partOf(t *testing.T, h *harness, name string, idx int32) metadata.PartitionImage {
	t.Helper()
	top, ok := h.latest().Topic(name)
	if !ok {
		t.Fatalf("no topic %s", name)
	}
	return top.Partitions[idx]
}

func reassignTo(t *testing.T, h *harness, name string, idx int32, replicas []int32) error {
	t.Helper()
	errs, err := h.c.AlterPartitionReassignments(context.Background(), []Reassignment{{Topic: name, Partition: idx, Replicas: replicas}})
	if err != nil {
		t.Fatal(err)
	}
	return errs[0]
}

// expandISR has the partition's leader propose isr (AlterPartition).
func expandISR(t *testing.T, h *harness, name string, idx int32, isr []int32) AlterPartitionResult {
	t.Helper()
	top, _ := h.latest().Topic(name)
	p := top.Partitions[idx]
	res, err := h.c.AlterPartition(context.Background(), p.Leader, h.epochs[p.Leader], []AlterPartitionItem{{
		TopicID: top.ID, Partition: idx, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr,
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter partition %v: %v %v", isr, err, res[0].Err)
	}
	return res[0]
}

func TestReassignAddsThenCompletesWhenTargetJoinsISR(t *testing.T) {
	h := newHarness(t, 4, nil)
	top, _ := h.c.CreateTopics(context.Background(), []CreateTopic{{Name: "t", NumPartitions: -1, ReplicationFactor: -1,
		Assignments: [][]int32{{1, 2, 3}}}})
	if top[0].Err != nil {
		t.Fatal(top[0].Err)
	}
	// Move 1 -> 4: the leader (1) is removed, so leadership must move at completion.
	if err := reassignTo(t, h, "t", 0, []int32{4, 2, 3}); err != nil {
		t.Fatal(err)
	}
	p := partOf(t, h, "t", 0)
	if !reflect.DeepEqual(p.Replicas, []int32{4, 2, 3, 1}) || !reflect.DeepEqual(p.AddingReplicas, []int32{4}) ||
		!reflect.DeepEqual(p.RemovingReplicas, []int32{1}) || p.Leader != 1 || !reflect.DeepEqual(p.ISR, []int32{1, 2, 3}) {
		t.Fatalf("in progress: %+v", p)
	}
	if l := ListReassignments(h.latest(), nil); len(l) != 1 || !reflect.DeepEqual(l[0].AddingReplicas, []int32{4}) {
		t.Fatalf("list: %+v", l)
	}
	epoch := p.LeaderEpoch
	// Broker 4 catches up: the leader's ISR expansion completes the move.
	expandISR(t, h, "t", 0, []int32{1, 2, 3, 4})
	p = partOf(t, h, "t", 0)
	if !reflect.DeepEqual(p.Replicas, []int32{4, 2, 3}) || p.Reassigning() || !reflect.DeepEqual(p.ISR, []int32{2, 3, 4}) {
		t.Fatalf("completed: %+v", p)
	}
	if p.Leader != 4 || p.LeaderEpoch != epoch+1 {
		t.Fatalf("leader %d epoch %d, want 4 at %d", p.Leader, p.LeaderEpoch, epoch+1)
	}
	if l := ListReassignments(h.latest(), nil); len(l) != 0 {
		t.Fatalf("list after completion: %+v", l)
	}
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replayed image differs")
	}
}

func TestReassignShrinkCompletesAtOnce(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopic(t, h, "t", 1, 3, nil)
	p := partOf(t, h, "t", 0)
	target := p.Replicas[1:]
	if err := reassignTo(t, h, "t", 0, target); err != nil {
		t.Fatal(err)
	}
	p = partOf(t, h, "t", 0)
	if p.Reassigning() || !reflect.DeepEqual(p.Replicas, target) || !reflect.DeepEqual(p.ISR, target) || p.Leader != target[0] {
		t.Fatalf("shrink: %+v", p)
	}
}

func TestReassignCancelRevertsToOriginal(t *testing.T) {
	h := newHarness(t, 4, nil)
	h.c.CreateTopics(context.Background(), []CreateTopic{{Name: "t", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{1, 2}}}})
	if err := reassignTo(t, h, "t", 0, []int32{3, 4}); err != nil {
		t.Fatal(err)
	}
	expandISR(t, h, "t", 0, []int32{1, 2, 3}) // 3 caught up, 4 not: still in progress
	if p := partOf(t, h, "t", 0); !p.Reassigning() {
		t.Fatalf("completed early: %+v", p)
	}
	if err := reassignTo(t, h, "t", 0, nil); err != nil {
		t.Fatal(err)
	}
	p := partOf(t, h, "t", 0)
	if p.Reassigning() || !reflect.DeepEqual(p.Replicas, []int32{1, 2}) || !reflect.DeepEqual(p.ISR, []int32{1, 2}) || p.Leader != 1 {
		t.Fatalf("cancelled: %+v", p)
	}
	if err := reassignTo(t, h, "t", 0, nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: %v", err)
	}
}

func TestReassignReplacesReassignmentInProgress(t *testing.T) {
	h := newHarness(t, 4, nil)
	h.c.CreateTopics(context.Background(), []CreateTopic{{Name: "t", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{1, 2}}}})
	reassignTo(t, h, "t", 0, []int32{1, 3})
	if err := reassignTo(t, h, "t", 0, []int32{1, 4}); err != nil {
		t.Fatal(err)
	}
	p := partOf(t, h, "t", 0)
	// The old target's 3 is dropped like the original 2 (removing in the
	// order of the current replicas, target [1 3] then removing [2]).
	if !reflect.DeepEqual(p.Replicas, []int32{1, 4, 3, 2}) || !reflect.DeepEqual(p.AddingReplicas, []int32{4}) ||
		!reflect.DeepEqual(p.RemovingReplicas, []int32{3, 2}) {
		t.Fatalf("replaced: %+v", p)
	}
	expandISR(t, h, "t", 0, []int32{1, 2, 4})
	if p := partOf(t, h, "t", 0); p.Reassigning() || !reflect.DeepEqual(p.Replicas, []int32{1, 4}) || !reflect.DeepEqual(p.ISR, []int32{1, 4}) {
		t.Fatalf("completed: %+v", p)
	}
}

func TestReassignValidation(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopic(t, h, "t", 1, 2, nil)
	for _, c := range []struct {
		name     string
		topic    string
		part     int32
		replicas []int32
		want     *kerr.Error
	}{
		{"unknown topic", "nope", 0, []int32{1}, kerr.UnknownTopicOrPartition},
		{"unknown partition", "t", 5, []int32{1}, kerr.UnknownTopicOrPartition},
		{"empty", "t", 0, []int32{}, kerr.InvalidReplicaAssignment},
		{"repeated", "t", 0, []int32{1, 1}, kerr.InvalidReplicaAssignment},
		{"unknown broker", "t", 0, []int32{1, 9}, kerr.InvalidReplicaAssignment},
	} {
		if err := reassignTo(t, h, c.topic, c.part, c.replicas); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	errs, _ := h.c.AlterPartitionReassignments(context.Background(), []Reassignment{{Topic: "t", Partition: 0, Replicas: []int32{1, 2, 3}, KeepReplicationFactor: true}})
	if !errors.Is(errs[0], kerr.InvalidReplicationFactor) {
		t.Errorf("rf change refused: %v", errs[0])
	}
}

func TestCreatePartitionsRefusedDuringReassignment(t *testing.T) {
	h := newHarness(t, 3, nil)
	h.c.CreateTopics(context.Background(), []CreateTopic{{Name: "t", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{1}}}})
	reassignTo(t, h, "t", 0, []int32{2})
	res, err := h.c.CreatePartitions(context.Background(), []CreatePartitions{{Name: "t", Count: 2}})
	if err != nil || !errors.Is(res[0].Err, kerr.ReassignmentInProgress) {
		t.Fatalf("create partitions: %v %v", err, res[0].Err)
	}
}

func TestReassignmentCompletesWhenRemovedLeaderIsFenced(t *testing.T) {
	// The leader being removed is fenced: the new leader comes from the
	// ISR in assignment order, and the reassignment waits for 4.
	h := newHarness(t, 4, nil)
	h.c.CreateTopics(context.Background(), []CreateTopic{{Name: "t", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{1, 2, 3}}}})
	reassignTo(t, h, "t", 0, []int32{2, 3, 4})
	ctx := context.Background()
	if _, err := h.c.BrokerHeartbeat(ctx, Heartbeat{ID: 1, Epoch: h.epochs[1], WantShutDown: true, MetadataOffset: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	p := partOf(t, h, "t", 0)
	if p.Leader == 1 || !p.Reassigning() {
		t.Fatalf("after shutdown of 1: %+v", p)
	}
	expandISR(t, h, "t", 0, append(p.ISR, 4))
	if p := partOf(t, h, "t", 0); p.Reassigning() || !reflect.DeepEqual(p.Replicas, []int32{2, 3, 4}) {
		t.Fatalf("completed: %+v", p)
	}
}
