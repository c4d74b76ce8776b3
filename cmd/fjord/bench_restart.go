package main

// `fjord bench restart` (issue 12): how long a node takes after a crash
// to serve produce and fetch on every partition again, and whether the
// state of an idempotent producer survives the restart.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/chaos"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	restartTopic       = "restart"
	restartPoll        = 10 * time.Millisecond // pause between two tries of a restart probe
	restartTry         = time.Second           // time one try of a probe may take
	restartStopTimeout = 2 * time.Minute       // --clean: SIGTERM, then SIGKILL after this
	restartSetup       = 30 * time.Second      // the producer-state requests' patience
	restartLogSamples  = 5                     // recovery log lines quoted in the report
	restartBatchBytes  = 1_000_000             // the load's batch size, as bench produce's default
)

// restartLogPattern matches the server log lines the report counts.
var restartLogPattern = regexp.MustCompile(`(?i)recover|truncat|rebuil`)

// restartProbeValue is the value of every record the bench writes itself.
var restartProbeValue = []byte("fjord bench restart")

// The outcomes of re-sending the producer-state probe after the restart.
const (
	outcomeDeduplicated = "deduplicated"  // answered with the original offset: state survived
	outcomeAppended     = "appended anew" // written again at a new offset: state lost
	outcomeNotChecked   = "not checked"
)

// benchRestartOpts are the flags of `fjord bench restart`.
type benchRestartOpts struct {
	bytes      string
	partitions int32
	recordSize int
	binary     string
	keep       bool
	configs    []string // node properties key=value
	jsonOut    bool
	clean      bool
	timeout    time.Duration
}

// newBenchRestartCmd builds `fjord bench restart`.
func newBenchRestartCmd() *cobra.Command {
	var o benchRestartOpts
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Crash a loaded node and measure how fast it serves every partition again",
		Long: "Start one fjord server process on loopback (data and logs under a temp dir, printed, removed at\n" +
			"the end unless --keep or a failure), create topic restart (--partitions, RF=1) and:\n" +
			"  1. write one idempotent batch (InitProducerID, base sequence 0) to every partition;\n" +
			"  2. load --bytes of --record-size records with an idempotent acks=all producer (load MB/s);\n" +
			"  3. SIGKILL the server (--clean: SIGTERM and wait for it to exit, shutdown ms) and start it\n" +
			"     again on the same data dir; the clock starts at that exec;\n" +
			"  4. poll every 10 ms, all partitions at once, each try allowed 1 s:\n" +
			"       listener ms   until the Kafka listener answers ApiVersions\n" +
			"       produce ms    until every partition has acknowledged an acks=-1 Produce without error\n" +
			"                     (the table shows the first and the last partition)\n" +
			"       fetch ms      until every partition has answered a Fetch at its end offset before the\n" +
			"                     crash minus 1 with records and no error\n" +
			"       restart CPU   utime+stime of the new server process from its exec until both are done\n" +
			"  5. re-send step 1's batches unchanged: a partition whose producer state survived answers\n" +
			"     with the original offset (deduplicated), one that lost it writes the batch again\n" +
			"     (appended anew); then base sequence 1, which must be accepted.\n" +
			"Also reported: segments per partition (*.log files before the crash) and the server log lines\n" +
			"of the restart mentioning recovery, truncation or rebuilding. It fails only when the restart\n" +
			"does not complete within --timeout, never because of a figure. MB is MiB, as in bench produce.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchRestart(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.bytes, "bytes", "10GiB", "bytes of record values to load before the crash (suffixes KiB, MiB, GiB, TiB)")
	f.Int32Var(&o.partitions, "partitions", 12, "partitions of the topic")
	f.IntVar(&o.recordSize, "record-size", 16384, "value size of the load's records in bytes")
	f.StringVar(&o.binary, "binary", "", "the fjord binary to start (default: this one)")
	f.BoolVar(&o.keep, "keep", false, "keep the node's data dir and logs (the path is printed)")
	f.StringArrayVar(&o.configs, "config", nil, "node property key=value passed to the server (repeatable)")
	f.BoolVar(&o.jsonOut, "json", false, "print the report as one JSON document on stdout (the table goes to stderr)")
	f.BoolVar(&o.clean, "clean", false, "stop the server with SIGTERM and wait for it, instead of SIGKILL")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up when the restart has not completed after this long")
	return cmd
}

