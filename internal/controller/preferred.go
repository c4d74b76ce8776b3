package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Election types of ElectLeaders, numbered as in Kafka.
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// TopicPartition names a partition in an ElectLeaders request.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectResult is the outcome of one partition's election.
type ElectResult struct {
	TopicPartition
	Err error
}

// ElectLeaders runs preferred or unclean elections (ElectLeaders, api 43)
// for the given partitions, or for every partition when tps is nil. A
// preferred election makes the first replica leader when it is in the ISR
// and usable (PREFERRED_LEADER_NOT_AVAILABLE otherwise,
// ELECTION_NOT_NEEDED when it already leads). An unclean election elects,
// for a leaderless partition only, the first usable replica even outside
// the ISR (ELIGIBLE_LEADERS_NOT_AVAILABLE when none, ELECTION_NOT_NEEDED
// when it has a leader). All changes go in one entry.
func (c *Controller) ElectLeaders(ctx context.Context, typ int8, tps []TopicPartition) ([]ElectResult, error) {
	return decide(ctx, c, func(t *txn) ([]ElectResult, error) { return electLeaders(t, typ, tps), nil })
}

// electLeaders decides the elections on t's image, all in one step.
func electLeaders(t *txn, typ int8, tps []TopicPartition) []ElectResult {
	img := t.image()
	if tps == nil {
		tps = allPartitions(img)
	}
	ok := usable(img, -1)
	out := make([]ElectResult, len(tps))
	var recs []metadata.Record
	for i, tp := range tps {
		out[i].TopicPartition = tp
		ch, err := electOne(img, tp, typ, ok)
		if err != nil {
			out[i].Err = err
			continue
		}
		recs = append(recs, ch)
	}
	t.add(recs...)
	return out
}

func allPartitions(img *metadata.Image) []TopicPartition {
	var out []TopicPartition
	for _, name := range img.TopicNames() {
		t, _ := img.Topic(name)
		for i := range t.Partitions {
			out = append(out, TopicPartition{name, int32(i)})
		}
	}
	return out
}

func electOne(img *metadata.Image, tp TopicPartition, typ int8, ok usableFunc) (metadata.PartitionChange, error) {
	t, found := img.Topic(tp.Topic)
	if !found || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
		return metadata.PartitionChange{}, kerr.UnknownTopicOrPartition
	}
	p := t.Partitions[tp.Partition]
	ch := metadata.PartitionChange{TopicID: t.ID, Partition: tp.Partition}
	switch typ {
	case ElectPreferred:
		pref := p.Replicas[0]
		if p.Leader == pref {
			return ch, kerr.ElectionNotNeeded
		}
		if !ok(pref) || !slices.Contains(p.ISR, pref) {
			return ch, fmt.Errorf("%w: preferred replica %d is not in the ISR or not available", kerr.PreferredLeaderNotAvailable, pref)
		}
		ch.Leader = &pref
	case ElectUnclean:
		if p.Leader >= 0 {
			return ch, kerr.ElectionNotNeeded
		}
		leader := electLeader(p.Replicas, p.ISR, ok)
		if leader < 0 {
			if leader = electUnclean(p.Replicas, ok); leader < 0 {
				return ch, kerr.EligibleLeadersNotAvailable
			}
			ch.ISR, ch.Unclean = []int32{leader}, true
		}
		ch.Leader = &leader
	default:
		return ch, kerr.InvalidRequest
	}
	return ch, nil
}

// leaderImbalancePercentage is Kafka's leader.imbalance.per.broker.percentage
// default: a broker whose preferred partitions are led elsewhere more than
// this often gets its leaderships back.
const leaderImbalancePercentage = 10

// maybeRebalance runs preferred elections for brokers whose leader
// imbalance exceeds the threshold (auto.leader.rebalance.enable), at most
// every leader.imbalance.check.interval.seconds, in one entry.
func (c *Controller) maybeRebalance() error {
	if !c.o.Config.Bool("auto.leader.rebalance.enable") {
		return nil
	}
	interval := time.Duration(c.o.Config.Int("leader.imbalance.check.interval.seconds")) * time.Second
	now := c.o.Now()
	if now.Sub(c.lastRebalance) < interval {
		return nil
	}
	c.lastRebalance = now
	_, err := decideOn(c, func(t *txn) (struct{}, error) {
		tps := imbalanced(t.image())
		if len(tps) == 0 {
			return struct{}{}, nil
		}
		moved := 0
		for _, r := range electLeaders(t, ElectPreferred, tps) {
			if r.Err == nil {
				moved++
			}
		}
		t.committed(func(uint64) { c.logger.Info("preferred leader rebalance", "candidates", len(tps), "moved", moved) })
		return struct{}{}, nil
	})
	return err
}

// imbalanced lists the partitions of img not led by their preferred
// replica, of brokers whose imbalance ratio is above the threshold.
func imbalanced(img *metadata.Image) []TopicPartition {
	total, off := map[int32]int{}, map[int32][]TopicPartition{}
	for _, tp := range allPartitions(img) {
		t, _ := img.Topic(tp.Topic)
		p := t.Partitions[tp.Partition]
		pref := p.Replicas[0]
		total[pref]++
		if p.Leader != pref {
			off[pref] = append(off[pref], tp)
		}
	}
	var out []TopicPartition
	for b, tps := range off {
		if len(tps)*100 > total[b]*leaderImbalancePercentage {
			out = append(out, tps...)
		}
	}
	slices.SortFunc(out, func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out
}
