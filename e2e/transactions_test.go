package e2e

// Process-level tests of transactions (issue 13) with franz-go's
// transactional producer and GroupTransactSession against a 3-node
// cluster: read_committed sees committed transactions whole and aborted
// ones never; a consume-transform-produce loop is exactly once while
// leaders and both coordinators are SIGKILLed; a second producer with the
// same transactional id fences the first; a transaction left open is
// aborted by the coordinator after its timeout; open transactions end,
// one way or the other, across leader moves and a full restart.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startTxnCluster is startGroupCluster with a small __transaction_state
// and a quick timeout reaper.
func startTxnCluster(t *testing.T, extra ...string) *testCluster {
	t.Helper()
	return startGroupCluster(t, append([]string{
		"transaction.state.log.num.partitions=5",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
	}, extra...)...)
}

// txnProducer is a transactional, manually partitioned acks=all producer.
func txnProducer(t *testing.T, c *testCluster, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return grpProducer(t, c.nodes, append([]kgo.Opt{kgo.TransactionalID(id), kgo.TransactionTimeout(20 * time.Second)}, opts...)...)
}

// runTxn produces recs in one transaction and ends it with commit or
// abort.
func runTxn(t *testing.T, cl *kgo.Client, commit bool, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing in a transaction: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("ending the transaction (commit %v): %v", commit, err)
	}
}

// consumeValues reads topic from the start with the isolation level until
// it has want records, then 1 s more (to catch extras), and returns the
// values per partition in offset order.
func consumeValues(t *testing.T, c *testCluster, topic string, committed bool, want int) map[int32][]string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := grpClient(t, c.nodes, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	out := map[int32][]string{}
	n := 0
	deadline := time.Now().Add(2 * waitTimeout)
	var extraUntil time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], string(r.Value))
			n++
		})
		if n >= want && extraUntil.IsZero() {
			extraUntil = time.Now().Add(time.Second)
		}
		switch {
		case !extraUntil.IsZero() && time.Now().After(extraUntil):
			return out
		case time.Now().After(deadline):
			t.Fatalf("consuming %s (read_committed %v): %d records after %v, want %d", topic, committed, n, 2*waitTimeout, want)
		}
	}
}

// lastStable asks a partition's leader for its end offset under the
// isolation level (ListOffsets latest), through any node's metadata.
func lastStable(t *testing.T, c *testCluster, topic string, p int32, committed bool) int64 {
	t.Helper()
	cl := grpClient(t, c.nodes)
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	if committed {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = p, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	var off int64
	waitFor(t, waitTimeout, "ListOffsets latest", func() (bool, string) {
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			return false, err.Error()
		}
		part := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
			return false, err.Error()
		}
		off = part.Offset
		return true, ""
	})
	return off
}