// parseByteSize reads a size such as 10GiB, 64MiB or 4096. KB, MB, GB
// and TB (and K, M, G, T) are binary too, as everywhere in fjord bench.
func parseByteSize(s string) (int64, error) {
	num := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for i, unit := range []string{"K", "M", "G", "T"} {
		if n, ok := cutUnit(num, unit); ok {
			num, mult = n, int64(1)<<(10*(i+1))
			break
		}
	}
	if mult == 1 {
		num = strings.TrimSpace(strings.TrimSuffix(num, "B"))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("%q is not a positive size such as 10GiB", s)
	}
	return int64(f * float64(mult)), nil
}

// cutUnit strips unit, unit+"B" or unit+"IB" from the end of s.
func cutUnit(s, unit string) (string, bool) {
	for _, suffix := range []string{unit + "IB", unit + "B", unit} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			return strings.TrimSpace(n), true
		}
	}
	return s, false
}

// ================= report =================

// restartPartition is one partition's figures. A phase the partition did
// not reach within --timeout has -1 ms and the last error of its tries.
type restartPartition struct {
	Partition    int32        `json:"partition"`
	Segments     int          `json:"segments"`
	EndOffset    int64        `json:"end_offset"` // before the crash
	ProduceMs    float64      `json:"produce_ms"`
	ProduceError string       `json:"produce_error,omitempty"`
	FetchMs      float64      `json:"fetch_ms"`
	FetchError   string       `json:"fetch_error,omitempty"`
	State        probeOutcome `json:"producer_state"`
}

// probeOutcome is what became of a partition's producer-state probe.
type probeOutcome struct {
	Offset      int64  `json:"offset"`       // of the idempotent batch, before the load
	RetryOffset int64  `json:"retry_offset"` // answer to the same batch after the restart (-1: error)
	Outcome     string `json:"outcome"`      // deduplicated, appended anew, not checked, or an error
	NextOffset  int64  `json:"next_offset"`  // of base sequence 1 (-1: error)
	NextError   string `json:"next_error,omitempty"`
}

// restartReport is the outcome of `fjord bench restart` (the --json
// document). Millisecond figures are from the exec of the restart; -1
// means not reached.
type restartReport struct {
	Mode           string             `json:"mode"` // SIGKILL or SIGTERM
	Dir            string             `json:"dir"`
	Partitions     int32              `json:"partitions"`
	RecordSize     int                `json:"record_size"`
	Bytes          int64              `json:"bytes"` // asked for
	LoadRecords    int64              `json:"load_records"`
	LoadBytes      int64              `json:"load_bytes"`
	LoadSeconds    float64            `json:"load_seconds"`
	LoadMBPerSec   float64            `json:"load_mb_per_sec"`
	ShutdownMs     float64            `json:"shutdown_ms,omitempty"` // --clean only
	ListenerMs     float64            `json:"listener_ms"`
	ProduceMs      float64            `json:"produce_ms"` // of the last partition to answer
	FetchMs        float64            `json:"fetch_ms"`   // of the last partition to answer
	CPUSeconds     float64            `json:"restart_cpu_seconds"`
	Survived       int                `json:"producer_state_survived"`
	RecoveryLines  int                `json:"recovery_log_lines"`
	RecoverySample []string           `json:"recovery_log_sample,omitempty"`
	PerPartition   []restartPartition `json:"per_partition"`
	Error          string             `json:"error,omitempty"`
}

