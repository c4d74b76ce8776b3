package controller

import (
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
)

// Eligible leader replicas (KIP-966). A partition's leader does not
// advance the high watermark while its ISR is smaller than the effective
// min.insync.replicas (never more than the replication factor). So a
// replica that leaves the ISR while the ISR is, or becomes, that small
// still holds every committed record: it joins the partition's ELR and
// may be elected, cleanly, when no ISR member can lead. The ELR empties
// when the ISR is back to min.insync.replicas (the high watermark moves
// on without the ELR members) and after an unclean election.
//
// The ELR matters most with unclean shutdowns: a broker that restarts
// without its clean-shutdown marker may have lost the unsynced tail of
// its logs (Kafka, like Fjord, does not fsync each write). It is removed
// from every ISR and ELR at registration, so that a replica that still
// has the acknowledged records leads instead — unless it is the only
// replica left that may have them, which then stays eligible.
//
// The last known ELR is kept as Kafka's PartitionChangeBuilder keeps it
// with ELR enabled (its default "last known leader" use): when a change
// leaves a partition without a leader because no ISR or ELR member is
// usable — in Kafka the change that empties the ISR — it records the
// leader the partition had; once the partition has a leader again it is
// cleared. It is informational (DescribeTopicPartitions, `fjord topic
// describe`): elections do not read it, since the last ISR member stays
// in Fjord's ISR and is re-elected from there.

// effectiveMinISR is min.insync.replicas of the topic in img capped at
// the replication factor, as partition leaders apply it.
func (c *Controller) effectiveMinISR(img *metadata.Image, topic string, replicas int) int {
	n := int(c.topicConfig(img, topic).Int("min.insync.replicas"))
	return min(n, replicas)
}

// maintainELR fills in the ELR and the last known ELR of every partition
// change in recs that does not set them explicitly, following the ISR
// and leader change it makes. recs are one step of a command (txn.add),
// decided on img: the image the command's earlier steps leave.
func (c *Controller) maintainELR(img *metadata.Image, recs []metadata.Record) []metadata.Record {
	type key struct {
		t metadata.UUID
		p int32
	}
	state := map[key]metadata.PartitionImage{} // partitions as changed so far in recs
	for i, r := range recs {
		ch, ok := r.(metadata.PartitionChange)
		if !ok {
			continue
		}
		t := img.Topics[ch.TopicID]
		if t == nil || int(ch.Partition) >= len(t.Partitions) {
			continue
		}
		k := key{ch.TopicID, ch.Partition}
		p, seen := state[k]
		if !seen {
			p = t.Partitions[ch.Partition]
		}
		recs[i], state[k] = c.followELR(img, t.Name, p, ch)
	}
	return recs
}

// followELR fills in ch's ELR and last known ELR where ch leaves them to
// the controller (the topic's config is read in img), and returns ch with
// the partition as it leaves it.
func (c *Controller) followELR(img *metadata.Image, topic string, p metadata.PartitionImage, ch metadata.PartitionChange) (metadata.PartitionChange, metadata.PartitionImage) {
	if ch.ELR == nil {
		if elr, changed := nextELR(p, ch, c.effectiveMinISR(img, topic, len(p.Replicas))); changed {
			ch.ELR = &elr
		}
	}
	if ch.LastKnownELR == nil {
		if last, changed := nextLastKnownELR(p, ch); changed {
			ch.LastKnownELR = &last
		}
	}
	return ch, applied(p, ch)
}

// nextELR computes the ELR after ch and reports whether it differs from
// p's.
func nextELR(p metadata.PartitionImage, ch metadata.PartitionChange, minISR int) ([]int32, bool) {
	isr, replicas := p.ISR, p.Replicas
	if ch.ISR != nil {
		isr = ch.ISR
	}
	if ch.Replicas != nil {
		replicas = ch.Replicas
	}
	var elr []int32
	if !ch.Unclean && len(isr) < minISR {
		for _, r := range replicas { // in assignment order
			wasEligible := slices.Contains(p.ELR, r) || slices.Contains(p.ISR, r)
			if wasEligible && !slices.Contains(isr, r) {
				elr = append(elr, r)
			}
		}
	}
	if slices.Equal(elr, p.ELR) {
		return nil, false
	}
	if elr == nil {
		elr = []int32{}
	}
	return elr, true
}

// nextLastKnownELR computes the last known ELR after ch and reports
// whether it differs from p's: the leader p had when ch leaves it without
// one, nothing once it has a leader (Kafka's maybeUpdateLastKnownLeader).
func nextLastKnownELR(p metadata.PartitionImage, ch metadata.PartitionChange) ([]int32, bool) {
	leader := p.Leader
	if ch.Leader != nil {
		leader = *ch.Leader
	}
	switch {
	case leader < 0 && p.Leader >= 0 && !slices.Equal(p.LastKnownELR, []int32{p.Leader}):
		return []int32{p.Leader}, true
	case leader >= 0 && len(p.LastKnownELR) > 0:
		return []int32{}, true
	}
	return nil, false
}

// applied returns p with ch's leader, ISR, ELR, last known ELR and
// replicas.
func applied(p metadata.PartitionImage, ch metadata.PartitionChange) metadata.PartitionImage {
	if ch.Leader != nil {
		p.Leader = *ch.Leader
	}
	if ch.ISR != nil {
		p.ISR = ch.ISR
	}
	if ch.ELR != nil {
		p.ELR = *ch.ELR
	}
	if ch.LastKnownELR != nil {
		p.LastKnownELR = *ch.LastKnownELR
	}
	if ch.Replicas != nil {
		p.Replicas = ch.Replicas
	}
	return p
}

// uncleanShutdownRecords removes broker id, which restarted after an
// unclean shutdown, from every ISR and ELR of img where another replica is
// known to hold the committed records. As the sole ISR member it hands
// eligibility to the ELR members (they become the ISR of the leaderless
// partition); with no ELR either, it stays: it is the best copy left. img
// must have its old registration fenced (register decides this on the
// image its fence leaves), so that it leads nothing.
func uncleanShutdownRecords(img *metadata.Image, id int32) []metadata.Record {
	var recs []metadata.Record
	for _, name := range img.TopicNames() {
		tid := img.TopicsByName[name]
		for i, p := range img.Topics[tid].Partitions {
			if ch, ok := withoutUnclean(tid, int32(i), p, id); ok {
				recs = append(recs, ch)
			}
		}
	}
	return recs
}

func withoutUnclean(tid metadata.UUID, idx int32, p metadata.PartitionImage, id int32) (metadata.PartitionChange, bool) {
	inISR, inELR := slices.Contains(p.ISR, id), slices.Contains(p.ELR, id)
	if !inISR && !inELR {
		return metadata.PartitionChange{}, false
	}
	without := func(xs []int32) []int32 {
		return slices.DeleteFunc(slices.Clone(xs), func(r int32) bool { return r == id })
	}
	isr, elr := without(p.ISR), without(p.ELR)
	if len(isr) == 0 {
		if len(elr) == 0 {
			return metadata.PartitionChange{}, false // the last copy that may have everything
		}
		isr, elr = elr, nil
	}
	// The ELR is always explicit: maintainELR would count a replica that
	// leaves a small ISR as eligible, which this one is not.
	ch := metadata.PartitionChange{TopicID: tid, Partition: idx, ELR: &elr}
	if elr == nil {
		ch.ELR = &[]int32{}
	}
	if !slices.Equal(isr, p.ISR) {
		ch.ISR = isr
	}
	return ch, true // it leads nothing: its old registration was fenced first
}
