package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// stripedParts returns n partitions of topic with rf replicas striped
// over brokers (partition p starts at brokers[p mod len]).
func stripedParts(topic string, n, rf int, brokers ...int32) []planPartition {
	out := make([]planPartition, n)
	for p := range n {
		var rs []int32
		for j := range rf {
			rs = append(rs, brokers[(p+j)%len(brokers)])
		}
		out[p] = planPartition{Topic: topic, Partition: int32(p), Replicas: rs}
	}
	return out
}

func noRacks(ids ...int32) map[int32]string {
	m := map[int32]string{}
	for _, id := range ids {
		m[id] = ""
	}
	return m
}

// finalAssignment returns every partition's replicas after p.
func finalAssignment(in planInput, p plan) map[string][]int32 {
	out := map[string][]int32{}
	for _, pp := range in.Partitions {
		out[fmt.Sprintf("%s-%d", pp.Topic, pp.Partition)] = pp.Replicas
	}
	for _, m := range p.Moves {
		out[fmt.Sprintf("%s-%d", m.Topic, m.Partition)] = m.To
	}
	return out
}

// spreadOf is the number of distinct racks of rs.
func spreadOf(racks map[int32]string, rs []int32) int {
	seen := map[string]bool{}
	for _, r := range rs {
		seen[racks[r]] = true
	}
	return len(seen)
}

// checkPlanInvariants checks what every plan must keep: replication
// factors, no broker twice, nothing left on vacated brokers (unless
// stuck), new replicas only on targets, no rack spread lost, pinned
// partitions untouched, and the plan reproduces exactly.
func checkPlanInvariants(t *testing.T, in planInput, p plan) {
	t.Helper()
	orig := map[string]planPartition{}
	for _, pp := range in.Partitions {
		orig[fmt.Sprintf("%s-%d", pp.Topic, pp.Partition)] = pp
	}
	racks := map[string]bool{}
	for _, b := range in.Targets {
		if !slices.Contains(in.Vacate, b) {
			racks[in.Racks[b]] = true
		}
	}
	for _, m := range p.Moves {
		o := orig[fmt.Sprintf("%s-%d", m.Topic, m.Partition)]
		if o.Pinned {
			t.Errorf("%s-%d is pinned but moves", m.Topic, m.Partition)
		}
		if len(m.To) != len(m.From) || !slices.Equal(m.From, o.Replicas) {
			t.Errorf("%s-%d: %v -> %v changes the replication factor or misstates the current replicas", m.Topic, m.Partition, m.From, m.To)
		}
		for i, r := range m.To {
			if slices.Contains(m.To[:i], r) {
				t.Errorf("%s-%d: broker %d twice in %v", m.Topic, m.Partition, r, m.To)
			}
			if !slices.Contains(m.From, r) && (!slices.Contains(in.Targets, r) || slices.Contains(in.Vacate, r)) {
				t.Errorf("%s-%d: new replica on broker %d, not a target", m.Topic, m.Partition, r)
			}
		}
		if want := min(spreadOf(in.Racks, m.From), len(m.To), len(racks)); spreadOf(in.Racks, m.To) < want {
			t.Errorf("%s-%d: %v -> %v loses rack spread", m.Topic, m.Partition, m.From, m.To)
		}
	}
	for name, rs := range finalAssignment(in, p) {
		for _, v := range in.Vacate {
			stuck := slices.ContainsFunc(p.Stuck, func(s planPartition) bool { return fmt.Sprintf("%s-%d", s.Topic, s.Partition) == name })
			if slices.Contains(rs, v) && !stuck {
				t.Errorf("%s still on vacated broker %d: %v", name, v, rs)
			}
		}
	}
	shuffled := in
	shuffled.Partitions = slices.Clone(in.Partitions)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled.Partitions), func(i, j int) {
		shuffled.Partitions[i], shuffled.Partitions[j] = shuffled.Partitions[j], shuffled.Partitions[i]
	})
	if again := makePlan(shuffled); fmt.Sprint(again) != fmt.Sprint(p) {
		t.Errorf("plan not deterministic:\n%v\n%v", p, again)
	}
}

// spreadWithin checks that every target's after counts of field are
// within 1 of each other.
func spreadWithin(t *testing.T, p plan, what string, field func(brokerCount) int, slack int) {
	t.Helper()
	lo, hi := int(^uint(0)>>1), -1
	for _, b := range p.Brokers {
		if !b.Target {
			continue
		}
		lo, hi = min(lo, field(b)), max(hi, field(b))
	}
	if hi-lo > slack {
		t.Errorf("%s after the plan range %d..%d: %+v", what, lo, hi, p.Brokers)
	}
}

