package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/chaos"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSuiteParseProcStat reads utime+stime past a command name with
// spaces and parentheses, and refuses malformed lines.
func TestSuiteParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (fjord (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n"
	got, err := parseProcStat(line)
	if err != nil || got != 3.25 {
		t.Errorf("parseProcStat = %v, %v; want 3.25 s (325 ticks)", got, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u 75", "1 (x) S 1 2 3 4 5 6 7 8 9 10 250 s"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q): want an error", bad)
		}
	}
}

// TestSuiteOwnCPU reads the test process's own /proc entries.
func TestSuiteOwnCPU(t *testing.T) {
	secs, err := procCPUSeconds(os.Getpid())
	if err != nil || secs < 0 {
		t.Fatalf("procCPUSeconds(self) = %v, %v", secs, err)
	}
	args := procArgs(os.Getpid())
	if len(args) == 0 || args[0] != os.Args[0] {
		t.Errorf("procArgs(self) = %q, want to start with %q", args, os.Args[0])
	}
}

// TestSuiteParseRows checks --rows: known names, blanks ignored, unknown
// names and empty lists refused.
func TestSuiteParseRows(t *testing.T) {
	want, err := parseSuiteRows(strings.Join(suiteRows, ","))
	if err != nil || len(want) != len(suiteRows) {
		t.Errorf("all rows: %v, %v", want, err)
	}
	want, err = parseSuiteRows(" latency-rf3, ,idle-cpu ")
	if err != nil || len(want) != 2 || !want[rowLatencyRF3] || !want[rowIdleCPU] {
		t.Errorf("two rows: %v, %v", want, err)
	}
	for _, bad := range []string{"", " , ", "produce-1node,nope"} {
		if _, err := parseSuiteRows(bad); err == nil {
			t.Errorf("parseSuiteRows(%q): want an error", bad)
		}
	}
}

