package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/nodeproc"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is a set of `fjord server` processes, each a broker and a
// controller voter, with node ids 1..N: on loopback ports, or (with a Net)
// each in its own network namespace.
type Cluster struct {
	Bin     string   // the fjord binary
	Dir     string   // root of the nodes' log and data dirs
	Nodes   []*Node  // Nodes[i] has node.id i+1
	Net     *Net     // nil on loopback
	Proxies *Proxies // nil unless NewProxyCluster

	sec *security // nil unless Secure
}

// NodeState is what the harness last did to a node's process.
type NodeState = nodeproc.State

// The states of a node.
const (
	Stopped = nodeproc.Stopped // not running (never started, killed or exited)
	Running = nodeproc.Running
	Paused  = nodeproc.Paused // SIGSTOPped
)

// Node is one node's process and its restarts, on fixed ports and a fixed
// data dir. The process itself is a nodeproc.Proc.
type Node struct {
	ID        int32
	Addr      string // Kafka listener (PLAINTEXT, or SASL_SSL once Secure)
	DataDir   string // log.dirs
	LogDir    string // one file per run: run-N.log
	Overrides []string
	// Env is added to the harness's environment for the node's
	// process (e.g. FJORD_CLOCK_SKEW=2h) from its next start on; Start
	// reads it under mu.
	Env []string
	bin string
	net *Net // nil on loopback

	mu       sync.Mutex // guards Env
	procOnce sync.Once
	p        *nodeproc.Proc // made on first use, from bin, net and LogDir
}

// NewCluster prepares (does not start) n nodes on loopback under dir
// running bin, with overrides (Kafka property names, key=value) added to
// every node's.
func NewCluster(bin, dir string, n int, overrides []string) (*Cluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])) }
	return newCluster(bin, dir, n, overrides, nil,
		func(i int) (string, string) { return addr(i), addr(n + i) })
}

// NewNetCluster is NewCluster with every node in its own network
// namespace (see Net), listening on ports 9092 (Kafka) and 9093
// (controller) of its own address. Close deletes the namespaces.
func NewNetCluster(bin, dir string, n int, overrides []string) (*Cluster, error) {
	nt, err := NewNet(n)
	if err != nil {
		return nil, err
	}
	c, err := newCluster(bin, dir, n, overrides, nt, func(i int) (string, string) {
		a := nt.Addr(int32(i + 1))
		return net.JoinHostPort(a, "9092"), net.JoinHostPort(a, "9093")
	})
	if err != nil {
		nt.Close()
	}
	return c, err
}

// NewProxyCluster is NewCluster with a toxiproxy TCP proxy in front of
// every node's Kafka and controller listener (see Proxies): the nodes
// advertise the proxies and list them as the voters. Close stops them.
func NewProxyCluster(bin, dir string, n int, overrides []string) (*Cluster, error) {
	ports, err := freePorts(4 * n)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])) }
	proxied := func(i int) (string, string) { return addr(2*n + i), addr(3*n + i) }
	c, err := newCluster(bin, dir, n, overrides, nil, proxied)
	if err != nil {
		return nil, err
	}
	c.Proxies, err = proxyNodes(c, proxied, func(i int) (string, string) { return addr(i), addr(n + i) })
	return c, err
}

// newCluster prepares the nodes; addrs returns node index i's Kafka and
// controller listeners.
func newCluster(bin, dir string, n int, overrides []string, nt *Net, addrs func(i int) (string, string)) (*Cluster, error) {
	c := &Cluster{Bin: bin, Dir: dir, Net: nt}
	voters := make([]string, n)
	for i := range n {
		_, ctl := addrs(i)
		voters[i] = fmt.Sprintf("%d@%s", i+1, ctl)
	}
	for i := range n {
		kafka, ctl := addrs(i)
		nd := &Node{ID: int32(i + 1), bin: bin, net: nt,
			Addr:    kafka,
			DataDir: filepath.Join(dir, fmt.Sprintf("node-%d", i+1), "data"),
			LogDir:  filepath.Join(dir, fmt.Sprintf("node-%d", i+1)),
		}
		nd.Overrides = append([]string{
			fmt.Sprintf("node.id=%d", nd.ID),
			"process.roles=broker,controller",
			fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", kafka, ctl),
			"controller.listener.names=CONTROLLER",
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"log.dirs=" + nd.DataDir,
		}, overrides...)
		if err := os.MkdirAll(nd.DataDir, 0o755); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, nd)
	}
	return c, nil
}

