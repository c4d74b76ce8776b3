package e2e

// Process-level tests of transactions (issue 13) with franz-go's
// transactional producer and GroupTransactSession against a 3-node
// cluster: read_committed sees committed transactions whole and aborted
// ones never; a consume-transform-produce loop is exactly once while the
// transaction coordinator is SIGKILLed; a second producer with the same
// transactional id fences the first; a transaction left open is aborted
// by the coordinator after its timeout.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/txn"
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

// TestExactlyOnceUnderCoordinatorKill runs franz-go's
// GroupTransactSession, copying 3,000 records from an input topic to an
// output topic with the consumed offsets committed in the same
// transactions, and SIGKILLs the node coordinating the transactional id
// (restarting it) a third of the way through. read_committed, the output
// holds every input record exactly once.
func TestExactlyOnceUnderCoordinatorKill(t *testing.T) {
	const in, out, partitions, total = "eos-in", "eos-out", 3, 3000
	c := startTxnCluster(t)
	grpCreateTopic(t, c, in, partitions, 3)
	grpCreateTopic(t, c, out, partitions, 3)
	grpProduce(t, grpProducer(t, c.nodes), in, partitions, total/partitions)

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(grpAddrs(c.nodes)...), kgo.MetadataMinAge(250*time.Millisecond), kgo.DialTimeout(time.Second),
		kgo.TransactionalID("eos-copier"), kgo.TransactionTimeout(20*time.Second),
		kgo.ConsumerGroup("eos"), kgo.ConsumeTopics(in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.SessionTimeout(grpSessionTimeout), kgo.HeartbeatInterval(grpHeartbeat))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	copied, killed := 0, false
	deadline := time.Now().Add(4 * waitTimeout)
	for copied < total && time.Now().Before(deadline) {
		if !killed && copied >= total/3 {
			victim := c.node(txnCoordinatorNode(t, c, "eos-copier"))
			victim.kill9()
			t.Logf("%d records copied: SIGKILLed node %d, the transaction coordinator", copied, victim.id)
			victim.start()
			killed = true
		}
		copied += copyOnce(t, sess, out)
	}
	if copied < total {
		t.Fatalf("copied %d of %d records before the deadline", copied, total)
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

// txnCoordinatorNode is the node leading the transactional id's
// __transaction_state partition.
func txnCoordinatorNode(t *testing.T, c *testCluster, id string) int32 {
	t.Helper()
	var leader int32 = -1
	waitFor(t, waitTimeout, "the transaction coordinator of "+id, func() (bool, string) {
		v, err := c.nodes[0].view()
		if err != nil {
			return false, err.Error()
		}
		parts := v.topic("__transaction_state")
		if len(parts) == 0 {
			return false, "no __transaction_state"
		}
		leader = parts[txn.PartitionFor(id, int32(len(parts)))].Leader
		return leader > 0, fmt.Sprintf("leader %d", leader)
	})
	return leader
}