// newRestartReport is the report before anything is measured.
func newRestartReport(o benchRestartOpts, bytes int64) restartReport {
	rep := restartReport{Mode: "SIGKILL", Partitions: o.partitions, RecordSize: o.recordSize, Bytes: bytes,
		ListenerMs: -1, ProduceMs: -1, FetchMs: -1, CPUSeconds: -1}
	if o.clean {
		rep.Mode = "SIGTERM"
	}
	for p := range o.partitions {
		rep.PerPartition = append(rep.PerPartition, restartPartition{Partition: p, ProduceMs: -1, FetchMs: -1,
			State: probeOutcome{Offset: -1, RetryOffset: -1, NextOffset: -1, Outcome: outcomeNotChecked}})
	}
	return rep
}

// msText formats a millisecond figure, "-" when not reached.
func msText(ms float64) string {
	if ms < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// phaseRange returns the first and last partition's figure of a phase
// (-1 for the last when a partition did not reach it).
func phaseRange(parts []restartPartition, ms func(restartPartition) float64) (first, last float64) {
	first, last = -1, -1
	for i, pf := range parts {
		v := ms(pf)
		if v < 0 {
			return first, -1
		}
		if i == 0 || v < first {
			first = v
		}
		last = max(last, v)
	}
	return first, last
}

// segmentRange returns "n" or "min..max" of the partitions' segments.
func segmentRange(parts []restartPartition) string {
	if len(parts) == 0 {
		return "-"
	}
	lo, hi := parts[0].Segments, parts[0].Segments
	for _, pf := range parts {
		lo, hi = min(lo, pf.Segments), max(hi, pf.Segments)
	}
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d..%d", lo, hi)
}

// writeRestartTable prints the report as a small text table, then one
// line per partition.
func writeRestartTable(w io.Writer, rep *restartReport) {
	fmt.Fprintf(w, "fjord bench restart (%s): %d partitions, %.2f GiB of %d B records\n",
		rep.Mode, rep.Partitions, float64(rep.Bytes)/gib, rep.RecordSize)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "  %-26s"+format+"\n", append([]any{name}, args...)...)
	}
	row("load", "%.2f GiB in %.1f s: %.2f MB/s", float64(rep.LoadBytes)/gib, rep.LoadSeconds, rep.LoadMBPerSec)
	row("segments per partition", "%s", segmentRange(rep.PerPartition))
	if rep.ShutdownMs > 0 {
		row("clean shutdown", "%s", msText(rep.ShutdownMs))
	}
	row("listener (ApiVersions)", "%s", msText(rep.ListenerMs))
	first, _ := phaseRange(rep.PerPartition, func(pf restartPartition) float64 { return pf.ProduceMs })
	row("produce, every partition", "%s (first %s)", msText(rep.ProduceMs), msText(first))
	first, _ = phaseRange(rep.PerPartition, func(pf restartPartition) float64 { return pf.FetchMs })
	row("fetch, every partition", "%s (first %s)", msText(rep.FetchMs), msText(first))
	if rep.CPUSeconds >= 0 {
		row("restart CPU", "%.2f s", rep.CPUSeconds)
	}
	row("producer state survived", "%d/%d partitions", rep.Survived, rep.Partitions)
	row("recovery log lines", "%d", rep.RecoveryLines)
	for _, pf := range rep.PerPartition {
		fmt.Fprintf(w, "    partition %-3d %3d segments  produce %-10s fetch %-10s producer state: %s\n",
			pf.Partition, pf.Segments, msText(pf.ProduceMs), msText(pf.FetchMs), pf.State.Outcome)
	}
	if rep.Error != "" {
		first, _, _ := strings.Cut(rep.Error, "\n")
		fmt.Fprintf(w, "stopped early: %s\n", first)
	}
}

// ================= the run =================

// restartBench is one run of `fjord bench restart`.
type restartBench struct {
	o       benchRestartOpts
	bytes   int64
	log     io.Writer
	rep     restartReport
	c       *chaos.Cluster
	topicID [16]byte
}

