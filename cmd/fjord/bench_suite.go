package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/chaos"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The rows of `fjord bench suite`, in the order they run.
const (
	rowProduce1    = "produce-1node"
	rowConsume1    = "consume-1node"
	rowFsync1      = "produce-1node-fsync"
	rowLatency1    = "latency-1node"
	rowRolls1      = "latency-1node-rolls"
	rowProduceRF3  = "produce-rf3"
	rowLatencyRF3  = "latency-rf3"
	rowLatencyIdle = "latency-rf3-idle1000"
	rowIdleCPU     = "idle-cpu"
)

// suiteRows lists every row in the order the suite runs them.
var suiteRows = []string{rowProduce1, rowConsume1, rowFsync1, rowLatency1, rowRolls1, rowProduceRF3, rowLatencyRF3, rowLatencyIdle, rowIdleCPU}

// The fixed load of the suite: what issue 12's table was measured with.
const (
	suiteRecordSize     = 1024
	suitePartitions     = 6
	suiteIdlePartitions = 1000
	suiteRollBytes      = 1 << 20          // segment.bytes of latency-1node-rolls
	suiteRateMiB        = 5                // MiB/s of the latency rows
	suiteWarmup         = time.Second      // sent before a latency row's measured window
	suiteIdleWindow     = 10 * time.Second // how long idle-cpu watches
	suiteSettle         = 2 * time.Second  // pause after creating the idle topic
	suiteReadyTimeout   = 90 * time.Second // cluster up, topic led and replicated
	procClockTicks      = 100              // USER_HZ of /proc/<pid>/stat on Linux
	gib                 = 1024 * mib       // the GB of "CPU s/GB"
	suiteConsumeIdle    = 10 * time.Second // consume-1node gives up after this long without records
	suiteTailLines      = 20               // node log lines quoted when a local row fails
)

// suiteNoServers is why idle-cpu does not run against -b brokers.
const suiteNoServers = "no server processes of the suite's own to measure (-b given)"

// benchSuiteOpts are the flags of `fjord bench suite`.
type benchSuiteOpts struct {
	rows     string
	records  int64
	duration time.Duration
	jsonOut  bool
	binary   string
	keep     bool
	configs  []string // node properties key=value of every server it starts
	// dropCaches writes back and drops the kernel's page cache before
	// each produce row (Linux, root), so every row starts from the same
	// memory state.
	dropCaches bool
}

// newBenchSuiteCmd builds `fjord bench suite`.
func newBenchSuiteCmd() *cobra.Command {
	var o benchSuiteOpts
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "Reproduce the performance table (throughput, latency, CPU) in one command",
		Long: "Start fjord server processes on loopback (a 1-node cluster, then a 3-node one; data under a\n" +
			"temp dir removed at the end) and measure, with 1 KiB records and acks=all on 6-partition topics:\n" +
			"  produce-1node         RF=1, as fast as possible: MB/s, p50/p99 latency, server CPU s/GB\n" +
			"  consume-1node         those records from the start: MB/s, server CPU s/GB\n" +
			"  produce-1node-fsync   produce-1node with flush.messages=1\n" +
			"  produce-rf3           3 nodes, RF=3, min.insync.replicas=2: MB/s, CPU s/GB of the 3 servers,\n" +
			"                        and their ratios to produce-1node\n" +
			"  latency-rf3           RF=3 at a fixed 5 MB/s for --duration (after 1 s of warm-up), each\n" +
			"                        record sent at t0+i/rate and timed from then: p50/p99/p99.9/max\n" +
			"  latency-rf3-idle1000  the same with an idle 1,000-partition RF=3 topic present\n" +
			"  idle-cpu              the 3 nodes with those 1,000 partitions and no client: CPU cores over 10 s\n" +
			"MB is MiB and GB is GiB, as in bench produce. Server CPU is utime+stime from /proc (Linux).\n" +
			"With -b/--bootstrap-server given on the command line the suite measures those brokers instead\n" +
			"(any Kafka-compatible cluster; topics named fjord-suite-<time>-*, deleted at the end): only the\n" +
			"client-side figures, the RF=3 rows only if the cluster has at least 3 brokers, no idle-cpu.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchSuite(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.rows, "rows", strings.Join(suiteRows, ","), "comma-separated rows to run")
	f.Int64Var(&o.records, "records", 1_000_000, "records of each throughput row")
	f.DurationVar(&o.duration, "duration", 20*time.Second, "measured time of each latency row")
	f.BoolVar(&o.jsonOut, "json", false, "print the report as one JSON document on stdout (the table goes to stderr)")
	f.StringVar(&o.binary, "binary", "", "the fjord binary to start (default: this one)")
	f.BoolVar(&o.keep, "keep", false, "keep the nodes' data dirs and logs (the path is printed)")
	f.BoolVar(&o.dropCaches, "drop-caches", false, "sync and drop the page cache before each produce row (Linux, root): on a VM\n"+
		"the cost of growing the page cache varies with what memory the kernel has free, up to\n"+
		"several times the CPU per GB, so RF=1 and RF=3 rows compare fairly only from one state")
	f.StringArrayVar(&o.configs, "config", nil, "node property key=value passed to every server it starts (repeatable)")
	return cmd
}

