package server

import (
	"bufio"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// randomFetchResponse builds a fetch response with every field that
// varies in size set at random: topics by name and id, partitions with
// record bytes, aborted transactions, diverging epochs, current leaders,
// snapshot ids, and node endpoints.
func randomFetchResponse(rng *rand.Rand, version int16) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.Version = version
	for range rng.IntN(4) {
		e := kmsg.NewFetchResponseBroker()
		e.Host = string(make([]byte, rng.IntN(40)))
		rack := string(make([]byte, rng.IntN(10)))
		e.Rack = &rack
		r.Brokers = append(r.Brokers, e)
	}
	for range 1 + rng.IntN(5) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(make([]byte, 1+rng.IntN(249)))
		for range 1 + rng.IntN(20) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64()
			p.RecordBatches = make([]byte, rng.IntN(5000))
			for range rng.IntN(3) {
				a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				a.ProducerID, a.FirstOffset = rng.Int64(), rng.Int64()
				p.AbortedTransactions = append(p.AbortedTransactions, a)
			}
			p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = rng.Int32(), rng.Int64()
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = rng.Int32(), rng.Int32()
			p.SnapshotID.EndOffset, p.SnapshotID.Epoch = rng.Int64(), rng.Int32()
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = append(r.Topics, t)
	}
	return r
}

// The hint bounds the encoded size of every fetch response version, so a
// response is never regrown after its one allocation.
func TestResponseSizeHintBoundsFetch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for v := int16(0); v <= kmsg.NewPtrFetchResponse().MaxVersion(); v++ {
		for range 200 {
			r := randomFetchResponse(rng, v)
			hint, got := responseSizeHint(r), len(r.AppendTo(nil))
			if got > hint {
				t.Fatalf("fetch v%d: encoded %d bytes, hint %d", v, got, hint)
			}
		}
	}
	if responseSizeHint(kmsg.NewPtrMetadataResponse()) != 0 {
		t.Fatal("a response without record bytes got a hint")
	}
}

// BenchmarkWriteFetchResponse encodes a fetch response of 6 partitions of
// 256 KiB each (a consumer's full fetch) into the connection's buffered
// writer, as the write loop does.
func BenchmarkWriteFetchResponse(b *testing.B) {
	r := kmsg.NewPtrFetchResponse()
	r.Version = 13
	t := kmsg.NewFetchResponseTopic()
	for i := range 6 {
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = int32(i)
		p.RecordBatches = make([]byte, 256<<10)
		t.Partitions = append(t.Partitions, p)
	}
	r.Topics = append(r.Topics, t)
	c := &conn{bw: bufio.NewWriterSize(io.Discard, 64<<10), log: slog.New(slog.DiscardHandler)}
	p := pending{key: r.Key(), version: r.Version, correlationID: 7}
	b.SetBytes(6 << 18)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.writeResponse(p, r); err != nil {
			b.Fatal(err)
		}
	}
}
