package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fenceByExpiry lets broker dead's session expire (every other broker of
// 1..n heartbeats) and ticks, so the controller fences it and re-elects.
func fenceByExpiry(t *testing.T, h *harness, n int, dead int32) {
	t.Helper()
	var live []int32
	for id := int32(1); id <= int32(n); id++ {
		if id != dead {
			live = append(live, id)
		}
	}
	h.clock.Advance(5 * time.Second)
	h.beat(t, live...)
	h.clock.Advance(5 * time.Second)
	if err := h.c.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !h.latest().Brokers[dead].Fenced {
		t.Fatalf("broker %d not fenced", dead)
	}
}

// within reports whether got is within frac of want.
func within(got int, want, frac float64) bool {
	return float64(got) >= want*(1-frac) && float64(got) <= want*(1+frac)
}

// A dead broker's leaderships move to the next replica in assignment order
// (the ISR order election uses); placement must spread those successors,
// and the followers of every leader, evenly over the other brokers.
func TestPlacementSpreadsFailoverEvenly(t *testing.T) {
	cases := []struct {
		brokers, parts int
		rf             int16
		tolerance      float64
	}{
		{3, 12, 3, 0},
		{3, 999, 3, 0.10},
		{3, 1000, 2, 0.10},
		{5, 100, 3, 0},
		{5, 999, 3, 0.10},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dbrokers/%dparts/rf%d", tc.brokers, tc.parts, tc.rf), func(t *testing.T) {
			for dead := int32(1); dead <= int32(tc.brokers); dead++ {
				h := newHarness(t, tc.brokers, nil)
				before := createTopic(t, h, "t", int32(tc.parts), tc.rf, nil)
				checkFollowerSpread(t, before, dead, tc.brokers, tc.tolerance)
				fenceByExpiry(t, h, tc.brokers, dead)
				after, _ := h.latest().Topic("t")
				moved := map[int32]int{}
				led := 0
				for i, p := range before.Partitions {
					if p.Leader != dead {
						continue
					}
					led++
					if got := after.Partitions[i].Leader; got != p.Replicas[1] {
						t.Errorf("partition %d %v: new leader %d, want replicas[1]", i, p.Replicas, got)
					}
					moved[after.Partitions[i].Leader]++
				}
				if !within(led, float64(tc.parts)/float64(tc.brokers), 0.01) {
					t.Errorf("broker %d led %d of %d partitions", dead, led, tc.parts)
				}
				want := float64(led) / float64(tc.brokers-1)
				for id := int32(1); id <= int32(tc.brokers); id++ {
					if id != dead && !within(moved[id], want, tc.tolerance) && absDiff(moved[id], want) > 1 {
						t.Errorf("broker %d died: survivor %d took %d of %d leaderships (want %.1f): %v", dead, id, moved[id], led, want, moved)
					}
				}
			}
		})
	}
}

// checkFollowerSpread checks that the followers of the partitions leader
// leads are spread evenly over the other brokers.
func checkFollowerSpread(t *testing.T, top *metadata.TopicImage, leader int32, brokers int, tolerance float64) {
	t.Helper()
	followers := map[int32]int{}
	slots := 0
	for _, p := range top.Partitions {
		if p.Leader == leader {
			for _, r := range p.Replicas[1:] {
				followers[r]++
				slots++
			}
		}
	}
	want := float64(slots) / float64(brokers-1)
	for id := int32(1); id <= int32(brokers); id++ {
		if id != leader && !within(followers[id], want, tolerance) && absDiff(followers[id], want) > 1 {
			t.Errorf("leader %d: broker %d follows %d of %d slots (want %.1f): %v", leader, id, followers[id], slots, want, followers)
		}
	}
}

func absDiff(got int, want float64) float64 {
	d := float64(got) - want
	if d < 0 {
		return -d
	}
	return d
}

