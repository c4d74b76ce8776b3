package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Workload runs producers and consumers against one topic, recording every
// send and poll in a History. Each client slot runs incarnations: a crash
// (CrashClient) closes the current client abruptly and the slot starts a new
// one under a new name, so values stay unique. Consumers keep transaction
// markers (kgo.KeepControlRecords) and record them as reads, so that a
// read_uncommitted session reads every offset.
type Workload struct {
	Cluster    *Cluster
	H          *History
	Topic      string
	Partitions int
	Producers  int  // producer slots
	Consumers  int  // consumer slots assigned every partition
	Group      bool // one more consumer slot in a consumer group
	AcksAll    bool // acks=all; otherwise acks=1
	Idempotent bool // needs AcksAll
	Interval   time.Duration
	// Transactions adds the transactional producer slots t0, t1 and the
	// read_committed consumer slot r0 (txn.go).
	Transactions bool
	Seed         uint64 // seeds the transactions' sizes and partitions
	// ReadUncommitted: r0 reads uncommitted (the txn-uncommitted canary).
	ReadUncommitted bool

	mu    sync.Mutex
	live  map[string]*kgo.Client // slot name -> current client
	wg    sync.WaitGroup
	group string
	log   *clientLog // the clients' own log lines, kept with the nodes' logs
}

// clientLog is the file the workload's clients log to (clients.log in the
// cluster's directory, kept when a run fails): what a client was told
// (an OUT_OF_ORDER_SEQUENCE_NUMBER that made it bump its producer epoch,
// a leader change) is often the missing half of a violation's story.
type clientLog struct {
	mu sync.Mutex
	f  *os.File
}

func (l *clientLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(b)
}

// openClientLog opens dir/clients.log, nil if it cannot.
func openClientLog(dir string) *clientLog {
	f, err := os.OpenFile(filepath.Join(dir, "clients.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil
	}
	return &clientLog{f: f}
}

// Start runs every slot until ctx ends; Wait waits for them.
func (w *Workload) Start(ctx context.Context) {
	w.live = map[string]*kgo.Client{}
	w.log = openClientLog(w.Cluster.Dir)
	w.group = w.GroupID()
	for i := range w.Producers {
		w.slot(ctx, fmt.Sprintf("p%d", i), w.produce)
	}
	for i := range w.Consumers {
		w.slot(ctx, fmt.Sprintf("c%d", i), w.consume)
	}
	if w.Group {
		w.slot(ctx, "g0", w.consume)
	}
	if w.Transactions {
		for i := range txnSlots {
			w.slot(ctx, fmt.Sprintf("t%d", i), w.transact)
		}
		w.slot(ctx, "r0", w.consume)
	}
}

// GroupID is the consumer group of the group slot.
func (w *Workload) GroupID() string { return "chaos-" + w.Topic }

// Wait waits until every slot has stopped.
func (w *Workload) Wait() {
	w.wg.Wait()
	if w.log != nil {
		w.log.f.Close()
	}
}

// slot runs incarnations of one client until ctx ends.
func (w *Workload) slot(ctx context.Context, slot string, run func(context.Context, string, *kgo.Client, *atomic.Int64)) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for inc := 1; ctx.Err() == nil; inc++ {
			name := fmt.Sprintf("%s.%d", slot, inc)
			session := new(atomic.Int64) // bumped by group (re)assignments
			cl, err := kgo.NewClient(w.opts(slot, name, session)...)
			if err != nil {
				return
			}
			w.mu.Lock()
			w.live[slot] = cl
			w.mu.Unlock()
			run(ctx, name, cl, session)
			cl.Close()
		}
	}()
}

// CrashClient closes slot's current client abruptly (F15): buffered sends
// fail, in-flight ones end indefinite; the slot starts a new incarnation.
func (w *Workload) CrashClient(slot string) bool {
	w.mu.Lock()
	cl := w.live[slot]
	w.mu.Unlock()
	if cl == nil {
		return false
	}
	cl.Close()
	return true
}

// Slots lists the client slot names.
func (w *Workload) Slots() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for s := range w.live {
		out = append(out, s)
	}
	return out
}

