package main

// The brokers a bench suite phase measures (bench_suite.go): clients,
// topics, and the CPU of the server processes the suite started.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/chaos"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ================= targets =================

// suiteTarget is the brokers a phase measures: a cluster the suite
// started (whose server processes' CPU it reads) or the -b brokers.
type suiteTarget struct {
	opts    []kgo.Opt // seeds and security of every client
	cl      *kgo.Client
	adm     *kadm.Client // on cl
	brokers int
	cluster *chaos.Cluster // nil for -b brokers
	pids    []int          // the cluster's server processes
	created []string       // topics to delete at the end (-b brokers only)
}

// newTarget connects an admin client with opts to the brokers of c (nil
// for -b brokers).
func newTarget(opts []kgo.Opt, c *chaos.Cluster) (*suiteTarget, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &suiteTarget{opts: opts, cl: cl, adm: kadm.NewClient(cl), cluster: c}, nil
}

// localTarget waits until every node of c is registered and finds their
// processes.
func localTarget(ctx context.Context, c *chaos.Cluster) (*suiteTarget, error) {
	t, err := newTarget([]kgo.Opt{kgo.SeedBrokers(c.AllAddrs()...), kgo.ClientID(cliClientID)}, c)
	if err != nil {
		return nil, err
	}
	err = suiteWait(ctx, suiteReadyTimeout, func() string {
		if err := t.countBrokers(ctx); err != nil {
			return err.Error()
		}
		if t.brokers != len(c.Nodes) {
			return fmt.Sprintf("%d of %d brokers registered", t.brokers, len(c.Nodes))
		}
		return ""
	})
	if err == nil {
		t.pids, err = serverPIDs(c)
	}
	if err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// close closes the admin client.
func (t *suiteTarget) close() { t.adm.Close() }

// client builds a client of the target with extra options.
func (t *suiteTarget) client(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(append([]kgo.Opt(nil), t.opts...), extra...)
	return kgo.NewClient(opts...)
}

// metadata asks a broker for the metadata of topics (none: the brokers
// only). It bypasses the client's metadata cache (kadm's Metadata answers
// from it), which would hide brokers and leaders that came up since.
func (t *suiteTarget) metadata(ctx context.Context, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return req.RequestWith(ctx, t.cl)
}

// producer builds a client of the target that produces as o says.
func (t *suiteTarget) producer(o benchProduceOpts) (*kgo.Client, error) {
	opts, err := benchProducerOpts(o)
	if err != nil {
		return nil, err
	}
	return t.client(opts...)
}

// countBrokers sets t.brokers from the cluster's metadata.
func (t *suiteTarget) countBrokers(ctx context.Context) error {
	md, err := t.metadata(ctx)
	if err != nil {
		return err
	}
	t.brokers = len(md.Brokers)
	return nil
}

// createTopic creates spec's topic, retrying while the cluster settles,
// and waits until every partition is led with a full ISR.
func (t *suiteTarget) createTopic(ctx context.Context, spec topicSpec) error {
	err := suiteWait(ctx, suiteReadyTimeout, func() string {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := t.adm.CreateTopic(cctx, spec.partitions, spec.rf, spec.configs, spec.name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return kafkaErr(err, resp.ErrMessage).Error()
		}
		return ""
	})
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", spec.name, err)
	}
	if t.cluster == nil {
		t.created = append(t.created, spec.name)
	}
	if err := suiteWait(ctx, suiteReadyTimeout, func() string { return t.topicReady(ctx, spec) }); err != nil {
		return fmt.Errorf("topic %s: %w", spec.name, err)
	}
	return nil
}

// topicReady returns "" when every partition of spec's topic has a
// leader and a full ISR, or what is missing.
func (t *suiteTarget) topicReady(ctx context.Context, spec topicSpec) string {
	md, err := t.metadata(ctx, spec.name)
	if err != nil {
		return err.Error()
	}
	var td kmsg.MetadataResponseTopic
	if len(md.Topics) == 1 {
		td = md.Topics[0]
	}
	if err := kerr.ErrorForCode(td.ErrorCode); err != nil || len(td.Partitions) != int(spec.partitions) {
		return fmt.Sprintf("%d of %d partitions in metadata (%v)", len(td.Partitions), spec.partitions, err)
	}
	for _, pd := range td.Partitions {
		if err := kerr.ErrorForCode(pd.ErrorCode); err != nil || pd.Leader < 0 || len(pd.ISR) < int(spec.rf) {
			return fmt.Sprintf("partition %d: leader %d, ISR %v (%v)", pd.Partition, pd.Leader, pd.ISR, err)
		}
	}
	return ""
}

// deleteTopics deletes the topics the suite created on -b brokers, with a
// fresh context (the run's may be cancelled).
func (t *suiteTarget) deleteTopics() {
	if len(t.created) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resps, err := t.adm.DeleteTopics(ctx, t.created...); err != nil || resps.Error() != nil {
		fmt.Fprintf(os.Stderr, "suite: deleting topics %v: %v\n", t.created, errors.Join(err, resps.Error()))
	}
}

// suiteWait polls cond (which returns "" when it holds, or why not) every
// 250 ms until it holds, timeout passes or ctx is done.
func suiteWait(ctx context.Context, timeout time.Duration, cond func() string) error {
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		switch {
		case why == "":
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("not within %v: %s", timeout, why)
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// ================= server CPU =================

// cpuSeconds returns the CPU time the target's servers used so far, nil
// without server processes, or an error when one is gone.
func (t *suiteTarget) cpuSeconds() (*float64, error) {
	if len(t.pids) == 0 {
		return nil, nil
	}
	var sum float64
	for i, pid := range t.pids {
		secs, err := procCPUSeconds(pid)
		if err != nil {
			return nil, fmt.Errorf("node %d (pid %d) is gone: %w", i+1, pid, err)
		}
		sum += secs
	}
	return &sum, nil
}

// measureCPU runs fn and returns the CPU time the servers used meanwhile
// (nil without server processes), or fn's error.
func (t *suiteTarget) measureCPU(fn func() error) (*float64, error) {
	before, err := t.cpuSeconds()
	if err != nil {
		return nil, err
	}
	if err := fn(); err != nil {
		return nil, err
	}
	after, err := t.cpuSeconds()
	if err != nil || after == nil {
		return nil, err
	}
	d := *after - *before
	return &d, nil
}

// serverPIDs finds the process of every node of c: the one whose command
// line has log.dirs=<the node's data dir>.
func serverPIDs(c *chaos.Cluster) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("server CPU needs /proc (Linux): %w", err)
	}
	pids := make([]int, len(c.Nodes))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args := procArgs(pid)
		for i, nd := range c.Nodes {
			if slices.Contains(args, "log.dirs="+nd.DataDir) {
				pids[i] = pid
			}
		}
	}
	for i, pid := range pids {
		if pid == 0 {
			return nil, fmt.Errorf("no process found for node %d", c.Nodes[i].ID)
		}
	}
	return pids, nil
}

// procArgs returns the command line of process pid (nil if gone).
func procArgs(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// procCPUSeconds returns utime+stime of process pid in seconds.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// parseProcStat returns utime+stime (fields 14 and 15, in clock ticks) of
// a /proc/<pid>/stat line in seconds. The command name (field 2) is in
// parentheses and may hold spaces and parentheses, so fields are counted
// from the last ')'.
func parseProcStat(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat: no command name")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc stat: %d fields after the command name", len(f))
	}
	var ticks uint64
	for _, field := range f[11:13] { // utime, stime
		n, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc stat: %w", err)
		}
		ticks += n
	}
	return float64(ticks) / procClockTicks, nil
}
