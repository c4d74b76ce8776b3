package coordinator

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var discard = slog.New(slog.DiscardHandler)

// offsetsReplica opens __consumer_offsets-0 in a temporary directory and
// makes node 1 its only replica, leading in epoch.
func offsetsReplica(t *testing.T, epoch int32) (*partition.Partition, *storage.Log) {
	t.Helper()
	l, err := storage.Open(filepath.Join(t.TempDir(), OffsetsTopic+"-0"), storage.Options{Config: storage.DefaultConfig(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := partition.New(partition.Options{Topic: OffsetsTopic, LocalID: 1, Log: l, Logger: discard,
		Config: partition.Config{MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, ReplicaLagTimeMax: time.Minute, Storage: storage.DefaultConfig()}})
	lead(p, epoch)
	return p, l
}

func lead(p *partition.Partition, epoch int32) {
	p.SetState(partition.State{Leader: 1, LeaderEpoch: epoch, Replicas: []int32{1}, ISR: []int32{1}})
}

// manager is node 1's coordinator manager over a one-partition
// __consumer_offsets; its runners are stopped at the end of the test.
func manager(t *testing.T) *Manager { return managerLogging(t, discard) }

// managerLogging is manager with the runners logging to logger.
func managerLogging(t *testing.T, logger *slog.Logger) *Manager {
	m := NewManager(Options{NodeID: 1, Config: group.DefaultConfig(), Partitions: func() int32 { return 1 }, Logger: logger})
	t.Cleanup(func() {
		m.StopAll()
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, r := range m.last {
			<-r.stopped
		}
	})
	return m
}

// call serves req for group g, retrying while the coordinator loads.
func call(t *testing.T, m *Manager, req kmsg.Request) kmsg.Response {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := m.Do(ctx, "g", group.Client{ID: "c", Host: "h"}, req)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
		}
		if code := topCode(resp); code != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
			return resp
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func topCode(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.OffsetCommitResponse:
		return r.Topics[0].Partitions[0].ErrorCode
	case *kmsg.OffsetFetchResponse:
		return r.ErrorCode
	}
	return 0
}

func commit(offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation = 8, "g", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func committed(t *testing.T, m *Manager) int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group = 7, "g"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := call(t, m, req).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("OffsetFetch: %s", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.Topics[0].Partitions[0].Offset
}

// A runner started for one leadership never writes in a later one: after
// the replica moved to a new epoch (before the node started the new
// runner), a commit to the old runner is refused, and the new runner
// sees only what was acknowledged.
func TestStaleRunnerCannotCommit(t *testing.T) {
	p, _ := offsetsReplica(t, 5)
	m := manager(t)
	m.OnPartition(0, p, 1, 5)
	if code := topCode(call(t, m, commit(10))); code != 0 {
		t.Fatalf("commit in epoch 5: %s", kerr.ErrorForCode(code))
	}
	lead(p, 6) // the new leadership, not yet reported to the manager
	if code := topCode(call(t, m, commit(20))); code != kerr.NotCoordinator.Code {
		t.Fatalf("commit to the epoch-5 runner in epoch 6: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	m.OnPartition(0, p, 1, 6)
	if got := committed(t, m); got != 10 {
		t.Fatalf("committed offset %d, want 10", got)
	}
}

// A load that fails is retried, and requests meanwhile are answered
// COORDINATOR_LOAD_IN_PROGRESS, not left without an answer.
func TestFailedLoadAnswersAndRetries(t *testing.T) {
	p, l := offsetsReplica(t, 5)
	failed := make(chan struct{}, 1)
	m := managerLogging(t, slog.New(onError{failed}))
	m.OnPartition(0, p, 1, 5)
	if code := topCode(call(t, m, commit(10))); code != 0 {
		t.Fatalf("commit: %s", kerr.ErrorForCode(code))
	}
	m.OnPartition(0, nil, 2, 6) // leadership moves away
	l.Close()                   // and the log cannot be read
	lead(p, 7)
	m.OnPartition(0, p, 1, 7)
	<-failed // the load has failed
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := m.Do(ctx, "g", group.Client{ID: "c"}, commit(30))
	if err != nil {
		t.Fatalf("no answer while the load fails: %v", err)
	}
	if code := topCode(resp); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("answer while the load fails: %v", kerr.ErrorForCode(code))
	}
}

// onError is a log handler that signals each error record on ch.
type onError struct{ ch chan struct{} }

func (h onError) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h onError) Handle(context.Context, slog.Record) error {
	select {
	case h.ch <- struct{}{}:
	default:
	}
	return nil
}
func (h onError) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onError) WithGroup(string) slog.Handler      { return h }

// A new runner does not read the log until its predecessor has stopped:
// the predecessor may still be appending.
func TestRunnerWaitsForPredecessor(t *testing.T) {
	p, _ := offsetsReplica(t, 5)
	m := manager(t)
	m.OnPartition(0, p, 1, 5)
	first := m.coords[0]
	hold := make(chan struct{})
	first.cmds <- func() { <-hold } // the first runner is busy in a command
	lead(p, 6)
	m.OnPartition(0, p, 1, 6)
	second := m.coords[0]
	time.Sleep(50 * time.Millisecond) // time to load, were it not waiting
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := m.Do(ctx, "g", group.Client{ID: "c"}, commit(1))
	if err != nil || topCode(resp) != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("second runner answered %v, %v before its predecessor stopped", resp, err)
	}
	if second.c != nil {
		t.Fatal("second runner started loading while its predecessor ran")
	}
	close(hold)
	if got := committed(t, m); got != -1 {
		t.Fatalf("committed %d, want none", got)
	}
}