// opts returns the kgo options of a client in slot.
func (w *Workload) opts(slot, name string, session *atomic.Int64) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(w.Cluster.AllAddrs()...), kgo.ClientID(name),
		kgo.DialTimeout(time.Second), kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(10 * time.Second),
		kgo.ProducerLinger(0), kgo.FetchMaxWait(500 * time.Millisecond),
		// Give up on a silent (paused) broker after ~5 s rather than kgo's
		// default ~40 s, so that recovery times measure the cluster.
		kgo.ProduceRequestTimeout(3 * time.Second), kgo.RequestTimeoutOverhead(2 * time.Second)}
	opts = append(opts, w.Cluster.sec.clientOpts(workloadUser)...)
	if w.log != nil {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(w.log, kgo.LogLevelInfo, func() string {
			return time.Now().UTC().Format("2006-01-02T15:04:05.000Z ") + name + " "
		})))
	}
	switch {
	case slot[0] == 'p' && !w.AcksAll:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case slot[0] == 'p' && !w.Idempotent:
		opts = append(opts, kgo.DisableIdempotentWrite())
	case slot[0] == 't':
		opts = append(opts, kgo.TransactionalID(w.TxnID(slot)), kgo.TransactionTimeout(txnTimeout))
	case slot[0] == 'c':
		opts = append(opts, w.assignAll(), kgo.KeepControlRecords())
	case slot[0] == 'r' && w.ReadUncommitted:
		opts = append(opts, w.assignAll(), kgo.KeepControlRecords())
	case slot[0] == 'r':
		opts = append(opts, w.assignAll(), kgo.KeepControlRecords(), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	case slot[0] == 'g':
		opts = append(opts, kgo.ConsumerGroup(w.group), kgo.ConsumeTopics(w.Topic), kgo.DisableAutoCommit(), kgo.KeepControlRecords(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second),
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { session.Add(1) }),
			kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) { session.Add(1) }),
			kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { session.Add(1) }))
	}
	return opts
}

// assignAll assigns a consumer every partition of the topic from its start.
func (w *Workload) assignAll() kgo.Opt {
	parts := map[int32]kgo.Offset{}
	for p := range w.Partitions {
		parts[int32(p)] = kgo.NewOffset().AtStart()
	}
	return kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.Topic: parts})
}

// produce sends records to every partition, one goroutine per partition
// with at most 4 in flight (so a stuck partition does not starve the
// others), one send per partition every Interval, until ctx ends or the
// client is closed. The seq-th send to partition p has sequence number
// seq*Partitions+p.
func (w *Workload) produce(ctx context.Context, name string, cl *kgo.Client, _ *atomic.Int64) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for p := range w.Partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.producePartition(ctx, cancel, name, cl, int32(p))
		}()
	}
	wg.Wait()
}

// producePartition is produce's loop for partition p; it calls stop once
// the client is closed.
func (w *Workload) producePartition(ctx context.Context, stop func(), name string, cl *kgo.Client, p int32) {
	sem := make(chan struct{}, 4)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for seq := int64(p); ; seq += int64(w.Partitions) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		op := Op{Kind: KindSend, Client: name, Partition: p, Seq: seq, Value: EncodeValue(name, seq), Offset: -1}
		rec := &kgo.Record{Topic: w.Topic, Partition: p, Value: []byte(op.Value)}
		op.Start = w.H.Now()
		inflight.Add(1)
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			defer inflight.Done()
			op.End = w.H.Now()
			op.Outcome, op.Err = classify(err)
			if err == nil {
				op.Offset = r.Offset
			}
			w.H.Add(op)
			if errors.Is(err, kgo.ErrClientClosed) {
				stop()
			}
			<-sem
		})
		sleep(ctx, w.Interval)
	}
}

// classify maps a produce error to an outcome. Only errors that prove the
// broker rejected the batch outright are definite: kgo retries, so a final
// NOT_ENOUGH_REPLICAS may follow an earlier attempt that timed out after
// appending, and everything retriable is therefore indefinite.
func classify(err error) (Outcome, string) {
	if err == nil {
		return OK, ""
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable && !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		return Fail, err.Error()
	}
	return Info, err.Error()
}

// consume polls until ctx ends or the client is closed, recording each
// fetch of a partition as a poll; group members commit after each poll.
// The read_committed slot (r) marks its polls ReadCommitted.
func (w *Workload) consume(ctx context.Context, name string, cl *kgo.Client, session *atomic.Int64) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		start := w.H.Now()
		fs := cl.PollFetches(pctx)
		sess := int(session.Load()) // after the poll: records after a rebalance start a new session
		cancel()
		if fs.IsClientClosed() {
			return
		}
		end := w.H.Now()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			op := Op{Kind: KindPoll, Client: name, Session: sess, Outcome: OK, Start: start, End: end, Partition: p.Partition,
				ReadCommitted: name[0] == 'r'}
			for _, r := range p.Records {
				op.Reads = append(op.Reads, readOf(r))
			}
			w.H.Add(op)
		})
		if name[0] == 'g' {
			w.commit(ctx, name, cl, fs)
		}
	}
}

// commit commits the offsets after fs's records and records each
// partition's commit.
func (w *Workload) commit(ctx context.Context, name string, cl *kgo.Client, fs kgo.Fetches) {
	recs := fs.Records()
	if len(recs) == 0 {
		return
	}
	start := w.H.Now()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := cl.CommitRecords(cctx, recs...)
	cancel()
	out, msg := OK, ""
	if err != nil {
		out, msg = Info, err.Error()
	}
	last := map[int32]int64{}
	for _, r := range recs {
		last[r.Partition] = max(last[r.Partition], r.Offset+1)
	}
	for p, o := range last {
		w.H.Add(Op{Kind: KindCommit, Client: name, Outcome: out, Err: msg, Start: start, End: w.H.Now(), Partition: p, Offset: o})
	}
}
