package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestPercentileNearestRank(t *testing.T) {
	xs := []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for _, tc := range []struct {
		q    float64
		want int64
	}{{0.01, 10}, {0.1, 10}, {0.11, 20}, {0.5, 50}, {0.51, 60}, {0.99, 100}, {1, 100}} {
		if got := percentile(xs, tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if got := percentile([]int64{7}, 0.99); got != 7 {
		t.Errorf("percentile of one = %d", got)
	}
	// 200 values 1..200: p99 is the 198th.
	var many []time.Duration
	for i := 1; i <= 200; i++ {
		many = append(many, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(many, 0.99); got != 198*time.Millisecond {
		t.Errorf("p99 of 1..200 ms = %v", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []int64
		want float64
	}{{[]int64{5}, 5}, {[]int64{3, 1, 2}, 2}, {[]int64{4, 1, 3, 2}, 2.5}, {[]int64{9000, 9100}, 9050}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestWindowStats(t *testing.T) {
	ms := time.Millisecond
	s := windowStats([]time.Duration{30 * ms, -1, 10 * ms, 20 * ms, -1, 40 * ms})
	want := WindowStats{N: 6, Missing: 2, P50: 20, P99: 40, Max: 40}
	if s != want {
		t.Errorf("windowStats = %+v, want %+v", s, want)
	}
	if s := windowStats([]time.Duration{-1, -1}); s != (WindowStats{N: 2, Missing: 2, P50: -1, P99: -1, Max: -1}) {
		t.Errorf("all missing: %+v", s)
	}
	if s := windowStats(nil); s != (WindowStats{P50: -1, P99: -1, Max: -1}) {
		t.Errorf("empty: %+v", s)
	}
}

func TestAckBookFirstAckAfterFault(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	b := newAckBook(4)
	b.ack(0, at(-100), at(-90)) // before any fault: only "last"
	if got := b.ackedSince(at(-95)); got != 1 {
		t.Errorf("ackedSince = %d, want 1", got)
	}
	b.arm(t0)
	if got := b.pending(); got != 4 {
		t.Errorf("pending after arm = %d, want 4", got)
	}
	b.ack(0, at(-10), at(500))  // sent before the fault: not a first ack
	b.ack(1, at(5), at(9000))   // partition 1 took a write 9 s later
	b.ack(1, at(20), at(8000))  // an earlier acknowledgement of a later send wins
	b.ack(2, at(0), at(30))     // sent at the fault itself counts
	b.ack(9, at(1), at(2))      // out of range: ignored
	b.ack(-1, at(1), at(2))     // likewise
	b.ack(0, at(100), at(9500)) // partition 0's first post-fault ack
	got := b.windows()
	want := []time.Duration{9500 * time.Millisecond, 8000 * time.Millisecond, 30 * time.Millisecond, -1}
	for p := range want {
		if got[p] != want[p] {
			t.Errorf("window[%d] = %v, want %v", p, got[p], want[p])
		}
	}
	if got := b.pending(); got != 1 {
		t.Errorf("pending = %d, want 1 (partition 3)", got)
	}
	if got := b.ackedSince(at(8000)); got != 2 {
		t.Errorf("ackedSince(8 s) = %d, want 2", got)
	}
	b.arm(at(20000)) // the next run forgets the first acks, not the last ones
	if got := b.pending(); got != 4 {
		t.Errorf("pending after re-arm = %d", got)
	}
	if got := b.windows(); got[0] != -1 {
		t.Errorf("window after re-arm = %v", got[0])
	}
}

func metadataResponse(controller int32, brokers []int32, leaders ...int32) *kmsg.MetadataResponse {
	resp := kmsg.NewPtrMetadataResponse()
	resp.ControllerID = controller
	for _, id := range brokers {
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID = id
		resp.Brokers = append(resp.Brokers, b)
	}
	rt := kmsg.NewMetadataResponseTopic()
	rt.Topic = kmsg.StringPtr("failover")
	for p, l := range leaders {
		rp := kmsg.NewMetadataResponseTopicPartition()
		rp.Partition, rp.Leader = int32(p), l
		rp.Replicas = []int32{l, 3, 2, 1}[:3]
		rp.ISR = []int32{3, 2, 1}
		rt.Partitions = append(rt.Partitions, rp)
	}
	resp.Topics = append(resp.Topics, rt)
	return resp
}

func TestViewOf(t *testing.T) {
	v := viewOf(metadataResponse(1, []int32{1, 2, 3}, 2, 2, 3), "failover", 3, 2)
	if want := (nodeView{ok: true, fenced: false, leads: 2, controller: 1}); v != want {
		t.Errorf("view = %+v, want %+v", v, want)
	}
	v = viewOf(metadataResponse(-1, []int32{1, 3}, 1, 3, 3), "failover", 3, 2)
	if want := (nodeView{ok: true, fenced: true, leads: 0, controller: -1}); v != want {
		t.Errorf("view = %+v, want %+v", v, want)
	}
	if v := viewOf(metadataResponse(1, []int32{1, 3}, 1, 3), "failover", 3, 2); v.ok {
		t.Error("a response missing a partition is not ok")
	}
	if v := viewOf(metadataResponse(1, []int32{1, 3}, 1, 3, 3), "other", 3, 2); v.ok {
		t.Error("a response without the topic is not ok")
	}
}

func TestNodeWatchTimes(t *testing.T) {
	t0 := time.Unix(2000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := &nodeWatch{node: 1, victim: 2, ledBefore: 5, controller: -1}
	w.observe(nodeView{ok: true, leads: 5, controller: 2}, at(10)) // nothing changed yet
	w.observe(nodeView{ok: false, fenced: true, controller: -1}, at(20))
	if !w.fencedAt.IsZero() || !w.ctlAt.IsZero() {
		t.Fatalf("a response without the topic or a controller changed nothing: %+v", w)
	}
	w.observe(nodeView{ok: true, leads: 0, controller: 3}, at(900)) // leaderships moved, not yet shown fenced
	w.observe(nodeView{ok: true, fenced: true, leads: 1, controller: 3}, at(950))
	if w.done(true) {
		t.Fatal("done before the fence is applied")
	}
	w.observe(nodeView{ok: true, fenced: true, leads: 0, controller: 3}, at(1000))
	w.observe(nodeView{ok: true, fenced: true, leads: 0, controller: 1}, at(1100))
	if !w.done(true) {
		t.Fatal("not done")
	}
	if got, want := w.times(t0), (NodeTimes{Node: 1, FencedMs: 900, AppliedMs: 1000, Controller: 1}); got != want {
		t.Errorf("times = %+v, want %+v", got, want)
	}
	if w.ctlID != 3 || w.ctlAt != at(900) {
		t.Errorf("new controller %d at %v, want 3 at 900 ms", w.ctlID, w.ctlAt.Sub(t0))
	}

	// A victim that led nothing: only its absence from the brokers shows
	// the fence.
	w = &nodeWatch{node: 3, victim: 2, controller: -1}
	w.observe(nodeView{ok: true, controller: 1}, at(10))
	if !w.fencedAt.IsZero() {
		t.Fatal("fenced while still registered")
	}
	w.observe(nodeView{ok: true, fenced: true, controller: 1}, at(20))
	if got := w.times(t0); got.FencedMs != 20 || got.AppliedMs != 20 {
		t.Errorf("times = %+v", got)
	}
	if since(t0, time.Time{}) != -1 {
		t.Error("since of the zero time is not -1")
	}
}

func TestClusterViewAgree(t *testing.T) {
	a, why := viewFrom(metadataResponse(1, []int32{1, 2, 3}, 1, 2, 3), "failover", 3)
	if why != "" {
		t.Fatal(why)
	}
	b, _ := viewFrom(metadataResponse(1, []int32{1, 2, 3}, 1, 2, 3), "failover", 3)
	if why := agree([]clusterView{a, b}); why != "" {
		t.Errorf("same views disagree: %s", why)
	}
	c, _ := viewFrom(metadataResponse(1, []int32{1, 2, 3}, 1, 3, 3), "failover", 3)
	if why := agree([]clusterView{a, c}); !strings.Contains(why, "partition 1") {
		t.Errorf("different leaders: %q", why)
	}
	d, _ := viewFrom(metadataResponse(2, []int32{1, 2, 3}, 1, 2, 3), "failover", 3)
	if why := agree([]clusterView{a, d}); !strings.Contains(why, "controllers") {
		t.Errorf("different controllers: %q", why)
	}
	if n := a.notFull(); n != 0 {
		t.Errorf("notFull = %d", n)
	}
	a.parts[0].isr = a.parts[0].isr[:2]
	a.parts[2].leader = -1
	if n := a.notFull(); n != 2 {
		t.Errorf("notFull = %d, want 2", n)
	}
	if _, why := viewFrom(metadataResponse(1, nil, 1), "failover", 3); why == "" {
		t.Error("a short partition list is accepted")
	}
}

func TestClusterViewPreferredBy(t *testing.T) {
	v, why := viewFrom(metadataResponse(1, []int32{1, 2, 3}, 1, 2, 3, 2), "failover", 4)
	if why != "" {
		t.Fatal(why)
	}
	// Replicas are [leader 3 2]: partition 3 prefers 2 and 2 leads it.
	v.parts[1].leader, v.parts[3].leader = 3, 1 // 2's preferred partitions led elsewhere
	all, off := v.preferredBy(2)
	if !slices.Equal(all, []int32{1, 3}) || !slices.Equal(off, []int32{1, 3}) {
		t.Errorf("preferredBy(2) = %v, %v", all, off)
	}
	all, off = v.preferredBy(-1)
	if len(all) != 4 || !slices.Equal(off, []int32{1, 3}) {
		t.Errorf("preferredBy(-1) = %v, %v", all, off)
	}
	if got := v.leaders(); !slices.Equal(got, []int32{1, 3, 3, 1}) {
		t.Errorf("leaders = %v", got)
	}
}

func TestFailoverNewLeadersShare(t *testing.T) {
	class := []byte{'l', 'f', 'l', 'l', 'l', 'l', 0}
	leaders := []int32{2, 2, 3, 2, -1, 1, 3} // partition 4 has no leader, 5 is still the victim's
	got := newLeaders(class, leaders, []int32{2, 3})
	if want := []LeaderCount{{2, 2}, {3, 1}}; !slices.Equal(got, want) {
		t.Errorf("newLeaders = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		counts []int
		want   int64
	}{{[]int{1667, 1666}, 0}, {[]int{2, 1}, 67}, {[]int{100, 100, 100}, 0}, {[]int{300, 0}, 200},
		{[]int{5}, 0}, {[]int{0, 0}, -1}, {nil, -1}} {
		var cs []LeaderCount
		for i, n := range tc.counts {
			cs = append(cs, LeaderCount{Node: int32(i + 1), Partitions: n})
		}
		if got := shareSpread(cs); got != tc.want {
			t.Errorf("shareSpread(%v) = %d, want %d", tc.counts, got, tc.want)
		}
	}
}

func TestFailoverSettleWatch(t *testing.T) {
	w := newSettleWatch([]int32{1, 2, 3}, 3)
	good := metadataResponse(1, []int32{1, 2, 3}, 1, 2, 3)
	w.observe(good, "failover", 3)
	if w.s != (SettleStats{}) {
		t.Fatalf("a good view counted: %+v", w.s)
	}
	fenced := metadataResponse(1, []int32{1, 3}, 1, -1, -1)
	fenced.Topics[0].Partitions[1].ISR = []int32{3, 1}
	w.observe(fenced, "failover", 3)
	w.observe(fenced, "failover", 3)                                      // still bad: no new event
	w.observe(metadataResponse(1, []int32{1, 3}, 1, 2, 3), "failover", 3) // led again, broker 2 still gone
	w.observe(metadataResponse(1, []int32{1, 2, 3}, 1, -1, 3), "failover", 3)
	w.observe(metadataResponse(1, []int32{1, 2, 3}, 1, 2), "failover", 3) // a partition missing
	if want := (SettleStats{Fences: 1, Leaderless: 2, MaxLeaderless: 2, Shrinks: 1, Errors: 1}); w.s != want {
		t.Errorf("stats = %+v, want %+v", w.s, want)
	}
	var sum SettleStats
	sum.add(w.s)
	sum.add(SettleStats{Fences: 2, MaxLeaderless: 1, Errors: 1})
	if want := (SettleStats{Fences: 3, Leaderless: 2, MaxLeaderless: 2, Shrinks: 1, Errors: 2}); sum != want {
		t.Errorf("sum = %+v, want %+v", sum, want)
	}
}

func TestFailoverConfigDefaults(t *testing.T) {
	cfg := FailoverConfig{Faults: []string{"kill-broker"}}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.Nodes != 3 || cfg.Partitions != 1000 || cfg.Runs != 1 || cfg.Interval != 50*time.Millisecond ||
		cfg.Poll != 20*time.Millisecond || cfg.Bound != 78*time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg = FailoverConfig{Faults: []string{"kill-controller"}, Partitions: 10000,
		Overrides: []string{"broker.session.timeout.ms=3000"}}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != 500*time.Millisecond || cfg.Poll != 50*time.Millisecond || cfg.Bound != 66*time.Second ||
		cfg.Heal != 5*time.Minute+20*time.Second {
		t.Errorf("10,000 partitions, 3 s sessions: interval %v poll %v bound %v heal %v", cfg.Interval, cfg.Poll, cfg.Bound, cfg.Heal)
	}
	for _, bad := range []FailoverConfig{{Faults: []string{"kill-leader"}}, {}, {Faults: []string{"kill-broker"}, Nodes: 1},
		{Faults: []string{"kill-broker"}, Settle: -time.Second}} {
		if err := bad.defaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestCutDialer: cutting an address closes the client's connections
// there and refuses new ones until restore; others are untouched.
func TestCutDialer(t *testing.T) {
	listen := func() (net.Listener, chan net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		accepted := make(chan net.Conn, 4)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
		return ln, accepted
	}
	victim, vAccepted := listen()
	other, _ := listen()
	d := &cutDialer{conns: map[*cutConn]struct{}{}}
	ctx := context.Background()
	vc, err := d.dial(ctx, "tcp", victim.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-vAccepted
	defer server.Close()
	oc, err := d.dial(ctx, "tcp", other.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()

	d.cut(victim.Addr().String())
	if _, err := vc.Write([]byte("x")); err == nil {
		t.Error("a cut connection still writes")
	}
	if _, err := d.dial(ctx, "tcp", victim.Addr().String()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial to a cut address: %v, want ECONNREFUSED", err)
	}
	if _, err := oc.Write([]byte("x")); err != nil {
		t.Errorf("another address's connection was cut: %v", err)
	}
	d.restore()
	c, err := d.dial(ctx, "tcp", victim.Addr().String())
	if err != nil {
		t.Fatalf("dial after restore: %v", err)
	}
	c.Close()
	d.mu.Lock()
	n := len(d.conns)
	d.mu.Unlock()
	if n != 1 { // only oc is open
		t.Errorf("%d connections tracked, want 1", n)
	}
}

// goldenReport is a fixed report of two faults.
func goldenReport() *FailoverReport {
	run := func(fault string, i int, victim int32, fenced, spread, ledMax int64) FailoverRun {
		r := FailoverRun{Run: i, Fault: fault, Victim: victim, Controller: 3, Partitions: 1000, Led: 333, Followed: 667,
			LedWindow:      WindowStats{N: 333, P50: ledMax - 80, P99: ledMax - 5, Max: ledMax},
			FollowedWindow: WindowStats{N: 667, P50: fenced + 40, P99: fenced + 90, Max: fenced + 95},
			AllWindow:      WindowStats{N: 1000, P50: fenced + 60, P99: ledMax - 6, Max: ledMax},
			FenceMs:        fenced, AppliedMs: fenced + spread, SpreadMs: spread, WrittenMs: ledMax - fenced,
			Nodes: []NodeTimes{{Node: 1, FencedMs: fenced, AppliedMs: fenced, Controller: 3},
				{Node: 3, FencedMs: fenced + spread, AppliedMs: fenced + spread, Controller: 3}},
			NewLeaders:     []LeaderCount{{Node: 2, Partitions: 167}, {Node: 3, Partitions: 166}},
			ShareSpreadPct: 1, RestartISRMs: 3000 + spread*10, RestartPreferredMs: 3400 + spread*10, Preferred: 333,
			Settle: &SettleStats{Ms: 20003}}
		return r
	}
	kb := []FailoverRun{run("kill-broker", 1, 1, 9012, 14, 9630), run("kill-broker", 2, 2, 9240, 31, 9911),
		run("kill-broker", 3, 1, 8890, 9, 9400)}
	kb[2].LedWindow.Missing, kb[2].AllWindow.Missing, kb[2].WrittenMs = 2, 2, -1
	kb[2].AppliedMs, kb[2].SpreadMs, kb[2].Nodes[1].AppliedMs = -1, -1, -1
	kb[1].SendErrors = 12
	kb[1].NewLeaders, kb[1].ShareSpreadPct = []LeaderCount{{Node: 1, Partitions: 233}, {Node: 3, Partitions: 100}}, 80
	kb[1].Settle = &SettleStats{Ms: 20010, Fences: 2, Leaderless: 1, MaxLeaderless: 170, Shrinks: 3, Errors: 4}
	kb[1].NotPreferred = 12
	kb[2].NewLeaders[1].Partitions, kb[2].ShareSpreadPct, kb[2].RestartPreferredMs, kb[2].NotPreferred = 160, 4, -1, -1
	kc := []FailoverRun{run("kill-controller", 1, 3, 9700, 20, 10150), run("kill-controller", 2, 1, 9650, 12, 10010)}
	kc[0].NewController, kc[0].NewControllerMs, kc[0].ServesMs = 1, 1210, 1302
	kc[1].NewController, kc[1].NewControllerMs, kc[1].ServesMs, kc[1].Err = 2, 980, -1, "something failed"
	kc[1].NewLeaders, kc[1].ShareSpreadPct, kc[1].RestartISRMs, kc[1].RestartPreferredMs = nil, -1, -1, -1
	kc[1].NotPreferred, kc[1].Settle = -1, nil
	return &FailoverReport{Nodes: 3, Partitions: 1000, RF: 3, IntervalMs: 50, PollMs: 20,
		CreateReturnMs: 812, CreateWritableMs: 1450, CreateMs: 4765,
		Faults: []*FaultResult{{Fault: "kill-broker", Runs: kb, Summary: summarise(kb)},
			{Fault: "kill-controller", Runs: kc, Summary: summarise(kc)}}}
}

func TestFailoverReportGolden(t *testing.T) {
	rep := goldenReport()
	var b bytes.Buffer
	for _, f := range rep.Faults {
		for _, r := range f.Runs {
			b.WriteString(r.Line(len(f.Runs)) + "\n")
		}
	}
	rep.WriteText(&b)
	checkFailoverGolden(t, "failover_report.golden", b.Bytes())
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkFailoverGolden(t, "failover_report.json.golden", append(js, '\n'))
	if n := rep.Unrecovered(); n != 2 {
		t.Errorf("Unrecovered = %d, want 2 (a partition missing, an error)", n)
	}
}

func checkFailoverGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -run Golden -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestBenchFailoverKillBroker runs the bench for real: 3 nodes, 30
// partitions, one SIGKILL of a broker with 3 s sessions. It asserts only
// that it completes and that every partition took a write again.
func TestBenchFailoverKillBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var lines []string
	rep, err := RunFailover(ctx, FailoverConfig{Bin: fjordBin, Dir: t.TempDir(), Partitions: 30, Runs: 1,
		Faults: []string{"kill-broker"}, Overrides: []string{"broker.session.timeout.ms=3000"},
		Bound: 20 * time.Second, Heal: 30 * time.Second, Settle: 2 * time.Second, Log: t.Logf,
		OnRun: func(r FailoverRun, runs int) { lines = append(lines, r.Line(runs)) }})
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, strings.Join(lines, "\n"), rep.Err)
	}
	var b bytes.Buffer
	rep.WriteText(&b)
	t.Logf("%s\n%s", strings.Join(lines, "\n"), b.String())
	if len(rep.Faults) != 1 || len(rep.Faults[0].Runs) != 1 {
		t.Fatalf("want one run of one fault: %+v", rep.Faults)
	}
	r := rep.Faults[0].Runs[0]
	if r.Err != "" {
		t.Fatalf("run failed: %s", r.Err)
	}
	if r.Led == 0 || r.LedWindow.N != r.Led || r.AllWindow.N != 30 {
		t.Errorf("victim %d led %d partitions, led windows %+v, all %+v", r.Victim, r.Led, r.LedWindow, r.AllWindow)
	}
	if r.AllWindow.Missing != 0 {
		t.Errorf("%d partitions never took a write again", r.AllWindow.Missing)
	}
	if r.FenceMs < 0 || r.AppliedMs < 0 {
		t.Errorf("the fence was not seen on every survivor: %+v", r.Nodes)
	}
	if rep.CreateReturnMs < 0 || rep.CreateWritableMs < rep.CreateReturnMs || rep.CreateMs < rep.CreateReturnMs {
		t.Errorf("creation: returned %d ms, led and written %d ms, full ISRs %d ms", rep.CreateReturnMs, rep.CreateWritableMs, rep.CreateMs)
	}
	moved := 0
	for _, c := range r.NewLeaders {
		moved += c.Partitions
	}
	if len(r.NewLeaders) != 2 || moved != r.Led || r.ShareSpreadPct < 0 {
		t.Errorf("new leaders %+v (spread %d%%) of %d led partitions", r.NewLeaders, r.ShareSpreadPct, r.Led)
	}
	if r.RestartISRMs < 0 || r.RestartPreferredMs < r.RestartISRMs || r.Preferred == 0 || r.NotPreferred < 0 {
		t.Errorf("after the restart: full ISRs %d ms, %d preferred leaderships back %d ms, %d not preferred",
			r.RestartISRMs, r.Preferred, r.RestartPreferredMs, r.NotPreferred)
	}
	if r.Settle == nil || r.Settle.Ms < 2000 {
		t.Errorf("settle: %+v", r.Settle)
	}
}
