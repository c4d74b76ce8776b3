package e2e

// Process-level tests of the idempotent producer (issue 5): no duplicates
// or reorderings while partition leaders are SIGKILLed and client
// connections reset, and producer dedup state, groups and committed
// offsets surviving a restart of every node.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIdempotentProducerUnderKills writes 100,000 records with a
// franz-go idempotent producer (acks=all) to a 6-partition RF=3 topic
// (min.insync.replicas=2) while the test SIGKILLs the broker leading the
// most partitions twice (restarting it each time) and closes a random
// client connection every 200 ms. Each record's value carries its
// per-partition sequence number. Read back, every partition holds every
// record exactly once, in the order produced.
func TestIdempotentProducerUnderKills(t *testing.T) {
	const (
		topic      = "idem"
		partitions = 6
		total      = 100_000
	)
	c := startGroupCluster(t)
	grpCreateTopic(t, c, topic, partitions, 3)
	dialer := newResetDialer()
	cl := grpProducer(t, c.nodes, kgo.MaxBufferedRecords(5000), kgo.Dialer(dialer.dial),
		kgo.ProducerLinger(5*time.Millisecond))

	p := &idemProducer{cl: cl, topic: topic, partitions: partitions, total: total,
		gates: []int{total * 3 / 10, total * 6 / 10}, ready: make(chan int), release: make(chan struct{}),
		acked: map[int32][]int{}}
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.run(ctx)
	stopResets := resetEvery(dialer, 200*time.Millisecond)
	t.Cleanup(stopResets)

	killed := map[int32]int{}
	for range p.gates {
		var at int
		select {
		case at = <-p.ready:
		case <-time.After(2 * waitTimeout):
			t.Fatalf("producer did not reach its next kill point; %s", p.stats())
		}
		victim := killLeader(t, c, topic, partitions, killed)
		t.Logf("record %d: SIGKILLed node %d (leader of the most %s partitions); %s", at, victim.id, topic, p.stats())
		p.release <- struct{}{}
		victim.start()
		waitAgreed(t, c.nodes, 2*waitTimeout, fmt.Sprintf("node %d back in every ISR", victim.id),
			allConds(brokersAre(1, 2, 3), grpFullISR(topic, 3)))
		t.Logf("node %d restarted and back in every ISR; %s", victim.id, p.stats())
	}
	waitFor(t, 3*waitTimeout, "every record acknowledged", func() (bool, string) {
		return p.finished(), p.stats()
	})
	stopResets()
	took := time.Since(start)
	acked, errs := p.result()
	if len(errs) > 0 {
		t.Errorf("%d records failed, first: %v", len(errs), errs[0])
	}

	ends := grpEndOffsets(t, grpAdmin(t, c.nodes), topic)
	got := grpConsumeAll(t, c.nodes, topic, ends)
	dups, reorders, missing := checkSequences(t, got, acked)
	t.Logf("idempotence: %d records in %v, %d kills, %d connection resets, %d acknowledged; dups=%d reorders=%d missing=%d",
		total, took.Round(time.Millisecond), len(p.gates), dialer.resets.Load(), total-len(errs), dups, reorders, missing)
}

// idemProducer produces total records round-robin over partitions,
// values "p<partition>-<sequence>". At each gate it stops producing,
// reports on ready and waits on release (the test kills a broker
// meanwhile, with records in flight).
type idemProducer struct {
	cl         *kgo.Client
	topic      string
	partitions int32
	total      int
	gates      []int
	ready      chan int
	release    chan struct{}

	mu       sync.Mutex
	produced int
	acked    map[int32][]int // sequences acknowledged per partition
	nAcked   int
	errs     []error
	done     bool
}

func (p *idemProducer) run(ctx context.Context) {
	gates := p.gates
	for i := range p.total {
		if len(gates) > 0 && i == gates[0] {
			gates = gates[1:]
			select {
			case p.ready <- i:
			case <-ctx.Done():
				return
			}
			select {
			case <-p.release:
			case <-ctx.Done():
				return
			}
		}
		part, seq := int32(i%int(p.partitions)), i/int(p.partitions)
		r := &kgo.Record{Topic: p.topic, Partition: part, Value: []byte(grpValue(part, seq))}
		p.mu.Lock()
		p.produced++
		p.mu.Unlock()
		p.cl.Produce(ctx, r, func(r *kgo.Record, err error) { p.onAck(r, seq, err) })
	}
	p.cl.Flush(ctx)
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
}

func (p *idemProducer) onAck(r *kgo.Record, seq int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s[%d] seq %d: %w", r.Topic, r.Partition, seq, err))
		return
	}
	p.nAcked++
	p.acked[r.Partition] = append(p.acked[r.Partition], seq)
}

