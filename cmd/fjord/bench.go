package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	progressInterval = 5 * time.Second
	mib              = 1024 * 1024
)

func init() {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Throughput and latency benchmarks (like kafka-*-perf-test)",
	}
	cmd.AddCommand(newBenchProduceCmd(), newBenchConsumeCmd(), newBenchFailoverCmd(), newBenchSuiteCmd(), newBenchRestartCmd())
	rootCmd.AddCommand(cmd)
}

// ================= latency histogram =================

// Latencies are recorded in microseconds in a log-linear histogram: values
// below 2*histSub are exact, larger ones fall in buckets whose width is at
// most 1/histSub of their value (< 0.4% error). Recording is one atomic add,
// so many producers can record concurrently without a lock and without
// memory growing with the record count.
const (
	histSubBits = 8
	histSub     = 1 << histSubBits
	histMaxBits = 40 // ~12.7 days in µs; larger values are clamped
	histBuckets = 2*histSub + (histMaxBits-histSubBits-1)*histSub
)

// latencyHist is a concurrent-safe latency recorder.
type latencyHist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Int64
	sumUs  atomic.Int64
	maxUs  atomic.Int64
}

func histIndex(us uint64) int {
	if us < 2*histSub {
		return int(us)
	}
	if us >= 1<<histMaxBits {
		us = 1<<histMaxBits - 1
	}
	shift := bits.Len64(us) - histSubBits - 1
	return 2*histSub + (shift-1)*histSub + int(us>>shift) - histSub
}

// histValue is the midpoint of bucket i in microseconds.
func histValue(i int) float64 {
	if i < 2*histSub {
		return float64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	m := uint64((i-2*histSub)%histSub + histSub)
	return float64(m<<shift) + float64(uint64(1)<<shift)/2
}

func (h *latencyHist) record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.counts[histIndex(uint64(us))].Add(1)
	h.n.Add(1)
	h.sumUs.Add(us)
	atomicMax(&h.maxUs, us)
}

