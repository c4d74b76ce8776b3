package e2e

// Helpers for the multi-node tests of cluster_test.go: a cluster of fjord
// processes configured only with Kafka property names, per-node Metadata
// and DescribeCluster requests sent to one chosen node, and a comparable
// view of the metadata each node serves.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Broker liveness settings of the test clusters: short, so that a failover
// test takes seconds, not the defaults' 9 s sessions.
const (
	clSessionTimeout    = 6 * time.Second
	clHeartbeatInterval = 500 * time.Millisecond
	// clFailoverBound is the acceptance bound: session timeout plus 2 s.
	clFailoverBound = clSessionTimeout + 2*time.Second
	// clStopTimeout bounds SIGTERM to exit. A node's controlled shutdown
	// waits at most a session for a controller that is gone (the last node
	// of a cluster stopping has no quorum left), then it closes.
	clStopTimeout = clSessionTimeout + 10*time.Second
	clReqTimeout  = 2 * time.Second
)

// testCluster is a set of fjord processes, each broker and controller,
// forming one cluster.
type testCluster struct {
	t     *testing.T
	nodes []*clusterNode // nodes[i] has node.id i+1
}

// clusterNode is one node's process (and its restarts) on fixed ports and
// a fixed log dir.
type clusterNode struct {
	t         *testing.T
	id        int32
	dir       string // log.dirs
	addr      string // PLAINTEXT listener
	ctrlAddr  string // CONTROLLER listener
	overrides []string
	logs      string // its process's output, one file per run

	cl *kgo.Client // seeded with addr only; requests go to this node

	proc *serverProc // made by the first start, from overrides; nil before
}

// startCluster starts n nodes (node.id 1..n, all of them voters) with
// extra key=value overrides for every node, and waits until every node's
// Metadata lists all n brokers. perNode, if not nil, adds overrides for
// one node (by id).
func startCluster(t *testing.T, n int, perNode func(id int32) []string, extra ...string) *testCluster {
	t.Helper()
	return startClusterSpec(t, clusterSpec{n: n, perNode: perNode, extra: extra})
}

// clusterSpec describes a test cluster. listeners, if set, gives a node's
// listeners value from its client and controller addresses (default
// PLAINTEXT and CONTROLLER); clientOpts secure each node's own client.
type clusterSpec struct {
	n          int
	perNode    func(id int32) []string
	extra      []string
	listeners  func(id int32, addr, ctrlAddr string) string
	clientOpts []kgo.Opt
}

func startClusterSpec(t *testing.T, spec clusterSpec) *testCluster {
	t.Helper()
	n := spec.n
	ports := freePorts(t, 2*n)
	c := &testCluster{t: t}
	voters := make([]string, n)
	for i := range n {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[n+i])
	}
	listeners := spec.listeners
	if listeners == nil {
		listeners = func(_ int32, addr, ctrl string) string {
			return fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://%s", addr, ctrl)
		}
	}
	for i := range n {
		id := int32(i + 1)
		nd := &clusterNode{
			t: t, id: id, dir: t.TempDir(), logs: t.TempDir(),
			addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])),
			ctrlAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[n+i])),
		}
		nd.overrides = []string{
			fmt.Sprintf("node.id=%d", id),
			"process.roles=broker,controller",
			"listeners=" + listeners(id, nd.addr, nd.ctrlAddr),
			"controller.listener.names=CONTROLLER",
			"controller.quorum.voters=" + strings.Join(voters, ","),
			"log.dirs=" + nd.dir,
			fmt.Sprintf("broker.session.timeout.ms=%d", clSessionTimeout.Milliseconds()),
			fmt.Sprintf("broker.heartbeat.interval.ms=%d", clHeartbeatInterval.Milliseconds()),
		}
		nd.overrides = append(nd.overrides, spec.extra...)
		if spec.perNode != nil {
			nd.overrides = append(nd.overrides, spec.perNode(id)...)
		}
		opts := append([]kgo.Opt{kgo.SeedBrokers(nd.addr), kgo.DialTimeout(time.Second),
			kgo.DisableIdempotentWrite(), kgo.ClientID(fmt.Sprintf("e2e-node-%d", id))}, spec.clientOpts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		nd.cl = cl
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(c.cleanup) // registered before the nodes start: runs after any later cleanup
	for _, nd := range c.nodes {
		nd.start()
	}
	return c
}

