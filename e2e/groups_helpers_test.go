package e2e

// Helpers for the consumer group and idempotent producer tests of
// groups_test.go and idempotence_test.go (issue 5): a 3-node cluster with
// a short initial rebalance delay and a small __consumer_offsets, clients
// seeded with every node, group members that track their assignment
// through the rebalance callbacks and what they consumed, coordinator
// lookups sent to one node, and a connection-resetting dialer.

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group settings of the test clusters and members. A member's session is
// Fjord's minimum (group.min.session.timeout.ms, 6 s by default) plus a
// margin; heartbeats are frequent so that members learn of a rebalance
// quickly.
const (
	grpSessionTimeout   = 8 * time.Second
	grpHeartbeat        = 300 * time.Millisecond
	grpRebalanceTimeout = 10 * time.Second
	grpOffsetsParts     = 5
)

// startGroupCluster starts three voters with a 500 ms initial rebalance
// delay, 5 __consumer_offsets partitions, min.insync.replicas=2 and the
// extra overrides (later ones win), and waits until every node lists all
// three brokers.
func startGroupCluster(t *testing.T, extra ...string) *testCluster {
	t.Helper()
	base := []string{
		"group.initial.rebalance.delay.ms=500",
		fmt.Sprintf("offsets.topic.num.partitions=%d", grpOffsetsParts),
		"min.insync.replicas=2",
	}
	c := startCluster(t, 3, nil, append(base, extra...)...)
	waitAgreed(t, c.nodes, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	return c
}

// grpAddrs returns the PLAINTEXT addresses of nodes.
func grpAddrs(nodes []*clusterNode) []string {
	out := make([]string, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.addr
	}
	return out
}

// grpClient returns a client seeded with every node (idempotent writes
// on, the default) with quick metadata refreshes, closed when the test
// ends.
func grpClient(t *testing.T, nodes []*clusterNode, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(grpAddrs(nodes)...), kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.DialTimeout(time.Second), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// grpCreateTopic creates topic (partitions, replication factor rf) through
// the first node and waits until every node serves it with a leader per
// partition and full ISRs.
func grpCreateTopic(t *testing.T, c *testCluster, topic string, partitions int32, rf int16) {
	t.Helper()
	if err := c.nodes[0].createTopics(partitions, rf, nil, topic); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	waitAgreed(t, c.nodes, waitTimeout, "every node serves "+topic,
		allConds(topicReady(topic, int(partitions)), grpFullISR(topic, int(rf))))
}

// grpFullISR is a waitAgreed condition: every partition of topic has rf
// replicas in its ISR and none offline.
func grpFullISR(topic string, rf int) func(clusterView) string {
	return func(v clusterView) string {
		for p, pv := range v.topic(topic) {
			if len(pv.ISR) != rf || len(pv.Offline) > 0 || pv.Leader < 0 {
				return fmt.Sprintf("%s[%d]: leader %d, ISR %v, offline %v", topic, p, pv.Leader, pv.ISR, pv.Offline)
			}
		}
		return ""
	}
}

// grpValue is the value of the seq'th record produced to partition p.
func grpValue(p int32, seq int) string { return fmt.Sprintf("p%02d-%08d", p, seq) }

// grpProduce produces perPartition records to each of partitions
// partitions of topic (values grpValue) with acks=all and waits for every
// acknowledgement.
func grpProduce(t *testing.T, cl *kgo.Client, topic string, partitions int32, perPartition int) {
	t.Helper()
	var recs []*kgo.Record
	for seq := range perPartition {
		for p := range partitions {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(grpValue(p, seq))})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
}

// grpProducer returns an acks=all producer with manual partitioning.
func grpProducer(t *testing.T, nodes []*clusterNode, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return grpClient(t, nodes, append([]kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond)}, opts...)...)
}

// grpMember is one group consumer (kgo.ConsumerGroup, autocommit off)
// that polls in the background. Its owned partitions follow the
// rebalance callbacks; it records every record it is handed.
type grpMember struct {
	name  string
	topic string
	cl    *kgo.Client

	mu        sync.Mutex
	owned     map[int32]bool
	callbacks int // rebalance callbacks so far (assigned, revoked, lost)
	consumed  map[int32][]int64
	onPoll    func(*grpMember, kgo.Fetches) // optional, after recording

	cancel context.CancelFunc
	done   chan struct{}
	closed atomic.Bool
}