// ================= report =================

// suiteRow is one measured row: its figures, or why it was skipped. CPU
// figures are absent when the suite did not start the servers.
type suiteRow struct {
	Name           string          `json:"name"`
	Brokers        int             `json:"brokers,omitempty"`
	RF             int16           `json:"rf,omitempty"`
	Records        int64           `json:"records,omitempty"`
	Bytes          int64           `json:"bytes,omitempty"`
	Seconds        float64         `json:"seconds,omitempty"`
	MBPerSec       float64         `json:"mb_per_sec,omitempty"`
	TargetMBPerSec float64         `json:"target_mb_per_sec,omitempty"`
	Latency        *latencySummary `json:"latency_ms,omitempty"`
	CPUSeconds     *float64        `json:"cpu_seconds,omitempty"`
	CPUSecPerGB    *float64        `json:"cpu_sec_per_gb,omitempty"`
	CPUCores       *float64        `json:"cpu_cores,omitempty"`
	IdlePartitions int             `json:"idle_partitions,omitempty"`
	RatioMBPerSec  *float64        `json:"ratio_rf3_rf1_mb_per_sec,omitempty"`
	RatioCPUPerGB  *float64        `json:"ratio_rf3_rf1_cpu_per_gb,omitempty"`
	Skipped        string          `json:"skipped,omitempty"`
}

// suiteReport is the whole suite's outcome (the --json document).
type suiteReport struct {
	Target      string     `json:"target"` // "local" or the -b brokers
	RecordSize  int        `json:"record_size"`
	Records     int64      `json:"records"`
	DurationSec float64    `json:"duration_sec"`
	RateMBPerS  float64    `json:"latency_rate_mb_per_sec"`
	Rows        []suiteRow `json:"rows"`
	Error       string     `json:"error,omitempty"`
}

// setCPU fills the CPU figures from cpu seconds spent moving the row's
// bytes; it does nothing when cpu is nil (no server processes).
func (r *suiteRow) setCPU(cpu *float64) {
	if cpu == nil {
		return
	}
	r.CPUSeconds = cpu
	if r.Bytes > 0 {
		perGB := *cpu / (float64(r.Bytes) / gib)
		r.CPUSecPerGB = &perGB
	}
}

// setRatio sets produce-rf3's ratios to produce-1node's figures, when
// both are known.
func (r *suiteRow) setRatio(rf1 *suiteRow) {
	if rf1 == nil || rf1.MBPerSec <= 0 {
		return
	}
	mb := r.MBPerSec / rf1.MBPerSec
	r.RatioMBPerSec = &mb
	if r.CPUSecPerGB != nil && rf1.CPUSecPerGB != nil && *rf1.CPUSecPerGB > 0 {
		cpu := *r.CPUSecPerGB / *rf1.CPUSecPerGB
		r.RatioCPUPerGB = &cpu
	}
}

