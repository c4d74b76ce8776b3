package controller

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Replica placement for new topics and new partitions, with the scheme of
// Kafka's AdminUtils.assignReplicasToBrokers (the "random start broker and
// a replica shift per round" placement; KRaft's StripedReplicaPlacer
// instead reshuffles its lists at random every round, which balances
// failover successors only on average).
//
// Goals, in Kafka's words: spread replicas evenly over brokers; for the
// partitions a broker holds, spread their other replicas over the other
// brokers, so that when it dies its leaderships (which move to the next
// replica in assignment order, see elections.go) and its followers'
// catch-up load spread evenly over the survivors; and where brokers carry
// racks, put a partition's replicas on distinct racks.
//
// The usable brokers are put in rack-alternated order (racks sorted, ids
// sorted within a rack, one broker of each rack in turn). Partition p's
// first replica (its preferred leader) is list[(p+start) mod n], so leaders
// go round-robin over brokers and over racks. Its j-th follower candidate
// is list[(first + 1 + (shift*racks + j) mod (n-1)) mod n]: a fixed
// distance from the leader that changes by one (times the rack count)
// each time p wraps around n, so each leader's successors rotate through
// every other broker. With racks, a candidate is skipped while its rack
// already holds a replica and some rack holds none. start and shift are
// random per placement. Brokers without broker.rack form one rack of
// their own ("" is a rack name): with no racks set the rack-aware rule is
// a no-op and this is Kafka's rack-unaware placement exactly.

// placer places replicas over the usable brokers.
type placer struct {
	brokers []int32          // rack-alternated order
	rack    map[int32]string // broker → rack
	racks   int              // distinct racks
}

// newPlacer builds the rack-alternated list from broker → rack.
func newPlacer(rackOf map[int32]string) *placer {
	byRack := map[string][]int32{}
	for id, r := range rackOf {
		byRack[r] = append(byRack[r], id)
	}
	racks := slices.Sorted(maps.Keys(byRack))
	for _, r := range racks {
		slices.Sort(byRack[r])
	}
	pl := &placer{rack: rackOf, racks: len(racks), brokers: make([]int32, 0, len(rackOf))}
	for i := 0; len(pl.brokers) < len(rackOf); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				pl.brokers = append(pl.brokers, byRack[r][i])
			}
		}
	}
	return pl
}

// usablePlacer returns a placer over the brokers of img that are
// unfenced, not shutting down and not cordoned.
func usablePlacer(img *metadata.Image) *placer {
	rackOf := map[int32]string{}
	for id, b := range img.Brokers {
		if !b.Fenced && !b.InControlledShutdown && !Cordoned(img, id) {
			rackOf[id] = b.Rack
		}
	}
	return newPlacer(rackOf)
}

// Cordoned reports whether broker id is cordoned (KIP-1066): its dynamic
// cordoned.log.dirs names any log dir, or "*". Fjord's brokers place a
// partition's replica in any of their log dirs, so one cordoned dir
// cordons the broker for new replicas. Reassignments may still name it.
func Cordoned(img *metadata.Image, id int32) bool {
	return strings.TrimSpace(img.BrokerConfig(strconv.Itoa(int(id)))["cordoned.log.dirs"]) != ""
}

// placementRand returns a generator seeded from Options.NewID, so that
// placement is random in a server and deterministic in tests.
func (c *Controller) placementRand() *rand.Rand {
	id := c.o.NewID()
	var seed [32]byte
	copy(seed[:16], id[:])
	copy(seed[16:], id[:])
	return rand.New(rand.NewChaCha8(seed))
}

// checkRF fails with INVALID_REPLICATION_FACTOR when rf replicas cannot
// be placed on distinct usable brokers.
func (pl *placer) checkRF(rf int) error {
	if rf > len(pl.brokers) {
		return fmt.Errorf("%w: replication factor: %d larger than available brokers: %d", kerr.InvalidReplicationFactor, rf, len(pl.brokers))
	}
	return nil
}

// placeNew places a new topic: random start and shift.
func (pl *placer) placeNew(rng *rand.Rand, n, rf int) ([][]int32, error) {
	if err := pl.checkRF(rf); err != nil {
		return nil, err
	}
	return pl.place(0, n, rf, rng.IntN(len(pl.brokers)), rng.IntN(len(pl.brokers))), nil
}

// placeMore places partitions have.. have+n-1 of a topic whose partition 0
// is led (preferably) by leader0: leaders continue the round-robin from
// there, as Kafka's addPartitions does; the shift is random.
func (pl *placer) placeMore(rng *rand.Rand, have, n, rf int, leader0 int32) ([][]int32, error) {
	if err := pl.checkRF(rf); err != nil {
		return nil, err
	}
	start := slices.Index(pl.brokers, leader0)
	if start < 0 {
		start = rng.IntN(len(pl.brokers))
	}
	return pl.place(have, n, rf, start, rng.IntN(len(pl.brokers))), nil
}

// place returns the replicas of partitions first.. first+n-1, given the
// start index and the initial shift; rf ≤ len(pl.brokers).
func (pl *placer) place(first, n, rf, start, shift int) [][]int32 {
	nb := len(pl.brokers)
	out := make([][]int32, n)
	for i := range out {
		p := first + i
		if p > 0 && p%nb == 0 {
			shift++
		}
		out[i] = pl.replicas((p+start)%nb, shift, rf)
	}
	return out
}

// replicas returns one partition's replicas, led by pl.brokers[lead].
func (pl *placer) replicas(lead, shift, rf int) []int32 {
	nb := len(pl.brokers)
	out := make([]int32, 1, rf)
	out[0] = pl.brokers[lead]
	racks := map[string]bool{pl.rack[out[0]]: true}
	for k := 0; len(out) < rf; k++ {
		b := pl.brokers[(lead+1+(shift*pl.racks+k)%(nb-1))%nb]
		if slices.Contains(out, b) || racks[pl.rack[b]] && len(racks) < pl.racks {
			continue
		}
		out = append(out, b)
		racks[pl.rack[b]] = true
	}
	return out
}
