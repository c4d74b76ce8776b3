package main

// The pure planner behind `fjord cluster rebalance` and `fjord broker
// drain`: given the brokers (with racks) and the current replica
// assignments, it returns target assignments. No IO.
//
// Rules:
//   - Only target brokers (live, not cordoned, not being drained) receive
//     replicas; every replica on a vacated broker moves (drain).
//   - No broker twice in a partition.
//   - Racks: a partition keeps its replicas on as many distinct racks as
//     it can (min(replicas, racks of the target brokers)); a move never
//     lowers a partition's rack spread below that. Brokers without
//     broker.rack form one rack, "" (as the controller's placement), so
//     without racks the rule is moot.
//   - Balance (rebalance): replica counts per broker are evened out per
//     topic first (every target broker holds floor or ceil of the topic's
//     share), then across topics, by greedy moves from the most loaded
//     broker to the least loaded valid one; each move lowers the sum of
//     squared counts, so the loop ends, and moving only while counts
//     differ by two or more moves no more replicas than needed.
//   - Preferred leaders (the first replica) are evened out the same way,
//     by reordering replicas: no data moves.
//   - Pinned partitions (leaderless: a reassignment could not complete)
//     are counted but never changed.

import (
	"cmp"
	"maps"
	"slices"
)

// planInput is what the planner plans from.
type planInput struct {
	Racks      map[int32]string // rack of every known broker ("" when none)
	Targets    []int32          // brokers that may receive replicas
	Vacate     []int32          // brokers whose replicas must all move away
	Balance    bool             // even out replicas and preferred leaders
	Partitions []planPartition
}

// planPartition is one partition's current assignment.
type planPartition struct {
	Topic     string
	Partition int32
	Replicas  []int32
	Pinned    bool // never changed (e.g. no leader)
}

// planMove is one partition whose replica list changes.
type planMove struct {
	Topic     string
	Partition int32
	From, To  []int32
}

// moved reports whether the move copies data (a new replica), not only
// reorders replicas.
func (m planMove) moved() bool { return len(without(m.To, m.From)) > 0 }

// brokerCount is one broker's line of a plan's table.
type brokerCount struct {
	ID                       int32
	Rack                     string
	Replicas, ReplicasAfter  int
	Leaders, LeadersAfter    int // preferred leaders (first replicas)
	In, Out                  int // replicas moving in and out
	Target, Vacated, Unknown bool
}

// plan is the planner's answer.
type plan struct {
	Moves   []planMove      // in topic and partition order
	Brokers []brokerCount   // every broker known or named, by id
	Stuck   []planPartition // partitions with a replica on a vacated broker left there
}

// movedReplicas counts the replicas that move (data copies).
func (p plan) movedReplicas() int {
	n := 0
	for _, m := range p.Moves {
		n += len(without(m.To, m.From))
	}
	return n
}

// target returns the target assignments of every changed partition.
func (p plan) targets() []reassignEntry {
	out := make([]reassignEntry, len(p.Moves))
	for i, m := range p.Moves {
		out[i] = reassignEntry{Topic: m.Topic, Partition: m.Partition, Replicas: m.To}
	}
	return out
}