// line is the row's line of the text table: its name and figures with
// units.
func (r suiteRow) line() string {
	parts := []string{fmt.Sprintf("%-21s", r.Name)}
	if r.Skipped != "" {
		return strings.Join(append(parts, "skipped: "+r.Skipped), "  ")
	}
	parts = append(parts, fmt.Sprintf("%d %-5s RF=%d", r.Brokers, plural(r.Brokers, "node"), r.RF))
	if r.IdlePartitions > 0 && r.CPUCores != nil {
		parts = append(parts, fmt.Sprintf("%d idle partitions: %.3f cores over %.0f s", r.IdlePartitions, *r.CPUCores, r.Seconds))
		return strings.Join(parts, "  ")
	}
	parts = append(parts, fmt.Sprintf("%8.2f MB/s", r.MBPerSec))
	parts = append(parts, r.latencyParts()...)
	if r.CPUSecPerGB != nil {
		parts = append(parts, fmt.Sprintf("CPU %.2f s/GB", *r.CPUSecPerGB))
	}
	if r.RatioMBPerSec != nil {
		parts = append(parts, fmt.Sprintf("RF3/RF1 %.2fx MB/s", *r.RatioMBPerSec))
	}
	if r.RatioCPUPerGB != nil {
		parts = append(parts, fmt.Sprintf("%.2fx CPU/GB", *r.RatioCPUPerGB))
	}
	return strings.Join(parts, "  ")
}

// latencyParts are the latency figures of the row's line: p50 and p99,
// and for a fixed-rate row also p99.9 and max.
func (r suiteRow) latencyParts() []string {
	if r.Latency == nil {
		return nil
	}
	l := r.Latency
	parts := []string{fmt.Sprintf("p50 %.2f ms", l.P50), fmt.Sprintf("p99 %.2f ms", l.P99)}
	if r.TargetMBPerSec > 0 {
		parts = append(parts, fmt.Sprintf("p99.9 %.2f ms", l.P999), fmt.Sprintf("max %.2f ms", l.Max))
	}
	return parts
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// writeSuiteTable prints the report as a text table: a header line, then
// one line per row.
func writeSuiteTable(w io.Writer, rep *suiteReport) {
	fmt.Fprintf(w, "fjord bench suite (%s): %d records of %d B per throughput row, latency rows at %.0f MB/s for %s\n",
		rep.Target, rep.Records, rep.RecordSize, rep.RateMBPerS, time.Duration(rep.DurationSec*float64(time.Second)))
	for _, r := range rep.Rows {
		fmt.Fprintln(w, r.line())
	}
	if rep.Error != "" {
		first, _, _ := strings.Cut(rep.Error, "\n")
		fmt.Fprintf(w, "stopped early: %s\n", first)
	}
}

// ================= the suite =================

// suite is one run of `fjord bench suite`.
type suite struct {
	o      benchSuiteOpts
	want   map[string]bool
	prefix string // of every topic name
	log    io.Writer
	rep    suiteReport
}

// parseSuiteRows returns the set of rows a --rows list names.
func parseSuiteRows(s string) (map[string]bool, error) {
	want := make(map[string]bool)
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case !slices.Contains(suiteRows, name):
			return nil, fmt.Errorf("unknown row %q in --rows (rows: %s)", name, strings.Join(suiteRows, ", "))
		}
		want[name] = true
	}
	if len(want) == 0 {
		return nil, errors.New("--rows names no row")
	}
	return want, nil
}

// newSuite checks the flags and prepares the report.
func newSuite(o benchSuiteOpts, log io.Writer) (*suite, error) {
	want, err := parseSuiteRows(o.rows)
	if err != nil {
		return nil, err
	}
	if o.records <= 0 {
		return nil, errors.New("--records must be positive")
	}
	if o.duration <= 0 {
		return nil, errors.New("--duration must be positive")
	}
	s := &suite{o: o, want: want, prefix: "suite-", log: log}
	s.rep = suiteReport{Target: "local", RecordSize: suiteRecordSize, Records: o.records,
		DurationSec: o.duration.Seconds(), RateMBPerS: suiteRateMiB, Rows: []suiteRow{}}
	return s, nil
}

