package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Profile is a client and topic configuration under test.
type Profile struct {
	Name       string
	RF         int16
	MinISR     int
	AcksAll    bool
	Idempotent bool
	Unclean    bool
	MustLose   bool     // a canary: the checker must find violations
	Overrides  []string // node properties of the profile
	// ReadUncommitted makes the transactional workload's read_committed
	// consumer read uncommitted while its polls are still checked as
	// read_committed: the canary of the transaction checks, which must
	// report the aborted transactions' records it reads.
	ReadUncommitted bool
}

// Profiles are the configurations `--config` names: the safe one every
// invariant must hold under, and the canaries that must lose data.
var Profiles = map[string]Profile{
	"safe": {Name: "safe", RF: 3, MinISR: 2, AcksAll: true, Idempotent: true},
	// acks1 makes followers fetch at most every 500 ms (replica.fetch.min.bytes
	// is never reached), so a killed leader always has acknowledged records
	// no follower has.
	"acks1": {Name: "acks1", RF: 3, MinISR: 2, MustLose: true,
		Overrides: []string{"replica.fetch.min.bytes=1048576", "replica.fetch.wait.max.ms=500"}},
	"minisr1": {Name: "minisr1", RF: 2, MinISR: 1, AcksAll: true, Idempotent: true, MustLose: true},
	"unclean": {Name: "unclean", RF: 2, MinISR: 1, AcksAll: true, Idempotent: true, Unclean: true, MustLose: true},
	// txn-uncommitted (with --transactions) reads with read_uncommitted
	// where read_committed is promised: txn-aborted-read must be reported.
	"txn-uncommitted": {Name: "txn-uncommitted", RF: 3, MinISR: 2, AcksAll: true, Idempotent: true, MustLose: true,
		ReadUncommitted: true},
}

// Config is one run.
type Config struct {
	Bin        string        // the fjord binary
	Dir        string        // working dir for the nodes ("" = a temp dir, removed if the run passes)
	Nodes      int           // 3 if 0
	Duration   time.Duration // of the fault schedule
	Seed       uint64
	Faults     []Fault
	Profile    Profile
	Quiet      time.Duration // between faults (random in [Quiet, 2*Quiet))
	Hold       time.Duration // how long each fault lasts
	Bound      time.Duration // liveness bound after healing
	Partitions int
	Producers  int
	Consumers  int
	Group      bool
	Overrides  []string // extra node properties
	Netns      bool     // each node in its own network namespace (root, ip, nft); needed by the network faults
	Proxy      bool     // every node's listeners behind a toxiproxy proxy in this process; needed by the proxy faults
	DiskMB     int      // > 0: each node's data dir on its own tmpfs of this many MiB (root); needed by disk-full
	Secure     bool     // SASL_SSL on every listener, an authorizer, the workload as a SCRAM user (Cluster.Secure)
	History    bool     // keep the history in the report even if the run is valid
	Log        func(format string, args ...any)
	// Transactions adds transactional producers and a read_committed
	// consumer to the workload, a read_committed drain, and the checks of
	// the transaction promises (txn.go, checker_txn.go); needed by the
	// *-txn-coordinator faults.
	Transactions bool
}

// Cluster timing of chaos runs: short sessions so that failovers take
// seconds.
const (
	sessionTimeout = 4 * time.Second
	topicName      = "chaos"
)

func (cfg *Config) defaults() {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 3
	}
	if cfg.Quiet == 0 {
		cfg.Quiet = 3 * time.Second
	}
	if cfg.Hold == 0 {
		cfg.Hold = 2 * sessionTimeout
	}
	if cfg.Bound == 0 {
		cfg.Bound = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	cfg.Profile.RF = min(cfg.Profile.RF, int16(cfg.Nodes))
}

// nodeOverrides returns the properties every node gets.
func (cfg *Config) nodeOverrides() []string {
	return append([]string{
		fmt.Sprintf("broker.session.timeout.ms=%d", sessionTimeout.Milliseconds()),
		"broker.heartbeat.interval.ms=500",
		fmt.Sprintf("replica.lag.time.max.ms=%d", sessionTimeout.Milliseconds()),
		"offsets.topic.num.partitions=3",
		fmt.Sprintf("offsets.topic.replication.factor=%d", min(3, cfg.Nodes)),
		"group.initial.rebalance.delay.ms=500",
		"min.insync.replicas=" + strconv.Itoa(cfg.Profile.MinISR),
		"unclean.leader.election.enable=" + strconv.FormatBool(cfg.Profile.Unclean),
		"log.segment.bytes=262144",
		// Tail flushes between rolls, so faults meet recovery points inside
		// segments and producer snapshots taken at them.
		"log.recovery.flush.bytes=65536",
	}, append(cfg.txnOverrides(), append(cfg.Profile.Overrides, cfg.Overrides...)...)...)
}