// without returns the members of xs not in drop, in xs's order.
func without(xs, drop []int32) []int32 {
	var out []int32
	for _, x := range xs {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// partState is a partition being planned.
type partState struct {
	planPartition
	cur     []int32
	touched bool
}

// counts are per-topic and total counts per broker.
type counts struct {
	topic map[string]map[int32]int
	total map[int32]int
}

func newCounts() counts {
	return counts{topic: map[string]map[int32]int{}, total: map[int32]int{}}
}

func (c counts) add(topic string, b int32, d int) {
	m := c.topic[topic]
	if m == nil {
		m = map[int32]int{}
		c.topic[topic] = m
	}
	m[b] += d
	c.total[b] += d
}

// planner holds the working state of one plan.
type planner struct {
	in       planInput
	isTarget map[int32]bool
	targets  []int32 // sorted
	numRacks int
	parts    []*partState
	byTopic  map[string][]*partState
	topics   []string
	reps     counts // replicas per broker
	leads    counts // preferred leaders per broker
}

// makePlan plans in. It is deterministic: the same input gives the same
// plan.
func makePlan(in planInput) plan {
	pl := newPlanner(in)
	pl.vacate()
	if in.Balance {
		pl.repairRacks()
		pl.balance(pl.reps, pl.tryReplicaMove)
	}
	pl.balance(pl.leads, pl.tryLeaderMove)
	return pl.result()
}

func newPlanner(in planInput) *planner {
	pl := &planner{in: in, isTarget: map[int32]bool{}, byTopic: map[string][]*partState{},
		reps: newCounts(), leads: newCounts()}
	racks := map[string]bool{}
	for _, b := range in.Targets {
		if !pl.isTarget[b] && !slices.Contains(in.Vacate, b) {
			pl.isTarget[b] = true
			pl.targets = append(pl.targets, b)
			racks[in.Racks[b]] = true
		}
	}
	slices.Sort(pl.targets)
	pl.numRacks = len(racks)
	parts := slices.Clone(in.Partitions)
	slices.SortFunc(parts, func(a, b planPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	for _, p := range parts {
		ps := &partState{planPartition: p, cur: slices.Clone(p.Replicas)}
		pl.parts = append(pl.parts, ps)
		if len(pl.byTopic[p.Topic]) == 0 {
			pl.topics = append(pl.topics, p.Topic)
		}
		pl.byTopic[p.Topic] = append(pl.byTopic[p.Topic], ps)
		for i, r := range ps.cur {
			pl.reps.add(p.Topic, r, 1)
			if i == 0 {
				pl.leads.add(p.Topic, r, 1)
			}
		}
	}
	return pl
}

// spread is the number of distinct racks of replicas.
func (pl *planner) spread(replicas []int32) int {
	seen := map[string]bool{}
	for _, r := range replicas {
		seen[pl.in.Racks[r]] = true
	}
	return len(seen)
}

// rackOK reports whether replacing old by next keeps the rack rule.
func (pl *planner) rackOK(old, next []int32) bool {
	want := min(pl.spread(old), len(next), pl.numRacks)
	return pl.spread(next) >= want
}

// replace returns replicas with from replaced by to, in place.
func replace(replicas []int32, from, to int32) []int32 {
	out := slices.Clone(replicas)
	for i, r := range out {
		if r == from {
			out[i] = to
		}
	}
	return out
}

// setReplicas changes p's replicas to next, keeping the counts.
func (pl *planner) setReplicas(p *partState, next []int32) {
	for i, r := range p.cur {
		pl.reps.add(p.Topic, r, -1)
		if i == 0 {
			pl.leads.add(p.Topic, r, -1)
		}
	}
	p.cur, p.touched = next, true
	for i, r := range p.cur {
		pl.reps.add(p.Topic, r, 1)
		if i == 0 {
			pl.leads.add(p.Topic, r, 1)
		}
	}
}

// bestTarget returns the least loaded target broker (topic count, then
// total, then id) that may replace src in p: not a replica already, and
// keeping the rack rule unless anyRack.
func (pl *planner) bestTarget(p *partState, src int32, anyRack bool, ok func(int32) bool) (int32, bool) {
	best, found := int32(-1), false
	for _, b := range pl.targets {
		if slices.Contains(p.cur, b) || (ok != nil && !ok(b)) {
			continue
		}
		if !anyRack && !pl.rackOK(p.cur, replace(p.cur, src, b)) {
			continue
		}
		if !found || pl.lessLoaded(p.Topic, b, best) {
			best, found = b, true
		}
	}
	return best, found
}

// lessLoaded orders brokers by replicas of topic, then in total, then id.
func (pl *planner) lessLoaded(topic string, a, b int32) bool {
	return cmp.Or(cmp.Compare(pl.reps.topic[topic][a], pl.reps.topic[topic][b]),
		cmp.Compare(pl.reps.total[a], pl.reps.total[b]), cmp.Compare(a, b)) < 0
}

// vacate moves every replica off the vacated brokers.
func (pl *planner) vacate() {
	for _, p := range pl.parts {
		for _, src := range slices.Clone(p.cur) {
			if !slices.Contains(pl.in.Vacate, src) || p.Pinned {
				continue
			}
			dst, ok := pl.bestTarget(p, src, false, nil)
			if !ok {
				dst, ok = pl.bestTarget(p, src, true, nil)
			}
			if ok {
				pl.setReplicas(p, replace(p.cur, src, dst))
			}
		}
	}
}

// repairRacks moves replicas that share a rack to unused racks, where
// the targets allow a wider spread.
func (pl *planner) repairRacks() {
	for _, p := range pl.parts {
		for !p.Pinned && pl.spread(p.cur) < min(len(p.cur), pl.numRacks) {
			if !pl.repairOne(p) {
				break
			}
		}
	}
}

// repairOne moves one replica of p from a shared rack to a new one.
func (pl *planner) repairOne(p *partState) bool {
	used := map[string]int{}
	for _, r := range p.cur {
		used[pl.in.Racks[r]]++
	}
	// Followers first, the last one first: the leader stays if it can.
	for i := len(p.cur) - 1; i >= 0; i-- {
		src := p.cur[i]
		if used[pl.in.Racks[src]] < 2 {
			continue
		}
		dst, ok := pl.bestTarget(p, src, true, func(b int32) bool { return used[pl.in.Racks[b]] == 0 })
		if ok {
			pl.setReplicas(p, replace(p.cur, src, dst))
			return true
		}
	}
	return false
}

// balance evens out c over the target brokers: per topic, then in total
// by moves that keep every topic within its spread. try performs one
// move of topic's src to dst and reports whether it found one.
func (pl *planner) balance(c counts, try func(topic string, src, dst int32) bool) {
	for _, t := range pl.topics {
		for pl.balanceStep(c, func(a, b int32) int { return c.topic[t][a] - c.topic[t][b] },
			func(src, dst int32) bool { return try(t, src, dst) }) {
		}
	}
	for pl.balanceStep(c, func(a, b int32) int { return c.total[a] - c.total[b] },
		func(src, dst int32) bool {
			for _, t := range pl.topics {
				if c.topic[t][src] > c.topic[t][dst] && try(t, src, dst) {
					return true
				}
			}
			return false
		}) {
	}
}

// balanceStep makes one move from a broker to one with at least two
// fewer (by diff), trying the most loaded sources and least loaded
// destinations first. It reports whether it moved.
func (pl *planner) balanceStep(c counts, diff func(a, b int32) int, move func(src, dst int32) bool) bool {
	order := slices.Clone(pl.targets)
	slices.SortStableFunc(order, func(a, b int32) int {
		return cmp.Or(-diff(a, b), cmp.Compare(c.total[b], c.total[a]), cmp.Compare(a, b))
	})
	for _, src := range order {
		for i := len(order) - 1; i >= 0; i-- {
			dst := order[i]
			if diff(src, dst) < 2 {
				break
			}
			if move(src, dst) {
				return true
			}
		}
	}
	return false
}

// tryReplicaMove moves one replica of topic from src to dst, preferring a
// follower (the leader keeps serving) in the first partition that allows
// it.
func (pl *planner) tryReplicaMove(topic string, src, dst int32) bool {
	var pick *partState
	for _, p := range pl.byTopic[topic] {
		if p.Pinned || !slices.Contains(p.cur, src) || slices.Contains(p.cur, dst) ||
			!pl.rackOK(p.cur, replace(p.cur, src, dst)) {
			continue
		}
		if p.cur[0] != src {
			pick = p
			break
		}
		if pick == nil {
			pick = p
		}
	}
	if pick == nil {
		return false
	}
	pl.setReplicas(pick, replace(pick.cur, src, dst))
	return true
}

// tryLeaderMove makes dst the preferred leader of a partition of topic
// that src leads and dst holds. Without Balance (a drain), only partitions
// the plan already changes are reordered.
func (pl *planner) tryLeaderMove(topic string, src, dst int32) bool {
	for _, p := range pl.byTopic[topic] {
		if p.Pinned || p.cur[0] != src || !slices.Contains(p.cur, dst) || (!pl.in.Balance && !p.touched) {
			continue
		}
		next := append([]int32{dst}, without(p.cur, []int32{dst})...)
		pl.setReplicas(p, next)
		return true
	}
	return false
}

// result builds the plan from the working state.
func (pl *planner) result() plan {
	var out plan
	byID := map[int32]*brokerCount{}
	get := func(id int32) *brokerCount {
		if b := byID[id]; b != nil {
			return b
		}
		rack, known := pl.in.Racks[id]
		b := &brokerCount{ID: id, Rack: rack, Target: pl.isTarget[id],
			Vacated: slices.Contains(pl.in.Vacate, id), Unknown: !known}
		byID[id] = b
		return b
	}
	for id := range pl.in.Racks {
		get(id)
	}
	for _, p := range pl.parts {
		pl.countPart(p, get)
		if !slices.Equal(p.cur, p.Replicas) {
			out.Moves = append(out.Moves, planMove{Topic: p.Topic, Partition: p.Partition, From: p.Replicas, To: p.cur})
		}
		if len(pl.in.Vacate) > 0 && slices.ContainsFunc(p.cur, func(r int32) bool { return slices.Contains(pl.in.Vacate, r) }) {
			out.Stuck = append(out.Stuck, p.planPartition)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out.Brokers = append(out.Brokers, *byID[id])
	}
	return out
}

// countPart adds p's before and after counts.
func (pl *planner) countPart(p *partState, get func(int32) *brokerCount) {
	for i, r := range p.Replicas {
		b := get(r)
		b.Replicas++
		if i == 0 {
			b.Leaders++
		}
		if !slices.Contains(p.cur, r) {
			b.Out++
		}
	}
	for i, r := range p.cur {
		b := get(r)
		b.ReplicasAfter++
		if i == 0 {
			b.LeadersAfter++
		}
		if !slices.Contains(p.Replicas, r) {
			b.In++
		}
	}
}