func atomicMax(a *atomic.Int64, v int64) {
	for cur := a.Load(); v > cur; cur = a.Load() {
		if a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// quantileMs returns the q-quantile (0<q<=1) in milliseconds.
func (h *latencyHist) quantileMs(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= max(target, 1) {
			return math.Min(histValue(i), float64(h.maxUs.Load())) / 1000
		}
	}
	return float64(h.maxUs.Load()) / 1000
}

// latencySummary is the latency part of the produce JSON line, in ms.
type latencySummary struct {
	Avg  float64 `json:"avg"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func (h *latencyHist) summary() latencySummary {
	var avg float64
	if n := h.n.Load(); n > 0 {
		avg = float64(h.sumUs.Load()) / float64(n) / 1000
	}
	return latencySummary{
		Avg: avg, P50: h.quantileMs(0.5), P95: h.quantileMs(0.95),
		P99: h.quantileMs(0.99), P999: h.quantileMs(0.999),
		Max: float64(h.maxUs.Load()) / 1000,
	}
}

// window accumulates stats between progress reports.
type window struct {
	n, bytes, sumUs, maxUs atomic.Int64
}

func (w *window) record(d time.Duration, size int) {
	us := max(d.Microseconds(), 0)
	w.n.Add(1)
	w.bytes.Add(int64(size))
	w.sumUs.Add(us)
	atomicMax(&w.maxUs, us)
}

// take returns and resets the window's counters.
func (w *window) take() (n, bytes, sumUs, maxUs int64) {
	return w.n.Swap(0), w.bytes.Swap(0), w.sumUs.Swap(0), w.maxUs.Swap(0)
}

// ================= results and formatting =================

// produceResult is the produce benchmark outcome (also its JSON line).
type produceResult struct {
	Kind          string         `json:"kind"`
	Records       int64          `json:"records"`
	Failed        int64          `json:"failed"`
	Bytes         int64          `json:"bytes"`
	Seconds       float64        `json:"seconds"`
	RecordsPerSec float64        `json:"records_per_sec"`
	MBPerSec      float64        `json:"mb_per_sec"`
	Latency       latencySummary `json:"latency_ms"`
	// Transactions and CommitsPerSec count committed transactions of a
	// transactional run (--transactional-id); absent otherwise.
	Transactions  int64   `json:"transactions,omitempty"`
	CommitsPerSec float64 `json:"commits_per_sec,omitempty"`
}

// consumeResult is the consume benchmark outcome (also its JSON line).
type consumeResult struct {
	Kind          string  `json:"kind"`
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
}

// rates returns records/s and MiB/s, zero when no time elapsed.
func rates(records, bytes int64, seconds float64) (float64, float64) {
	if seconds <= 0 {
		return 0, 0
	}
	return float64(records) / seconds, float64(bytes) / mib / seconds
}

func newProduceResult(records, failed, bytes int64, elapsed time.Duration, lat latencySummary) produceResult {
	secs := elapsed.Seconds()
	rps, mbps := rates(records, bytes, secs)
	return produceResult{Kind: "produce", Records: records, Failed: failed, Bytes: bytes,
		Seconds: secs, RecordsPerSec: rps, MBPerSec: mbps, Latency: lat}
}

func newConsumeResult(records, bytes int64, elapsed time.Duration) consumeResult {
	secs := elapsed.Seconds()
	rps, mbps := rates(records, bytes, secs)
	return consumeResult{Kind: "consume", Records: records, Bytes: bytes,
		Seconds: secs, RecordsPerSec: rps, MBPerSec: mbps}
}

// produceSummaryLine is the final line in kafka-producer-perf-test style.
func produceSummaryLine(r produceResult) string {
	l := r.Latency
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, "+
		"%.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
		r.Records, r.RecordsPerSec, r.MBPerSec, l.Avg, l.Max, l.P50, l.P95, l.P99, l.P999)
}

// progressLine is the periodic window line, as kafka-producer-perf-test
// prints it.
func progressLine(n, bytes, sumUs, maxUs int64, elapsed time.Duration) string {
	rps, mbps := rates(n, bytes, elapsed.Seconds())
	var avg float64
	if n > 0 {
		avg = float64(sumUs) / float64(n) / 1000
	}
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.",
		n, rps, mbps, avg, float64(maxUs)/1000)
}

// consumeSummaryLine is the final human-readable consume line.
func consumeSummaryLine(r consumeResult) string {
	return fmt.Sprintf("%d records consumed, %.1f records/sec (%.2f MB/sec), %.2f MB in %.2f sec.",
		r.Records, r.RecordsPerSec, r.MBPerSec, float64(r.Bytes)/mib, r.Seconds)
}

// writeResult prints the human line (unless jsonOnly) and the JSON line.
func writeResult(w io.Writer, human string, result any, jsonOnly bool) error {
	if !jsonOnly {
		fmt.Fprintln(w, human)
	}
	b, err := json.Marshal(result)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// ================= bench produce =================

type benchProduceOpts struct {
	topic       string
	records     int64
	recordSize  int
	acks        string
	partitions  int32
	linger      time.Duration
	batchBytes  int32
	compression string
	producers   int
	jsonOnly    bool
	// transactionalID, when set, makes every producer transactional,
	// committing every txnRecords records (bench_txn.go).
	transactionalID string
	txnRecords      int64
}

func newBenchProduceCmd() *cobra.Command {
	var o benchProduceOpts
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce records as fast as possible and report throughput and latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchProduce(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to produce to (required)")
	f.Int64Var(&o.records, "records", 1_000_000, "number of records to produce")
	f.IntVar(&o.recordSize, "record-size", 100, "value size in bytes")
	f.StringVar(&o.acks, "acks", "all", "required acks: all (-1), 1 or 0")
	f.Int32Var(&o.partitions, "partitions", -1, "partitions when creating a missing topic (-1: broker default)")
	f.DurationVar(&o.linger, "linger", 0, "producer linger (batching delay)")
	f.Int32Var(&o.batchBytes, "batch-bytes", 1_000_000, "max record batch size in bytes")
	f.StringVar(&o.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	f.IntVar(&o.producers, "producers", 1, "number of concurrent producer clients")
	f.BoolVar(&o.jsonOnly, "json-only", false, "print only the JSON result line (no progress)")
	f.StringVar(&o.transactionalID, "transactional-id", "",
		"produce in transactions with this transactional id (ID-0, ID-1, ... with several --producers)")
	f.Int64Var(&o.txnRecords, "transaction-records", 0, "records per transaction (with --transactional-id)")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

func validateBenchProduce(o benchProduceOpts) error {
	switch {
	case o.topic == "":
		return errors.New("--topic is required")
	case o.records <= 0:
		return errors.New("--records must be positive")
	case o.recordSize < 0:
		return errors.New("--record-size must not be negative")
	case o.producers <= 0:
		return errors.New("--producers must be positive")
	case o.batchBytes <= 0:
		return errors.New("--batch-bytes must be positive")
	}
	return validateBenchTxn(o)
}

// benchProducerOpts are the kgo options of one benchmark producer client.
func benchProducerOpts(o benchProduceOpts) ([]kgo.Opt, error) {
	opts, err := producerOpts(o.topic, o.acks, o.compression, o.transactionalID != "")
	if err != nil {
		return nil, err
	}
	return append(opts,
		kgo.MaxBufferedRecords(benchBufferedRecords(o)),
		kgo.ProducerBatchMaxBytes(o.batchBytes),
		kgo.ProducerLinger(o.linger),
	), nil
}

// benchBufferedRecords sizes each client's record buffer so the buffer is
// never the bottleneck: up to 500k records or 256MiB of values, whichever is
// smaller, but at least 10k and no more than the client will ever produce.
func benchBufferedRecords(o benchProduceOpts) int {
	perClient := o.records/int64(o.producers) + 1
	byMemory := int64(256<<20) / int64(max(o.recordSize, 1))
	return int(min(perClient, max(10_000, min(byMemory, 500_000))))
}

// makePayloads builds a few distinct values of size bytes once: random
// letters, so compression has something to do without being trivial.
func makePayloads(size int) [][]byte {
	count := max(1, min(16, (16<<20)/max(size, 1)))
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, count)
	for i := range out {
		b := make([]byte, size)
		for j := range b {
			b[j] = 'A' + byte(rng.IntN(26))
		}
		out[i] = b
	}
	return out
}

// produceStats is shared by all producers of one run.
type produceStats struct {
	hist      latencyHist
	win       window
	ok, bytes atomic.Int64
	failed    atomic.Int64
	firstErr  atomic.Pointer[error]
	commits   atomic.Int64          // committed transactions
	txnErr    atomic.Pointer[error] // the first failed transaction's error
}

func (s *produceStats) done(d time.Duration, size int, err error) {
	if err != nil {
		if s.failed.Add(1) == 1 {
			s.firstErr.Store(&err)
		}
		return
	}
	s.hist.record(d)
	s.win.record(d, size)
	s.ok.Add(1)
	s.bytes.Add(int64(size))
}

func runBenchProduce(cmd *cobra.Command, o benchProduceOpts) error {
	if err := validateBenchProduce(o); err != nil {
		return err
	}
	opts, err := benchProducerOpts(o)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	if err := ensureTopic(ctx, o.topic, o.partitions, o.jsonOnly); err != nil {
		return err
	}
	clients, err := newBenchClients(o, opts)
	if err != nil {
		return err
	}
	defer closeClients(clients)
	stats := &produceStats{}
	elapsed := produceAll(ctx, clients, o, stats)
	res := newProduceResult(stats.ok.Load(), stats.failed.Load(), stats.bytes.Load(), elapsed, stats.hist.summary())
	human := produceSummaryLine(res)
	if o.transactionalID != "" {
		res = withCommits(res, stats.commits.Load())
		human += "\n" + txnSummaryLine(res)
	}
	if err := writeResult(cmd.OutOrStdout(), human, res, o.jsonOnly); err != nil {
		return err
	}
	return benchProduceErr(ctx, stats)
}

func benchProduceErr(ctx context.Context, stats *produceStats) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if n := stats.failed.Load(); n > 0 {
		return fmt.Errorf("%d record(s) failed, first: %w", n, *stats.firstErr.Load())
	}
	if err := stats.txnErr.Load(); err != nil {
		return *err
	}
	return nil
}

// ensureTopic creates the topic if it is missing.
func ensureTopic(ctx context.Context, topic string, partitions int32, quiet bool) error {
	adm, err := newAdmin()
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return nil
	case err != nil:
		return fmt.Errorf("creating topic %q: %w", topic, kafkaErr(err, resp.ErrMessage))
	}
	if !quiet {
		fmt.Fprintf(os.Stderr, "Created topic %s with %d partitions.\n", topic, resp.NumPartitions)
	}
	return nil
}

func newClients(n int, opts []kgo.Opt) ([]*kgo.Client, error) {
	var clients []*kgo.Client
	for range n {
		cl, err := newClient(opts...)
		if err != nil {
			closeClients(clients)
			return nil, err
		}
		clients = append(clients, cl)
	}
	return clients, nil
}

func closeClients(clients []*kgo.Client) {
	for _, cl := range clients {
		cl.Close()
	}
}

// produceAll runs every producer to completion and returns the wall time
// from the first Produce to the last acknowledgement.
func produceAll(ctx context.Context, clients []*kgo.Client, o benchProduceOpts, stats *produceStats) time.Duration {
	payloads := makePayloads(o.recordSize)
	start := time.Now()
	stopProgress := startProgress(&stats.win, o.jsonOnly)
	var wg sync.WaitGroup
	for i, cl := range clients {
		n := o.records / int64(len(clients))
		if int64(i) < o.records%int64(len(clients)) {
			n++
		}
		if o.transactionalID != "" {
			wg.Go(func() { produceTxnN(ctx, cl, n, o.txnRecords, payloads, stats) })
			continue
		}
		wg.Go(func() { produceN(ctx, cl, n, payloads, stats) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return elapsed
}

// produceN produces n records asynchronously, then flushes.
func produceN(ctx context.Context, cl *kgo.Client, n int64, payloads [][]byte, stats *produceStats) {
	for i := int64(0); i < n && ctx.Err() == nil; i++ {
		value := payloads[i%int64(len(payloads))]
		start := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			stats.done(time.Since(start), len(r.Value), err)
		})
	}
	if err := cl.Flush(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "flush: %v\n", err)
	}
}

// startProgress prints a window line to stderr every progressInterval until
// the returned stop function is called.
func startProgress(win *window, quiet bool) (stop func()) {
	if quiet {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n, b, sum, mx := win.take()
				fmt.Fprintln(os.Stderr, progressLine(n, b, sum, mx, now.Sub(last)))
				last = now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// ================= bench consume =================

type benchConsumeOpts struct {
	topic         string
	records       int64
	fetchMaxBytes int32
	timeout       time.Duration
	jsonOnly      bool
}

func newBenchConsumeCmd() *cobra.Command {
	var o benchConsumeOpts
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Consume a topic from the beginning and report throughput",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchConsume(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to consume (required)")
	f.Int64Var(&o.records, "records", 0, "stop after this many records (0: at the current end of every partition)")
	f.Int32Var(&o.fetchMaxBytes, "fetch-max-bytes", 0, "fetch.max.bytes per fetch response (0: client default, 50MiB)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up when no record arrives for this long")
	f.BoolVar(&o.jsonOnly, "json-only", false, "print only the JSON result line")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

func benchConsumerOpts(o benchConsumeOpts) []kgo.Opt {
	opts := []kgo.Opt{kgo.ConsumeTopics(o.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithPools(&recordPool{})}
	if o.fetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(o.fetchMaxBytes),
			kgo.BrokerMaxReadBytes(max(o.fetchMaxBytes+(1<<20), 100<<20)))
	}
	return opts
}

func runBenchConsume(cmd *cobra.Command, o benchConsumeOpts) error {
	if o.topic == "" {
		return errors.New("--topic is required")
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	remaining, err := partitionsToEnd(ctx, o.topic)
	if err != nil {
		return err
	}
	cl, err := newClient(benchConsumerOpts(o)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	start := time.Now()
	records, bytes, err := consumeToEnd(ctx, cl, remaining, o)
	res := newConsumeResult(records, bytes, time.Since(start))
	if werr := writeResult(cmd.OutOrStdout(), consumeSummaryLine(res), res, o.jsonOnly); werr != nil {
		return werr
	}
	return err
}

// partitionsToEnd maps each non-empty partition of topic to its current
// end offset (high watermark).
func partitionsToEnd(ctx context.Context, topic string) (map[int32]int64, error) {
	adm, err := newAdmin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	return topicEnds(ctx, adm, topic)
}

// topicEnds is partitionsToEnd with the admin client given.
func topicEnds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	return nonEmptyPartitions(starts, ends, topic)
}

// nonEmptyPartitions returns end offsets of partitions with end > start.
func nonEmptyPartitions(starts, ends kadm.ListedOffsets, topic string) (map[int32]int64, error) {
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("listing offsets of %q: %w", topic, err)
	}
	if err := starts.Error(); err != nil {
		return nil, fmt.Errorf("listing offsets of %q: %w", topic, err)
	}
	out := make(map[int32]int64)
	for p, e := range ends[topic] {
		if s, ok := starts.Lookup(topic, p); ok && e.Offset > s.Offset {
			out[p] = e.Offset
		}
	}
	return out, nil
}

// consumeToEnd consumes until every partition in remaining reaches its end
// offset, or o.records records were seen, or no record arrives for
// o.timeout. It returns records and key+value bytes consumed.
func consumeToEnd(ctx context.Context, cl *kgo.Client, remaining map[int32]int64, o benchConsumeOpts) (int64, int64, error) {
	var records, bytes int64
	limit := o.records
	if limit <= 0 {
		limit = math.MaxInt64
	}
	for len(remaining) > 0 && records < limit {
		pctx, cancel := context.WithTimeout(ctx, o.timeout)
		fetches := cl.PollFetches(pctx)
		timedOut := pctx.Err() != nil && fetches.NumRecords() == 0
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return records, bytes, ctx.Err()
		}
		if timedOut {
			return records, bytes, fmt.Errorf("no records for %v before reaching the end of %d partition(s)", o.timeout, len(remaining))
		}
		reportFetchErrors(fetches)
		fetches.EachRecord(func(r *kgo.Record) {
			if records >= limit {
				return
			}
			records++
			bytes += int64(len(r.Key) + len(r.Value))
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			r.Recycle()
		})
	}
	return records, bytes, nil
}

// recordPool lends the consumer the Record slices it decodes fetched
// batches into (kgo.PoolRecords), so the benchmark client allocates no
// Record per record and measures the broker rather than its own
// collector. consumeToEnd recycles every record once counted.
type recordPool struct{ p sync.Pool }

// GetRecords returns a slice of capacity at least n.
func (rp *recordPool) GetRecords(n int) []kgo.Record {
	if v, ok := rp.p.Get().(*[]kgo.Record); ok && cap(*v) >= n {
		return (*v)[:0]
	}
	return make([]kgo.Record, 0, n)
}

// PutRecords takes back a slice kgo no longer uses.
func (rp *recordPool) PutRecords(rs []kgo.Record) { rp.p.Put(&rs) }
