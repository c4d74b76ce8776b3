package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// schedule injects faults one at a time until cfg.Duration has passed:
// a quiet period, the next fault, its hold, its heal. The faults come in
// rounds, each a seeded permutation of cfg.Faults, so a short run still
// sees each of them. Every injection and heal is recorded in h.
func schedule(ctx context.Context, e *Env, h *History, cfg Config) {
	end := time.Now().Add(cfg.Duration)
	var next []Fault
	for time.Now().Before(end) && ctx.Err() == nil && len(cfg.Faults) > 0 {
		sleep(ctx, cfg.Quiet+time.Duration(e.Rand.Int64N(int64(cfg.Quiet))))
		if !time.Now().Before(end) {
			return
		}
		if len(next) == 0 {
			next = slices.Clone(cfg.Faults)
			e.Rand.Shuffle(len(next), func(i, j int) { next[i], next[j] = next[j], next[i] })
		}
		f := next[0]
		next = next[1:]
		start := h.Now()
		target, heal, err := f.Inject(ctx, e)
		op := Op{Kind: KindFault, Fault: f.Name(), Target: target, Start: start, End: h.Now(), Outcome: OK}
		if err != nil {
			op.Outcome, op.Err, op.Violation = Fail, err.Error(), violation(err)
		}
		h.Add(op)
		cfg.Log("%6.1fs fault %s: %s %s", float64(start)/1000, f.Name(), target, op.Err)
		if heal == nil {
			continue
		}
		sleep(ctx, cfg.Hold)
		op = Op{Kind: KindHeal, Fault: f.Name(), Target: target, Start: h.Now(), Outcome: OK}
		if err := heal(); err != nil {
			op.Outcome, op.Err, op.Violation = Fail, err.Error(), violation(err)
		}
		op.End = h.Now()
		h.Add(op)
		cfg.Log("%6.1fs healed %s %s", float64(op.Start)/1000, f.Name(), op.Err)
	}
}