// TestSuiteOptsChecked checks that newSuite refuses bad flags.
func TestSuiteOptsChecked(t *testing.T) {
	good := benchSuiteOpts{rows: rowProduce1, records: 1, duration: time.Second}
	if _, err := newSuite(good, nil); err != nil {
		t.Errorf("good opts: %v", err)
	}
	for _, mut := range []func(*benchSuiteOpts){
		func(o *benchSuiteOpts) { o.rows = "x" },
		func(o *benchSuiteOpts) { o.records = 0 },
		func(o *benchSuiteOpts) { o.duration = 0 },
	} {
		o := good
		mut(&o)
		if _, err := newSuite(o, nil); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
}

// TestSuitePacing checks the latency rows' schedule: 5 MiB/s of 1 KiB
// records, record i due at t0+i/rate.
func TestSuitePacing(t *testing.T) {
	p := pacing{rate: suiteRate(), warmup: time.Second, measure: 2 * time.Second}
	if p.rate != 5120 || p.records() != 3*5120 {
		t.Errorf("rate %v, records %d; want 5120/s, 15360", p.rate, p.records())
	}
	t0 := time.Unix(100, 0)
	for i, want := range map[int64]time.Duration{0: 0, 1: 195312 * time.Nanosecond, 5120: time.Second, 15360: 3 * time.Second} {
		if got := p.due(t0, i).Sub(t0); got != want {
			t.Errorf("due(%d) = t0+%v, want t0+%v", i, got, want)
		}
	}
}

// TestSuiteRowLines checks the text table's lines of each kind of row.
func TestSuiteRowLines(t *testing.T) {
	cpu := func(v float64) *float64 { return &v }
	rf1 := suiteRow{Name: rowProduce1, Brokers: 1, RF: 1, Bytes: 2 * gib, MBPerSec: 100,
		Latency: &latencySummary{P50: 1.5, P99: 9.25, P999: 20, Max: 30}}
	rf1.setCPU(cpu(8))
	rf3 := suiteRow{Name: rowProduceRF3, Brokers: 3, RF: 3, Bytes: gib, MBPerSec: 40}
	rf3.setCPU(cpu(10))
	rf3.setRatio(&rf1)
	lat := suiteRow{Name: rowLatencyRF3, Brokers: 3, RF: 3, MBPerSec: 5, TargetMBPerSec: 5,
		Latency: &latencySummary{P50: 1.25, P99: 3, P999: 7.5, Max: 12}}
	idle := suiteRow{Name: rowIdleCPU, Brokers: 3, RF: 3, Seconds: 10, CPUCores: cpu(0.125), IdlePartitions: 1000}
	skipped := suiteRow{Name: rowProduceRF3, Skipped: "RF=3 needs 3 brokers, the target has 1"}
	for _, tt := range []struct {
		row  suiteRow
		want string
	}{
		{rf1, "produce-1node          1 node  RF=1    100.00 MB/s  p50 1.50 ms  p99 9.25 ms  CPU 4.00 s/GB"},
		{rf3, "produce-rf3            3 nodes RF=3     40.00 MB/s  CPU 10.00 s/GB  RF3/RF1 0.40x MB/s  2.50x CPU/GB"},
		{lat, "latency-rf3            3 nodes RF=3      5.00 MB/s  p50 1.25 ms  p99 3.00 ms  p99.9 7.50 ms  max 12.00 ms"},
		{idle, "idle-cpu               3 nodes RF=3  1000 idle partitions: 0.125 cores over 10 s"},
		{skipped, "produce-rf3            skipped: RF=3 needs 3 brokers, the target has 1"},
	} {
		if got := tt.row.line(); got != tt.want {
			t.Errorf("line:\n got %q\nwant %q", got, tt.want)
		}
	}
}

// TestSuiteRatioNeedsBothRows checks that produce-rf3's ratios are set
// only from known produce-1node figures.
// --drop-caches drops the page cache before each produce row only, and
// a failure to drop it fails the row.
func TestSuiteDropCaches(t *testing.T) {
	var dropped []string
	s, err := newSuite(benchSuiteOpts{rows: "produce-1node,latency-rf3,produce-rf3", records: 1, duration: time.Second, dropCaches: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var current string
	saved := dropPageCacheFn
	defer func() { dropPageCacheFn = saved }()
	dropPageCacheFn = func() error { dropped = append(dropped, current); return nil }
	for _, name := range []string{rowProduce1, rowLatencyRF3, rowProduceRF3} {
		current = name
		if err := s.step(name, func() (suiteRow, error) { return suiteRow{}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(dropped, []string{rowProduce1, rowProduceRF3}) {
		t.Fatalf("dropped the page cache before %v, want the produce rows", dropped)
	}
	dropPageCacheFn = func() error { return os.ErrPermission }
	if err := s.step(rowProduce1, func() (suiteRow, error) { return suiteRow{}, nil }); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("step with a failing drop: %v", err)
	}
}

func TestSuiteRatioNeedsBothRows(t *testing.T) {
	r := suiteRow{MBPerSec: 40}
	r.setRatio(nil)
	r.setRatio(&suiteRow{})
	if r.RatioMBPerSec != nil || r.RatioCPUPerGB != nil {
		t.Errorf("ratio without a produce-1node figure: %+v", r)
	}
	r.setRatio(&suiteRow{MBPerSec: 80})
	if r.RatioMBPerSec == nil || *r.RatioMBPerSec != 0.5 || r.RatioCPUPerGB != nil {
		t.Errorf("ratio without CPU figures: %+v", r)
	}
}

// ================= end to end =================

var (
	suiteBinOnce sync.Once
	suiteBin     string
	suiteBinErr  error
)

// suiteBinary builds this package's fjord binary once per test run.
func suiteBinary(t *testing.T) string {
	t.Helper()
	suiteBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fjord-suite-test-bin-")
		if err != nil {
			suiteBinErr = err
			return
		}
		suiteBin = filepath.Join(dir, "fjord")
		out, err := exec.Command("go", "build", "-o", suiteBin, ".").CombinedOutput()
		if err != nil {
			suiteBinErr = err
			suiteBin = string(out)
		}
	})
	if suiteBinErr != nil {
		t.Fatalf("building fjord: %v\n%s", suiteBinErr, suiteBin)
	}
	return suiteBin
}

// TestMain removes the binary suiteBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if suiteBin != "" && suiteBinErr == nil {
		os.RemoveAll(filepath.Dir(suiteBin))
	}
	os.Exit(code)
}

// suiteCmd is `fjord bench suite args...` with TMPDIR set to tmp, so
// the test can tell what it left behind.
func suiteCmd(t *testing.T, ctx context.Context, tmp string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, suiteBinary(t), append([]string{"bench", "suite"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "FJORD_BOOTSTRAP=")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runSuite runs the suite to the end and decodes its JSON report.
func runSuite(t *testing.T, tmp string, args ...string) suiteReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := suiteCmd(t, ctx, tmp, append(args, "--json")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fjord bench suite %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	var rep suiteReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, stdout.String())
	}
	return rep
}

// checkCleanedUp fails unless the suite left nothing under tmp and no
// process whose command line names it.
func checkCleanedUp(t *testing.T, tmp string) {
	t.Helper()
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if slices.ContainsFunc(procArgs(pid), func(a string) bool { return strings.Contains(a, tmp) }) {
			t.Errorf("process %d still runs: %q", pid, procArgs(pid))
		}
	}
}