// freePorts returns k distinct loopback ports that were free a moment
// ago (all held open together, so none is handed out twice).
func freePorts(t *testing.T, k int) []int {
	t.Helper()
	var ports []int
	for range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// node returns the node with the given id.
func (c *testCluster) node(id int32) *clusterNode { return c.nodes[id-1] }

// nodeIDs returns the node ids of nodes.
func nodeIDs(nodes []*clusterNode) []int32 {
	out := make([]int32, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.id
	}
	return out
}

// start runs the node's process without waiting for it to serve: a
// node of a multi-voter cluster serves only once a quorum is up. It
// fails the test if the node is running (or paused).
func (nd *clusterNode) start() {
	nd.t.Helper()
	if nd.proc == nil {
		nd.proc = newServerProc(nd.t, fmt.Sprintf("node %d", nd.id), nd.logs, nd.overrides)
	}
	nd.proc.start()
}

// run returns the number of the node's current (or last) run, from 1.
func (nd *clusterNode) run() int {
	if nd.proc == nil {
		return 0
	}
	return nd.proc.run()
}

// output returns the output of the node's run (from 1).
func (nd *clusterNode) output(run int) string {
	if nd.proc == nil {
		return "(never started)"
	}
	return nd.proc.output(run)
}

// checkAlive fails the test if the node's process is not running (a
// paused one is alive), at length if it exited on its own.
func (nd *clusterNode) checkAlive() {
	nd.t.Helper()
	if nd.proc == nil {
		nd.t.Fatalf("node %d is not running", nd.id)
	}
	nd.proc.checkAlive()
}

// signal sends sig (SIGTERM or SIGKILL) and waits up to timeout for the
// exit; it reports whether the process exited in time and its exit error
// (see serverProc.signal).
func (nd *clusterNode) signal(sig syscall.Signal, timeout time.Duration) (bool, error) {
	nd.t.Helper()
	if nd.proc == nil {
		return true, nil
	}
	return nd.proc.signal(sig, timeout)
}

// kill9 kills the node's process with SIGKILL; it fails the test unless
// the node was alive.
func (nd *clusterNode) kill9() {
	nd.t.Helper()
	nd.checkAlive()
	nd.proc.kill9()
}

// pause stops the node's process with SIGSTOP and waits until it is
// stopped; resume continues it with SIGCONT.
func (nd *clusterNode) pause() {
	nd.t.Helper()
	nd.checkAlive()
	nd.proc.pause()
}

func (nd *clusterNode) resume() {
	nd.t.Helper()
	nd.checkAlive()
	nd.proc.resume()
}

// cleanup kills every node still running (or paused) at the end of the
// test (clean shutdown is TestClusterRestartAll's subject; here it would
// only add the last node's wait for a quorum that is gone), then reports
// data races and, if the test failed or FJORD_E2E_KEEP=1, every run's
// output.
func (c *testCluster) cleanup() {
	for _, nd := range c.nodes {
		nd.cl.Close()
		if ok, _ := nd.signal(syscall.SIGKILL, 0); !ok {
			nd.t.Errorf("node %d did not die after SIGKILL", nd.id)
		}
	}
	for _, nd := range c.nodes {
		nd.report()
	}
}

func (nd *clusterNode) report() {
	if nd.proc != nil {
		nd.proc.report(fmt.Sprintf("node %d (%s)", nd.id, nd.addr), 120)
	}
}

// request sends req to this node itself (not to whichever broker kgo
// would pick) and returns its response.
func (nd *clusterNode) request(req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clReqTimeout)
	defer cancel()
	seeds := nd.cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, errors.New("no seed broker")
	}
	return seeds[0].Request(ctx, req)
}

// metadata asks this node for the metadata of every topic.
func (nd *clusterNode) metadata() (*kmsg.MetadataResponse, error) {
	resp, err := nd.request(kmsg.NewPtrMetadataRequest())
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// describeCluster asks this node for the cluster description.
func (nd *clusterNode) describeCluster() (*kmsg.DescribeClusterResponse, error) {
	resp, err := nd.request(kmsg.NewPtrDescribeClusterRequest())
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.DescribeClusterResponse)
	return r, kerr.ErrorForCode(r.ErrorCode)
}