func (p *idemProducer) finished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done && p.nAcked+len(p.errs) == p.total
}

func (p *idemProducer) stats() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%d produced, %d acknowledged, %d failed, %d in flight", p.produced, p.nAcked, len(p.errs), p.produced-p.nAcked-len(p.errs))
}

func (p *idemProducer) result() (map[int32][]int, []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked, slices.Clone(p.errs)
}

// resetEvery closes one of d's connections every interval until the
// returned function is called.
func resetEvery(d *resetDialer, interval time.Duration) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				d.resetOne()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop); <-done }) }
}

// killLeader SIGKILLs the node leading the most partitions of topic,
// preferring nodes killed fewer times, and returns it.
func killLeader(t *testing.T, c *testCluster, topic string, partitions int, killed map[int32]int) *clusterNode {
	t.Helper()
	v := waitAgreed(t, c.nodes, waitTimeout, "agreed metadata", topicReady(topic, partitions))
	counts := v.leaderCounts(topic)
	best := int32(-1)
	for _, nd := range c.nodes {
		switch {
		case best < 0, killed[nd.id] < killed[best],
			killed[nd.id] == killed[best] && counts[nd.id] > counts[best]:
			best = nd.id
		}
	}
	killed[best]++
	c.node(best).kill9()
	return c.node(best)
}

// checkSequences checks each partition's values: sequences strictly
// increasing by one from 0 (no duplicate, no reordering, no gap), and
// every acknowledged sequence present. It returns the counts of
// duplicates, reorderings and missing acknowledged records.
func checkSequences(t *testing.T, got map[int32][]*kgo.Record, acked map[int32][]int) (dups, reorders, missing int) {
	t.Helper()
	for p, recs := range got {
		seen := map[int]bool{}
		last := -1
		for _, r := range recs {
			seq, err := parseSeq(p, r.Value)
			if err != nil {
				t.Errorf("partition %d offset %d: %v", p, r.Offset, err)
				continue
			}
			switch {
			case seen[seq]:
				dups++
				if dups <= 5 {
					t.Errorf("partition %d offset %d: duplicate of sequence %d", p, r.Offset, seq)
				}
			case seq < last:
				reorders++
				if reorders <= 5 {
					t.Errorf("partition %d offset %d: sequence %d after %d", p, r.Offset, seq, last)
				}
			case seq != last+1:
				t.Errorf("partition %d offset %d: sequence %d follows %d (gap)", p, r.Offset, seq, last)
			}
			seen[seq] = true
			last = max(last, seq)
		}
		for _, seq := range acked[p] {
			if !seen[seq] {
				missing++
				if missing <= 5 {
					t.Errorf("partition %d: acknowledged sequence %d is missing", p, seq)
				}
			}
		}
	}
	return dups, reorders, missing
}

// parseSeq parses a grpValue of partition p.
func parseSeq(p int32, v []byte) (int, error) {
	prefix := fmt.Sprintf("p%02d-", p)
	s, ok := strings.CutPrefix(string(v), prefix)
	if !ok {
		return 0, fmt.Errorf("value %q is not of partition %d", v, p)
	}
	return strconv.Atoi(s)
}

