package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// `fjord bench failover` (issue 11): how long partitions are unavailable
// when a broker or the active controller fails, and how fast the fence
// reaches every survivor. It reuses the chaos Cluster (processes; network
// namespaces for isolate-broker) and measures only through the Kafka
// protocol:
//
//   - failoverLoad: one non-idempotent acks=all franz-go client writes a
//     small record to every partition every Interval (at most maxInflight
//     outstanding per partition); ackBook keeps, per partition, the first
//     acknowledged write of a record sent at or after the fault. That
//     time minus the fault time is the partition's window.
//   - nodeWatch: every survivor is asked alone for the topic's Metadata
//     every Poll; the fence is seen on a node when the victim is gone
//     from its brokers (fenced) or leads none of the partitions it led,
//     and applied when both hold. The fence decision is the earliest
//     node's time; "applied on all survivors" is the latest minus it.
//   - probeController (kill-controller): CreateTopics through the
//     survivors until one is committed; nodeWatch also notes when a
//     survivor names a live active controller.
//
// The victim is healed (restarted, resumed, reconnected); the run also
// measures, from then, until every node shows full ISRs and, after a
// preferred election of every partition (as an operator would ask with
// kafka-leader-election; the controller's own rebalance waits
// leader.imbalance.check.interval.seconds, 300 s by default), until the
// victim leads its preferred partitions again, and may then watch every
// node's Metadata for a while (Settle) for fences, leaderless partitions
// and shrunk ISRs. Every partition must take writes again before the next
// run.

// FailoverFaults are the faults `fjord bench failover` measures:
// SIGKILL, SIGSTOP or network isolation (from the other nodes and the
// clients; needs network namespaces, so root) of a broker that is not the
// active controller and leads partitions, or SIGKILL of the active
// controller (itself a broker leading partitions).
var FailoverFaults = []string{"kill-broker", "pause-broker", "isolate-broker", "kill-controller"}

// FailoverConfig is one `fjord bench failover`.
type FailoverConfig struct {
	Bin        string   // the fjord binary
	Dir        string   // node data and logs; "" = a temp dir, removed at the end
	Nodes      int      // 3 if 0
	Partitions int      // of the topic (RF = min(3, Nodes)); 1000 if 0
	Faults     []string // from FailoverFaults, each run Runs times
	Runs       int      // 1 if 0
	Overrides  []string // node properties key=value; none = the default configuration
	// Interval between two records to one partition (0: 20 ms, more
	// above 400 partitions so that the whole load stays at 20,000
	// records/s: 50 ms for 1,000, 500 ms for 10,000); Poll between two
	// Metadata requests to one survivor (0: 20 ms, more above 4,000
	// partitions); Bound on how long one fault is measured (0: 60 s plus
	// twice the session timeout).
	Interval, Poll, Bound time.Duration
	// ClientTimeouts leaves the load client to find out by its own
	// timeouts that a paused or cut-off victim answers nothing. By
	// default the harness cuts the client's connections to the victim at
	// the fault (see cutDialer), so that the windows measure the cluster.
	ClientTimeouts bool
	// Heal bounds each wait for the cluster to be whole (every node
	// showing full ISRs; also the topic's creation and a steady load);
	// 0: 2 min plus 20 ms a partition.
	Heal time.Duration
	// Settle is how long every node's Metadata is watched after each run
	// once the victim is back (full ISRs, preferred leaders); 0: not.
	Settle time.Duration
	OnRun  func(r FailoverRun, runs int)    // called as each run ends
	Log    func(format string, args ...any) // progress
}

const failoverTopic = "failover"

func (cfg *FailoverConfig) defaults() error {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1000
	}
	if cfg.Runs == 0 {
		cfg.Runs = 1
	}
	if cfg.Interval == 0 {
		cfg.Interval = max(20*time.Millisecond, time.Duration(cfg.Partitions)*50*time.Microsecond)
	}
	if cfg.Poll == 0 {
		cfg.Poll = max(20*time.Millisecond, time.Duration(cfg.Partitions)*5*time.Microsecond)
	}
	if cfg.Bound == 0 {
		cfg.Bound = time.Minute + 2*sessionOf(cfg.Overrides)
	}
	if cfg.Heal == 0 {
		cfg.Heal = 2*time.Minute + time.Duration(cfg.Partitions)*20*time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	if cfg.OnRun == nil {
		cfg.OnRun = func(FailoverRun, int) {}
	}
	switch {
	case cfg.Nodes < 2:
		return errors.New("a failover needs at least 2 nodes")
	case cfg.Partitions < 1 || cfg.Runs < 1:
		return errors.New("partitions and runs must be positive")
	case cfg.Settle < 0:
		return errors.New("settle must not be negative")
	case len(cfg.Faults) == 0:
		return errors.New("no fault given")
	}
	for _, f := range cfg.Faults {
		if !slices.Contains(FailoverFaults, f) {
			return fmt.Errorf("unknown fault %q (known: %s)", f, strings.Join(FailoverFaults, ", "))
		}
	}
	return nil
}

