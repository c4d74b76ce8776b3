package broker

import (
	"context"
	"errors"
	"time"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ISR changes: a leader partition proposes them (partition.AlterISR) and
// the broker sends them to the active controller (AlterPartition), then
// hands the outcome back to the partition.

// alterRetryBackoff spaces resubmissions after transient failures.
const alterRetryBackoff = 500 * time.Millisecond

// sendAlter sends one ISR change asynchronously (partition.Options.AlterISR).
func (b *Broker) sendAlter(a partition.AlterISR) {
	go func() {
		// The ISR size before the change is read now: once the controller
		// commits it, the metadata replay may apply the new ISR before the
		// answer comes back, and the change would not be counted.
		before := -1
		if p := b.Partition(a.Topic, a.Partition); p != nil {
			isr, _ := p.ISRState()
			before = len(isr)
		}
		res := b.alterOnce(a)
		if res.Outcome == partition.AlterRetry {
			b.sleep(alterRetryBackoff)
			if b.stopping() {
				return
			}
		}
		if p := b.Partition(a.Topic, a.Partition); p != nil {
			p.CompleteAlter(a, res)
			if before >= 0 {
				b.countISRChange(res, before)
			}
		}
	}()
}

func (b *Broker) alterOnce(a partition.AlterISR) partition.AlterResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	item := controller.AlterPartitionItem{
		TopicID: metadata.UUID(a.TopicID), Partition: a.Partition,
		LeaderEpoch: a.LeaderEpoch, PartitionEpoch: a.PartitionEpoch, ISR: a.ISR,
	}
	var results []controller.AlterPartitionResult
	var err error
	if b.ctrl != nil && b.ctrl.IsActive() {
		results, err = b.ctrl.AlterPartition(ctx, b.nodeID, b.epoch.Load(), []controller.AlterPartitionItem{item})
	} else {
		results, err = b.ctl.AlterPartition(ctx, b.nodeID, b.epoch.Load(), []controller.AlterPartitionItem{item})
	}
	if err != nil {
		b.logger.Debug("AlterPartition failed; will retry", "topic", a.Topic, "partition", a.Partition, "err", err)
		return partition.AlterResult{Outcome: partition.AlterRetry}
	}
	return alterOutcome(results[0])
}

// alterOutcome classifies the controller's answer (reference §1).
func alterOutcome(r controller.AlterPartitionResult) partition.AlterResult {
	res := partition.AlterResult{LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch, ISR: r.ISR}
	var ke *kerr.Error
	switch {
	case r.Err == nil:
		res.Outcome = partition.AlterCommitted
	case !errors.As(r.Err, &ke):
		res.Outcome = partition.AlterRetry
	case ke == kerr.IneligibleReplica || ke == kerr.OperationNotAttempted:
		res.Outcome = partition.AlterRejected
	case ke == kerr.UnknownTopicOrPartition || ke == kerr.UnknownTopicID || ke == kerr.FencedLeaderEpoch ||
		ke == kerr.InvalidUpdateVersion || ke == kerr.InvalidRequest || ke == kerr.NewLeaderElected:
		res.Outcome = partition.AlterWaitMetadata
	default:
		res.Outcome = partition.AlterRetry
	}
	return res
}

// eligible reports whether a broker may join an ISR.
func (b *Broker) eligible(id int32) bool {
	br, ok := b.meta.Image().Brokers[id]
	return ok && !br.Fenced && !br.InControlledShutdown
}

// shrinkISRs runs the periodic ISR shrink check of every leader replica.
func (b *Broker) shrinkISRs() {
	b.parts.Range(func(_, v any) bool {
		v.(*partition.Partition).MaybeShrinkISR()
		return true
	})
}

// countISRChange counts a committed shrink or expansion.
func (b *Broker) countISRChange(res partition.AlterResult, before int) {
	if res.Outcome != partition.AlterCommitted {
		return
	}
	switch {
	case len(res.ISR) < before:
		b.metrics.isrShrinks.Inc()
	case len(res.ISR) > before:
		b.metrics.isrExpands.Inc()
	}
}
