package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBackToBackTransactions runs transactions back to back from four
// producers on a single node, which is the transaction coordinator and
// every partition's leader: each transaction's first batches (Produce
// v12, transaction version 2) make the leader ask the coordinator to add
// the partitions, and the coordinator holds that question until the
// producer's previous transaction has its markers.
//
// The markers must not travel on the connection of those questions:
// responses come in request order, so a marker written after a held
// question waits for that question's response, which waits for the
// marker, until the coordinator gives up on the question (a second). On a
// 3-node cluster that made the transactional bench 6-13 commits/s instead
// of 57-119. The single node here does not reliably order a question
// before its marker, so the test also checks the two clients are apart.
func TestBackToBackTransactions(t *testing.T) {
	n := startNode(t, map[string]string{
		"transaction.state.log.replication.factor": "1", "transaction.state.log.num.partitions": "1",
		"offsets.topic.replication.factor": "1",
	})
	if n.brokers == n.markers || n.brokers == nil || n.markers == nil {
		t.Fatal("transaction markers share the inter-broker client of the produce path's questions")
	}
	n.createTopic(t, "tx", 4, nil)
	const producers, txns = 4, 15
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for i := range producers {
		wg.Go(func() { errs <- runTransactions(n.addr, fmt.Sprintf("back-to-back-%d", i), txns) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("%d producers' %d back-to-back transactions took %v", producers, txns, took)
	}
}

// runTransactions commits n transactions of one record in each of the
// topic's four partitions.
func runTransactions(addr, id string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		var recs []*kgo.Record
		for p := range int32(4) {
			recs = append(recs, &kgo.Record{Topic: "tx", Partition: p, Value: []byte(id)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("%s transaction %d: %w", id, i, err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("%s transaction %d: %w", id, i, err)
		}
	}
	return nil
}