// freePorts returns k distinct loopback ports that were free a moment ago.
func freePorts(k int) ([]int, error) {
	var ports []int
	for range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Start starts every node.
func (c *Cluster) Start() error {
	for _, nd := range c.Nodes {
		if err := nd.Start(); err != nil {
			return err
		}
	}
	return nil
}

// Close kills every node (resuming paused ones first) and deletes the
// network namespaces, if any. It may be called more than once.
func (c *Cluster) Close() {
	for _, nd := range c.Nodes {
		nd.proc().Close()
		nd.Kill()
	}
	if c.Net != nil {
		c.Net.Close()
	}
	if c.Proxies != nil {
		c.Proxies.Close()
	}
}

// Node returns the node with id, or nil.
func (c *Cluster) Node(id int32) *Node {
	if id < 1 || int(id) > len(c.Nodes) {
		return nil
	}
	return c.Nodes[id-1]
}

// Addrs returns the listeners of the nodes that are running (not paused).
func (c *Cluster) Addrs() []string {
	var out []string
	for _, nd := range c.Nodes {
		if nd.State() == Running {
			out = append(out, nd.Addr)
		}
	}
	return out
}

// AllAddrs returns every node's listener.
func (c *Cluster) AllAddrs() []string {
	out := make([]string, len(c.Nodes))
	for i, nd := range c.Nodes {
		out[i] = nd.Addr
	}
	return out
}

// proc returns the node's process harness.
func (nd *Node) proc() *nodeproc.Proc {
	nd.procOnce.Do(func() {
		cfg := nodeproc.Config{Name: fmt.Sprintf("node %d", nd.ID), Bin: nd.bin, LogDir: nd.LogDir}
		if nd.net != nil {
			cfg.Command = func(bin string, args ...string) *exec.Cmd { return nd.net.Command(nd.ID, bin, args...) }
		}
		nd.p = nodeproc.New(cfg)
	})
	return nd.p
}

// Start runs the node's process (a new run with its own log file) with
// its Overrides and Env of now.
func (nd *Node) Start() error {
	args := []string{"server"}
	for _, o := range nd.Overrides {
		args = append(args, "--override", o)
	}
	nd.mu.Lock()
	env := slices.Clone(nd.Env)
	nd.mu.Unlock()
	nd.proc().SetArgs(args, env)
	return nd.proc().Start()
}

// State returns the node's state; a process that exited on its own is
// Stopped.
func (nd *Node) State() NodeState { return nd.proc().State() }

// Kill SIGKILLs the node (a paused process dies too) and waits for it.
func (nd *Node) Kill() { _ = nd.proc().Kill() }

// Terminate sends SIGTERM (a controlled shutdown) and waits up to timeout,
// then kills.
func (nd *Node) Terminate(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = nd.proc().Stop(ctx)
}

// Pause SIGSTOPs the node if it runs.
func (nd *Node) Pause() { _ = nd.proc().Pause() }

// Resume SIGCONTs a paused node.
func (nd *Node) Resume() { _ = nd.proc().Resume() }

// Run returns the number of the node's current (or last) process: 1 for
// the first start, bumped by every restart.
func (nd *Node) Run() int { return nd.proc().Run() }

// Restart kills the node if it runs and starts it again.
func (nd *Node) Restart() error {
	nd.Kill()
	return nd.Start()
}

// Tail returns the last n lines of the node's current (or last) run.
func (nd *Node) Tail(n int) string { return nd.proc().Tail(n) }

// Admin returns a short-lived admin client seeded with the running nodes
// (as the super user admin on a secure cluster); close it with the
// returned function.
func (c *Cluster) Admin() (*kadm.Client, func(), error) {
	addrs := c.Addrs()
	if len(addrs) == 0 {
		return nil, nil, errors.New("no running node")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(addrs...), kgo.DialTimeout(time.Second),
		kgo.RequestTimeoutOverhead(2 * time.Second), kgo.RetryTimeout(3 * time.Second)}
	cl, err := kgo.NewClient(append(opts, c.sec.clientOpts(adminUser)...)...)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// Metadata fetches the metadata of topics from a running node.
func (c *Cluster) Metadata(ctx context.Context, topics ...string) (kadm.Metadata, error) {
	adm, done, err := c.Admin()
	if err != nil {
		return kadm.Metadata{}, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return adm.Metadata(ctx, topics...)
}

// Leader returns the leader of topic's partition p (-1 if none).
func (c *Cluster) Leader(ctx context.Context, topic string, p int32) (int32, error) {
	md, err := c.Metadata(ctx, topic)
	if err != nil {
		return -1, err
	}
	pd, ok := md.Topics[topic].Partitions[p]
	if !ok {
		return -1, fmt.Errorf("no metadata for %s[%d]", topic, p)
	}
	return pd.Leader, nil
}

// Controller returns the active controller's node id.
func (c *Cluster) Controller(ctx context.Context) (int32, error) {
	md, err := c.Metadata(ctx)
	if err != nil {
		return -1, err
	}
	if md.Controller < 0 {
		return -1, errors.New("no active controller")
	}
	return md.Controller, nil
}

// Healthy reports "" when every running node sees every partition of
// topic with a leader and an ISR of all its replicas, and all of them see
// the same leader in the same epoch (nodeView); otherwise what is
// missing.
func (c *Cluster) Healthy(ctx context.Context, topic string, partitions int) string {
	var first map[int32]leaderAt
	firstID := int32(-1)
	for _, nd := range c.Nodes {
		if nd.State() != Running {
			continue
		}
		view, msg := c.nodeView(ctx, nd, topic, partitions)
		if msg != "" {
			return fmt.Sprintf("node %d: %s", nd.ID, msg)
		}
		if first == nil {
			first, firstID = view, nd.ID
			continue
		}
		if !maps.Equal(first, view) {
			return fmt.Sprintf("nodes %d and %d see different leaders or epochs of %s", firstID, nd.ID, topic)
		}
	}
	if first == nil {
		return "no running node"
	}
	return ""
}

// leaderAt is a partition's leader and leader epoch.
type leaderAt struct{ leader, epoch int32 }

// nodeView asks node nd itself (not any node) for topic's metadata and
// returns each partition's leader and epoch, or why the partition is not
// healthy in nd's view: no leader, or an ISR short of the replicas.
// Every running node must agree before a run's final reads: after
// healing, a node that has not caught up with the metadata log yet still
// answers its old view (a leadership it lost, an ISR that was shrunk),
// and a check or a read served by it would see a stale cluster.
func (c *Cluster) nodeView(ctx context.Context, nd *Node, topic string, partitions int) (map[int32]leaderAt, string) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(nd.Addr), kgo.DialTimeout(time.Second)},
		c.sec.clientOpts(adminUser)...)...)
	if err != nil {
		return nil, err.Error()
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err.Error()
	}
	resp := kresp.(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != partitions {
		return nil, fmt.Sprintf("%s not in metadata with %d partitions", topic, partitions)
	}
	view := map[int32]leaderAt{}
	for _, pd := range resp.Topics[0].Partitions {
		if pd.Leader < 0 || pd.ErrorCode != 0 {
			return nil, fmt.Sprintf("%s[%d] has no leader (%v)", topic, pd.Partition, kerr.ErrorForCode(pd.ErrorCode))
		}
		if len(pd.ISR) != len(pd.Replicas) {
			return nil, fmt.Sprintf("%s[%d] ISR %v of replicas %v", topic, pd.Partition, sorted(pd.ISR), sorted(pd.Replicas))
		}
		view[pd.Partition] = leaderAt{pd.Leader, pd.LeaderEpoch}
	}
	return view, ""
}

func sorted(xs []int32) []int32 {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}