// minMoves is the fewest replica moves that even out the targets' counts
// when nothing else constrains them.
func minMoves(in planInput) int {
	counts := map[int32]int{}
	total := 0
	for _, pp := range in.Partitions {
		for _, r := range pp.Replicas {
			if slices.Contains(in.Targets, r) {
				counts[r]++
				total++
			}
		}
	}
	var loads []int
	for _, b := range in.Targets {
		loads = append(loads, counts[b])
	}
	slices.Sort(loads)
	slices.Reverse(loads)
	n := len(loads)
	moves := 0
	for i, l := range loads {
		want := total / n
		if i < total%n {
			want++
		}
		moves += max(0, l-want)
	}
	return moves
}

func TestPlanAddBroker(t *testing.T) {
	in := planInput{Racks: noRacks(1, 2, 3, 4), Targets: []int32{1, 2, 3, 4}, Balance: true,
		Partitions: stripedParts("t", 12, 3, 1, 2, 3)}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	if got, want := p.movedReplicas(), minMoves(in); got != want {
		t.Errorf("moved %d replicas, the minimum is %d", got, want)
	}
	spreadWithin(t, p, "replicas", func(b brokerCount) int { return b.ReplicasAfter }, 0)
	spreadWithin(t, p, "leaders", func(b brokerCount) int { return b.LeadersAfter }, 0)
}

func TestPlanBalancedIsNoop(t *testing.T) {
	in := planInput{Racks: noRacks(1, 2, 3), Targets: []int32{1, 2, 3}, Balance: true,
		Partitions: stripedParts("t", 9, 3, 1, 2, 3)}
	if p := makePlan(in); len(p.Moves) != 0 {
		t.Errorf("a balanced cluster got moves: %+v", p.Moves)
	}
}

func TestPlanManyTopicsTotals(t *testing.T) {
	// 10 single-partition topics, all on broker 1: each topic is as even
	// as it can be, the totals are not.
	var parts []planPartition
	for i := range 10 {
		parts = append(parts, planPartition{Topic: fmt.Sprintf("t%02d", i), Replicas: []int32{1}})
	}
	in := planInput{Racks: noRacks(1, 2), Targets: []int32{1, 2}, Balance: true, Partitions: parts}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	if got := p.movedReplicas(); got != 5 {
		t.Errorf("moved %d replicas, want 5", got)
	}
	spreadWithin(t, p, "replicas", func(b brokerCount) int { return b.ReplicasAfter }, 0)
}

func TestPlanPerTopicBalance(t *testing.T) {
	// Two topics on disjoint brokers: totals are even, topics are not.
	parts := append(stripedParts("a", 4, 1, 1, 2), stripedParts("b", 4, 1, 3, 4)...)
	in := planInput{Racks: noRacks(1, 2, 3, 4), Targets: []int32{1, 2, 3, 4}, Balance: true, Partitions: parts}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	per := map[string]map[int32]int{}
	for name, rs := range finalAssignment(in, p) {
		topic := name[:1]
		if per[topic] == nil {
			per[topic] = map[int32]int{}
		}
		for _, r := range rs {
			per[topic][r]++
		}
	}
	for topic, c := range per {
		for _, b := range []int32{1, 2, 3, 4} {
			if c[b] != 1 {
				t.Errorf("topic %s: broker %d holds %d replicas, want 1 (%v)", topic, b, c[b], c)
			}
		}
	}
}

func TestPlanDrain(t *testing.T) {
	in := planInput{Racks: noRacks(1, 2, 3, 4), Targets: []int32{2, 3, 4}, Vacate: []int32{1},
		Partitions: stripedParts("t", 12, 3, 1, 2, 3, 4)}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	if len(p.Stuck) != 0 {
		t.Fatalf("stuck: %v", p.Stuck)
	}
	if got, want := p.movedReplicas(), 9; got != want {
		t.Errorf("moved %d replicas, want the %d on broker 1", got, want)
	}
	spreadWithin(t, p, "replicas", func(b brokerCount) int { return b.ReplicasAfter }, 0)
	for _, b := range p.Brokers {
		if b.ID == 1 && (b.ReplicasAfter != 0 || b.LeadersAfter != 0) {
			t.Errorf("broker 1 after the drain: %+v", b)
		}
	}
	// Only the partitions broker 1 held change.
	for _, m := range p.Moves {
		if !slices.Contains(m.From, 1) {
			t.Errorf("drain touches %s-%d, which broker 1 does not hold", m.Topic, m.Partition)
		}
	}
}

