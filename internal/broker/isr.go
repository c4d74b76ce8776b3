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

// pendingAlter is an ISR change in a batch, with the ISR size before it
// (read when its batch is sent: once the controller commits it, the
// metadata replay may apply the new ISR before the answer comes back, and
// the change would not be counted).
type pendingAlter struct {
	a      partition.AlterISR
	before int
}

// sendAlter queues one ISR change (partition.Options.AlterISR); the alter
// loop sends it with every other change queued meanwhile. It may be called
// with the partition's lock held, so it only queues.
func (b *Broker) sendAlter(a partition.AlterISR) {
	b.alterMu.Lock()
	b.alterQueue = append(b.alterQueue, pendingAlter{a: a, before: -1})
	b.alterMu.Unlock()
	select {
	case b.alterWake <- struct{}{}:
	default:
	}
}

// alterLoop sends the queued ISR changes to the active controller, one
// AlterPartition request (one metadata entry) at a time carrying every
// change queued since the last, as Kafka's AlterPartitionManager does, and
// hands each partition its outcome.
func (b *Broker) alterLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.alterWake:
		case <-b.stop:
			return
		}
		b.alterMu.Lock()
		batch := b.alterQueue
		b.alterQueue = nil
		b.alterMu.Unlock()
		if len(batch) > 0 && !b.sendAlterBatch(batch) {
			return
		}
	}
}

// sendAlterBatch sends one batch and completes its changes; it reports
// false when the broker is stopping.
func (b *Broker) sendAlterBatch(batch []pendingAlter) bool {
	for i, pa := range batch {
		if p := b.Partition(pa.a.Topic, pa.a.Partition); p != nil {
			isr, _ := p.ISRState()
			batch[i].before = len(isr)
		}
	}
	results := b.alterOnce(batch)
	for _, r := range results {
		if r.Outcome == partition.AlterRetry {
			b.sleep(alterRetryBackoff)
			break
		}
	}
	if b.stopping() {
		return false
	}
	for i, pa := range batch {
		if p := b.Partition(pa.a.Topic, pa.a.Partition); p != nil {
			p.CompleteAlter(pa.a, results[i])
			if pa.before >= 0 {
				b.countISRChange(results[i], pa.before)
			}
		}
	}
	return true
}

// alterOnce sends one AlterPartition request with every change of the
// batch and returns an outcome per change (all AlterRetry when the request
// itself failed).
func (b *Broker) alterOnce(batch []pendingAlter) []partition.AlterResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	items := make([]controller.AlterPartitionItem, len(batch))
	for i, pa := range batch {
		a := pa.a
		items[i] = controller.AlterPartitionItem{
			TopicID: metadata.UUID(a.TopicID), Partition: a.Partition,
			LeaderEpoch: a.LeaderEpoch, PartitionEpoch: a.PartitionEpoch, ISR: a.ISR,
		}
	}
	var results []controller.AlterPartitionResult
	var err error
	if b.ctrl != nil && b.ctrl.IsActive() {
		results, err = b.ctrl.AlterPartition(ctx, b.nodeID, b.epoch.Load(), items)
	} else {
		results, err = b.ctl.AlterPartition(ctx, b.nodeID, b.epoch.Load(), items)
	}
	out := make([]partition.AlterResult, len(batch))
	for i := range out {
		if err != nil || i >= len(results) {
			out[i] = partition.AlterResult{Outcome: partition.AlterRetry}
			continue
		}
		out[i] = alterOutcome(results[i])
	}
	if err != nil {
		b.logger.Debug("AlterPartition failed; will retry", "partitions", len(batch), "err", err)
	}
	return out
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
