package controller

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
)

// createAssigned creates topic with one partition on replicas, in order
// (replicas[0] leads).
func createAssigned(t *testing.T, h *harness, name string, replicas []int32, cfg map[string]string) {
	t.Helper()
	res, err := h.c.CreateTopics(context.Background(), []CreateTopic{{
		Name: name, NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{replicas}, Configs: cfg}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create %s: %v %v", name, err, res[0].Err)
	}
}

func wantLastKnownELR(t *testing.T, what string, p metadata.PartitionImage, leader int32, last []int32) {
	t.Helper()
	if p.Leader != leader || !slices.Equal(p.LastKnownELR, last) {
		t.Fatalf("%s: leader %d LastKnownELR %v (ISR %v ELR %v), want leader %d LastKnownELR %v",
			what, p.Leader, p.LastKnownELR, p.ISR, p.ELR, leader, last)
	}
}

// As Kafka's PartitionChangeBuilder with ELR enabled: the last known ELR
// names the leader a partition had when no ISR or ELR member is left to
// lead it, stays while it is leaderless (also across the unclean-shutdown
// return that hands eligibility to the ELR), and is cleared when a leader
// is elected. Elections are as without it.
func TestLastKnownELRNamesTheLastLeader(t *testing.T) {
	h := newHarness(t, 3, nil)
	createAssigned(t, h, "t", []int32{1, 2, 3}, map[string]string{"min.insync.replicas": "2"})
	h.shrinkTo(t, "t", 1) // ELR [2 3]
	h.expire(t, 1)        // 2 and 3 die: 1 still leads
	wantLastKnownELR(t, "followers fenced", h.partition(t, "t"), 1, nil)
	h.expire(t) // then 1: nobody left to lead
	want(t, "all fenced", h.partition(t, "t"), -1, []int32{1}, []int32{2, 3})
	wantLastKnownELR(t, "all fenced", h.partition(t, "t"), -1, []int32{1})
	h.rejoin(t, 1, true) // unclean return: 2 and 3 hold the committed records
	want(t, "unclean return", h.partition(t, "t"), -1, []int32{2, 3}, nil)
	wantLastKnownELR(t, "unclean return", h.partition(t, "t"), -1, []int32{1})
	h.rejoin(t, 2, false)
	want(t, "clean return", h.partition(t, "t"), 2, []int32{2, 3}, nil)
	wantLastKnownELR(t, "clean return", h.partition(t, "t"), 2, nil)
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

// Without an ELR (min.insync.replicas 1) the last ISR member stays the
// ISR of the leaderless partition; the last known ELR names it until it
// leads again.
func TestLastKnownELRWithoutELR(t *testing.T) {
	h := newHarness(t, 2, nil)
	createAssigned(t, h, "t", []int32{1, 2}, nil)
	h.expire(t, 1) // 2 dies
	h.expire(t)    // then 1
	want(t, "all fenced", h.partition(t, "t"), -1, []int32{1}, nil)
	wantLastKnownELR(t, "all fenced", h.partition(t, "t"), -1, []int32{1})
	h.rejoin(t, 1, false)
	wantLastKnownELR(t, "back", h.partition(t, "t"), 1, nil)
}

// A leader move to another ISR member, and an ISR shrink, leave the last
// known ELR alone: the committed records do not carry it.
func TestLastKnownELRUntouchedWhileLed(t *testing.T) {
	h := newHarness(t, 3, nil)
	createAssigned(t, h, "t", []int32{1, 2, 3}, nil)
	from := len(h.log.entries)
	h.shrinkTo(t, "t", 1, 2)
	h.expire(t, 2, 3) // leader 1 dies: 2 leads
	wantLastKnownELR(t, "moved", h.partition(t, "t"), 2, nil)
	for _, e := range h.log.entries[from:] {
		recs, err := metadata.DecodeBatch(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if ch, ok := r.(metadata.PartitionChange); ok && ch.LastKnownELR != nil {
				t.Errorf("change %+v sets LastKnownELR %v", ch, *ch.LastKnownELR)
			}
		}
	}
}

func TestNextLastKnownELR(t *testing.T) {
	led := metadata.PartitionImage{Leader: 1, ISR: []int32{1}}
	leaderless := metadata.PartitionImage{Leader: -1, ISR: []int32{1}, LastKnownELR: []int32{1}}
	none, two := int32(-1), int32(2)
	cases := []struct {
		name    string
		p       metadata.PartitionImage
		ch      metadata.PartitionChange
		want    []int32
		changed bool
	}{
		{"loses its leader", led, metadata.PartitionChange{Leader: &none}, []int32{1}, true},
		{"keeps its leader", led, metadata.PartitionChange{ISR: []int32{1}}, nil, false},
		{"stays leaderless", leaderless, metadata.PartitionChange{ISR: []int32{2}}, nil, false},
		{"leads again", leaderless, metadata.PartitionChange{Leader: &two}, []int32{}, true},
	}
	for _, tc := range cases {
		got, changed := nextLastKnownELR(tc.p, tc.ch)
		if changed != tc.changed || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, changed, tc.want, tc.changed)
		}
	}
}