// startGrpMember starts a member of group consuming topic from the start,
// with extra client options (kgo.InstanceID for a static member). onPoll,
// if not nil, runs on the poll goroutine after each poll's records are
// recorded.
func startGrpMember(t *testing.T, nodes []*clusterNode, group, topic, name string, onPoll func(*grpMember, kgo.Fetches), opts ...kgo.Opt) *grpMember {
	t.Helper()
	m := &grpMember{name: name, topic: topic, owned: map[int32]bool{}, consumed: map[int32][]int64{},
		onPoll: onPoll, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID(name),
		kgo.SessionTimeout(grpSessionTimeout), kgo.HeartbeatInterval(grpHeartbeat),
		kgo.RebalanceTimeout(grpRebalanceTimeout), kgo.FetchMaxWait(300 * time.Millisecond),
		kgo.OnPartitionsAssigned(m.assigned), kgo.OnPartitionsRevoked(m.revoked), kgo.OnPartitionsLost(m.revoked),
	}
	if os.Getenv("FJORD_E2E_KGO_LOG") == "1" { // the member's client log, to debug a group test
		base = append(base, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, func() string { return name + " " })))
	}
	m.cl = grpClient(t, nodes, append(base, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.poll(ctx)
	t.Cleanup(m.close)
	return m
}

func (m *grpMember) assigned(_ context.Context, _ *kgo.Client, added map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.callbacks++
	for _, p := range added[m.topic] {
		m.owned[p] = true
	}
}

func (m *grpMember) revoked(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.callbacks++
	for _, p := range lost[m.topic] {
		delete(m.owned, p)
	}
}

func (m *grpMember) poll(ctx context.Context) {
	defer close(m.done)
	for ctx.Err() == nil {
		fs := m.cl.PollFetches(ctx)
		if fs.IsClientClosed() {
			return
		}
		m.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			m.consumed[r.Partition] = append(m.consumed[r.Partition], r.Offset)
		})
		m.mu.Unlock()
		if m.onPoll != nil {
			m.onPoll(m, fs)
		}
	}
}

// close stops polling and closes the client (a dynamic member leaves the
// group; a static one does not). Safe to call more than once.
func (m *grpMember) close() {
	if m.closed.Swap(true) {
		return
	}
	m.cancel()
	<-m.done
	m.cl.Close()
}

// ownedSet returns the partitions the member owns, sorted.
func (m *grpMember) ownedSet() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.owned))
}

func (m *grpMember) callbackCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.callbacks
}

// generation returns the member's id and generation as the client knows
// them.
func (m *grpMember) generation() (string, int32) { return m.cl.GroupMetadata() }

// sharedCond reports whether members own disjoint, non-empty partition
// sets whose union is all partitions, and whether kgo is past the
// rebalance (every member has a member id and the same generation).
func sharedCond(members []*grpMember, partitions int32) (bool, string) {
	seen := map[int32]string{}
	var gens []int32
	for _, m := range members {
		own := m.ownedSet()
		if len(own) == 0 {
			return false, fmt.Sprintf("%s owns nothing (%s)", m.name, ownership(members))
		}
		for _, p := range own {
			if other, dup := seen[p]; dup {
				return false, fmt.Sprintf("partition %d owned by %s and %s", p, other, m.name)
			}
			seen[p] = m.name
		}
		id, gen := m.generation()
		if id == "" {
			return false, fmt.Sprintf("%s has no member id", m.name)
		}
		gens = append(gens, gen)
	}
	if len(seen) != int(partitions) {
		return false, fmt.Sprintf("%d of %d partitions owned (%s)", len(seen), partitions, ownership(members))
	}
	if slices.Min(gens) != slices.Max(gens) {
		return false, fmt.Sprintf("members are in generations %v", gens)
	}
	return true, ""
}