// runBenchSuite runs the suite and prints its report, also when it
// stopped early (with the rows measured so far).
func runBenchSuite(cmd *cobra.Command, o benchSuiteOpts) error {
	s, err := newSuite(o, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	if cmd.Flags().Changed("bootstrap-server") {
		err = s.runExternal(ctx)
	} else {
		err = s.runLocal(ctx)
	}
	if err != nil {
		s.rep.Error = err.Error()
	}
	if werr := s.write(cmd.OutOrStdout(), cmd.ErrOrStderr()); werr != nil {
		return werr
	}
	return err
}

// write prints the table to out, or with --json the JSON document to out
// and the table to errOut.
func (s *suite) write(out, errOut io.Writer) error {
	return writeBenchReport(out, errOut, s.o.jsonOut, func(w io.Writer) { writeSuiteTable(w, &s.rep) }, &s.rep)
}

// writeBenchReport prints a bench's table to out, or with jsonOut its
// report doc as one JSON document to out and the table to errOut.
func writeBenchReport(out, errOut io.Writer, jsonOut bool, table func(io.Writer), doc any) error {
	if !jsonOut {
		table(out)
		return nil
	}
	table(errOut)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

// logf prints a progress line to stderr.
func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "suite: "+format+"\n", args...)
}

// step runs row name if it was asked for and adds its result to the
// report.
func (s *suite) step(name string, measure func() (suiteRow, error)) error {
	if !s.want[name] {
		return nil
	}
	s.logf("%s ...", name)
	if s.o.dropCaches && strings.HasPrefix(name, "produce") {
		if err := dropPageCacheFn(); err != nil {
			return fmt.Errorf("%s: --drop-caches: %w", name, err)
		}
	}
	row, err := measure()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	row.Name = name
	s.rep.Rows = append(s.rep.Rows, row)
	s.logf("%s", row.line())
	return nil
}

// skip adds row name, if asked for, as skipped for the reason why.
func (s *suite) skip(name, why string) {
	if s.want[name] {
		s.rep.Rows = append(s.rep.Rows, suiteRow{Name: name, Skipped: why})
	}
}

// row returns the measured row name, or nil.
func (s *suite) row(name string) *suiteRow {
	for i := range s.rep.Rows {
		if r := &s.rep.Rows[i]; r.Name == name && r.Skipped == "" {
			return r
		}
	}
	return nil
}

// wantAny reports whether any of names was asked for.
func (s *suite) wantAny(names ...string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return s.want[n] })
}

// runLocal runs the rows on clusters of fjord processes it starts: one
// node, then three, each under the temp dir, stopped before the next.
func (s *suite) runLocal(ctx context.Context) error {
	bin := s.o.binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		bin = exe
	}
	dir, err := os.MkdirTemp("", "fjord-suite-")
	if err != nil {
		return err
	}
	if s.o.keep {
		s.logf("keeping the nodes' data and logs under %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if s.wantAny(rowProduce1, rowConsume1, rowFsync1, rowLatency1, rowRolls1) {
		if err := s.localPhase(ctx, bin, filepath.Join(dir, "1node"), 1, s.oneNodeRows); err != nil {
			return err
		}
	}
	if s.wantAny(rowProduceRF3, rowLatencyRF3, rowLatencyIdle, rowIdleCPU) {
		return s.localPhase(ctx, bin, filepath.Join(dir, "3nodes"), 3, s.threeNodeRows)
	}
	return nil
}

// localPhase starts n nodes under dir, runs rows against them and stops
// them (removing dir unless --keep). A failure quotes the nodes' logs.
func (s *suite) localPhase(ctx context.Context, bin, dir string, n int, rows func(context.Context, *suiteTarget) error) error {
	s.logf("starting %d %s under %s", n, plural(n, "node"), dir)
	c, err := chaos.NewCluster(bin, dir, n, s.o.configs)
	if err != nil {
		return err
	}
	defer func() {
		c.Close()
		if !s.o.keep {
			os.RemoveAll(dir)
		}
	}()
	err = c.Start()
	var t *suiteTarget
	if err == nil {
		t, err = localTarget(ctx, c)
	}
	if err == nil {
		defer t.close()
		err = rows(ctx, t)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w\n%s", err, nodeTails(c))
	}
	return err
}

// nodeTails returns the last lines of every node's log.
func nodeTails(c *chaos.Cluster) string {
	var b strings.Builder
	for _, nd := range c.Nodes {
		fmt.Fprintf(&b, "--- node %d (%s) ---\n%s\n", nd.ID, nd.LogDir, nd.Tail(suiteTailLines))
	}
	return b.String()
}