// txnOverrides are the node properties of a transactional run:
// __transaction_state as small and replicated as __consumer_offsets, and
// timed-out transactions looked for every second rather than every 10.
func (cfg *Config) txnOverrides() []string {
	if !cfg.Transactions {
		return nil
	}
	return []string{
		"transaction.state.log.num.partitions=3",
		fmt.Sprintf("transaction.state.log.replication.factor=%d", min(3, cfg.Nodes)),
		fmt.Sprintf("transaction.state.log.min.isr=%d", min(2, cfg.Nodes)),
		"transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
	}
}

// Run runs one seeded chaos run and returns its report. An error means the
// harness itself failed (the cluster never came up, ...), not a violation.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	for _, f := range cfg.Faults {
		if NeedsNet(f) && !cfg.Netns {
			return nil, fmt.Errorf("fault %s needs the nodes in network namespaces (Config.Netns, --netns)", f.Name())
		}
		if NeedsProxy(f) && !cfg.Proxy {
			return nil, fmt.Errorf("fault %s needs the nodes behind proxies (Config.Proxy, --proxy)", f.Name())
		}
		if NeedsDisk(f) && cfg.DiskMB <= 0 {
			return nil, fmt.Errorf("fault %s needs each node's data dir on a small filesystem (Config.DiskMB, --disk-mb)", f.Name())
		}
		if NeedsTxn(f) && !cfg.Transactions {
			return nil, fmt.Errorf("fault %s needs the transactional workload (Config.Transactions, --transactions)", f.Name())
		}
	}
	if cfg.Profile.ReadUncommitted && !cfg.Transactions {
		return nil, fmt.Errorf("config %s needs the transactional workload (Config.Transactions, --transactions)", cfg.Profile.Name)
	}
	dir, keep := cfg.Dir, cfg.Dir != ""
	if !keep {
		var err error
		if dir, err = os.MkdirTemp("", "fjord-chaos-"); err != nil {
			return nil, err
		}
	}
	newCluster := NewCluster
	if cfg.Proxy && cfg.Netns {
		return nil, errors.New("the proxies and network namespaces do not combine (--proxy, --netns)")
	} else if cfg.Proxy {
		newCluster = NewProxyCluster
	}
	if cfg.Netns {
		if err := NetnsAvailable(); err != nil {
			return nil, err
		}
		newCluster = NewNetCluster
	}
	c, err := newCluster(cfg.Bin, dir, cfg.Nodes, cfg.nodeOverrides())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if cfg.Secure {
		if err := c.Secure(); err != nil {
			return nil, err
		}
	}
	unmount, err := mountDisks(c, cfg.DiskMB)
	if err != nil {
		return nil, err
	}
	defer unmount(true)
	rep := newReport(cfg, dir)
	rep.Netns, rep.Proxy, rep.Secure, rep.Txn = cfg.Netns, cfg.Proxy, cfg.Secure, cfg.Transactions
	if err := c.Start(); err != nil {
		return nil, err
	}
	if err := setup(ctx, c, cfg); err != nil {
		return rep, fmt.Errorf("%w\n%s", err, c.tails(30))
	}
	if err := watch(ctx, cfg, c, rep, func(ctx context.Context) { body(ctx, cfg, c, rep) }); err != nil {
		return rep, err
	}
	if rep.Result.Valid && !keep {
		unmount(false) // stops the cluster first
		os.RemoveAll(dir)
		rep.Dir = ""
	}
	return rep, nil
}