func TestPlanDrainImpossible(t *testing.T) {
	in := planInput{Racks: noRacks(1, 2, 3), Targets: []int32{2, 3}, Vacate: []int32{1},
		Partitions: stripedParts("t", 3, 3, 1, 2, 3)}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	if len(p.Stuck) != 3 || len(p.Moves) != 0 {
		t.Errorf("RF 3 on 2 remaining brokers: moves %v stuck %v", p.Moves, p.Stuck)
	}
}

func TestPlanPinned(t *testing.T) {
	parts := stripedParts("t", 6, 1, 1)
	parts[0].Pinned = true
	in := planInput{Racks: noRacks(1, 2), Targets: []int32{1, 2}, Vacate: nil, Balance: true, Partitions: parts}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	if p.movedReplicas() != 3 {
		t.Errorf("moved %d, want 3", p.movedReplicas())
	}
	drain := planInput{Racks: noRacks(1, 2), Targets: []int32{2}, Vacate: []int32{1}, Partitions: parts}
	dp := makePlan(drain)
	checkPlanInvariants(t, drain, dp)
	if len(dp.Stuck) != 1 || !dp.Stuck[0].Pinned {
		t.Errorf("the pinned partition should be stuck: %v", dp.Stuck)
	}
}

func TestPlanRepairsRacks(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}
	in := planInput{Racks: racks, Targets: []int32{1, 2, 3, 4}, Balance: true,
		Partitions: stripedParts("t", 8, 2, 1, 2)}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	for name, rs := range finalAssignment(in, p) {
		if spreadOf(racks, rs) != 2 {
			t.Errorf("%s: %v on one rack", name, rs)
		}
	}
	spreadWithin(t, p, "replicas", func(b brokerCount) int { return b.ReplicasAfter }, 0)
	spreadWithin(t, p, "leaders", func(b brokerCount) int { return b.LeadersAfter }, 0)
}

func TestPlanRackLimitsBalance(t *testing.T) {
	// Rack b has one broker: every RF 2 partition needs it, so balancing
	// by count would break the rack rule; nothing moves off broker 4.
	racks := map[int32]string{1: "a", 2: "a", 3: "a", 4: "b"}
	var parts []planPartition
	for p := range 6 {
		parts = append(parts, planPartition{Topic: "t", Partition: int32(p), Replicas: []int32{int32(p%3) + 1, 4}})
	}
	in := planInput{Racks: racks, Targets: []int32{1, 2, 3, 4}, Balance: true, Partitions: parts}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	for name, rs := range finalAssignment(in, p) {
		if !slices.Contains(rs, 4) {
			t.Errorf("%s left rack b: %v", name, rs)
		}
	}
}

func TestPlanCordonedGetsNothing(t *testing.T) {
	// Broker 4 is live but cordoned: not a target.
	in := planInput{Racks: noRacks(1, 2, 3, 4), Targets: []int32{1, 2, 3}, Balance: true,
		Partitions: stripedParts("t", 12, 2, 1)}
	in.Partitions = stripedParts("t", 12, 1, 1)
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	for _, b := range p.Brokers {
		if b.ID == 4 && b.ReplicasAfter != 0 {
			t.Errorf("cordoned broker 4 receives replicas: %+v", b)
		}
	}
	spreadWithin(t, p, "replicas", func(b brokerCount) int { return b.ReplicasAfter }, 0)
}

func TestPlanLargeAddBroker(t *testing.T) {
	// The acceptance scenario: 300 partitions RF 3 on 3 brokers, a 4th.
	in := planInput{Racks: noRacks(1, 2, 3, 4), Targets: []int32{1, 2, 3, 4}, Balance: true,
		Partitions: stripedParts("t", 300, 3, 1, 2, 3)}
	p := makePlan(in)
	checkPlanInvariants(t, in, p)
	if got, want := p.movedReplicas(), minMoves(in); got != want {
		t.Errorf("moved %d replicas, the minimum is %d", got, want)
	}
	spreadWithin(t, p, "replicas", func(b brokerCount) int { return b.ReplicasAfter }, 0)
	spreadWithin(t, p, "leaders", func(b brokerCount) int { return b.LeadersAfter }, 0)
}