// Rack-aware: while there are at least rf racks no two replicas share a
// rack (with fewer racks every rack holds one), leaders spread evenly over
// racks and brokers, and a dead broker's leaderships go to other racks,
// each of their brokers taking some.
func TestPlacementRackAware(t *testing.T) {
	cases := []struct {
		racks map[int32]string
		rf    int
	}{
		{map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}, 3},
		{map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}, 2},
		{map[int32]string{1: "a", 2: "b", 3: "c", 4: "a", 5: "b", 6: "c", 7: "a", 8: "b", 9: "c"}, 3},
		{map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}, 3},
		{map[int32]string{1: "a", 2: "a", 3: "a", 4: "b", 5: "c"}, 3},
		{map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "", 6: ""}, 3}, // no broker.rack: a rack of its own
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.racks, "/rf", tc.rf), func(t *testing.T) {
			n := len(tc.racks)
			rackCount := len(slices.Compact(slices.Sorted(mapValues(tc.racks))))
			parts := 60 * n
			assign, err := newPlacer(tc.racks).placeNew(rand.New(rand.NewPCG(1, 2)), parts, tc.rf)
			if err != nil {
				t.Fatal(err)
			}
			leaders, rackLeaders := map[int32]int{}, map[string]int{}
			successors := map[int32]map[int32]int{}
			for i, replicas := range assign {
				seen := map[string]bool{}
				for _, r := range replicas {
					seen[tc.racks[r]] = true
				}
				if len(seen) != min(tc.rf, rackCount) {
					t.Errorf("partition %d: replicas %v cover racks %v", i, replicas, seen)
				}
				checkDistinct(t, i, replicas)
				leaders[replicas[0]]++
				rackLeaders[tc.racks[replicas[0]]]++
				if successors[replicas[0]] == nil {
					successors[replicas[0]] = map[int32]int{}
				}
				successors[replicas[0]][replicas[1]]++
			}
			for id, rack := range tc.racks {
				if leaders[id] != parts/n {
					t.Errorf("broker %d leads %d, want %d", id, leaders[id], parts/n)
				}
				for other, otherRack := range tc.racks {
					if rackCount >= 2 && otherRack != rack && successors[id][other] == 0 {
						t.Errorf("broker %d: broker %d (other rack) never takes over: %v", id, other, successors[id])
					}
					if otherRack == rack && successors[id][other] > 0 && rackCount >= 2 {
						t.Errorf("broker %d: successor %d in the same rack %s", id, other, rack)
					}
				}
			}
			perBroker := map[string]int{}
			for _, rack := range tc.racks {
				perBroker[rack]++
			}
			for rack, c := range rackLeaders {
				if c != perBroker[rack]*parts/n {
					t.Errorf("rack %q leads %d, want %d (%v)", rack, c, perBroker[rack]*parts/n, rackLeaders)
				}
			}
		})
	}
}

func mapValues(m map[int32]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func checkDistinct(t *testing.T, p int, replicas []int32) {
	t.Helper()
	if len(slices.Compact(slices.Sorted(slices.Values(replicas)))) != len(replicas) {
		t.Errorf("partition %d: replicas repeat a broker: %v", p, replicas)
	}
}

// With every rack of equal size and rf equal to the rack count, replicas
// are spread evenly over brokers, as Kafka's placement guarantees.
func TestPlacementRackAwareEvenReplicas(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	assign, err := newPlacer(racks).placeNew(rand.New(rand.NewPCG(7, 7)), 600, 3)
	if err != nil {
		t.Fatal(err)
	}
	count := map[int32]int{}
	for _, replicas := range assign {
		for _, r := range replicas {
			count[r]++
		}
	}
	for id := range racks {
		if count[id] != 300 {
			t.Errorf("broker %d holds %d replicas, want 300: %v", id, count[id], count)
		}
	}
}

func TestPlacementIsDeterministicForASeed(t *testing.T) {
	pl := newPlacer(map[int32]string{1: "", 2: "", 3: "", 4: "", 5: ""})
	a, _ := pl.placeNew(rand.New(rand.NewPCG(3, 4)), 50, 3)
	b, _ := pl.placeNew(rand.New(rand.NewPCG(3, 4)), 50, 3)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different placement")
	}
	distinct := map[string]bool{}
	for seed := range uint64(20) {
		c, _ := pl.placeNew(rand.New(rand.NewPCG(seed, 0)), 50, 3)
		distinct[fmt.Sprint(c)] = true
	}
	if len(distinct) < 5 {
		t.Errorf("20 seeds gave only %d placements: start and shift are not random", len(distinct))
	}
	// Through the controller: the same NewID sequence, the same placement.
	run := func() [][]int32 {
		h := newHarness(t, 4, nil)
		createTopic(t, h, "x", 3, 2, nil)
		createTopic(t, h, "t", 40, 3, nil)
		h.c.CreatePartitions(context.Background(), []CreatePartitions{{Name: "t", Count: 60}})
		top, _ := h.latest().Topic("t")
		var out [][]int32
		for _, p := range top.Partitions {
			out = append(out, p.Replicas)
		}
		return out
	}
	if x, y := run(), run(); !reflect.DeepEqual(x, y) {
		t.Errorf("controller placement not deterministic:\n%v\n%v", x, y)
	}
}