// waitShared waits until members share all partitions (sharedCond) and
// returns partition -> owner.
func waitShared(t *testing.T, members []*grpMember, partitions int32, what string) map[int32]*grpMember {
	t.Helper()
	waitFor(t, waitTimeout, what, func() (bool, string) { return sharedCond(members, partitions) })
	owner := map[int32]*grpMember{}
	for _, m := range members {
		for _, p := range m.ownedSet() {
			owner[p] = m
		}
	}
	return owner
}

// ownership renders each member's owned partitions.
func ownership(members []*grpMember) string {
	var parts []string
	for _, m := range members {
		parts = append(parts, fmt.Sprintf("%s=%v", m.name, m.ownedSet()))
	}
	return strings.Join(parts, " ")
}

// grpFindCoordinator asks nd (directly) for group's coordinator.
func grpFindCoordinator(nd *clusterNode, group string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	resp, err := nd.request(req)
	if err != nil {
		return -1, err
	}
	r := resp.(*kmsg.FindCoordinatorResponse)
	if len(r.Coordinators) == 1 {
		c := r.Coordinators[0]
		return c.NodeID, kerr.ErrorForCode(c.ErrorCode)
	}
	return r.NodeID, kerr.ErrorForCode(r.ErrorCode)
}

// waitGroupCoordinator waits until every node in nodes names the same
// coordinator for group, one of nodes, and returns it. The first call
// creates __consumer_offsets.
func waitGroupCoordinator(t *testing.T, nodes []*clusterNode, group string, timeout time.Duration) int32 {
	t.Helper()
	var id int32
	waitFor(t, timeout, "a coordinator for group "+group, func() (bool, string) {
		id = -2
		for _, nd := range nodes {
			got, err := grpFindCoordinator(nd, group)
			if err != nil {
				return false, fmt.Sprintf("node %d: FindCoordinator: %v", nd.id, err)
			}
			if id != -2 && got != id {
				return false, fmt.Sprintf("nodes name coordinators %d and %d", id, got)
			}
			id = got
		}
		if !slices.Contains(nodeIDs(nodes), id) {
			return false, fmt.Sprintf("coordinator %d is not among the live nodes %v", id, nodeIDs(nodes))
		}
		return true, ""
	})
	return id
}

// grpFetchCommitted returns group's committed offsets of topic (kadm
// FetchOffsets), or an error.
func grpFetchCommitted(adm *kadm.Client, group, topic string) (map[int32]kadm.Offset, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resps, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	if err := resps.Error(); err != nil {
		return nil, err
	}
	out := map[int32]kadm.Offset{}
	for p, r := range resps[topic] {
		out[p] = r.Offset
	}
	return out, nil
}

// grpDescribe describes group (kadm DescribeGroups).
func grpDescribe(adm *kadm.Client, group string) (kadm.DescribedGroup, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return kadm.DescribedGroup{}, err
	}
	d, ok := ds[group]
	if !ok {
		return kadm.DescribedGroup{}, fmt.Errorf("group %s not in the DescribeGroups answer", group)
	}
	if d.Err != nil {
		return d, d.Err
	}
	return d, nil
}

// describedAssignment maps each described member's client id to its
// assigned partitions of topic, sorted.
func describedAssignment(d kadm.DescribedGroup, topic string) map[string][]int32 {
	out := map[string][]int32{}
	for _, m := range d.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			out[m.ClientID] = nil
			continue
		}
		var ps []int32
		for _, tp := range ca.Topics {
			if tp.Topic == topic {
				ps = append(ps, tp.Partitions...)
			}
		}
		slices.Sort(ps)
		out[m.ClientID] = ps
	}
	return out
}

// resetDialer dials like net.Dialer and keeps the open connections so
// that the test can close random ones (connection resets under load).
type resetDialer struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	resets atomic.Int64
}

func newResetDialer() *resetDialer { return &resetDialer{conns: map[net.Conn]struct{}{}} }

func (d *resetDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, d: d}
	d.mu.Lock()
	d.conns[tc] = struct{}{}
	d.mu.Unlock()
	return tc, nil
}

