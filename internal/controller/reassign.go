package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition reassignment (KIP-455, AlterPartitionReassignments 45 and
// ListPartitionReassignments 46), as Kafka's controller does it.
//
// A reassignment to target replicas T of a partition whose replicas are C
// records, in one partition change: Replicas = T followed by C−T,
// AddingReplicas = T−C, RemovingReplicas = C−T. The ISR and the leader do
// not change: the adding replicas are followers like any other, catch up
// by fetching, and join the ISR through the leader's AlterPartition. The
// change that brings the last adding replica into the ISR (any change,
// whoever proposes it: see completeReassignments) completes the
// reassignment in the same record: Replicas = T, the removing replicas
// leave the ISR (and so the ELR), and a leader among them hands over to
// the first replica of T in the new ISR. Brokers that are no longer
// replicas delete their copy when they see the change.
//
// A new reassignment of a partition already being reassigned starts from
// its current Replicas (the union): replicas of the old target that the
// new one drops become removing replicas. Cancelling (a null target)
// reverts to the original replicas: Replicas − AddingReplicas, with the
// adding replicas out of the ISR; it is refused when no original replica
// is left in the ISR, unless the topic allows unclean elections.
//
// Reassignments live in the partitions' metadata, so they survive a
// controller failover: the new active controller completes them when the
// leaders report the expanded ISR.

// Reassignment asks to move one partition to Replicas; nil Replicas
// cancels the partition's reassignment in progress.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
	// KeepReplicationFactor refuses a target whose size differs from the
	// partition's replication factor (KIP-860's
	// AllowReplicationFactorChange=false) with INVALID_REPLICATION_FACTOR.
	KeepReplicationFactor bool
}

// ReassignmentStatus is one partition's reassignment in progress.
type ReassignmentStatus struct {
	Topic            string
	Partition        int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// AlterPartitionReassignments starts, changes or cancels reassignments;
// every valid item is committed in one entry. Per item errors:
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT (empty or
// repeated replicas, unregistered or fenced brokers),
// NO_REASSIGNMENT_IN_PROGRESS (cancelling none), INVALID_REPLICA_ASSIGNMENT
// (a cancel that needs an unclean election).
func (c *Controller) AlterPartitionReassignments(ctx context.Context, items []Reassignment) ([]error, error) {
	return decide(ctx, c, func(t *txn) ([]error, error) {
		out := make([]error, len(items))
		for i, it := range items {
			n := len(t.recs)
			if out[i] = c.reassignOne(t, it); out[i] == nil && len(t.recs) > n {
				t.failsWith(&out[i])
			}
		}
		return out, nil
	})
}

// ListPartitionReassignments lists the reassignments in progress among
// tps, or all of them for nil tps. Unknown topics and partitions are left
// out, as Kafka does.
func (c *Controller) ListPartitionReassignments(ctx context.Context, tps []TopicPartition) ([]ReassignmentStatus, error) {
	return activeCmd(ctx, c, func() []ReassignmentStatus { return ListReassignments(c.image(), tps) })
}

// ListReassignments lists img's reassignments in progress among tps (all
// of them for nil tps), in topic and partition order.
func ListReassignments(img *metadata.Image, tps []TopicPartition) []ReassignmentStatus {
	if tps == nil {
		tps = allPartitions(img)
	}
	var out []ReassignmentStatus
	for _, tp := range tps {
		t, ok := img.Topic(tp.Topic)
		if !ok || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue
		}
		if p := t.Partitions[tp.Partition]; p.Reassigning() {
			out = append(out, ReassignmentStatus{
				Topic: tp.Topic, Partition: tp.Partition, Replicas: slices.Clone(p.Replicas),
				AddingReplicas: slices.Clone(p.AddingReplicas), RemovingReplicas: slices.Clone(p.RemovingReplicas),
			})
		}
	}
	return out
}

// reassignOne decides one item on t's current image.
func (c *Controller) reassignOne(t *txn, it Reassignment) error {
	img := t.image()
	top, ok := img.Topic(it.Topic)
	if !ok || it.Partition < 0 || int(it.Partition) >= len(top.Partitions) {
		return kerr.UnknownTopicOrPartition
	}
	p := top.Partitions[it.Partition]
	var ch metadata.PartitionChange
	var err error
	if it.Replicas == nil {
		ch, err = c.cancelReassignment(img, top, it.Partition, p)
	} else {
		if rf := len(p.Replicas) - len(p.AddingReplicas); it.KeepReplicationFactor && len(it.Replicas) != rf {
			return fmt.Errorf("%w: the target has %d replicas, the partition's replication factor is %d, and the request does not allow changing it", kerr.InvalidReplicationFactor, len(it.Replicas), rf)
		}
		ch, err = startReassignment(img, top.ID, it.Partition, p, it.Replicas)
	}
	if err != nil {
		return err
	}
	t.add(ch)
	return nil
}

// startReassignment records the move of p to target.
func startReassignment(img *metadata.Image, tid metadata.UUID, idx int32, p metadata.PartitionImage, target []int32) (metadata.PartitionChange, error) {
	if err := checkTarget(img, target); err != nil {
		return metadata.PartitionChange{}, err
	}
	adding := without(target, p.Replicas)
	removing := without(p.Replicas, target)
	replicas := append(slices.Clone(target), removing...)
	ch := metadata.PartitionChange{TopicID: tid, Partition: idx, Replicas: replicas}
	ch.AddingReplicas, ch.RemovingReplicas = ptrList(adding), ptrList(removing)
	if next, done := completeReassignment(p, ch, usable(img, -1)); done {
		return next, nil
	}
	return ch, nil
}

// cancelReassignment reverts p's reassignment to its original replicas.
func (c *Controller) cancelReassignment(img *metadata.Image, top *metadata.TopicImage, idx int32, p metadata.PartitionImage) (metadata.PartitionChange, error) {
	if !p.Reassigning() {
		return metadata.PartitionChange{}, fmt.Errorf("%w: partition %s-%d", kerr.NoReassignmentInProgress, top.Name, idx)
	}
	replicas := without(p.Replicas, p.AddingReplicas)
	isr := without(p.ISR, p.AddingReplicas)
	ch := metadata.PartitionChange{TopicID: top.ID, Partition: idx, Replicas: replicas,
		AddingReplicas: &[]int32{}, RemovingReplicas: &[]int32{}}
	ok := usable(img, -1)
	unclean := false
	if len(isr) == 0 {
		if !c.uncleanEnabled(img, top.Name) {
			return ch, fmt.Errorf("%w: cancelling the reassignment of %s-%d needs an unclean leader election: no original replica is in the ISR", kerr.InvalidReplicaAssignment, top.Name, idx)
		}
		if leader := electUnclean(replicas, ok); leader >= 0 {
			isr, unclean = []int32{leader}, true
		} else {
			isr = slices.Clone(replicas)
		}
	}
	ch.ISR = isr
	if !slices.Contains(isr, p.Leader) {
		leader := electLeader(replicas, isr, ok)
		ch.Leader, ch.Unclean = &leader, unclean
	}
	return ch, nil
}

// checkTarget validates a reassignment's target replicas as Kafka's
// validateManualPartitionAssignment: not empty, no broker twice, every
// broker registered and unfenced.
func checkTarget(img *metadata.Image, target []int32) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: the target replica list is empty", kerr.InvalidReplicaAssignment)
	}
	seen := map[int32]bool{}
	for _, r := range target {
		if seen[r] {
			return fmt.Errorf("%w: broker %d is listed more than once", kerr.InvalidReplicaAssignment, r)
		}
		seen[r] = true
		if b, ok := img.Brokers[r]; !ok || b.Fenced {
			return fmt.Errorf("%w: the target includes broker %d, but no such broker is registered and unfenced", kerr.InvalidReplicaAssignment, r)
		}
	}
	return nil
}