// Kafka's rack-unaware example (AdminUtils' javadoc): 5 brokers, 10
// partitions, start 0, shift 0.
func TestPlacementMatchesKafkaExample(t *testing.T) {
	pl := newPlacer(map[int32]string{0: "", 1: "", 2: "", 3: "", 4: ""})
	got := pl.place(0, 10, 3, 0, 0)
	want := [][]int32{
		{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1},
		{0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	// Rack-alternated order of the javadoc: 0→rack1, 1→rack3, 2→rack3,
	// 3→rack2, 4→rack2, 5→rack1 gives 0, 3, 1, 5, 4, 2.
	racked := newPlacer(map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"})
	if want := []int32{0, 3, 1, 5, 4, 2}; !reflect.DeepEqual(racked.brokers, want) {
		t.Errorf("rack-alternated list %v, want %v", racked.brokers, want)
	}
	if got, want := racked.place(0, 7, 3, 0, 0), [][]int32{{0, 3, 1}, {3, 1, 5}, {1, 5, 4}, {5, 4, 2}, {4, 2, 0}, {2, 0, 3}, {0, 4, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rack-aware: got %v\nwant %v", got, want)
	}
}

// CreatePartitions continues the leaders' round-robin from partition 0's
// leader and places only on usable brokers; rf beyond them is refused.
func TestCreatePartitionsPlacement(t *testing.T) {
	h := newHarness(t, 3, nil)
	ctx := context.Background()
	createTopic(t, h, "t", 3, 3, nil)
	res, _ := h.c.CreatePartitions(ctx, []CreatePartitions{{Name: "t", Count: 99}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	top, _ := h.latest().Topic("t")
	leaders := map[int32]int{}
	for i, p := range top.Partitions {
		checkDistinct(t, i, p.Replicas)
		leaders[p.Leader]++
	}
	if !reflect.DeepEqual(leaders, map[int32]int{1: 33, 2: 33, 3: 33}) {
		t.Errorf("leaders after growth: %v", leaders)
	}
	fenceByExpiry(t, h, 3, 3)
	res, _ = h.c.CreatePartitions(ctx, []CreatePartitions{{Name: "t", Count: 100}})
	if !errors.Is(res[0].Err, kerr.InvalidReplicationFactor) {
		t.Errorf("rf 3 on 2 usable brokers: %v", res[0].Err)
	}
	createTopic(t, h, "two", 10, 2, nil)
	top, _ = h.latest().Topic("two")
	for i, p := range top.Partitions {
		if slices.Contains(p.Replicas, 3) {
			t.Errorf("partition %d placed on fenced broker 3: %v", i, p.Replicas)
		}
	}
}

// createTopicOn creates a topic with a fixed replica assignment, for tests
// that need to know which broker leads and which follow.
func createTopicOn(t *testing.T, h *harness, name string, assignment [][]int32, cfg map[string]string) *metadata.TopicImage {
	t.Helper()
	res, err := h.c.CreateTopics(context.Background(), []CreateTopic{{Name: name, NumPartitions: -1, ReplicationFactor: -1, Assignments: assignment, Configs: cfg}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create %s: %v %v", name, err, res[0].Err)
	}
	top, _ := h.latest().Topic(name)
	return top
}