// newRestartBench checks the flags and prepares the report.
func newRestartBench(o benchRestartOpts, log io.Writer) (*restartBench, error) {
	bytes, err := parseByteSize(o.bytes)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--bytes: %w", err)
	case o.partitions <= 0:
		return nil, errors.New("--partitions must be positive")
	case o.recordSize <= 0:
		return nil, errors.New("--record-size must be positive")
	case o.timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	}
	return &restartBench{o: o, bytes: bytes, log: log, rep: newRestartReport(o, bytes)}, nil
}

// runBenchRestart runs the benchmark and prints its report, also when it
// stopped early (with what was measured so far).
func runBenchRestart(cmd *cobra.Command, o benchRestartOpts) error {
	b, err := newRestartBench(o, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	if err = b.run(ctx); err != nil {
		b.rep.Error = err.Error()
	}
	if werr := b.write(cmd.OutOrStdout(), cmd.ErrOrStderr()); werr != nil {
		return werr
	}
	return err
}

// write prints the table to out, or with --json the JSON document to out
// and the table to errOut.
func (b *restartBench) write(out, errOut io.Writer) error {
	return writeBenchReport(out, errOut, b.o.jsonOut, func(w io.Writer) { writeRestartTable(w, &b.rep) }, &b.rep)
}

// logf prints a progress line to stderr.
func (b *restartBench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "restart: "+format+"\n", args...)
}

// run runs the benchmark in a new temp dir, removed at the end unless
// --keep or a failure (an interruption is no failure).
func (b *restartBench) run(ctx context.Context) error {
	bin := b.o.binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		bin = exe
	}
	dir, err := os.MkdirTemp("", "fjord-restart-")
	if err != nil {
		return err
	}
	b.rep.Dir = dir
	b.logf("node data and logs under %s", dir)
	err = b.runIn(ctx, bin, dir)
	switch {
	case b.o.keep:
		b.logf("kept %s", dir)
	case err != nil && ctx.Err() == nil:
		b.logf("failed: kept %s for inspection", dir)
	default:
		os.RemoveAll(dir)
	}
	return err
}

// runIn starts the node under dir, runs the steps and stops it. A
// failure quotes the node's log.
func (b *restartBench) runIn(ctx context.Context, bin, dir string) error {
	c, err := chaos.NewCluster(bin, dir, 1, b.o.configs)
	if err != nil {
		return err
	}
	defer c.Close()
	b.c = c
	err = c.Start()
	var t *suiteTarget
	if err == nil {
		t, err = localTarget(ctx, c)
	}
	if err == nil {
		defer t.close()
		err = b.steps(ctx, t)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w\n%s", err, nodeTails(c))
	}
	return err
}

// steps are the benchmark proper, on the started node.
func (b *restartBench) steps(ctx context.Context, t *suiteTarget) error {
	if err := b.createTopic(ctx, t); err != nil {
		return err
	}
	probe, err := b.writeProbe(ctx)
	if err != nil {
		return fmt.Errorf("producer-state probe: %w", err)
	}
	if err := b.load(ctx, t); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := b.recordEnds(ctx, t); err != nil {
		return err
	}
	r, err := b.crashAndRestart(ctx)
	if err != nil {
		return err
	}
	defer r.cl.Close()
	b.countRecoveryLines()
	b.checkProbe(ctx, r, probe)
	return nil
}

// createTopic creates the topic and learns its id (Fetch v13+ names
// topics by id).
func (b *restartBench) createTopic(ctx context.Context, t *suiteTarget) error {
	b.logf("creating topic %s: %d partitions, RF=1", restartTopic, b.o.partitions)
	if err := t.createTopic(ctx, topicSpec{name: restartTopic, partitions: b.o.partitions, rf: 1}); err != nil {
		return err
	}
	md, err := t.metadata(ctx, restartTopic)
	if err != nil {
		return err
	}
	if len(md.Topics) != 1 {
		return fmt.Errorf("metadata of %s: %d topics", restartTopic, len(md.Topics))
	}
	b.topicID = md.Topics[0].TopicID
	return nil
}