// TestIdempotenceAndGroupsSurviveRestartAll SIGKILLs every node and
// starts them all again, then checks that groups (ListGroups,
// DescribeGroups: an empty group whose members left, a static member's
// group with its member and assignment, a group with only
// admin-committed offsets), committed offsets (FetchOffsets) and
// producer dedup state survived: idempotent batches acknowledged before
// the restart, sent again with the same producer id, epoch and sequence,
// are answered with their original offsets and append nothing, the next
// sequence is appended at the log end, and a sequence gap is refused
// with OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestIdempotenceAndGroupsSurviveRestartAll(t *testing.T) {
	const (
		topic      = "restart-all"
		partitions = 3
	)
	c := startGroupCluster(t)
	grpCreateTopic(t, c, topic, partitions, 3)
	grpProduce(t, grpProducer(t, c.nodes), topic, partitions, 30)
	adm := grpAdmin(t, c.nodes)
	groups := setUpGroups(t, c, adm, topic, partitions)
	before := waitGroupsSnapshot(t, adm, groups, topic, nil)

	// Idempotent batches (5 records each) to partition 0, then other
	// records after them.
	tp := clusterTP{topic, 0}
	pid, epoch := initProducerID(t, c.nodes[0])
	var batches [][]byte
	var bases []int64
	for seq := int32(0); seq < 15; seq += 5 {
		b := idempotentBatch(t, pid, epoch, seq, 5)
		batches = append(batches, b)
		base, err := produceBatch(t, c, tp, b)
		if err != nil {
			t.Fatalf("idempotent batch seq %d: %v", seq, err)
		}
		bases = append(bases, base)
	}
	grpProduce(t, grpProducer(t, c.nodes), topic, partitions, 200)
	endsBefore := grpEndOffsets(t, adm, topic)
	t.Logf("producer %d epoch %d: batches at %s[0] offsets %v; end offsets %v", pid, epoch, topic, bases, endsBefore)

	for _, nd := range c.nodes {
		nd.kill9()
	}
	restarted := time.Now()
	for _, nd := range c.nodes {
		nd.start()
	}
	// Right away, while leaders learn their high watermarks again.
	checkEndsAfterRestart(t, adm, topic, endsBefore)
	waitUnfenced(t, c.nodes, 2*waitTimeout)
	waitAgreed(t, c.nodes, 2*waitTimeout, "every node back with full ISRs", allConds(brokersAre(1, 2, 3),
		topicReady(topic, partitions), grpFullISR(topic, 3), topicReady(offsetsTopic, grpOffsetsParts), grpFullISR(offsetsTopic, 3)))
	t.Logf("cluster back %v after the restart of every node", time.Since(restarted).Round(time.Millisecond))

	waitGroupsSnapshot(t, adm, groups, topic, before)
	for i, b := range batches {
		base, err := produceBatch(t, c, tp, b)
		if err != nil || base != bases[i] {
			t.Errorf("batch %d sent again after the restart: base offset %d, error %v; want the original offset %d", i, base, err, bases[i])
		}
	}
	if ends := grpEndOffsets(t, adm, topic); !maps.Equal(ends, endsBefore) {
		t.Errorf("end offsets %v after sending the batches again, were %v: duplicates were appended", ends, endsBefore)
	}
	if base, err := produceBatch(t, c, tp, idempotentBatch(t, pid, epoch, 15, 5)); err != nil || base != endsBefore[0] {
		t.Errorf("next batch (seq 15): base offset %d, error %v; want %d", base, err, endsBefore[0])
	}
	if _, err := produceBatch(t, c, tp, idempotentBatch(t, pid, epoch, 40, 5)); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Errorf("batch with a sequence gap (seq 40 after 19): error %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
}

const offsetsTopic = "__consumer_offsets"

// setUpGroups creates three groups on topic and returns their names: one
// whose two members committed and left (Empty), one with a static member
// (60 s session) that committed and closed without leaving (Stable), and
// one with offsets committed through kadm only.
func setUpGroups(t *testing.T, c *testCluster, adm *kadm.Client, topic string, partitions int32) []string {
	t.Helper()
	const dynamic, static, admin = "grp-restart-dynamic", "grp-restart-static", "grp-restart-admin"
	for _, g := range []string{dynamic, static, admin} {
		waitGroupCoordinator(t, c.nodes, g, waitTimeout)
	}
	members := []*grpMember{
		startGrpMember(t, c.nodes, dynamic, topic, "dyn-1", nil),
		startGrpMember(t, c.nodes, dynamic, topic, "dyn-2", nil),
	}
	owner := waitShared(t, members, partitions, "two members sharing "+topic)
	commitByMembers(t, members, owner, topic)
	for _, m := range members {
		m.close()
	}
	sm := startGrpMember(t, c.nodes, static, topic, "static-1", nil, kgo.InstanceID("static-1"), kgo.SessionTimeout(time.Minute))
	owner = waitShared(t, []*grpMember{sm}, partitions, "the static member owning "+topic)
	commitByMembers(t, []*grpMember{sm}, owner, topic)
	sm.close()

	offs := kadm.Offsets{}
	for p := range partitions {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(p + 1), LeaderEpoch: -1, Metadata: fmt.Sprintf("admin-%d", p)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := adm.CommitAllOffsets(ctx, admin, offs); err != nil {
		t.Fatalf("kadm CommitOffsets %s: %v", admin, err)
	}
	return []string{dynamic, static, admin}
}

// groupsSnapshot renders what ListGroups, DescribeGroups and FetchOffsets
// say about groups as sorted lines.
func groupsSnapshot(adm *kadm.Client, groups []string, topic string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, g := range groups {
		l, ok := listed[g]
		if !ok {
			return nil, fmt.Errorf("ListGroups does not list %s", g)
		}
		lines = append(lines, fmt.Sprintf("%s listed: state %s, protocol type %q", g, l.State, l.ProtocolType))
		d, err := grpDescribe(adm, g)
		if err != nil {
			return nil, err
		}
		lines = append(lines, fmt.Sprintf("%s described: state %s, protocol %q/%q", g, d.State, d.ProtocolType, d.Protocol))
		assigned := describedAssignment(d, topic)
		for _, m := range d.Members {
			inst := "<none>"
			if m.InstanceID != nil {
				inst = *m.InstanceID
			}
			lines = append(lines, fmt.Sprintf("%s member %s instance %s client %s assigned %v", g, m.MemberID, inst, m.ClientID, assigned[m.ClientID]))
		}
		offs, err := grpFetchCommitted(adm, g, topic)
		if err != nil {
			return nil, err
		}
		for p, o := range offs {
			lines = append(lines, fmt.Sprintf("%s offset %s[%d] = %d epoch %d metadata %q", g, topic, p, o.At, o.LeaderEpoch, o.Metadata))
		}
	}
	slices.Sort(lines)
	return lines, nil
}

// waitGroupsSnapshot waits until the groups snapshot can be taken and,
// if want is not nil, equals want; it returns the snapshot.
func waitGroupsSnapshot(t *testing.T, adm *kadm.Client, groups []string, topic string, want []string) []string {
	t.Helper()
	var got []string
	waitFor(t, waitTimeout, "groups and offsets as before the restart", func() (bool, string) {
		var err error
		if got, err = groupsSnapshot(adm, groups, topic); err != nil {
			return false, err.Error()
		}
		if want != nil && !slices.Equal(got, want) {
			return false, fmt.Sprintf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return true, ""
	})
	if want == nil {
		t.Logf("groups before the restart:\n%s", strings.Join(got, "\n"))
	}
	return got
}

// initProducerID gets a producer id and epoch from nd.
func initProducerID(t *testing.T, nd *clusterNode) (int64, int16) {
	t.Helper()
	var pid int64
	var epoch int16
	waitFor(t, waitTimeout, "a producer id", func() (bool, string) {
		resp, err := nd.request(kmsg.NewPtrInitProducerIDRequest())
		if err != nil {
			return false, err.Error()
		}
		r := resp.(*kmsg.InitProducerIDResponse)
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return false, err.Error()
		}
		pid, epoch = r.ProducerID, r.ProducerEpoch
		return true, ""
	})
	return pid, epoch
}

// idempotentBatch builds a batch of n records with the producer id, epoch
// and base sequence set (values "idem-<sequence>").
func idempotentBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: []byte(fmt.Sprintf("idem-%d", int(seq)+i))}
	}
	b, err := record.BuildBatch(record.CompressionNone, time.Now().UnixMilli(), recs)
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = pid, epoch, seq
	if b, err = record.RebuildBatch(h, recs); err != nil {
		t.Fatal(err)
	}
	return b
}