// resetOne closes one random open connection, if any.
func (d *resetDialer) resetOne() {
	d.mu.Lock()
	var victim net.Conn
	if n := len(d.conns); n > 0 {
		i := rand.IntN(n)
		for c := range d.conns {
			if i == 0 {
				victim = c
				break
			}
			i--
		}
	}
	d.mu.Unlock()
	if victim != nil {
		d.resets.Add(1)
		victim.Close()
	}
}

// trackedConn removes itself from its dialer's set when closed.
type trackedConn struct {
	net.Conn
	d    *resetDialer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.d.mu.Lock()
		delete(c.d.conns, c)
		c.d.mu.Unlock()
	})
	return c.Conn.Close()
}

// commitErr is the first error of an OffsetCommit: the request's or a
// partition's.
func commitErr(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// grpLoad produces one record to every partition of a topic each tick
// (acks=all, values grpValue) until stopped, and remembers which records
// were acknowledged (check reads them back).
type grpLoad struct {
	cl     *kgo.Client
	topic  string
	parts  int32
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	sent      int
	acked     int
	ackedVals map[int32]map[string]bool
	errs      []error
}

func startGrpLoad(t *testing.T, nodes []*clusterNode, topic string, partitions int32, tick time.Duration) *grpLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &grpLoad{cl: grpProducer(t, nodes), topic: topic, parts: partitions, cancel: cancel, done: make(chan struct{}),
		ackedVals: map[int32]map[string]bool{}}
	for p := range partitions {
		l.ackedVals[p] = map[string]bool{}
	}
	go l.run(ctx, tick)
	t.Cleanup(func() { _ = l.stop() })
	return l
}

func (l *grpLoad) run(ctx context.Context, tick time.Duration) {
	defer close(l.done)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		for p := range l.parts {
			l.mu.Lock()
			l.sent++
			l.mu.Unlock()
			v := grpValue(p, seq)
			l.cl.Produce(context.Background(), &kgo.Record{Topic: l.topic, Partition: p, Value: []byte(v)},
				func(_ *kgo.Record, err error) {
					l.mu.Lock()
					defer l.mu.Unlock()
					if err != nil {
						l.errs = append(l.errs, err)
						return
					}
					l.acked++
					l.ackedVals[p][v] = true
				})
		}
	}
}

// stop stops producing and waits for the records in flight; it fails
// if some are still unanswered after waitTimeout (a partition that no
// longer accepts writes).
func (l *grpLoad) stop() error {
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := l.cl.Flush(ctx); err != nil {
		return fmt.Errorf("%d records still unanswered: %w", l.cl.BufferedProduceRecords(), err)
	}
	return nil
}