// load produces --bytes as fast as possible with an idempotent acks=all
// producer, as bench produce does otherwise (1 MB batches, no linger).
func (b *restartBench) load(ctx context.Context, t *suiteTarget) error {
	o := benchProduceOpts{topic: restartTopic, records: max(1, b.bytes/int64(b.o.recordSize)), recordSize: b.o.recordSize,
		acks: "all", partitions: b.o.partitions, batchBytes: restartBatchBytes, compression: "none", producers: 1}
	opts, err := producerOpts(o.topic, o.acks, o.compression, true)
	if err != nil {
		return err
	}
	cl, err := t.client(append(opts, kgo.MaxBufferedRecords(benchBufferedRecords(o)),
		kgo.ProducerBatchMaxBytes(o.batchBytes), kgo.ProducerLinger(o.linger))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	b.logf("loading %d records of %d B", o.records, o.recordSize)
	stats := &produceStats{}
	elapsed := produceAll(ctx, []*kgo.Client{cl}, o, stats)
	if err := benchProduceErr(ctx, stats); err != nil {
		return err
	}
	res := newProduceResult(stats.ok.Load(), 0, stats.bytes.Load(), elapsed, stats.hist.summary())
	b.rep.LoadRecords, b.rep.LoadBytes, b.rep.LoadSeconds, b.rep.LoadMBPerSec = res.Records, res.Bytes, res.Seconds, res.MBPerSec
	b.logf("loaded %.2f GiB in %.1f s: %.2f MB/s", float64(res.Bytes)/gib, res.Seconds, res.MBPerSec)
	return nil
}

// recordEnds notes every partition's end offset and segment files before
// the crash.
func (b *restartBench) recordEnds(ctx context.Context, t *suiteTarget) error {
	ends, err := topicEnds(ctx, t.adm, restartTopic)
	if err != nil {
		return err
	}
	for i := range b.rep.PerPartition {
		pf := &b.rep.PerPartition[i]
		pf.EndOffset = ends[pf.Partition]
		pf.Segments = b.segments(pf.Partition)
	}
	return nil
}

// segments counts the *.log files of partition p's dir.
func (b *restartBench) segments(p int32) int {
	dir := filepath.Join(b.c.Nodes[0].DataDir, fmt.Sprintf("%s-%d", restartTopic, p))
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	return len(files)
}

// ================= crash and restart =================

// crashAndRestart stops the node (SIGKILL, or with --clean SIGTERM and a
// wait), restarts it and measures until it serves every partition. It
// returns the measuring client, connected to the new process.
func (b *restartBench) crashAndRestart(ctx context.Context) (rawClient, error) {
	nd := b.c.Nodes[0]
	if b.o.clean {
		b.logf("stopping node %d with SIGTERM", nd.ID)
		start := time.Now()
		nd.Terminate(restartStopTimeout)
		b.rep.ShutdownMs = msSince(start)
	} else {
		b.logf("killing node %d with SIGKILL", nd.ID)
		nd.Kill()
	}
	r, err := b.newRawClient()
	if err != nil {
		return rawClient{}, err
	}
	b.logf("restarting node %d", nd.ID)
	t0 := time.Now()
	if err := nd.Start(); err != nil {
		r.cl.Close()
		return rawClient{}, err
	}
	err = b.measure(ctx, r, t0)
	if err == nil {
		err = b.restartCPU()
	}
	if err != nil {
		r.cl.Close()
		return rawClient{}, err
	}
	return r, nil
}

// measure polls the restarted node, every partition at once, until the
// listener answers and every partition serves produce and fetch, or
// --timeout passes (an error).
func (b *restartBench) measure(ctx context.Context, r rawClient, t0 time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, stop := context.WithTimeout(ctx, b.o.timeout)
	defer stop()
	stopWatch := watchExit(ctx, b.c.Nodes[0], cancel)
	var wg sync.WaitGroup
	var listenerErr string
	wg.Go(func() { b.rep.ListenerMs, listenerErr = pollMs(ctx, t0, r.apiVersions) })
	for i := range b.rep.PerPartition {
		pf := &b.rep.PerPartition[i]
		wg.Go(func() {
			pf.ProduceMs, pf.ProduceError = pollMs(ctx, t0, func(ctx context.Context) error { return r.producePlain(ctx, pf.Partition) })
		})
		wg.Go(func() {
			at := max(pf.EndOffset-1, 0)
			pf.FetchMs, pf.FetchError = pollMs(ctx, t0, func(ctx context.Context) error { return r.fetch(ctx, pf.Partition, at) })
		})
	}
	wg.Wait()
	stopWatch()
	_, b.rep.ProduceMs = phaseRange(b.rep.PerPartition, func(pf restartPartition) float64 { return pf.ProduceMs })
	_, b.rep.FetchMs = phaseRange(b.rep.PerPartition, func(pf restartPartition) float64 { return pf.FetchMs })
	b.logf("listener %s, produce %s, fetch %s", msText(b.rep.ListenerMs), msText(b.rep.ProduceMs), msText(b.rep.FetchMs))
	return b.measureErr(ctx, listenerErr)
}

// measureErr says what the restart had not reached when measure gave up,
// nil if everything.
func (b *restartBench) measureErr(ctx context.Context, listenerErr string) error {
	var missing []string
	if b.rep.ListenerMs < 0 {
		missing = append(missing, "listener: "+listenerErr)
	}
	for _, pf := range b.rep.PerPartition {
		if pf.ProduceMs < 0 {
			missing = append(missing, fmt.Sprintf("partition %d produce: %s", pf.Partition, pf.ProduceError))
		}
		if pf.FetchMs < 0 {
			missing = append(missing, fmt.Sprintf("partition %d fetch: %s", pf.Partition, pf.FetchError))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errServerExited):
		return cause
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return ctx.Err()
	}
	return fmt.Errorf("the restart did not complete within %v:\n  %s", b.o.timeout, strings.Join(missing, "\n  "))
}

// errServerExited is why measure stops early when the restarted server
// process is gone.
var errServerExited = errors.New("the restarted server process exited")

// watchExit cancels ctx with errServerExited as soon as nd's process has
// exited, until the returned stop is called (it waits for the watcher).
func watchExit(ctx context.Context, nd *chaos.Node, cancel context.CancelCauseFunc) (stop func()) {
	ctx, done := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for sleepCtx(ctx, restartPoll) == nil {
			if nd.State() == chaos.Stopped {
				cancel(errServerExited)
				return
			}
		}
	})
	return func() { done(); wg.Wait() }
}

