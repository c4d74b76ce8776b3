package controller

import (
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
)

// Leader elections (reference/kafka-replication.md §4). A partition's
// leader is the first replica, in assignment order, that is in the ISR and
// usable (registered, unfenced, not shutting down); failing that, the
// first usable one of the ELR (elr.go), which leads with itself as the
// ISR. When none is usable the partition is leaderless (leader -1) and
// keeps its last ISR and its ELR, so that it comes back as soon as one of
// those replicas does — unless the topic enables
// unclean.leader.election.enable, in which case any usable replica may
// lead, with itself as the whole ISR, accepting the loss of what it lacks.

// usableFunc reports whether a broker may lead or stay in an ISR.
type usableFunc func(id int32) bool

// usable returns the usable test over img, treating except as unusable.
func usable(img *metadata.Image, except int32) usableFunc {
	return func(id int32) bool {
		b, ok := img.Brokers[id]
		return ok && id != except && !b.Fenced && !b.InControlledShutdown
	}
}

// electLeader returns the first replica that is in isr and usable, or -1.
func electLeader(replicas, isr []int32, ok usableFunc) int32 {
	for _, r := range replicas {
		if ok(r) && slices.Contains(isr, r) {
			return r
		}
	}
	return -1
}

// electUnclean returns the first usable replica, or -1.
func electUnclean(replicas []int32, ok usableFunc) int32 {
	for _, r := range replicas {
		if ok(r) {
			return r
		}
	}
	return -1
}

// fenceRecords fences broker id of img and moves its partitions away in
// the same entry: one batch of records for all its partitions.
func (c *Controller) fenceRecords(img *metadata.Image, id int32) []metadata.Record {
	b := img.Brokers[id]
	yes := true
	recs := []metadata.Record{metadata.BrokerRegistrationChange{ID: id, Epoch: b.Epoch, Fenced: &yes}}
	return append(recs, c.partitionsWithout(img, id, true)...)
}

// partitionsWithout removes broker id from every ISR of img (a sole member
// stays, as the ISR of a now leaderless partition) and re-elects where it
// led, among the brokers usable in img. fence is false for controlled
// shutdown, where no unclean election is made: the broker is still alive
// and its data will be back.
func (c *Controller) partitionsWithout(img *metadata.Image, id int32, fence bool) []metadata.Record {
	ok := usable(img, id)
	var recs []metadata.Record
	for _, name := range img.TopicNames() {
		tid := img.TopicsByName[name]
		t := img.Topics[tid]
		unclean := c.uncleanEnabled(img, t.Name)
		for i, p := range t.Partitions {
			if !slices.Contains(p.ISR, id) && p.Leader != id {
				continue
			}
			if ch, changed := reassign(tid, int32(i), p, id, ok, unclean && fence); changed {
				recs = append(recs, ch)
			}
		}
	}
	return recs
}

// reassign computes the change for one partition when broker gone leaves.
func reassign(tid metadata.UUID, idx int32, p metadata.PartitionImage, gone int32, ok usableFunc, unclean bool) (metadata.PartitionChange, bool) {
	ch := metadata.PartitionChange{TopicID: tid, Partition: idx}
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == gone })
	leader := p.Leader
	if leader == gone || leader == -1 {
		leader, isr, ch.Unclean = elect(p, isr, ok, unclean)
	}
	if len(isr) == 0 {
		isr = p.ISR // the last ISR member stays: only it is known to have everything
	}
	if leader != p.Leader {
		ch.Leader = &leader
	}
	if !slices.Equal(isr, p.ISR) {
		ch.ISR = isr
	}
	return ch, ch.Leader != nil || ch.ISR != nil
}

// elect picks p's leader among usable replicas: the first member of isr;
// else the first ELR member, which leads with itself as the ISR; else,
// where unclean election is allowed, any replica, likewise (wasUnclean).
// With no leader it returns -1 and isr unchanged.
func elect(p metadata.PartitionImage, isr []int32, ok usableFunc, unclean bool) (leader int32, newISR []int32, wasUnclean bool) {
	if leader = electLeader(p.Replicas, isr, ok); leader != -1 {
		return leader, isr, false
	}
	if leader = electLeader(p.Replicas, p.ELR, ok); leader != -1 {
		return leader, []int32{leader}, false
	}
	if !unclean {
		return -1, isr, false
	}
	if leader = electUnclean(p.Replicas, ok); leader != -1 {
		return leader, []int32{leader}, true
	}
	return -1, isr, false
}

// unfenceRecords unfences broker id of img and elects it where partitions
// are leaderless and it is in the ISR (or, with unclean election enabled,
// a replica at all).
func (c *Controller) unfenceRecords(img *metadata.Image, id int32) []metadata.Record {
	no := false
	recs := []metadata.Record{metadata.BrokerRegistrationChange{ID: id, Epoch: img.Brokers[id].Epoch, Fenced: &no}}
	ok := func(r int32) bool { return r == id || usable(img, -1)(r) }
	for _, name := range img.TopicNames() {
		tid := img.TopicsByName[name]
		t := img.Topics[tid]
		for i, p := range t.Partitions {
			if p.Leader != -1 || !slices.Contains(p.Replicas, id) {
				continue
			}
			if ch, changed := electLeaderless(tid, int32(i), p, ok, c.uncleanEnabled(img, t.Name)); changed {
				recs = append(recs, ch)
			}
		}
	}
	return recs
}

// electLeaderless elects a leader for a leaderless partition if it can.
func electLeaderless(tid metadata.UUID, idx int32, p metadata.PartitionImage, ok usableFunc, unclean bool) (metadata.PartitionChange, bool) {
	ch := metadata.PartitionChange{TopicID: tid, Partition: idx}
	leader, isr, wasUnclean := elect(p, p.ISR, ok, unclean)
	if leader == -1 {
		return ch, false
	}
	ch.Leader, ch.Unclean = &leader, wasUnclean
	if !slices.Equal(isr, p.ISR) {
		ch.ISR = isr
	}
	return ch, true
}

// uncleanEnabled reads the topic's unclean.leader.election.enable in img.
func (c *Controller) uncleanEnabled(img *metadata.Image, topic string) bool {
	return c.topicConfig(img, topic).Bool("unclean.leader.election.enable")
}
