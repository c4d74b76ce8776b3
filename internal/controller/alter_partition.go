package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// AlterPartitionItem is one leader's proposed ISR (AlterPartition, api 56).
type AlterPartitionItem struct {
	TopicID        metadata.UUID
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterPartitionResult is the outcome for one item: on success the
// partition's new state.
type AlterPartitionResult struct {
	Err            error
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterPartition validates and commits ISR changes proposed by the leader
// broker, in the order Kafka checks them (reference §1): stale broker
// epoch, unknown topic or partition, epochs newer than ours
// (NOT_CONTROLLER), older leader epoch (FENCED_LEADER_EPOCH), sender not
// leader (INVALID_REQUEST), older partition epoch (INVALID_UPDATE_VERSION),
// an ISR that is not a subset of the replicas or lacks the leader
// (INVALID_REQUEST), an ineligible member (INELIGIBLE_REPLICA). Valid
// changes of one request are committed in one entry.
func (c *Controller) AlterPartition(ctx context.Context, broker int32, brokerEpoch int64, items []AlterPartitionItem) ([]AlterPartitionResult, error) {
	return decide(ctx, c, func(t *txn) ([]AlterPartitionResult, error) {
		return alterPartition(t, broker, brokerEpoch, items)
	})
}

// alterPartition decides the valid items' ISR changes and answers each
// with the partition's state on the image they leave (the epochs Apply
// computes there are those the committed entry gets).
func alterPartition(t *txn, broker int32, brokerEpoch int64, items []AlterPartitionItem) ([]AlterPartitionResult, error) {
	img := t.image()
	if b, ok := img.Brokers[broker]; !ok || b.Epoch != brokerEpoch {
		return nil, fmt.Errorf("%w: broker %d epoch %d", kerr.StaleBrokerEpoch, broker, brokerEpoch)
	}
	out := make([]AlterPartitionResult, len(items))
	var recs []metadata.Record
	for i, it := range items {
		if err := checkAlter(img, broker, it); err != nil {
			out[i].Err = err
			continue
		}
		recs = append(recs, metadata.PartitionChange{TopicID: it.TopicID, Partition: it.Partition, ISR: slices.Clone(it.ISR)})
	}
	t.add(recs...)
	img = t.image()
	for i, it := range items {
		if out[i].Err == nil {
			p := img.Topics[it.TopicID].Partitions[it.Partition]
			out[i] = AlterPartitionResult{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: p.ISR}
		}
	}
	return out, nil
}

func checkAlter(img *metadata.Image, broker int32, it AlterPartitionItem) error {
	t, ok := img.Topics[it.TopicID]
	if !ok {
		return kerr.UnknownTopicID
	}
	if it.Partition < 0 || int(it.Partition) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition
	}
	p := t.Partitions[it.Partition]
	switch {
	case it.LeaderEpoch > p.LeaderEpoch || it.PartitionEpoch > p.PartitionEpoch:
		return kerr.NotController
	case it.LeaderEpoch < p.LeaderEpoch:
		return kerr.FencedLeaderEpoch
	case p.Leader != broker:
		return kerr.InvalidRequest
	case it.PartitionEpoch < p.PartitionEpoch:
		return kerr.InvalidUpdateVersion
	}
	return checkNewISR(img, p, broker, it.ISR)
}

func checkNewISR(img *metadata.Image, p metadata.PartitionImage, leader int32, isr []int32) error {
	if !slices.Contains(isr, leader) {
		return fmt.Errorf("%w: ISR %v lacks the leader %d", kerr.InvalidRequest, isr, leader)
	}
	seen := map[int32]bool{}
	for _, r := range isr {
		if !slices.Contains(p.Replicas, r) || seen[r] {
			return fmt.Errorf("%w: ISR %v is not a subset of replicas %v", kerr.InvalidRequest, isr, p.Replicas)
		}
		seen[r] = true
		if slices.Contains(p.ISR, r) {
			continue // staying members are not re-checked
		}
		if b, ok := img.Brokers[r]; !ok || b.Fenced || b.InControlledShutdown {
			return fmt.Errorf("%w: broker %d is fenced, unregistered or shutting down", kerr.IneligibleReplica, r)
		}
	}
	return nil
}