// restartCPU reads the CPU time the new server process has used since
// its exec.
func (b *restartBench) restartCPU() error {
	pids, err := serverPIDs(b.c)
	if err != nil {
		return err
	}
	secs, err := procCPUSeconds(pids[0])
	if err != nil {
		return err
	}
	b.rep.CPUSeconds = secs
	return nil
}

// pollMs calls try, each call allowed restartTry, every restartPoll
// until it succeeds, and returns the ms from t0 to that answer; or -1 and
// the last error once ctx is done.
func pollMs(ctx context.Context, t0 time.Time, try func(context.Context) error) (float64, string) {
	for {
		tctx, cancel := context.WithTimeout(ctx, restartTry)
		err := try(tctx)
		cancel()
		if err == nil {
			return msSince(t0), ""
		}
		if sleepCtx(ctx, restartPoll) != nil {
			return -1, err.Error()
		}
	}
}

// msSince is the time since t in milliseconds.
func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// countRecoveryLines counts the lines of the restarted run's log that
// mention recovery, truncation or rebuilding, and quotes the first few.
func (b *restartBench) countRecoveryLines() {
	nd := b.c.Nodes[0]
	data, err := os.ReadFile(filepath.Join(nd.LogDir, fmt.Sprintf("run-%d.log", nd.Run())))
	if err != nil {
		b.logf("reading the server log: %v", err)
		return
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if restartLogPattern.MatchString(line) {
			b.rep.RecoveryLines++
			if len(b.rep.RecoverySample) < restartLogSamples {
				b.rep.RecoverySample = append(b.rep.RecoverySample, line)
			}
		}
	}
}

