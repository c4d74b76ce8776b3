package broker

import (
	"time"

	"github.com/fjordlog/fjord/internal/partition"
)

// startLoops starts the periodic background work: retention and segment
// roll by time (log.retention.check.interval.ms), checkpoints of high
// watermarks, recovery points and log start offsets, and the flush of
// logs' tails (log.recovery.flush.bytes), and the expiry of idle
// producers' state (producer.id.expiration.ms).
func (b *Broker) startLoops() {
	b.every(time.Duration(b.cfg.Int("log.retention.check.interval.ms"))*time.Millisecond, b.applyRetention)
	b.every(5*time.Second, b.checkpoint)
	if n := b.cfg.Int("log.recovery.flush.bytes"); n >= 0 {
		b.every(tailFlushInterval, func() { b.flushTails(n) })
	}
	b.everyDynamic(func() time.Duration { return time.Duration(b.cfg.Int("log.cleaner.backoff.ms")) * time.Millisecond }, b.compactLogs)
	b.every(time.Duration(b.cfg.Int("replica.lag.time.max.ms"))*time.Millisecond/2, b.shrinkISRs)
	b.every(time.Duration(b.cfg.Int("producer.id.expiration.check.interval.ms"))*time.Millisecond, b.expireProducers)
}

// expireProducers drops the idempotent state of every local replica's
// producers idle for producer.id.expiration.ms, as Kafka's
// ProducerStateManager does, so a broker that sees many short-lived
// producers does not keep them all.
func (b *Broker) expireProducers() {
	now := b.now()
	b.parts.Range(func(_, v any) bool {
		v.(*partition.Partition).ExpireProducers(now)
		return true
	})
}

func (b *Broker) every(d time.Duration, fn func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn()
			case <-b.stop:
				return
			}
		}
	}()
}

// everyDynamic is every with an interval read anew after each run (a
// dynamic broker config).
func (b *Broker) everyDynamic(d func() time.Duration, fn func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTimer(d())
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn()
				t.Reset(d())
			case <-b.stop:
				return
			}
		}
	}()
}

// compactLogs runs the log cleaner over every compacted local replica
// (cleanup.policy=compact, __consumer_offsets among them). Only data below
// the last stable offset is cleaned: every transaction there is decided.
func (b *Broker) compactLogs() {
	b.parts.Range(func(k, v any) bool {
		p := v.(*partition.Partition)
		if !p.Log().Config().Compact {
			return true
		}
		st, err := p.Log().Compact(p.LastStableOffset())
		if err != nil {
			b.logger.Error("log compaction failed", "topic", p.Topic, "partition", p.Index, "err", err)
		} else if st.Cleaned {
			b.logger.Info("compacted log", "topic", p.Topic, "partition", p.Index, "segmentsRewritten", st.SegmentsRewritten,
				"bytesBefore", st.BytesBefore, "bytesAfter", st.BytesAfter)
		}
		return true
	})
}

// applyRetention deletes expired segments of every local replica. Only
// data below the high watermark is ever deleted.
func (b *Broker) applyRetention() {
	b.parts.Range(func(k, v any) bool {
		p := v.(*partition.Partition)
		if n, err := p.Log().ApplyRetention(p.HighWatermark()); err != nil {
			b.logger.Error("retention failed", "topic", p.Topic, "partition", p.Index, "err", err)
		} else if n > 0 {
			b.logger.Info("deleted segments by retention", "topic", p.Topic, "partition", p.Index, "segments", n,
				"logStartOffset", p.Log().LogStartOffset())
		}
		return true
	})
}

// tailFlushInterval is how often flushTails looks for logs to flush.
const tailFlushInterval = time.Second

// flushTails fsyncs, off the append path, the logs with at least minBytes
// appended since their last flush, saves their producer state, and then
// checkpoints the recovery points that moved, so a restart after a crash
// re-checks and replays little (issue 12; Kafka re-checks everything
// after the last segment roll).
func (b *Broker) flushTails(minBytes int64) {
	flushed := false
	b.parts.Range(func(_, v any) bool {
		p := v.(*partition.Partition)
		ok, err := p.FlushTail(minBytes)
		if err != nil {
			b.logger.Error("flushing a log's tail failed", "topic", p.Topic, "partition", p.Index, "err", err)
		}
		flushed = flushed || ok
		return true
	})
	if flushed {
		b.checkpoint()
	}
}

func (b *Broker) checkpoint() {
	if err := b.logs.Checkpoint(b.highWatermarks()); err != nil {
		b.logger.Error("checkpoint failed", "err", err)
	}
}