// produceBatch sends batch to tp's leader (acks=all) and returns the
// base offset it was given, or the partition's error. Requests that fail
// or are refused with a retriable error (the leader moved) are retried.
func produceBatch(t *testing.T, c *testCluster, tp clusterTP, batch []byte) (int64, error) {
	t.Helper()
	var (
		base int64
		perr error
	)
	waitFor(t, waitTimeout, fmt.Sprintf("a produce answer from %s's leader", tp), func() (bool, string) {
		v, err := agreedView(c.nodes)
		if err != nil {
			return false, err.Error()
		}
		leader := v.Parts[tp].Leader
		if leader < 0 {
			return false, fmt.Sprintf("%s has no leader", tp)
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = tp.p, slices.Clone(batch)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := c.node(leader).request(req)
		if err != nil {
			return false, fmt.Sprintf("node %d: %v", leader, err)
		}
		r := resp.(*kmsg.ProduceResponse)
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			return false, fmt.Sprintf("malformed produce response %+v", r)
		}
		prp := r.Topics[0].Partitions[0]
		perr = kerr.ErrorForCode(prp.ErrorCode)
		base = prp.BaseOffset
		if ke, ok := perr.(*kerr.Error); ok && ke.Retriable && !errors.Is(perr, kerr.OutOfOrderSequenceNumber) {
			return false, fmt.Sprintf("node %d: %v", leader, perr)
		}
		return true, ""
	})
	return base, perr
}

// checkEndsAfterRestart polls the end offsets of topic until they equal
// want. An answer below want is an error: the end offset (the high
// watermark) of a partition must never go back, even while its leader
// does not know the high watermark yet (Kafka answers
// OFFSET_NOT_AVAILABLE then, and clients retry).
func checkEndsAfterRestart(t *testing.T, adm *kadm.Client, topic string, want map[int32]int64) {
	t.Helper()
	waitFor(t, 2*waitTimeout, "end offsets as before the restart", func() (bool, string) {
		got, err := tryOffsets(adm.ListEndOffsets, topic)
		if err != nil {
			return false, err.Error()
		}
		for p, o := range got {
			if o < want[p] {
				t.Fatalf("after the restart ListOffsets answered end offset %d for %s[%d], below the %d acknowledged before", o, topic, p, want[p])
			}
		}
		return maps.Equal(got, want), fmt.Sprintf("end offsets %v, want %v", got, want)
	})
}