// runExternal runs the client-side rows against the -b brokers.
func (s *suite) runExternal(ctx context.Context) error {
	s.rep.Target = bootstrapServers
	s.prefix = fmt.Sprintf("fjord-suite-%d-", time.Now().Unix())
	opts, err := clientOpts()
	if err != nil {
		return err
	}
	t, err := newTarget(opts, nil)
	if err != nil {
		return err
	}
	defer t.close()
	defer t.deleteTopics()
	err = suiteWait(ctx, 30*time.Second, func() string {
		if err := t.countBrokers(ctx); err != nil {
			return err.Error()
		}
		return ""
	})
	if err != nil {
		return err
	}
	s.logf("%s: %d %s", bootstrapServers, t.brokers, plural(t.brokers, "broker"))
	if err := s.oneNodeRows(ctx, t); err != nil {
		return err
	}
	if t.brokers < 3 {
		why := fmt.Sprintf("RF=3 needs 3 brokers, the target has %d", t.brokers)
		for _, name := range []string{rowProduceRF3, rowLatencyRF3, rowLatencyIdle} {
			s.skip(name, why)
		}
		s.skip(rowIdleCPU, suiteNoServers)
		return nil
	}
	return s.threeNodeRows(ctx, t)
}

// oneNodeRows runs the RF=1 rows. consume-1node reads what produce-1node
// wrote, so that topic is written even when only consume-1node runs.
func (s *suite) oneNodeRows(ctx context.Context, t *suiteTarget) error {
	plain := s.spec("produce", 1, nil)
	if s.want[rowConsume1] && !s.want[rowProduce1] {
		s.logf("writing %d records for %s", s.o.records, rowConsume1)
		if _, err := s.produceRow(ctx, t, plain); err != nil {
			return fmt.Errorf("%s: %w", rowConsume1, err)
		}
	}
	if err := s.step(rowProduce1, func() (suiteRow, error) { return s.produceRow(ctx, t, plain) }); err != nil {
		return err
	}
	if err := s.step(rowConsume1, func() (suiteRow, error) { return s.consumeRow(ctx, t, plain) }); err != nil {
		return err
	}
	fsync := s.spec("fsync", 1, map[string]*string{"flush.messages": kadm.StringPtr("1")})
	if err := s.step(rowFsync1, func() (suiteRow, error) { return s.produceRow(ctx, t, fsync) }); err != nil {
		return err
	}
	return s.rollRows(ctx, t)
}

// rollRows measures RF=1 latency at the fixed rate with the default
// segment size and with 1 MiB segments, which roll every second or so
// per partition: an ack must not wait on a roll (issue 12 asks for the
// max within 10% of the max without rolls).
func (s *suite) rollRows(ctx context.Context, t *suiteTarget) error {
	err := s.step(rowLatency1, func() (suiteRow, error) { return s.latencyRow(ctx, t, s.spec("latency1", 1, nil)) })
	if err != nil {
		return err
	}
	rolls := map[string]*string{"segment.bytes": kadm.StringPtr(strconv.Itoa(suiteRollBytes))}
	return s.step(rowRolls1, func() (suiteRow, error) { return s.latencyRow(ctx, t, s.spec("rolls1", 1, rolls)) })
}

// threeNodeRows runs the RF=3 rows and idle-cpu.
func (s *suite) threeNodeRows(ctx context.Context, t *suiteTarget) error {
	minISR := map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}
	err := s.step(rowProduceRF3, func() (suiteRow, error) {
		r, err := s.produceRow(ctx, t, s.spec("rf3", 3, minISR))
		r.setRatio(s.row(rowProduce1))
		return r, err
	})
	if err != nil {
		return err
	}
	if err := s.step(rowLatencyRF3, func() (suiteRow, error) { return s.latencyRow(ctx, t, s.spec("latency", 3, minISR)) }); err != nil {
		return err
	}
	if s.want[rowLatencyIdle] || (s.want[rowIdleCPU] && t.cluster != nil) {
		if err := s.createIdle(ctx, t, minISR); err != nil {
			return err
		}
		err := s.step(rowLatencyIdle, func() (suiteRow, error) { return s.latencyRow(ctx, t, s.spec("latency-idle", 3, minISR)) })
		if err != nil {
			return err
		}
	}
	if t.cluster == nil {
		s.skip(rowIdleCPU, suiteNoServers)
		return nil
	}
	return s.step(rowIdleCPU, func() (suiteRow, error) { return s.idleCPURow(ctx, t) })
}

