package main

import (
	"bytes"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestRebalancePlanGolden(t *testing.T) {
	// 3 brokers on racks a, b, a hold 6 partitions RF 2; broker 4 (rack
	// b) joins; broker 5 is cordoned; broker 9 is gone but holds t-5.
	racks := map[int32]string{1: "a", 2: "b", 3: "a", 4: "b", 5: "b"}
	parts := []planPartition{
		{Topic: "t", Partition: 0, Replicas: []int32{1, 2}},
		{Topic: "t", Partition: 1, Replicas: []int32{2, 3}},
		{Topic: "t", Partition: 2, Replicas: []int32{3, 2}},
		{Topic: "t", Partition: 3, Replicas: []int32{1, 2}},
		{Topic: "t", Partition: 4, Replicas: []int32{2, 1}},
		{Topic: "t", Partition: 5, Replicas: []int32{9, 1}, Pinned: true},
		{Topic: "u", Partition: 0, Replicas: []int32{1, 3}},
	}
	in := planInput{Racks: racks, Targets: []int32{1, 2, 3, 4}, Balance: true, Partitions: parts}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	var buf bytes.Buffer
	writePlan(&buf, p)
	checkGolden(t, "cluster_rebalance.golden", buf.Bytes())
}

func TestRebalanceBalancedGolden(t *testing.T) {
	in := planInput{Racks: noRacks(1, 2, 3), Targets: []int32{1, 2, 3}, Balance: true,
		Partitions: stripedParts("t", 3, 2, 1, 2, 3)}
	var buf bytes.Buffer
	writePlan(&buf, makePlan(in))
	buf.WriteString("Dry run: nothing changed.\n")
	checkGolden(t, "cluster_rebalance_balanced.golden", buf.Bytes())
}

func TestBrokerDrainGolden(t *testing.T) {
	parts := stripedParts("t", 6, 3, 1, 2, 3, 4)
	parts = append(parts, planPartition{Topic: "v", Partition: 0, Replicas: []int32{1}, Pinned: true})
	in := planInput{Racks: noRacks(1, 2, 3, 4), Targets: []int32{2, 3, 4}, Vacate: []int32{1}, Partitions: parts}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	var buf bytes.Buffer
	writeCordon(&buf, 1, true)
	writePlan(&buf, p)
	checkGolden(t, "broker_drain.golden", buf.Bytes())
}

func TestClusterStatePlanInput(t *testing.T) {
	rackA := "a"
	md := kadm.Metadata{
		Brokers: kadm.BrokerDetails{{NodeID: 2}, {NodeID: 1, Rack: &rackA}, {NodeID: 3}},
		Topics: kadm.TopicDetails{
			"t":                  clusterTopic("t", clusterPart("t", 0, 1, 1, 2), clusterPart("t", 1, -1, 2, 3)),
			"__consumer_offsets": {Topic: "__consumer_offsets", IsInternal: true, Partitions: kadm.PartitionDetails{0: clusterPart("__consumer_offsets", 0, 1, 1)}},
		},
	}
	cs := clusterState{ca: clusterAssignment{md: md}, cordoned: map[int32]bool{3: true}}
	in := cs.planInput(planScope{excludeInternal: true, vacate: []int32{2}, balance: true})
	if !slices.Equal(in.Targets, []int32{1}) || in.Racks[1] != "a" || in.Racks[3] != "" {
		t.Errorf("targets %v racks %v", in.Targets, in.Racks)
	}
	if len(in.Partitions) != 2 {
		t.Fatalf("partitions %+v", in.Partitions)
	}
	slices.SortFunc(in.Partitions, func(a, b planPartition) int { return int(a.Partition - b.Partition) })
	if in.Partitions[0].Pinned || !in.Partitions[1].Pinned {
		t.Errorf("pinned: %+v", in.Partitions)
	}
	all := cs.planInput(planScope{topics: []string{"__consumer_offsets"}})
	if len(all.Partitions) != 1 || all.Partitions[0].Topic != "__consumer_offsets" {
		t.Errorf("--topics: %+v", all.Partitions)
	}
}

func TestExecOptsCheck(t *testing.T) {
	if err := (execOpts{throttle: 100, maxInFlight: 1}).check(); err == nil {
		t.Error("--throttle without --wait accepted")
	}
	if err := (execOpts{throttle: 100, wait: true, maxInFlight: 1}).check(); err != nil {
		t.Error(err)
	}
	if err := (execOpts{throttle: -1, maxInFlight: 0}).check(); err == nil {
		t.Error("--max-in-flight 0 accepted")
	}
}