// sessionOf is broker.session.timeout.ms from overrides, or its default.
func sessionOf(overrides []string) time.Duration {
	d := 9 * time.Second
	for _, o := range overrides {
		if v, ok := strings.CutPrefix(o, "broker.session.timeout.ms="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				d = time.Duration(n) * time.Millisecond
			}
		}
	}
	return d
}

// failover is one bench's cluster and load.
type failover struct {
	cfg  FailoverConfig
	c    *Cluster
	load *failoverLoad
	rf   int

	mu      sync.Mutex
	nodeCls map[int32]*kgo.Client // see nodeClient
}

// RunFailover starts a cluster, creates the topic, keeps an acks=all load
// on every partition, and injects each fault cfg.Runs times, healing the
// victim and waiting for full ISRs in between. It returns the report so
// far with an error if the harness could not go on (the cluster never
// came up or did not heal within its bound). It stops and removes
// everything it started.
func RunFailover(ctx context.Context, cfg FailoverConfig) (*FailoverReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	netns := slices.Contains(cfg.Faults, "isolate-broker")
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "fjord-failover-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	newCluster := NewCluster
	if netns {
		if err := NetnsAvailable(); err != nil {
			return nil, fmt.Errorf("isolate-broker runs every node in its own network namespace: %w", err)
		}
		newCluster = NewNetCluster
	}
	c, err := newCluster(cfg.Bin, dir, cfg.Nodes, cfg.Overrides)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	f := &failover{cfg: cfg, c: c, rf: min(3, cfg.Nodes)}
	defer f.closeNodeClients()
	rep := &FailoverReport{Nodes: cfg.Nodes, Partitions: cfg.Partitions, RF: f.rf, Overrides: cfg.Overrides,
		Netns: netns, ClientTimeouts: cfg.ClientTimeouts, IntervalMs: cfg.Interval.Milliseconds(), PollMs: cfg.Poll.Milliseconds(),
		CreateReturnMs: -1, CreateWritableMs: -1, CreateMs: -1}
	fail := func(err error) (*FailoverReport, error) {
		rep.Err = fmt.Sprintf("%v\n%s", err, warnings(c, 10))
		return rep, err
	}
	cfg.Log("starting %d nodes under %s", cfg.Nodes, dir)
	if err := c.Start(); err != nil {
		return fail(err)
	}
	cr, err := f.create(ctx)
	if err != nil {
		return fail(err)
	}
	rep.CreateReturnMs = since(cr.sent, cr.returned)
	f.load, err = startLoad(c, failoverTopic, cfg.Partitions, cfg.Interval, cfg.Bound)
	if err != nil {
		return fail(err)
	}
	defer f.load.Close()
	f.load.book.arm(cr.sent)
	err = f.awaitCreated(ctx, &cr)
	rep.CreateWritableMs, rep.CreateMs = since(cr.sent, cr.writable()), since(cr.sent, cr.full)
	if err != nil {
		return fail(err)
	}
	cfg.Log("topic %s: %d partitions RF=%d: CreateTopics returned after %d ms, every partition led and written after %d ms, with full ISRs %d ms after CreateTopics",
		failoverTopic, cfg.Partitions, f.rf, rep.CreateReturnMs, rep.CreateWritableMs, rep.CreateMs)
	for _, fault := range cfg.Faults {
		fr := &FaultResult{Fault: fault}
		rep.Faults = append(rep.Faults, fr)
		for i := 1; i <= cfg.Runs; i++ {
			if err := f.prepare(ctx); err != nil {
				fr.Summary = summarise(fr.Runs)
				return fail(fmt.Errorf("before %s run %d: %w", fault, i, err))
			}
			r, heal := f.inject(ctx, fault, i)
			var healErr error
			if heal != nil {
				healErr = f.healAndMeasure(ctx, &r, heal)
			}
			fr.Runs = append(fr.Runs, r)
			cfg.OnRun(r, cfg.Runs)
			if healErr != nil && ctx.Err() == nil {
				fr.Summary = summarise(fr.Runs)
				return fail(fmt.Errorf("healing %s run %d: %w", fault, i, healErr))
			}
			if ctx.Err() != nil {
				fr.Summary = summarise(fr.Runs)
				return fail(ctx.Err())
			}
		}
		fr.Summary = summarise(fr.Runs)
	}
	if err := f.prepare(ctx); err != nil { // the last victim is back
		return fail(fmt.Errorf("after the last run: %w", err))
	}
	return rep, nil
}

