package replication

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchFetcher returns a fetcher of leader 2 with n ready partitions of
// topic "idle" in epoch 5 (no goroutine runs it), in an incremental
// session its first, full, request opened. The replicas share one empty
// log: a fetch state is only read, never appended to.
func benchFetcher(b *testing.B, n int) *fetcher {
	b.Helper()
	l, err := storage.Open(filepath.Join(b.TempDir(), "idle"), storage.Options{Config: storage.DefaultConfig(), Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	replicas := make(map[TopicPartition]*partition.Partition, n)
	for i := range n {
		tp := TopicPartition{"idle", int32(i)}
		p := partition.New(partition.Options{Topic: tp.Topic, Index: tp.Partition, LocalID: 1, Log: l, Logger: discard,
			Config: partition.Config{MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, ReplicaLagTimeMax: time.Minute, Storage: storage.DefaultConfig()}})
		p.SetState(partition.State{Leader: 2, LeaderEpoch: 5, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
		replicas[tp] = p
	}
	m := NewManager(Options{NodeID: 1, Logger: discard,
		Partition: func(topic string, idx int32) *partition.Partition { return replicas[TopicPartition{topic, idx}] }})
	b.Cleanup(m.Close)
	f := newFetcher(m, 2)
	m.mu.Lock()
	for tp := range replicas {
		a := &assignment{tp: tp, leader: 2, epoch: 5, f: f}
		m.parts[tp], f.parts[tp] = a, a
	}
	m.mu.Unlock()
	if _, parts, _ := f.buildRequest(func() {}); len(parts) != n {
		b.Fatalf("first request: %d partitions, want %d", len(parts), n)
	}
	f.sess.answered(&kmsg.FetchResponse{SessionID: 1})
	return f
}

// BenchmarkFetcherBuildRequest is a fetch round's own work with 1,000
// ready partitions of which one changed: applying a response that
// answers one partition (no records: its HW moved), then building the
// next incremental request.
func BenchmarkFetcherBuildRequest(b *testing.B) {
	const n = 1000
	f := benchFetcher(b, n)
	resp := kmsg.NewPtrFetchResponse()
	resp.SessionID = 1
	t := kmsg.NewFetchResponseTopic()
	t.Topic = "idle"
	t.Partitions = append(t.Partitions, kmsg.NewFetchResponseTopicPartition())
	resp.Topics = append(resp.Topics, t)
	var parts []*inflight
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp.Topics[0].Partitions[0].Partition = int32(i % n)
		f.handleResponse(resp)
		_, parts, _ = f.buildRequest(func() {})
		f.sess.answered(resp)
	}
	b.StopTimer()
	if len(parts) != n {
		b.Fatalf("%d partitions in the session, want %d", len(parts), n)
	}
}