// completeReassignments completes, in recs, the reassignments their
// changes allow: a change that leaves every adding replica of a
// reassigning partition in the ISR also ends the reassignment
// (completeReassignment). Changes that set the adding replicas themselves
// (a new reassignment or a cancel) are left alone. recs are one step of a
// command decided on img (txn.add); it may modify recs.
func completeReassignments(img *metadata.Image, recs []metadata.Record) []metadata.Record {
	ok := usable(img, -1)
	for i, r := range recs {
		ch, isChange := r.(metadata.PartitionChange)
		if !isChange || ch.AddingReplicas != nil {
			continue
		}
		t := img.Topics[ch.TopicID]
		if t == nil || int(ch.Partition) >= len(t.Partitions) {
			continue
		}
		p := t.Partitions[ch.Partition]
		if !p.Reassigning() {
			continue
		}
		if next, done := completeReassignment(p, ch, ok); done {
			recs[i] = next
		}
	}
	return recs
}

// completeReassignment returns ch extended to complete p's reassignment
// (the one ch sets, or p's own) when, after ch, every adding replica is in
// the ISR and the ISR keeps a member besides the removing replicas; a
// leader that is being removed hands over to the first usable target
// replica in the new ISR (none: the reassignment waits).
func completeReassignment(p metadata.PartitionImage, ch metadata.PartitionChange, ok usableFunc) (metadata.PartitionChange, bool) {
	after := appliedReassignment(p, ch)
	if !after.Reassigning() {
		return ch, false
	}
	for _, r := range after.AddingReplicas {
		if !slices.Contains(after.ISR, r) {
			return ch, false
		}
	}
	target := after.TargetReplicas()
	isr := without(after.ISR, after.RemovingReplicas)
	if len(isr) == 0 {
		return ch, false
	}
	leader := after.Leader
	if !slices.Contains(isr, leader) {
		if leader = electLeader(target, isr, ok); leader < 0 {
			return ch, false
		}
	}
	ch.Replicas, ch.ISR = target, isr
	ch.AddingReplicas, ch.RemovingReplicas = &[]int32{}, &[]int32{}
	if leader != p.Leader {
		ch.Leader = &leader
	} else {
		ch.Leader = nil
	}
	return ch, true
}

// appliedReassignment returns p as ch leaves it, reassignment fields
// included.
func appliedReassignment(p metadata.PartitionImage, ch metadata.PartitionChange) metadata.PartitionImage {
	p = applied(p, ch)
	if ch.AddingReplicas != nil {
		p.AddingReplicas = *ch.AddingReplicas
	}
	if ch.RemovingReplicas != nil {
		p.RemovingReplicas = *ch.RemovingReplicas
	}
	return p
}

// without returns the members of xs not in drop, in xs's order.
func without(xs, drop []int32) []int32 {
	out := make([]int32, 0, len(xs))
	for _, x := range xs {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// ptrList returns a pointer to xs, never to nil (an empty list clears).
func ptrList(xs []int32) *[]int32 {
	if xs == nil {
		xs = []int32{}
	}
	return &xs
}