// violation returns the Violation in err's tree, or "".
func violation(err error) string {
	var v Violation
	if errors.As(err, &v) {
		return string(v)
	}
	return ""
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// recoverCluster removes every drop rule and toxic, resumes and restarts
// every node, then waits up to cfg.Bound for every partition to have a
// leader and a full ISR and for an acknowledged send on every partition
// after the heal (I7). It returns a Final whose Liveness says what did
// not recover.
func recoverCluster(ctx context.Context, c *Cluster, h *History, cfg Config) Final {
	healed := h.Now()
	if c.Net != nil {
		if err := c.Net.Heal(); err != nil {
			return Final{Liveness: err.Error()}
		}
	}
	if c.Proxies != nil {
		c.Proxies.HealAll()
	}
	for _, nd := range c.Nodes {
		switch nd.State() {
		case Paused:
			nd.Resume()
		case Stopped:
			if err := nd.Start(); err != nil {
				return Final{Liveness: err.Error()}
			}
		}
	}
	h.Add(Op{Kind: KindHeal, Fault: "all", Start: healed, End: h.Now(), Outcome: OK})
	err := waitUntil(ctx, cfg.Bound, func() string {
		if msg := c.Healthy(ctx, topicName, cfg.Partitions); msg != "" {
			return msg
		}
		if p := firstAckAfter(h.Ops(), healed, cfg.Partitions); p >= 0 {
			return fmt.Sprintf("no acknowledged send on partition %d since healing", p)
		}
		return ""
	})
	if err != nil {
		return Final{Liveness: fmt.Sprintf("not recovered %v after healing: %v", cfg.Bound, err)}
	}
	cfg.Log("%6.1fs recovered", float64(h.Now())/1000)
	return Final{}
}

// firstAckAfter returns a partition without an acknowledged send started
// at or after t, or -1 if every one has one.
func firstAckAfter(ops []Op, t int64, partitions int) int32 {
	acked := make([]bool, partitions)
	for _, op := range ops {
		if op.Kind == KindSend && op.Outcome == OK && op.Start >= t && int(op.Partition) < partitions {
			acked[op.Partition] = true
		}
	}
	for p, ok := range acked {
		if !ok {
			return int32(p)
		}
	}
	return -1
}

// finish reads the group's committed offsets and the log end offsets,
// then drains every partition from the beginning with a fresh consumer
// into h. With transactions it first waits (stableWithin) until no
// transaction is open, the last stable offset of every partition at its
// high watermark, and then drains a second time read_committed.
func finish(ctx context.Context, c *Cluster, h *History, cfg Config, fin Final) Final {
	adm, done, err := c.Admin()
	if err != nil {
		fin.Liveness += "; " + err.Error()
		return fin
	}
	defer done()
	if cfg.Transactions {
		if msg := waitStable(ctx, adm, stableWithin); msg != "" {
			fin.Liveness += "; " + msg
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topicName)
	if err != nil {
		fin.Liveness += "; listing end offsets: " + err.Error()
		return fin
	}
	fin.End = map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { fin.End[o.Partition] = o.Offset })
	if cfg.Group {
		fin.Committed = map[int32]int64{}
		offs, err := adm.FetchOffsets(ctx, "chaos-"+topicName)
		if err != nil {
			fin.Liveness += "; fetching committed offsets: " + err.Error()
		}
		offs.Each(func(o kadm.OffsetResponse) { fin.Committed[o.Partition] = o.At })
	}
	if err := drain(ctx, c, h, fin.End, false); err != nil {
		fin.Liveness += "; drain: " + err.Error()
	}
	if cfg.Transactions {
		fin.Stable, err = stableOffsets(ctx, adm)
		if err == nil {
			err = drain(ctx, c, h, fin.Stable, true)
		}
		if err != nil {
			fin.Liveness += "; read_committed drain: " + err.Error()
		}
	}
	return fin
}

// stableOffsets lists the last stable offset of every partition of the
// topic.
func stableOffsets(ctx context.Context, adm *kadm.Client) (map[int32]int64, error) {
	lso, err := adm.ListCommittedOffsets(ctx, topicName)
	if err != nil {
		return nil, fmt.Errorf("listing last stable offsets: %w", err)
	}
	out := map[int32]int64{}
	var perr error
	lso.Each(func(o kadm.ListedOffset) {
		out[o.Partition] = o.Offset
		if o.Err != nil {
			perr = fmt.Errorf("last stable offset of partition %d: %w", o.Partition, o.Err)
		}
	})
	return out, perr
}

// waitStable waits up to timeout until every partition's last stable
// offset equals its high watermark, no transaction open; it returns ""
// then, or which partition still has one open.
func waitStable(ctx context.Context, adm *kadm.Client, timeout time.Duration) string {
	err := waitUntil(ctx, timeout, func() string {
		ends, err := adm.ListEndOffsets(ctx, topicName)
		if err != nil {
			return err.Error()
		}
		lso, err := stableOffsets(ctx, adm)
		if err != nil {
			return err.Error()
		}
		hw, msg := map[int32]int64{}, ""
		ends.Each(func(o kadm.ListedOffset) {
			hw[o.Partition] = o.Offset
			if o.Err != nil {
				msg = fmt.Sprintf("partition %d: high watermark: %v", o.Partition, o.Err)
			}
		})
		if msg != "" {
			return msg
		}
		for _, p := range slices.Sorted(maps.Keys(hw)) {
			if got, ok := lso[p]; !ok || got != hw[p] {
				return fmt.Sprintf("partition %d: last stable offset %d (present %v), high watermark %d", p, got, ok, hw[p])
			}
		}
		return ""
	})
	if err != nil {
		return fmt.Sprintf("a transaction still open %v after the producers stopped: %v", timeout, err)
	}
	return ""
}

// drain reads every partition from its start to its end offset with a
// fresh consumer, recording the polls as client "drain", or with
// readCommitted as client "drain-rc" reading read_committed (end are then
// last stable offsets). It keeps transaction markers (which take offsets
// too) so that it reaches the end offsets.
func drain(ctx context.Context, c *Cluster, h *History, end map[int32]int64, readCommitted bool) error {
	parts := map[int32]kgo.Offset{}
	next := map[int32]int64{}
	for p, e := range end {
		if e > 0 {
			parts[p] = kgo.NewOffset().AtStart()
			next[p] = 0
		}
	}
	name := "drain"
	opts := []kgo.Opt{kgo.SeedBrokers(c.AllAddrs()...), kgo.DialTimeout(time.Second), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topicName: parts})}
	if readCommitted {
		name = "drain-rc"
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(append(opts, c.sec.clientOpts(adminUser)...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for p := range next {
		for next[p] < end[p] {
			start := h.Now()
			fs := cl.PollFetches(dctx)
			if dctx.Err() != nil {
				return fmt.Errorf("partition %d read to %d of %d", p, next[p], end[p])
			}
			fs.EachPartition(func(fp kgo.FetchTopicPartition) {
				op := Op{Kind: KindPoll, Client: name, Outcome: OK, Start: start, End: h.Now(), Partition: fp.Partition, Drain: true,
					ReadCommitted: readCommitted}
				for _, r := range fp.Records {
					op.Reads = append(op.Reads, readOf(r))
					next[r.Partition] = r.Offset + 1
				}
				if len(op.Reads) > 0 {
					h.Add(op)
				}
			})
		}
	}
	return nil
}