// createIdle creates the idle 1,000-partition RF=3 topic and lets the
// cluster settle.
func (s *suite) createIdle(ctx context.Context, t *suiteTarget, configs map[string]*string) error {
	spec := s.spec("idle", 3, configs)
	spec.partitions = suiteIdlePartitions
	s.logf("creating %s: %d partitions, RF=3", spec.name, spec.partitions)
	if err := t.createTopic(ctx, spec); err != nil {
		return err
	}
	return sleepCtx(ctx, suiteSettle)
}

// topicSpec is a topic a row creates.
type topicSpec struct {
	name       string
	partitions int32
	rf         int16
	configs    map[string]*string
}

// spec is the suite's topic for a row: 6 partitions under the run's
// prefix.
func (s *suite) spec(name string, rf int16, configs map[string]*string) topicSpec {
	return topicSpec{name: s.prefix + name, partitions: suitePartitions, rf: rf, configs: configs}
}

// ================= rows =================

// produceOpts is the load of a throughput row, as `fjord bench produce`
// runs it: one client, acks=all, linger 0, 1 MB batches.
func (s *suite) produceOpts(topic string, records int64) benchProduceOpts {
	return benchProduceOpts{topic: topic, records: records, recordSize: suiteRecordSize, acks: "all",
		partitions: suitePartitions, batchBytes: 1_000_000, compression: "none", producers: 1, jsonOnly: true}
}

// produceRow creates spec's topic and produces --records records to it as
// fast as possible.
func (s *suite) produceRow(ctx context.Context, t *suiteTarget, spec topicSpec) (suiteRow, error) {
	if err := t.createTopic(ctx, spec); err != nil {
		return suiteRow{}, err
	}
	o := s.produceOpts(spec.name, s.o.records)
	cl, err := t.producer(o)
	if err != nil {
		return suiteRow{}, err
	}
	defer cl.Close()
	stats := &produceStats{}
	var elapsed time.Duration
	cpu, err := t.measureCPU(func() error {
		elapsed = produceAll(ctx, []*kgo.Client{cl}, o, stats)
		return benchProduceErr(ctx, stats)
	})
	if err != nil {
		return suiteRow{}, err
	}
	return s.produceResultRow(t, spec, newProduceResult(stats.ok.Load(), 0, stats.bytes.Load(), elapsed, stats.hist.summary()), cpu), nil
}

// produceResultRow turns a produce result into a row.
func (s *suite) produceResultRow(t *suiteTarget, spec topicSpec, res produceResult, cpu *float64) suiteRow {
	lat := res.Latency
	r := suiteRow{Brokers: t.brokers, RF: spec.rf, Records: res.Records, Bytes: res.Bytes,
		Seconds: res.Seconds, MBPerSec: res.MBPerSec, Latency: &lat}
	r.setCPU(cpu)
	return r
}

// consumeRow consumes spec's topic from the start to its current end.
func (s *suite) consumeRow(ctx context.Context, t *suiteTarget, spec topicSpec) (suiteRow, error) {
	remaining, err := topicEnds(ctx, t.adm, spec.name)
	if err != nil {
		return suiteRow{}, err
	}
	o := benchConsumeOpts{topic: spec.name, timeout: suiteConsumeIdle, jsonOnly: true}
	cl, err := t.client(benchConsumerOpts(o)...)
	if err != nil {
		return suiteRow{}, err
	}
	defer cl.Close()
	var records, bytes int64
	var elapsed time.Duration
	cpu, err := t.measureCPU(func() error {
		start := time.Now()
		n, b, err := consumeToEnd(ctx, cl, remaining, o)
		records, bytes, elapsed = n, b, time.Since(start)
		return err
	})
	if err != nil {
		return suiteRow{}, err
	}
	res := newConsumeResult(records, bytes, elapsed)
	r := suiteRow{Brokers: t.brokers, RF: spec.rf, Records: res.Records, Bytes: res.Bytes,
		Seconds: res.Seconds, MBPerSec: res.MBPerSec}
	r.setCPU(cpu)
	return r, nil
}

// suiteRate is the latency rows' rate in records per second.
func suiteRate() float64 { return float64(suiteRateMiB*mib) / suiteRecordSize }