// check stops the load and reads the topic back: every acknowledged
// record is there exactly once, each partition's records in the order
// they were produced; and no produce failed.
func (l *grpLoad) check(t *testing.T, nodes []*clusterNode) {
	t.Helper()
	if err := l.stop(); err != nil {
		t.Error(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		t.Errorf("%d produce errors, first: %v", len(l.errs), l.errs[0])
	}
	got := grpConsumeAll(t, nodes, l.topic, grpEndOffsets(t, kadm.NewClient(grpClient(t, nodes)), l.topic))
	total := 0
	for p, acked := range l.ackedVals {
		seen := map[string]bool{}
		last := -1
		for _, r := range got[p] {
			v := string(r.Value)
			seq, _ := strconv.Atoi(v[strings.IndexByte(v, '-')+1:])
			if seen[v] || seq <= last {
				t.Fatalf("%s[%d] offset %d: %s duplicated or out of order (after seq %d)", l.topic, p, r.Offset, v, last)
			}
			seen[v], last = true, seq
		}
		for v := range acked {
			if !seen[v] {
				t.Fatalf("%s[%d]: acknowledged record %s lost", l.topic, p, v)
			}
		}
		total += len(acked)
	}
	t.Logf("%s: %d acknowledged records all read back once, in order", l.topic, total)
}

// result returns the records sent and acknowledged and the errors.
func (l *grpLoad) result() (sent, acked int, errs []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.acked, slices.Clone(l.errs)
}

// grpRedelivery is a record handed to a member again.
type grpRedelivery struct {
	p         int32
	offset    int64
	acked     int64 // the partition's last acknowledged commit then
	afterKill bool
}

// commitTracker is the poll hook of members that commit what they poll
// (kgo.BlockRebalanceOnPoll: the commit completes before a rebalance
// can move the partition). It records every acknowledged commit per
// partition and every record handed out more than once.
type commitTracker struct {
	topic string

	mu       sync.Mutex
	next     map[int32]int64 // one past the highest offset handed out
	acked    map[int32]int64 // highest acknowledged commit
	commits  int             // acknowledged commits
	failed   int             // failed commits
	redeliv  []grpRedelivery
	killedAt time.Time
	atKill   map[int32]int64
}

func newCommitTracker(topic string) *commitTracker {
	return &commitTracker{topic: topic, next: map[int32]int64{}, acked: map[int32]int64{}}
}

// onPoll records the polled records, commits the member's position in
// each polled partition and lets a waiting rebalance go on.
func (tr *commitTracker) onPoll(m *grpMember, fs kgo.Fetches) {
	defer m.cl.AllowRebalance()
	offs := map[int32]kgo.EpochOffset{}
	tr.mu.Lock()
	fs.EachRecord(func(r *kgo.Record) {
		if r.Offset < tr.next[r.Partition] {
			tr.redeliv = append(tr.redeliv, grpRedelivery{r.Partition, r.Offset, tr.acked[r.Partition], !tr.killedAt.IsZero()})
		}
		tr.next[r.Partition] = max(tr.next[r.Partition], r.Offset+1)
		offs[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
	})
	tr.mu.Unlock()
	if len(offs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	m.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{tr.topic: offs},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if err := commitErr(resp, err); err != nil {
				tr.failed++
				return
			}
			tr.commits++
			for p, o := range offs {
				tr.acked[p] = max(tr.acked[p], o.Offset)
			}
		})
}

// markKill snapshots the acknowledged commits: the coordinator is about
// to be killed.
func (tr *commitTracker) markKill() map[int32]int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.killedAt = time.Now()
	tr.atKill = maps.Clone(tr.acked)
	return maps.Clone(tr.atKill)
}

// ackedCommits returns the highest acknowledged commit per partition.
func (tr *commitTracker) ackedCommits() map[int32]int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return maps.Clone(tr.acked)
}

// grpAdmin returns a kadm client seeded with nodes.
func grpAdmin(t *testing.T, nodes []*clusterNode) *kadm.Client {
	t.Helper()
	return kadm.NewClient(grpClient(t, nodes))
}

// grpConsumeAll reads offsets [0, ends[p]) of every partition of topic
// and returns the records per partition, in offset order.
func grpConsumeAll(t *testing.T, nodes []*clusterNode, topic string, ends map[int32]int64) map[int32][]*kgo.Record {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	out := map[int32][]*kgo.Record{}
	for p, end := range ends {
		out[p] = nil
		if end > 0 {
			parts[p] = kgo.NewOffset().At(0)
		}
	}
	if len(parts) == 0 {
		return out
	}
	cl := grpClient(t, nodes, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(300*time.Millisecond), kgo.FetchMaxBytes(16<<20))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	for len(parts) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: timed out; still reading %v", topic, slices.Sorted(maps.Keys(parts)))
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Logf("consuming %s[%d]: %v (retrying)", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if end := ends[r.Partition]; r.Offset < end {
				out[r.Partition] = append(out[r.Partition], r)
				if r.Offset == end-1 {
					delete(parts, r.Partition)
				}
			}
		})
	}
	return out
}

// waitUnfenced waits until the current run of every node in nodes has
// logged that the controller unfenced it. (Before that, a restarted node
// serves the metadata it replayed from before its stop.)
func waitUnfenced(t *testing.T, nodes []*clusterNode, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "every restarted node unfenced", func() (bool, string) {
		for _, nd := range nodes {
			nd.checkAlive()
			run := nd.run()
			if !strings.Contains(nd.output(run), `msg="broker state changed" fenced=false`) {
				return false, fmt.Sprintf("node %d (run %d) is not unfenced yet", nd.id, run)
			}
		}
		return true, ""
	})
}