// ================= producer state =================

// idemProbe is the idempotent producer of the producer-state probe and
// the batch (base sequence 0) it wrote to every partition.
type idemProbe struct {
	id      int64
	epoch   int16
	batches map[int32][]byte
}

// writeProbe gets a producer id and writes one idempotent batch to every
// partition, noting the offsets it was written at.
func (b *restartBench) writeProbe(ctx context.Context) (*idemProbe, error) {
	r, err := b.newRawClient()
	if err != nil {
		return nil, err
	}
	defer r.cl.Close()
	probe := &idemProbe{batches: make(map[int32][]byte)}
	if probe.id, probe.epoch, err = r.initProducerID(ctx); err != nil {
		return nil, err
	}
	ts := time.Now().UnixMilli()
	for p := range b.o.partitions {
		if probe.batches[p], err = probe.batch(0, ts); err != nil {
			return nil, err
		}
	}
	offsets, err := r.produceUntilOK(ctx, probe.batches)
	if err != nil {
		return nil, err
	}
	for i := range b.rep.PerPartition {
		b.rep.PerPartition[i].State.Offset = offsets[int32(i)]
	}
	b.logf("producer %d (epoch %d) wrote a batch to every partition", probe.id, probe.epoch)
	return probe, nil
}

// batch is the probe's batch of one record with base sequence seq.
func (p *idemProbe) batch(seq int32, ts int64) ([]byte, error) {
	return record.RebuildBatch(record.Header{PartitionLeaderEpoch: -1, BaseTimestamp: ts, MaxTimestamp: ts,
		ProducerID: p.id, ProducerEpoch: p.epoch, BaseSequence: seq}, []record.Record{{Value: restartProbeValue}})
}

// checkProbe re-sends the probe's batches after the restart and then base
// sequence 1, and records what the node answered. It fails nothing: the
// answers are the result.
func (b *restartBench) checkProbe(ctx context.Context, r rawClient, probe *idemProbe) {
	ctx, cancel := context.WithTimeout(ctx, restartSetup)
	defer cancel()
	retry, err := r.produce(ctx, probe.batches)
	next := make(map[int32][]byte)
	for p := range probe.batches {
		next[p], _ = probe.batch(1, time.Now().UnixMilli())
	}
	var nextAns map[int32]produceAnswer
	if err == nil {
		nextAns, err = r.produce(ctx, next)
	}
	for i := range b.rep.PerPartition {
		b.rep.PerPartition[i].State.record(retry[int32(i)], nextAns[int32(i)], err)
		if b.rep.PerPartition[i].State.Outcome == outcomeDeduplicated {
			b.rep.Survived++
		}
	}
	b.logf("producer state survived: %d/%d partitions", b.rep.Survived, b.o.partitions)
}

// record sets the outcome from the answers to the re-sent batch and to
// base sequence 1 (reqErr: a request failed as a whole).
func (s *probeOutcome) record(retry, next produceAnswer, reqErr error) {
	switch {
	case reqErr != nil:
		s.Outcome = "error: " + reqErr.Error()
		return
	case retry.err != nil:
		s.Outcome = "error: " + retry.err.Error()
	case retry.offset == s.Offset:
		s.Outcome, s.RetryOffset = outcomeDeduplicated, retry.offset
	default:
		s.Outcome, s.RetryOffset = outcomeAppended, retry.offset
	}
	if next.err != nil {
		s.NextError = next.err.Error()
	} else {
		s.NextOffset = next.offset
	}
}

// ================= raw requests =================

// rawClient sends the bench's own requests to the node: one try per call
// (no retries inside), acks=-1.
type rawClient struct {
	cl      *kgo.Client
	topic   string
	topicID [16]byte
}

// produceAnswer is one partition's answer to a Produce.
type produceAnswer struct {
	offset int64
	err    error
}