// TestTransactionsReadCommitted commits and aborts transactions across 3
// partitions (RF=3) and checks what each isolation level reads, and that
// an open transaction holds back the last stable offset until it
// commits.
func TestTransactionsReadCommitted(t *testing.T) {
	const topic, partitions, perTxn = "txn-rc", 3, 10
	c := startTxnCluster(t)
	grpCreateTopic(t, c, topic, partitions, 3)
	cl := txnProducer(t, c, "rc-producer")
	var committed []string
	for i := range 6 {
		commit := i%2 == 0
		var recs []*kgo.Record
		for j := range perTxn {
			p := int32(j % partitions)
			v := fmt.Sprintf("txn%d-%v-%02d", i, commit, j)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
			if commit {
				committed = append(committed, v)
			}
		}
		runTxn(t, cl, commit, recs...)
	}
	got := consumeValues(t, c, topic, true, len(committed))
	var all []string
	for p := range int32(partitions) {
		all = append(all, got[p]...)
	}
	slices.Sort(all)
	slices.Sort(committed)
	if !slices.Equal(all, committed) {
		t.Fatalf("read_committed read %d records %v, want the %d committed %v", len(all), all, len(committed), committed)
	}
	if unc := consumeValues(t, c, topic, false, 6*perTxn); countValues(unc) != 6*perTxn {
		t.Fatalf("read_uncommitted read %d records, want %d", countValues(unc), 6*perTxn)
	}

	// An open transaction holds the LSO at its first offset.
	before := lastStable(t, c, topic, 0, true)
	ctx := ctxT(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if hw, lso := lastStable(t, c, topic, 0, false), lastStable(t, c, topic, 0, true); lso != before || hw != before+1 {
		t.Fatalf("with a transaction open at %d: LSO %d, HW %d; want LSO %d, HW %d", before, lso, hw, before, before+1)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitTimeout, "the LSO passes the committed transaction", func() (bool, string) {
		lso := lastStable(t, c, topic, 0, true)
		return lso >= before+2, fmt.Sprintf("LSO %d", lso)
	})
}

func countValues(m map[int32][]string) int {
	n := 0
	for _, vs := range m {
		n += len(vs)
	}
	return n
}

// TestTransactionZombieFenced starts a second producer with the same
// transactional id while the first has a transaction open: the first is
// fenced (its commit fails), its records are aborted, and the second's
// transaction commits.
func TestTransactionZombieFenced(t *testing.T) {
	const topic = "txn-zombie"
	c := startTxnCluster(t)
	grpCreateTopic(t, c, topic, 1, 3)
	ctx := ctxT(t)
	zombie := txnProducer(t, c, "zombie")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	successor := txnProducer(t, c, "zombie")
	runTxn(t, successor, true, &kgo.Record{Topic: topic, Value: []byte("successor")})
	err := zombie.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		t.Fatal("the fenced producer committed")
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Logf("fenced producer's commit failed with %v", err)
	}
	got := consumeValues(t, c, topic, true, 1)
	if vs := got[0]; !slices.Equal(vs, []string{"successor"}) {
		t.Fatalf("read_committed read %v, want only the successor's record", vs)
	}
}