// createTopics sends a CreateTopics request to this node itself, so that
// a node that is not the active controller must forward it. (kadm would
// send it to the controller named in Metadata, bypassing forwarding.)
// It returns the first error, of the request or of a topic.
func (nd *clusterNode) createTopics(partitions int32, rf int16, configs map[string]string, names ...string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 15000
	for _, name := range names {
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
		for k, v := range configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, kmsg.StringPtr(v)
			t.Configs = append(t.Configs, c)
		}
		req.Topics = append(req.Topics, t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seeds := nd.cl.SeedBrokers()
	if len(seeds) == 0 {
		return errors.New("no seed broker")
	}
	resp, err := seeds[0].Request(ctx, req)
	if err != nil {
		return err
	}
	for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			msg := ""
			if t.ErrorMessage != nil {
				msg = ": " + *t.ErrorMessage
			}
			return fmt.Errorf("topic %s: %w%s", t.Topic, err, msg)
		}
	}
	return nil
}

// clusterTP names a partition.
type clusterTP struct {
	topic string
	p     int32
}

func (x clusterTP) String() string { return fmt.Sprintf("%s[%d]", x.topic, x.p) }

// partView is what Metadata says about one partition.
type partView struct {
	Leader   int32
	Epoch    int32
	Replicas []int32
	ISR      []int32
	Offline  []int32
	Err      int16
}

// clusterView is one node's Metadata answer in comparable form.
type clusterView struct {
	ClusterID  string
	Controller int32
	Brokers    []int32 // sorted
	Addrs      map[int32]string
	Parts      map[clusterTP]partView
}

// view asks nd for its metadata.
func (nd *clusterNode) view() (clusterView, error) {
	resp, err := nd.metadata()
	if err != nil {
		return clusterView{}, err
	}
	v := clusterView{Controller: resp.ControllerID, Addrs: map[int32]string{}, Parts: map[clusterTP]partView{}}
	if resp.ClusterID != nil {
		v.ClusterID = *resp.ClusterID
	}
	for _, b := range resp.Brokers {
		v.Brokers = append(v.Brokers, b.NodeID)
		v.Addrs[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	slices.Sort(v.Brokers)
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return clusterView{}, fmt.Errorf("topic %s: %w", *t.Topic, err)
		}
		for _, p := range t.Partitions {
			v.Parts[clusterTP{*t.Topic, p.Partition}] = partView{
				Leader: p.Leader, Epoch: p.LeaderEpoch, Replicas: p.Replicas,
				ISR: sortedIDs(p.ISR), Offline: sortedIDs(p.OfflineReplicas), Err: p.ErrorCode,
			}
		}
	}
	return v, nil
}

func sortedIDs(xs []int32) []int32 {
	out := slices.Clone(xs)
	slices.Sort(out)
	if out == nil {
		out = []int32{}
	}
	return out
}

// topic returns the view's partitions of topic, by index.
func (v clusterView) topic(name string) map[int32]partView {
	out := map[int32]partView{}
	for k, p := range v.Parts {
		if k.topic == name {
			out[k.p] = p
		}
	}
	return out
}

// leaderCounts counts the partitions of topic each broker leads.
func (v clusterView) leaderCounts(topic string) map[int32]int {
	out := map[int32]int{}
	for _, p := range v.topic(topic) {
		out[p.Leader]++
	}
	return out
}

// firstDifference describes how b differs from a ("" if it does not).
func (a clusterView) firstDifference(b clusterView) string {
	switch {
	case a.ClusterID != b.ClusterID:
		return fmt.Sprintf("cluster id %q vs %q", a.ClusterID, b.ClusterID)
	case a.Controller != b.Controller:
		return fmt.Sprintf("controller %d vs %d", a.Controller, b.Controller)
	case !slices.Equal(a.Brokers, b.Brokers):
		return fmt.Sprintf("brokers %v vs %v", a.Brokers, b.Brokers)
	case !reflect.DeepEqual(a.Addrs, b.Addrs):
		return fmt.Sprintf("broker addresses %v vs %v", a.Addrs, b.Addrs)
	}
	for k, p := range a.Parts {
		q, ok := b.Parts[k]
		if !ok {
			return fmt.Sprintf("%s missing", k)
		}
		if !reflect.DeepEqual(p, q) {
			return fmt.Sprintf("%s: %+v vs %+v", k, p, q)
		}
	}
	if len(a.Parts) != len(b.Parts) {
		return fmt.Sprintf("%d vs %d partitions", len(a.Parts), len(b.Parts))
	}
	return ""
}