// newRawClient builds a client of the node that tries each request once.
func (b *restartBench) newRawClient() (rawClient, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.c.Nodes[0].Addr), kgo.ClientID(cliClientID),
		kgo.DialTimeout(restartTry), kgo.RequestRetries(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return restartPoll }))
	if err != nil {
		return rawClient{}, err
	}
	return rawClient{cl: cl, topic: restartTopic, topicID: b.topicID}, nil
}

// apiVersions asks for the node's API versions.
func (r rawClient) apiVersions(ctx context.Context) error {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, r.cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// initProducerID gets a new idempotent producer id and epoch.
func (r rawClient) initProducerID(ctx context.Context) (int64, int16, error) {
	var id int64
	var epoch int16
	err := suiteWait(ctx, restartSetup, func() string {
		tctx, cancel := context.WithTimeout(ctx, restartTry)
		defer cancel()
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(tctx, r.cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			return err.Error()
		}
		id, epoch = resp.ProducerID, resp.ProducerEpoch
		return ""
	})
	return id, epoch, err
}

// produce sends batches[p] to every partition p in one Produce request
// and returns every partition's answer.
func (r rawClient) produce(ctx context.Context, batches map[int32][]byte) (map[int32]produceAnswer, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = int32(restartTry / time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = r.topic, r.topicID
	for _, p := range slices.Sorted(maps.Keys(batches)) {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batches[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, r.cl)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]produceAnswer, len(batches))
	for p := range batches {
		out[p] = produceAnswer{offset: -1, err: fmt.Errorf("partition %d missing from the response", p)}
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			a := produceAnswer{offset: rp.BaseOffset, err: kerr.ErrorForCode(rp.ErrorCode)}
			if a.err != nil && rp.ErrorMessage != nil {
				a.err = kafkaErr(a.err, *rp.ErrorMessage)
			}
			out[rp.Partition] = a
		}
	}
	return out, nil
}

// produceUntilOK produces batches until every partition has accepted its
// batch (retrying an idempotent batch is safe: a duplicate is answered
// with its first offset) and returns the offsets.
func (r rawClient) produceUntilOK(ctx context.Context, batches map[int32][]byte) (map[int32]int64, error) {
	offsets := make(map[int32]int64)
	err := suiteWait(ctx, restartSetup, func() string {
		pending := make(map[int32][]byte)
		for p, batch := range batches {
			if _, ok := offsets[p]; !ok {
				pending[p] = batch
			}
		}
		tctx, cancel := context.WithTimeout(ctx, restartTry)
		defer cancel()
		ans, err := r.produce(tctx, pending)
		if err != nil {
			return err.Error()
		}
		why := ""
		for p, a := range ans {
			if a.err != nil {
				why = fmt.Sprintf("partition %d: %v", p, a.err)
				continue
			}
			offsets[p] = a.offset
		}
		return why
	})
	return offsets, err
}

// producePlain writes one non-idempotent record to partition p.
func (r rawClient) producePlain(ctx context.Context, p int32) error {
	batch, err := record.BuildBatch(record.CompressionNone, time.Now().UnixMilli(), []record.Record{{Value: restartProbeValue}})
	if err != nil {
		return err
	}
	ans, err := r.produce(ctx, map[int32][]byte{p: batch})
	if err != nil {
		return err
	}
	return ans[p].err
}

// fetch reads partition p at offset and fails unless records came back
// without an error.
func (r rawClient) fetch(ctx context.Context, p int32, offset int64) error {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = r.topic, r.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, r.cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, fp := range t.Partitions {
			if fp.Partition != p {
				continue
			}
			if err := kerr.ErrorForCode(fp.ErrorCode); err != nil {
				return err
			}
			if len(fp.RecordBatches) == 0 {
				return fmt.Errorf("no records at offset %d (high watermark %d)", offset, fp.HighWatermark)
			}
			return nil
		}
	}
	return fmt.Errorf("partition %d missing from the response", p)
}
