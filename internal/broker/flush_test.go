package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kgo"
)

// With flush.messages=1 every acknowledged record is fsynced before its
// acknowledgement (acks=1 and acks=all), though appends no longer fsync
// inline: the produce handler syncs each request's partitions in
// parallel, and concurrent requests share fsyncs.
func TestFlushMessagesAcksAfterFsync(t *testing.T) {
	n := startNode(t, nil)
	n.createTopic(t, "flushed", 3, map[string]string{"flush.messages": "1"})
	for _, acks := range []kgo.Acks{kgo.LeaderAck(), kgo.AllISRAcks()} {
		cl := n.client(t, kgo.RequiredAcks(acks), kgo.DefaultProduceTopic("flushed"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var mu sync.Mutex
		var bad []string
		var wg sync.WaitGroup
		for i := range 300 {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: []byte{byte(i)}}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					return
				}
				l := n.logs.Get(storage.TopicPartition{Topic: "flushed", Partition: r.Partition})
				if rp := l.RecoveryPoint(); rp <= r.Offset {
					mu.Lock()
					bad = append(bad, "acknowledged before its fsync")
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		cancel()
		cl.Close()
		if len(bad) > 0 {
			t.Fatalf("acks %v: %d bad acknowledgements, first: %s", acks, len(bad), bad[0])
		}
	}
}