// agreedView asks every node in nodes for its metadata and returns the
// view if all answer the same, or an error saying who differs.
func agreedView(nodes []*clusterNode) (clusterView, error) {
	var first clusterView
	for i, nd := range nodes {
		v, err := nd.view()
		if err != nil {
			return clusterView{}, fmt.Errorf("node %d: %w", nd.id, err)
		}
		if i == 0 {
			first = v
			continue
		}
		if d := first.firstDifference(v); d != "" {
			return clusterView{}, fmt.Errorf("node %d and node %d disagree: %s", nodes[0].id, nd.id, d)
		}
	}
	return first, nil
}

// waitAgreed polls until every node in nodes serves the same metadata and
// cond accepts it (returns ""), and returns that view. It fails the test
// after timeout, or at once if a node's process exits.
func waitAgreed(t *testing.T, nodes []*clusterNode, timeout time.Duration, what string, cond func(clusterView) string) clusterView {
	t.Helper()
	var v clusterView
	waitFor(t, timeout, what, func() (bool, string) {
		for _, nd := range nodes {
			nd.checkAlive()
		}
		var err error
		if v, err = agreedView(nodes); err != nil {
			return false, err.Error()
		}
		if msg := cond(v); msg != "" {
			return false, msg
		}
		return true, ""
	})
	return v
}

// brokersAre is a waitAgreed condition: Metadata lists exactly ids.
func brokersAre(ids ...int32) func(clusterView) string {
	want := sortedIDs(ids)
	return func(v clusterView) string {
		if !slices.Equal(v.Brokers, want) {
			return fmt.Sprintf("brokers %v, want %v", v.Brokers, want)
		}
		return ""
	}
}

// allConds combines waitAgreed conditions.
func allConds(conds ...func(clusterView) string) func(clusterView) string {
	return func(v clusterView) string {
		for _, c := range conds {
			if msg := c(v); msg != "" {
				return msg
			}
		}
		return ""
	}
}

// topicReady is a waitAgreed condition: topic has n partitions, each with a
// leader.
func topicReady(topic string, n int) func(clusterView) string {
	return func(v clusterView) string {
		ps := v.topic(topic)
		if len(ps) != n {
			return fmt.Sprintf("topic %s has %d partitions, want %d", topic, len(ps), n)
		}
		for i, p := range ps {
			if p.Leader < 0 {
				return fmt.Sprintf("%s[%d] has no leader", topic, i)
			}
		}
		return ""
	}
}

// waitController polls DescribeCluster on every node in nodes until all
// name the same active controller and it is one of nodes; it returns
// that node's id.
func waitController(t *testing.T, nodes []*clusterNode, timeout time.Duration) int32 {
	t.Helper()
	var id int32
	waitFor(t, timeout, "an agreed active controller among live nodes", func() (bool, string) {
		id = -2
		for _, nd := range nodes {
			nd.checkAlive()
			dc, err := nd.describeCluster()
			if err != nil {
				return false, fmt.Sprintf("node %d: DescribeCluster: %v", nd.id, err)
			}
			if id != -2 && dc.ControllerID != id {
				return false, fmt.Sprintf("nodes name controllers %d and %d", id, dc.ControllerID)
			}
			id = dc.ControllerID
		}
		if !slices.Contains(nodeIDs(nodes), id) {
			return false, fmt.Sprintf("controller %d is not among the live nodes %v", id, nodeIDs(nodes))
		}
		return true, ""
	})
	return id
}

// withoutNode returns nodes without the one with id.
func withoutNode(nodes []*clusterNode, id int32) []*clusterNode {
	return slices.DeleteFunc(slices.Clone(nodes), func(nd *clusterNode) bool { return nd.id == id })
}
