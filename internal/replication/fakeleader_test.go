package replication

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeLeader is a Kafka-protocol leader for tests: ApiVersions, Fetch and
// ListOffsets over real TCP, served from real leader partitions through
// the partition package's leader-side API.
type fakeLeader struct {
	id   int32
	addr string

	mu           sync.Mutex
	parts        map[TopicPartition]*partition.Partition
	errs         map[TopicPartition]int16 // answer this code instead
	noDivergence bool                     // ignore LastFetchedEpoch (an older leader)
	fetches      map[TopicPartition]int   // partition fetches served
	lists        int                      // ListOffsets partitions served
	lastFetch    *kmsg.FetchRequest
}

// startLeader serves a fake leader with node id id on a loopback port;
// it is closed at the end of the test.
func startLeader(t *testing.T, id int32) *fakeLeader {
	t.Helper()
	return startLeaderWith(t, id, server.Config{Logger: discard})
}

// startLeaderWith is startLeader with cfg for the leader's server.
func startLeaderWith(t *testing.T, id int32, cfg server.Config) *fakeLeader {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &fakeLeader{
		id: id, addr: ln.Addr().String(), parts: map[TopicPartition]*partition.Partition{},
		errs: map[TopicPartition]int16{}, fetches: map[TopicPartition]int{},
	}
	s := server.New(cfg, l)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln, "PLAINTEXT") }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l
}

func (l *fakeLeader) add(tp TopicPartition, p *partition.Partition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.parts[tp] = p
}

func (l *fakeLeader) setError(tp TopicPartition, code int16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs[tp] = code
}

func (l *fakeLeader) fetchCount(tp TopicPartition) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fetches[tp]
}

func (l *fakeLeader) listCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lists
}

func (l *fakeLeader) last() *kmsg.FetchRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastFetch
}

// Supported implements server.Handler.
func (l *fakeLeader) Supported(key, version int16) bool {
	switch kmsg.Key(key) {
	case kmsg.ApiVersions:
		return version >= 0 && version <= 4
	case kmsg.Fetch:
		return version >= 4 && version <= 12
	case kmsg.ListOffsets:
		return version >= 1 && version <= 7
	}
	return false
}

// Handle implements server.Handler.
func (l *fakeLeader) Handle(ctx context.Context, req *server.Request) server.Reply {
	var resp kmsg.Response
	switch r := req.Body.(type) {
	case *kmsg.ApiVersionsRequest:
		resp = apiVersions(r)
	case *kmsg.FetchRequest:
		resp = l.fetch(ctx, r)
	case *kmsg.ListOffsetsRequest:
		resp = l.listOffsets(r)
	}
	return server.Reply{Response: resp}
}

func apiVersions(r *kmsg.ApiVersionsRequest) *kmsg.ApiVersionsResponse {
	resp := r.ResponseKind().(*kmsg.ApiVersionsResponse)
	for _, k := range [][3]int16{{int16(kmsg.Fetch), 4, 12}, {int16(kmsg.ListOffsets), 1, 7}, {int16(kmsg.ApiVersions), 0, 4}} {
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k[0], k[1], k[2]
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	return resp
}

// fetch answers at once when there is anything to say, else long-polls
// until a requested partition's log end or HW moves or MaxWait passes.
func (l *fakeLeader) fetch(ctx context.Context, r *kmsg.FetchRequest) *kmsg.FetchResponse {
	l.noteFetch(r)
	w := partition.NewWatcher()
	for _, p := range l.requested(r) {
		p.Watch(w)
		defer p.Unwatch(w)
	}
	if resp, ready := l.readAll(r); ready {
		return resp
	}
	t := time.NewTimer(time.Duration(r.MaxWaitMillis) * time.Millisecond)
	defer t.Stop()
	select {
	case <-w.C:
	case <-t.C:
	case <-ctx.Done():
	}
	resp, _ := l.readAll(r)
	return resp
}

func (l *fakeLeader) noteFetch(r *kmsg.FetchRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastFetch = r
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			l.fetches[TopicPartition{t.Topic, p.Partition}]++
		}
	}
}

func (l *fakeLeader) requested(r *kmsg.FetchRequest) []*partition.Partition {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ps []*partition.Partition
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if lp := l.parts[TopicPartition{t.Topic, p.Partition}]; lp != nil {
				ps = append(ps, lp)
			}
		}
	}
	return ps
}

// readAll reads every requested partition; ready is true when the answer
// carries records, an error or a divergence.
func (l *fakeLeader) readAll(r *kmsg.FetchRequest) (*kmsg.FetchResponse, bool) {
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	ready := false
	for _, t := range r.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := l.readPartition(r.ReplicaID, TopicPartition{t.Topic, p.Partition}, p)
			ready = ready || len(rp.RecordBatches) > 0 || rp.ErrorCode != 0 || rp.DivergingEpoch.Epoch >= 0
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, ready
}

func (l *fakeLeader) lookup(tp TopicPartition) (*partition.Partition, int16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if code, ok := l.errs[tp]; ok {
		return nil, code
	}
	if p := l.parts[tp]; p != nil {
		return p, 0
	}
	return nil, kerr.UnknownTopicOrPartition.Code
}

func (l *fakeLeader) readPartition(replica int32, tp TopicPartition, req kmsg.FetchRequestTopicPartition) kmsg.FetchResponseTopicPartition {
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition = tp.Partition
	p, code := l.lookup(tp)
	if p == nil {
		rp.ErrorCode = code
		return rp
	}
	last := req.LastFetchedEpoch
	if l.noDivergence {
		last = -1
	}
	res, err := p.ReadForFollower(partition.FollowerFetch{
		ReplicaID: replica, FetchOffset: req.FetchOffset, LogStartOffset: req.LogStartOffset,
		CurrentEpoch: req.CurrentLeaderEpoch, LastFetchedEpoch: last, MaxBytes: int(req.PartitionMaxBytes),
	})
	rp.ErrorCode = errorCode(err)
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
	if rp.RecordBatches, err = res.Records.Bytes(); err != nil {
		panic(err) // a test's log file failed
	}
	if res.Diverging != nil {
		rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = res.Diverging.Epoch, res.Diverging.EndOffset
	}
	return rp
}

// listOffsets answers a replica: latest is the log end offset.
func (l *fakeLeader) listOffsets(r *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, l.listPartition(TopicPartition{t.Topic, p.Partition}, p))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (l *fakeLeader) listPartition(tp TopicPartition, req kmsg.ListOffsetsRequestTopicPartition) kmsg.ListOffsetsResponseTopicPartition {
	l.mu.Lock()
	l.lists++
	l.mu.Unlock()
	rp := kmsg.NewListOffsetsResponseTopicPartition()
	rp.Partition = tp.Partition
	p, code := l.lookup(tp)
	if p == nil {
		rp.ErrorCode = code
		return rp
	}
	if err := p.CheckEpoch(req.CurrentLeaderEpoch); err != nil {
		rp.ErrorCode = errorCode(err)
		return rp
	}
	rp.Offset = p.Log().LogEndOffset()
	if req.Timestamp == earliestTimestamp {
		rp.Offset = p.Log().LogStartOffset()
	}
	return rp
}

func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, partition.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, partition.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, partition.ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, partition.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	}
	return kerr.KafkaStorageError.Code
}