// TestTransactionTimeoutAborts leaves a transaction open past its
// transaction.timeout.ms: the coordinator aborts it, the last stable
// offset moves past it, and its records are never read committed.
func TestTransactionTimeoutAborts(t *testing.T) {
	const topic = "txn-timeout"
	c := startTxnCluster(t)
	grpCreateTopic(t, c, topic, 1, 3)
	ctx := ctxT(t)
	cl := txnProducer(t, c, "sleeper", kgo.TransactionTimeout(2*time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("abandoned")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitTimeout, "the coordinator aborts the timed-out transaction", func() (bool, string) {
		lso := lastStable(t, c, topic, 0, true)
		return lso >= 2, fmt.Sprintf("LSO %d", lso) // record + ABORT marker
	})
	plain := grpProducer(t, c.nodes)
	if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := consumeValues(t, c, topic, true, 1); !slices.Equal(got[0], []string{"after"}) {
		t.Fatalf("read_committed read %v, want only the record written after the abort", got[0])
	}
}

// TestExactlyOnceUnderKills runs franz-go's GroupTransactSession,
// copying 6,000 records from a 6-partition input topic to a 6-partition
// output topic (both RF=3) with the consumed offsets committed in the same
// transactions, while the test SIGKILLs (and restarts) in turn the node
// leading the most input partitions, the one leading the most output
// partitions, the group coordinator and the transaction coordinator.
// read_committed, the output holds every input record exactly once, in
// order.
func TestExactlyOnceUnderKills(t *testing.T) {
	const in, out, partitions, total = "eos-in", "eos-out", 6, 6000
	c := startTxnCluster(t)
	grpCreateTopic(t, c, in, partitions, 3)
	grpCreateTopic(t, c, out, partitions, 3)
	grpProduce(t, grpProducer(t, c.nodes), in, partitions, total/partitions)

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(grpAddrs(c.nodes)...), kgo.MetadataMinAge(250*time.Millisecond), kgo.DialTimeout(time.Second),
		kgo.TransactionalID("eos-copier"), kgo.TransactionTimeout(20*time.Second),
		kgo.ConsumerGroup("eos"), kgo.ConsumeTopics(in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.SessionTimeout(grpSessionTimeout), kgo.HeartbeatInterval(grpHeartbeat))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	victims := []func() int32{
		func() int32 { return mostLeader(t, c, in, partitions) },
		func() int32 { return mostLeader(t, c, out, partitions) },
		func() int32 { return coordinatorNode(t, c, "__consumer_offsets", "eos") },
		func() int32 { return coordinatorNode(t, c, "__transaction_state", "eos-copier") },
	}
	names := []string{"the leader of the most input partitions", "the leader of the most output partitions",
		"the group coordinator", "the transaction coordinator"}
	copied, kills := 0, 0
	deadline := time.Now().Add(6 * waitTimeout)
	for copied < total && time.Now().Before(deadline) {
		if kills < len(victims) && copied >= total*(kills+1)/(len(victims)+1) {
			victim := c.node(victims[kills]())
			victim.kill9()
			t.Logf("%d records copied: SIGKILLed node %d, %s", copied, victim.id, names[kills])
			victim.start()
			kills++
			waitAgreed(t, c.nodes, 2*waitTimeout, fmt.Sprintf("node %d back in every ISR", victim.id),
				allConds(brokersAre(1, 2, 3), grpFullISR(in, 3), grpFullISR(out, 3)))
		}
		copied += copyOnce(t, sess, out)
	}
	if copied < total || kills < len(victims) {
		t.Fatalf("copied %d of %d records with %d kills before the deadline", copied, total, kills)
	}
	got := consumeValues(t, c, out, true, total)
	for p := range int32(partitions) {
		want := make([]string, total/partitions)
		for seq := range want {
			want[seq] = grpValue(p, seq)
		}
		if !slices.Equal(got[p], want) {
			t.Errorf("partition %d: read_committed output has %d records, want %d exactly once in order: %s",
				p, len(got[p]), len(want), firstDiff(got[p], want))
		}
	}
}

// mostLeader is the node leading the most partitions of topic.
func mostLeader(t *testing.T, c *testCluster, topic string, partitions int) int32 {
	t.Helper()
	counts := waitAgreed(t, c.nodes, waitTimeout, "agreed metadata", topicReady(topic, partitions)).leaderCounts(topic)
	best := int32(1)
	for id, n := range counts {
		if n > counts[best] {
			best = id
		}
	}
	return best
}

// copyOnce copies one poll's records in one transaction; it returns how
// many were committed (0 when the transaction aborted).
func copyOnce(t *testing.T, sess *kgo.GroupTransactSession, out string) int {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	fs := sess.PollRecords(ctx, 100)
	var recs []*kgo.Record
	fs.EachRecord(func(r *kgo.Record) {
		recs = append(recs, &kgo.Record{Topic: out, Partition: r.Partition, Value: r.Value})
	})
	if len(recs) == 0 {
		return 0
	}
	if err := sess.Begin(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	produceErr := sess.Client().ProduceSync(ctx, recs...).FirstErr()
	committed, err := sess.End(ctx, kgo.TransactionEndTry(produceErr == nil))
	if err != nil {
		t.Logf("ending a transaction of %d records: %v (produce: %v)", len(recs), err, produceErr)
	}
	if !committed {
		return 0
	}
	return len(recs)
}

// coordinatorNode is the node leading key's partition of the internal
// topic (__consumer_offsets for a group, __transaction_state for a
// transactional id).
func coordinatorNode(t *testing.T, c *testCluster, topic, key string) int32 {
	t.Helper()
	var leader int32 = -1
	waitFor(t, waitTimeout, "the coordinator of "+key, func() (bool, string) {
		v, err := c.nodes[0].view()
		if err != nil {
			return false, err.Error()
		}
		parts := v.topic(topic)
		if len(parts) == 0 {
			return false, "no " + topic
		}
		leader = parts[metadata.CoordinatorPartition(key, int32(len(parts)))].Leader
		return leader > 0, fmt.Sprintf("leader %d", leader)
	})
	return leader
}

// TestOpenTransactionsAcrossRestarts keeps transactions open while the
// leader of the most partitions is SIGKILLed and then while every node is
// restarted (SIGTERM, start): a transaction whose producer commits after
// the leader move is committed whole; one whose producer never ends it is
// aborted by its coordinator; one open across the full restart ends one
// way or the other, as its producer's commit said. None hangs: every
// partition's last stable offset reaches its high watermark within the
// transaction timeout of the restart.
func TestOpenTransactionsAcrossRestarts(t *testing.T) {
	const topic, partitions = "txn-restart", 3
	c := startTxnCluster(t, "transaction.max.timeout.ms=10000")
	grpCreateTopic(t, c, topic, partitions, 3)
	committer := txnProducer(t, c, "committer", kgo.TransactionTimeout(8*time.Second))
	stranded := txnProducer(t, c, "stranded", kgo.TransactionTimeout(8*time.Second))
	openTxn(t, committer, topic, partitions, "c1")
	openTxn(t, stranded, topic, partitions, "s1")

	victim := c.node(mostLeader(t, c, topic, partitions))
	victim.kill9()
	victim.start()
	waitAgreed(t, c.nodes, 2*waitTimeout, fmt.Sprintf("node %d back in every ISR", victim.id),
		allConds(brokersAre(1, 2, 3), grpFullISR(topic, 3)))
	if err := committer.EndTransaction(ctxT(t), kgo.TryCommit); err != nil {
		t.Fatalf("committing after the leader move: %v", err)
	}

	openTxn(t, committer, topic, partitions, "c2")
	restartAll(t, c)
	waitAgreed(t, c.nodes, readyTimeout, "all brokers back with full ISRs", allConds(brokersAre(1, 2, 3), grpFullISR(topic, 3)))
	c2 := committer.EndTransaction(ctxT(t), kgo.TryCommit) == nil
	t.Logf("the transaction open across the restart committed: %v", c2)

	start := time.Now()
	waitFor(t, 30*time.Second, "every partition's LSO at its HW", func() (bool, string) {
		for p := range int32(partitions) {
			if lso, hw := lastStable(t, c, topic, p, true), lastStable(t, c, topic, p, false); lso != hw {
				return false, fmt.Sprintf("partition %d: LSO %d, HW %d", p, lso, hw)
			}
		}
		return true, ""
	})
	t.Logf("every LSO reached its HW %v after the restart", time.Since(start).Round(time.Millisecond))
	want := partitions // c1
	if c2 {
		want += partitions
	}
	got := consumeValues(t, c, topic, true, want)
	for p := range int32(partitions) {
		exp := []string{fmt.Sprintf("c1-%d", p)}
		if c2 {
			exp = append(exp, fmt.Sprintf("c2-%d", p))
		}
		if !slices.Equal(got[p], exp) {
			t.Errorf("partition %d: read_committed read %v, want %v", p, got[p], exp)
		}
	}
}

// openTxn begins a transaction and writes tag-<p> to each partition.
func openTxn(t *testing.T, cl *kgo.Client, topic string, partitions int32, tag string) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for p := range partitions {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%s-%d", tag, p))})
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatalf("producing in transaction %s: %v", tag, err)
	}
}

// restartAll stops every node with SIGTERM, together, and starts them
// again.
func restartAll(t *testing.T, c *testCluster) {
	t.Helper()
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Go(func() {
			if ok, err := nd.signal(syscall.SIGTERM, clStopTimeout); !ok || err != nil {
				t.Errorf("node %d after SIGTERM: exited %v, %v", nd.id, ok, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, nd := range c.nodes {
		nd.start()
	}
}