// watch runs body under the watchdog: if the run is not over by
// cfg.deadline(), the nodes are killed (which unblocks every client and
// wait), and the run is reported as a liveness failure.
func watch(ctx context.Context, cfg Config, c *Cluster, rep *Report, body func(context.Context)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(ctx)
	}()
	limit := cfg.deadline()
	select {
	case <-done:
		return nil
	case <-time.After(limit):
	}
	cancel()
	c.Close()
	select {
	case <-done:
	case <-time.After(time.Minute):
		return fmt.Errorf("watchdog: the run did not stop within a minute of being cancelled at %v", limit)
	}
	rep.Result.Valid = false
	rep.Result.Counts = map[string]int{NoLiveness: 1}
	rep.Final.Liveness = fmt.Sprintf("watchdog: the run did not finish within %v; nodes killed. %s", limit, rep.Final.Liveness)
	return nil
}

// deadline is how long a whole run may take: the schedule plus generous
// time for its last fault, the recovery bound and the drain.
func (cfg *Config) deadline() time.Duration {
	return cfg.Duration + 2*cfg.Hold + cfg.Bound + 4*time.Minute
}

// body runs the workload and the schedule, heals, drains and checks,
// filling rep.
func body(ctx context.Context, cfg Config, c *Cluster, rep *Report) {
	h := NewHistory()
	w := &Workload{Cluster: c, H: h, Topic: topicName, Partitions: cfg.Partitions, Producers: cfg.Producers,
		Consumers: cfg.Consumers, Group: cfg.Group, AcksAll: cfg.Profile.AcksAll, Idempotent: cfg.Profile.Idempotent,
		Interval: 15 * time.Millisecond, Transactions: cfg.Transactions, Seed: cfg.Seed,
		ReadUncommitted: cfg.Profile.ReadUncommitted}
	wctx, stop := context.WithCancel(ctx)
	w.Start(wctx)
	obs := &Observer{C: c, H: h, Topic: topicName, Partitions: cfg.Partitions, Every: 250 * time.Millisecond}
	if cfg.Group {
		obs.Group = w.GroupID()
	}
	observed := make(chan struct{})
	go func() { obs.Run(wctx); close(observed) }()
	env := &Env{C: c, W: w, Rand: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), Log: cfg.Log,
		Unclean: cfg.Profile.Unclean}
	schedule(ctx, env, h, cfg)
	fin := recoverCluster(ctx, c, h, cfg)
	stop()
	w.Wait()
	<-observed
	fin = finish(ctx, c, h, cfg, fin)
	rep.fill(h.Ops(), Check(h.Ops(), cfg.Profile.Idempotent, fin), fin, c)
	if cfg.History {
		rep.History = h.Ops()
	}
}

// setup waits for every broker, creates the topic (and, on a secure
// cluster, the workload's user and ACLs) and waits until it is healthy.
func setup(ctx context.Context, c *Cluster, cfg Config) error {
	err := waitUntil(ctx, 45*time.Second, func() string {
		md, err := c.Metadata(ctx)
		if err != nil {
			return err.Error()
		}
		if len(md.Brokers) != cfg.Nodes {
			return fmt.Sprintf("%d of %d brokers registered", len(md.Brokers), cfg.Nodes)
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("cluster did not come up: %w", err)
	}
	configs := map[string]*string{
		"min.insync.replicas":            kadm.StringPtr(strconv.Itoa(cfg.Profile.MinISR)),
		"unclean.leader.election.enable": kadm.StringPtr(strconv.FormatBool(cfg.Profile.Unclean)),
	}
	err = waitUntil(ctx, 30*time.Second, func() string {
		adm, done, err := c.Admin()
		if err != nil {
			return err.Error()
		}
		defer done()
		_, err = adm.CreateTopic(ctx, int32(cfg.Partitions), cfg.Profile.RF, configs, topicName)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return err.Error()
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("creating the topic: %w", err)
	}
	if err := c.grantWorkload(ctx, topicName, "chaos-"+topicName, txnIDs(topicName, cfg.Transactions)...); err != nil {
		return fmt.Errorf("granting the workload's user: %w", err)
	}
	return waitUntil(ctx, 30*time.Second, func() string { return c.Healthy(ctx, topicName, cfg.Partitions) })
}

// waitUntil polls cond (which returns "" when it holds, or why not) until
// it holds or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() string) error {
	return waitEvery(ctx, timeout, 250*time.Millisecond, cond)
}

// tails returns the last n lines of every node's log.
func (c *Cluster) tails(n int) string {
	s := ""
	for _, nd := range c.Nodes {
		s += fmt.Sprintf("--- node %d ---\n%s\n", nd.ID, nd.Tail(n))
	}
	return s
}