// latencyRow creates spec's topic and produces to it at the fixed rate
// for --duration after the warm-up.
func (s *suite) latencyRow(ctx context.Context, t *suiteTarget, spec topicSpec) (suiteRow, error) {
	if err := t.createTopic(ctx, spec); err != nil {
		return suiteRow{}, err
	}
	rate := suiteRate()
	cl, err := t.producer(s.produceOpts(spec.name, int64(rate*(suiteWarmup+s.o.duration).Seconds())+1))
	if err != nil {
		return suiteRow{}, err
	}
	defer cl.Close()
	stats := &produceStats{}
	produceAtRate(ctx, cl, pacing{rate: rate, warmup: suiteWarmup, measure: s.o.duration}, makePayloads(suiteRecordSize), stats)
	if err := benchProduceErr(ctx, stats); err != nil {
		return suiteRow{}, err
	}
	res := newProduceResult(stats.ok.Load(), 0, stats.bytes.Load(), s.o.duration, stats.hist.summary())
	r := s.produceResultRow(t, spec, res, nil)
	r.TargetMBPerSec = suiteRateMiB
	return r, nil
}

// idleCPURow measures the servers' CPU over suiteIdleWindow with no
// client.
func (s *suite) idleCPURow(ctx context.Context, t *suiteTarget) (suiteRow, error) {
	var secs float64
	cpu, err := t.measureCPU(func() error {
		start := time.Now()
		defer func() { secs = time.Since(start).Seconds() }()
		return sleepCtx(ctx, suiteIdleWindow)
	})
	if err == nil && cpu == nil {
		err = errors.New("no server processes to measure")
	}
	if err != nil {
		return suiteRow{}, err
	}
	cores := *cpu / secs
	return suiteRow{Brokers: t.brokers, RF: 3, Seconds: secs, CPUSeconds: cpu, CPUCores: &cores,
		IdlePartitions: suiteIdlePartitions}, nil
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ================= fixed-rate producer =================

// pacing is a fixed-rate schedule: record i is due at t0 + i/rate; the
// records due in the first warmup are sent but not recorded, then those
// of the measured window.
type pacing struct {
	rate            float64 // records per second
	warmup, measure time.Duration
}

// records is how many records the schedule sends.
func (p pacing) records() int64 { return int64(p.rate * (p.warmup + p.measure).Seconds()) }

// due is when record i is scheduled, t0 being the schedule's start.
func (p pacing) due(t0 time.Time, i int64) time.Time {
	return t0.Add(time.Duration(float64(i) * float64(time.Second) / p.rate))
}

// produceAtRate produces by schedule: each record is sent at its due time
// (or at once when the loop is behind) and its latency is taken from the
// due time, not the send, so a stall of the broker or a blocked Produce
// counts against every record it held back (no coordinated omission).
func produceAtRate(ctx context.Context, cl *kgo.Client, p pacing, payloads [][]byte, stats *produceStats) {
	t0 := time.Now()
	measureFrom := t0.Add(p.warmup)
	for i, n := int64(0), p.records(); i < n && ctx.Err() == nil; i++ {
		due := p.due(t0, i)
		sleepUntil(due)
		measured := !due.Before(measureFrom)
		cl.Produce(ctx, &kgo.Record{Value: payloads[i%int64(len(payloads))]}, func(r *kgo.Record, err error) {
			if measured || err != nil {
				stats.done(time.Since(due), len(r.Value), err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "flush: %v\n", err)
	}
}

// sleepUntil sleeps until t. The Go timer wakes up to a millisecond late,
// so the last stretch (the whole of a sub-millisecond wait) is a
// nanosleep, which is about 60 µs late.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d > 2*time.Millisecond {
		time.Sleep(d - time.Millisecond)
		d = time.Until(t)
	}
	if d > 0 {
		ts := syscall.NsecToTimespec(d.Nanoseconds())
		_ = syscall.Nanosleep(&ts, nil)
	}
}

// dropPageCacheFn is dropPageCache; tests replace it.
var dropPageCacheFn = dropPageCache

// dropPageCache writes dirty pages back and drops the clean page cache,
// dentries and inodes (/proc/sys/vm/drop_caches), as benchmark harnesses
// do between runs.
func dropPageCache() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}