// rowsByName indexes the report's rows.
func rowsByName(rep suiteReport) map[string]suiteRow {
	out := make(map[string]suiteRow)
	for _, r := range rep.Rows {
		out[r.Name] = r
	}
	return out
}

// TestBenchSuiteEndToEnd runs three rows on a small load with real
// server processes.
func TestBenchSuiteEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fjord processes")
	}
	tmp := t.TempDir()
	rep := runSuite(t, tmp, "--rows", "produce-1node,consume-1node,latency-rf3", "--records", "2000", "--duration", "2s")
	rows := rowsByName(rep)
	if rep.Error != "" || len(rep.Rows) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	p, c, l := rows[rowProduce1], rows[rowConsume1], rows[rowLatencyRF3]
	if p.Records != 2000 || p.Bytes != 2000*suiteRecordSize || p.MBPerSec <= 0 || p.CPUSeconds == nil || p.Latency == nil ||
		p.Latency.P50 <= 0 || p.Latency.P99 < p.Latency.P50 {
		t.Errorf("produce-1node: %+v", p)
	}
	if c.Records != 2000 || c.Bytes != p.Bytes || c.MBPerSec <= 0 || c.CPUSeconds == nil {
		t.Errorf("consume-1node: %+v", c)
	}
	checkLatencyRow(t, l, 2*time.Second)
	checkCleanedUp(t, tmp)
}

// checkLatencyRow checks a fixed-rate row kept its rate for d with sane
// latencies.
func checkLatencyRow(t *testing.T, l suiteRow, d time.Duration) {
	t.Helper()
	want := int64(suiteRate() * d.Seconds())
	if l.Brokers != 3 || l.RF != 3 || l.Records < want-1 || l.Records > want+1 || l.MBPerSec < 4.9 || l.MBPerSec > 5.1 {
		t.Errorf("%s: %+v, want %d records at 5 MB/s", l.Name, l, want)
	}
	lat := l.Latency
	if lat == nil || lat.P50 <= 0 || lat.P99 < lat.P50 || lat.P999 < lat.P99 || lat.Max < lat.P999 || lat.Max > 5000 {
		t.Errorf("%s latency: %+v", l.Name, lat)
	}
}

// TestBenchSuiteInterrupted stops the suite with Ctrl-C in a row: it
// must stop its servers and remove its data.
func TestBenchSuiteInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fjord processes")
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := suiteCmd(t, ctx, tmp, "--rows", "produce-1node", "--records", "100000000")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "produce-1node ...") {
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
	}
	if err := cmd.Wait(); err == nil {
		t.Error("an interrupted suite exited 0")
	}
	checkCleanedUp(t, tmp)
}

// TestBenchSuiteExternal runs the suite against brokers given with -b (a
// 1-node cluster the test starts): no CPU figures, no RF=3 rows, and its
// topics deleted at the end.
func TestBenchSuiteExternal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fjord processes")
	}
	c, err := chaos.NewCluster(suiteBinary(t), t.TempDir(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	rep := runSuite(t, tmp, "-b", c.Nodes[0].Addr, "--rows", "produce-1node,produce-rf3,idle-cpu", "--records", "1000")
	rows := rowsByName(rep)
	if p := rows[rowProduce1]; p.Records != 1000 || p.MBPerSec <= 0 || p.CPUSeconds != nil || p.CPUSecPerGB != nil {
		t.Errorf("produce-1node: %+v", p)
	}
	if r := rows[rowProduceRF3]; !strings.Contains(r.Skipped, "3 brokers") {
		t.Errorf("produce-rf3 not skipped: %+v", r)
	}
	if r := rows[rowIdleCPU]; r.Skipped != suiteNoServers {
		t.Errorf("idle-cpu not skipped: %+v", r)
	}
	checkNoSuiteTopics(t, c.Nodes[0].Addr)
	checkCleanedUp(t, tmp)
}

// checkNoSuiteTopics fails if a topic of the suite is left at addr.
func checkNoSuiteTopics(t *testing.T, addr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, "fjord-suite-") {
			t.Errorf("topic %s left behind", name)
		}
	}
}