// cutClient cuts the load client off from a silent victim, unless
// cfg.ClientTimeouts.
func (f *failover) cutClient(victim *Node) {
	if !f.cfg.ClientTimeouts {
		f.load.dialer.cut(victim.Addr)
	}
}

// healBound is how long the cluster may take to have full ISRs again.
func (f *failover) healBound() time.Duration { return f.cfg.Heal }

// creation is when the topic's creation reached each stage.
type creation struct {
	sent     time.Time // the first CreateTopics request
	returned time.Time // the response of the one that created the topic (or found it)
	led      time.Time // every partition with a leader in a node's Metadata
	written  time.Time // every partition with an acknowledged write of the load
	full     time.Time // every partition with a full ISR in a node's Metadata
}

// writable is when every partition was both led and written, zero if not
// yet.
func (cr creation) writable() time.Time {
	if cr.led.IsZero() || cr.written.IsZero() {
		return time.Time{}
	}
	return later(cr.led, cr.written)
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// create waits for the brokers and creates the topic, retrying until a
// CreateTopics succeeds (or finds it created).
func (f *failover) create(ctx context.Context) (creation, error) {
	var cr creation
	err := waitUntil(ctx, time.Minute, func() string {
		md, err := f.c.Metadata(ctx)
		if err != nil {
			return err.Error()
		}
		if len(md.Brokers) != f.cfg.Nodes {
			return fmt.Sprintf("%d of %d brokers registered", len(md.Brokers), f.cfg.Nodes)
		}
		return ""
	})
	if err != nil {
		return cr, fmt.Errorf("cluster did not come up: %w", err)
	}
	err = waitUntil(ctx, f.healBound(), func() string {
		cl, err := kgo.NewClient(kgo.SeedBrokers(f.c.Addrs()...), kgo.DialTimeout(time.Second),
			kgo.RequestTimeoutOverhead(5*time.Second), kgo.RetryTimeout(10*time.Second))
		if err != nil {
			return err.Error()
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		adm.SetTimeoutMillis(int32(min(f.healBound(), 10*time.Minute).Milliseconds()))
		cctx, cancel := context.WithTimeout(ctx, f.healBound())
		defer cancel()
		if cr.sent.IsZero() {
			cr.sent = time.Now()
		}
		resp, err := adm.CreateTopic(cctx, int32(f.cfg.Partitions), int16(f.rf), nil, failoverTopic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return "creating the topic: " + err.Error()
		}
		cr.returned = time.Now()
		return ""
	})
	return cr, err
}

// awaitCreated waits, polling a node's Metadata every cfg.Poll, until
// every partition of the new topic has a leader and a full ISR and the
// load (armed at cr.sent) has had an acknowledged write on every
// partition, noting when each happened in cr.
func (f *failover) awaitCreated(ctx context.Context, cr *creation) error {
	err := waitEvery(ctx, f.healBound(), f.cfg.Poll, func() string {
		if cr.written.IsZero() && f.load.book.pending() == 0 {
			cr.written = cr.sent.Add(slices.Max(f.load.book.windows()))
		}
		if cr.led.IsZero() || cr.full.IsZero() {
			md, err := f.c.Metadata(ctx, failoverTopic)
			if err != nil {
				return err.Error()
			}
			at := time.Now()
			leaderless, notFull := topicHealth(md.Topics[failoverTopic], f.cfg.Partitions)
			if cr.led.IsZero() && leaderless == 0 {
				cr.led = at
			}
			if cr.full.IsZero() && notFull == 0 {
				cr.full = at
			}
		}
		switch {
		case cr.led.IsZero():
			return "some partitions of the new topic have no leader"
		case cr.full.IsZero():
			return "some partitions of the new topic have no full ISR"
		case cr.written.IsZero():
			return fmt.Sprintf("%d partitions of the new topic without an acknowledged write", f.load.book.pending())
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("the new topic is not led, written and with full ISRs within %v: %w", f.healBound(), err)
	}
	return nil
}

// topicHealth counts the partitions of td without a leader and those
// without a full ISR (a partition missing from td counts in both).
func topicHealth(td kadm.TopicDetail, partitions int) (leaderless, notFull int) {
	for p := range partitions {
		pd, ok := td.Partitions[int32(p)]
		if !ok || pd.Leader < 0 || pd.Err != nil {
			leaderless++
		}
		if !ok || len(pd.ISR) != len(pd.Replicas) {
			notFull++
		}
	}
	return leaderless, notFull
}

// waitEvery is waitUntil checking cond every interval.
func waitEvery(ctx context.Context, timeout, every time.Duration, cond func() string) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		msg := cond()
		if msg == "" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// awaitFull waits until every node shows full ISRs, checking every
// cfg.Poll, and returns when they did.
func (f *failover) awaitFull(ctx context.Context) (time.Time, error) {
	var at time.Time
	err := waitEvery(ctx, f.healBound(), f.cfg.Poll, func() string {
		v, why := f.view(ctx)
		if why != "" {
			return why
		}
		if n := v.notFull(); n > 0 {
			return fmt.Sprintf("%d partitions without a full ISR", n)
		}
		at = time.Now()
		return ""
	})
	if err != nil {
		return at, fmt.Errorf("no full ISRs within %v: %w", f.healBound(), err)
	}
	return at, nil
}

// electPreferred asks the controller for a preferred election of the
// partitions ps of the topic (ElectLeaders type 0), and returns how many
// of them it could not elect for another reason than their preferred
// replica leading already.
func (f *failover) electPreferred(ctx context.Context, ps []int32) (int, error) {
	adm, done, err := f.c.Admin()
	if err != nil {
		return 0, err
	}
	defer done()
	s := kadm.TopicsSet{}
	s.Add(failoverTopic, ps...)
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := adm.ElectLeaders(ectx, kadm.ElectPreferredReplica, s)
	if err != nil {
		return 0, err
	}
	failed := 0
	for _, r := range res[failoverTopic] {
		if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			failed++
		}
	}
	return failed, nil
}

// healAndMeasure heals the victim (heal) and measures into r, from the heal:
// until every node shows full ISRs; after a preferred election of every
// partition, until the victim leads its preferred partitions again; then
// watches the cluster for cfg.Settle and counts the partitions not led by
// their preferred replica. It fails only if the heal does or the ISRs are
// not full within the heal bound.
func (f *failover) healAndMeasure(ctx context.Context, r *FailoverRun, heal func() error) error {
	at := time.Now()
	if err := heal(); err != nil {
		return err
	}
	full, err := f.awaitFull(ctx)
	if err != nil {
		return err
	}
	r.RestartISRMs = full.Sub(at).Milliseconds()
	back, err := f.preferBack(ctx, r)
	if err != nil {
		f.cfg.Log("%s run %d: node %d does not lead its preferred partitions again: %v", r.Fault, r.Run, r.Victim, err)
	}
	r.RestartPreferredMs = since(at, back)
	r.Settle = f.settle(ctx)
	r.NotPreferred = -1
	err = waitUntil(ctx, 10*time.Second, func() string {
		v, why := f.view(ctx)
		if why == "" {
			_, off := v.preferredBy(-1)
			r.NotPreferred = len(off)
		}
		return why
	})
	if err != nil {
		f.cfg.Log("%s run %d: the nodes' metadata differ at the end: %v", r.Fault, r.Run, err)
	}
	return nil
}

// preferBack asks for a preferred election of every partition of the
// topic, as kafka-leader-election --election-type PREFERRED --topic does
// (again every 2 s for the victim's partitions still led elsewhere), and
// waits, checking every cfg.Poll, until every node shows the victim
// leading each partition whose preferred replica it is. It sets
// r.Preferred and returns when that was seen (zero if it was not within a
// minute, with why).
func (f *failover) preferBack(ctx context.Context, r *FailoverRun) (time.Time, error) {
	all := make([]int32, f.cfg.Partitions)
	for p := range all {
		all[p] = int32(p)
	}
	if failed, err := f.electPreferred(ctx, all); err != nil || failed > 0 {
		f.cfg.Log("%s run %d: preferred election: %d partitions failed (%v)", r.Fault, r.Run, failed, err)
	}
	asked := time.Now()
	var back time.Time
	err := waitEvery(ctx, time.Minute, f.cfg.Poll, func() string {
		v, why := f.view(ctx)
		if why != "" {
			return why
		}
		var pref, off []int32
		pref, off = v.preferredBy(r.Victim)
		r.Preferred = len(pref)
		if len(off) == 0 {
			back = time.Now()
			return ""
		}
		if time.Since(asked) >= 2*time.Second {
			_, _ = f.electPreferred(ctx, off)
			asked = time.Now()
		}
		return fmt.Sprintf("node %d leads %d of its %d preferred partitions", r.Victim, len(pref)-len(off), len(pref))
	})
	return back, err
}

// prepare waits until every node shows full ISRs, moves leaderships back
// to the preferred replicas and waits until every partition takes writes.
func (f *failover) prepare(ctx context.Context) error {
	if _, err := f.awaitFull(ctx); err != nil {
		return err
	}
	err := waitUntil(ctx, time.Minute, func() string {
		v, why := f.view(ctx)
		if why != "" {
			return why
		}
		_, off := v.preferredBy(-1)
		if len(off) == 0 {
			return ""
		}
		if _, err := f.electPreferred(ctx, off); err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%d partitions not led by their preferred replica", len(off))
	})
	if err != nil {
		f.cfg.Log("preferred leaders not restored (measuring anyway): %v", err)
	}
	steady := time.Now()
	err = waitUntil(ctx, f.healBound(), func() string {
		if n := f.load.book.ackedSince(steady); n < f.cfg.Partitions {
			return fmt.Sprintf("%d of %d partitions took an acknowledged write", n, f.cfg.Partitions)
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("the load is not steady: %w", err)
	}
	return nil
}

// inject runs one fault: picks the victim, injects, measures until every
// partition took a write again and every survivor applied the fence (and,
// for kill-controller, a new controller served), or the bound passes. It
// returns the run and how to heal the victim.
func (f *failover) inject(ctx context.Context, fault string, run int) (FailoverRun, func() error) {
	r := FailoverRun{Run: run, Fault: fault, Partitions: f.cfg.Partitions, FenceMs: -1, AppliedMs: -1, SpreadMs: -1, WrittenMs: -1,
		ShareSpreadPct: -1, RestartISRMs: -1, RestartPreferredMs: -1, NotPreferred: -1}
	var v clusterView
	err := waitUntil(ctx, 10*time.Second, func() (why string) {
		v, why = f.view(ctx)
		return why
	})
	if err != nil {
		r.Err = "the nodes' metadata differ: " + err.Error()
		return r, nil
	}
	r.Controller = v.controller
	led := map[int32]int{}
	for _, pv := range v.parts {
		led[pv.leader]++
	}
	if fault == "kill-controller" {
		r.Victim = v.controller
	} else {
		var cands []int32
		for _, nd := range f.c.Nodes {
			if nd.ID != v.controller && led[nd.ID] > 0 {
				cands = append(cands, nd.ID)
			}
		}
		if len(cands) == 0 {
			r.Err = "no broker but the controller leads a partition"
			return r, nil
		}
		r.Victim = cands[(run-1)%len(cands)]
	}
	victim := f.c.Node(r.Victim)
	if victim == nil {
		r.Err = fmt.Sprintf("no node %d (active controller %d)", r.Victim, v.controller)
		return r, nil
	}
	class := make([]byte, f.cfg.Partitions) // 'l' led, 'f' followed, 0 neither
	for p, pv := range v.parts {
		switch {
		case pv.leader == r.Victim:
			class[p], r.Led = 'l', r.Led+1
		case slices.Contains(pv.isr, r.Victim):
			class[p], r.Followed = 'f', r.Followed+1
		}
	}
	errs0 := f.load.errs.Load()

	// The fault.
	var t0 time.Time
	var heal func() error
	switch fault {
	case "kill-broker", "kill-controller":
		t0 = time.Now()
		f.load.book.arm(t0)
		victim.Kill()
		heal = victim.Start
	case "pause-broker":
		t0 = time.Now()
		f.load.book.arm(t0)
		victim.Pause()
		heal = func() error { victim.Resume(); return nil }
		f.cutClient(victim)
	case "isolate-broker":
		nt := f.c.Net
		peers := []string{nt.ClientAddr()}
		for _, nd := range survivorsOf(f.c, r.Victim) {
			peers = append(peers, nt.Addr(nd.ID))
		}
		heal = nt.Heal
		if err := nt.Drop(r.Victim, peers, peers); err != nil {
			r.Err = err.Error()
			return r, heal
		}
		t0 = time.Now()
		f.load.book.arm(t0)
		f.cutClient(victim)
	}
	if heal != nil {
		heal0 := heal
		heal = func() error { f.load.dialer.restore(); return heal0() }
	}

	// The measurement.
	mctx, cancel := context.WithTimeout(ctx, f.cfg.Bound)
	defer cancel()
	survivors := survivorsOf(f.c, r.Victim)
	wantCtl := fault == "kill-controller"
	watches := make([]*nodeWatch, len(survivors))
	var wg sync.WaitGroup
	for i, nd := range survivors {
		watches[i] = &nodeWatch{node: nd.ID, victim: r.Victim, ledBefore: r.Led, controller: -1}
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchNode(mctx, nd, failoverTopic, f.cfg.Partitions, f.cfg.Poll, watches[i], wantCtl)
		}()
	}
	var served time.Time
	if wantCtl {
		var addrs []string
		for _, nd := range survivors {
			addrs = append(addrs, nd.Addr)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			served = probeController(mctx, addrs, fmt.Sprintf("failover-probe-%d", t0.UnixNano()))
		}()
	}
	watched := make(chan struct{})
	go func() { wg.Wait(); close(watched) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-mctx.Done():
			waiting = false
		case <-tick.C:
			if f.load.book.pending() > 0 {
				continue
			}
			select {
			case <-watched:
				waiting = false
			default:
			}
		}
	}
	cancel()
	<-watched
	var leaders []int32
	if r.Led > 0 {
		leaders = f.leadersNow(ctx, survivors)
	}

	// The figures.
	ws := f.load.book.windows()
	var lw, fw []time.Duration
	for p, w := range ws {
		switch class[p] {
		case 'l':
			lw = append(lw, w)
		case 'f':
			fw = append(fw, w)
		}
	}
	r.LedWindow, r.FollowedWindow, r.AllWindow = windowStats(lw), windowStats(fw), windowStats(ws)
	var fence, applied, ctl time.Time
	allApplied := true
	for _, w := range watches {
		r.Nodes = append(r.Nodes, w.times(t0))
		if !w.fencedAt.IsZero() && (fence.IsZero() || w.fencedAt.Before(fence)) {
			fence = w.fencedAt
		}
		if w.appliedAt.IsZero() {
			allApplied = false
		} else if w.appliedAt.After(applied) {
			applied = w.appliedAt
		}
		if !w.ctlAt.IsZero() && (ctl.IsZero() || w.ctlAt.Before(ctl)) {
			ctl, r.NewController = w.ctlAt, w.ctlID
		}
	}
	r.FenceMs = since(t0, fence)
	if r.FenceMs >= 0 && r.Led > 0 && r.LedWindow.Missing == 0 {
		r.WrittenMs = r.LedWindow.Max - r.FenceMs
	}
	if allApplied {
		r.AppliedMs = since(t0, applied)
		if !fence.IsZero() {
			r.SpreadMs = applied.Sub(fence).Milliseconds()
		}
	}
	if wantCtl {
		r.NewControllerMs, r.ServesMs = since(t0, ctl), since(t0, served)
		if ctl.IsZero() {
			r.NewController = -1
		}
	}
	if leaders != nil {
		ids := make([]int32, len(survivors))
		for i, nd := range survivors {
			ids[i] = nd.ID
		}
		r.NewLeaders = newLeaders(class, leaders, ids)
		r.ShareSpreadPct = shareSpread(r.NewLeaders)
	}
	r.SendErrors = f.load.errs.Load() - errs0
	return r, heal
}

// warnings returns the last n warnings and errors of every node's current
// (or last) run.
func warnings(c *Cluster, n int) string {
	var b strings.Builder
	for _, nd := range c.Nodes {
		var ws []string
		for _, line := range strings.Split(nd.Tail(100000), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				ws = append(ws, line)
			}
		}
		fmt.Fprintf(&b, "--- node %d: last warnings of run %d ---\n%s\n", nd.ID, nd.Run(), strings.Join(ws[max(0, len(ws)-n):], "\n"))
	}
	return b.String()
}
