package coordinator

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
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
	t.Cleanup(m.StopAll) // waits for every runner
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
	first := m.runners.get(0)
	hold := make(chan struct{})
	first.cmds <- func() { <-hold } // the first runner is busy in a command
	lead(p, 6)
	m.OnPartition(0, p, 1, 6)
	second := m.runners.get(0)
	time.Sleep(50 * time.Millisecond) // time to load, were it not waiting
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := m.Do(ctx, "g", group.Client{ID: "c"}, commit(1))
	if err != nil || topCode(resp) != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("second runner answered %v, %v before its predecessor stopped", resp, err)
	}
	if second.m != nil {
		t.Fatal("second runner started loading while its predecessor ran")
	}
	close(hold)
	if got := committed(t, m); got != -1 {
		t.Fatalf("committed %d, want none", got)
	}
}

func txnCommit(pid int64, epoch int16, offset int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group = 3, "tx", "g"
	req.ProducerID, req.ProducerEpoch = pid, epoch
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// txnCode commits offset in pid's transaction and returns the code.
func txnCode(t *testing.T, m *Manager, pid int64, epoch int16, offset int64) int16 {
	t.Helper()
	return call(t, m, txnCommit(pid, epoch, offset)).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

// unstable reports whether a RequireStable fetch of t-0 answers
// UNSTABLE_OFFSET_COMMIT.
func unstable(t *testing.T, m *Manager) bool {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, "g", true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	req.Topics = append(req.Topics, rt)
	return call(t, m, req).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0].ErrorCode == kerr.UnstableOffsetCommit.Code
}

func completeTxn(t *testing.T, m *Manager, idx int32, mk record.Marker) int16 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, err := m.CompleteTxn(ctx, idx, mk)
	if err != nil {
		t.Fatalf("CompleteTxn: %v", err)
	}
	return code
}

// batchKinds lists the partition's batches: "data", "txn/<pid>" or
// "commit/<pid>" / "abort/<pid>".
func batchKinds(t *testing.T, p *partition.Partition) []string {
	t.Helper()
	b, err := p.ReadLocal(p.LogStartOffset(), 1<<20, p.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for len(b) >= record.HeaderSize {
		h, err := record.ParseHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		switch {
		case h.IsControl():
			mk, _, err := record.ParseMarker(b[:h.Size()])
			if err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, map[bool]string{true: "commit", false: "abort"}[mk.Commit]+"/"+strconv.FormatInt(mk.ProducerID, 10))
		case h.IsTransactional():
			kinds = append(kinds, "txn/"+strconv.FormatInt(h.ProducerID, 10))
		default:
			kinds = append(kinds, "data")
		}
		b = b[h.Size():]
	}
	return kinds
}

// Transactional offset commits end to end over a real partition: pending
// until the COMMIT marker, dropped by an ABORT, a producer's later
// transactions in the same epoch too, and an open transaction survives a
// new coordinator's load.
func TestTxnOffsetCommitAndMarkers(t *testing.T) {
	p, _ := offsetsReplica(t, 5)
	m := manager(t)
	m.OnPartition(0, p, 1, 5)
	if code := txnCode(t, m, 7, 0, 10); code != 0 {
		t.Fatalf("TxnOffsetCommit: %s", kerr.ErrorForCode(code))
	}
	if got := committed(t, m); got != -1 || !unstable(t, m) {
		t.Fatalf("before the marker: committed %d, unstable %v", got, unstable(t, m))
	}
	if code := completeTxn(t, m, 0, record.Marker{ProducerID: 7, Commit: true, CoordinatorEpoch: 3}); code != 0 {
		t.Fatalf("commit marker: %s", kerr.ErrorForCode(code))
	}
	if got := committed(t, m); got != 10 || unstable(t, m) {
		t.Fatalf("after the commit: committed %d", got)
	}
	txnCode(t, m, 7, 0, 20)
	if code := completeTxn(t, m, 0, record.Marker{ProducerID: 7, CoordinatorEpoch: 3}); code != 0 {
		t.Fatalf("abort marker: %s", kerr.ErrorForCode(code))
	}
	if got := committed(t, m); got != 10 {
		t.Fatalf("after the abort: committed %d", got)
	}
	if code := txnCode(t, m, 7, 0, 30); code != 0 { // left open
		t.Fatalf("third transaction: %s", kerr.ErrorForCode(code))
	}
	want := []string{"txn/7", "commit/7", "txn/7", "abort/7", "txn/7"}
	if got := batchKinds(t, p); !slices.Equal(got, want) {
		t.Fatalf("log %v, want %v", got, want)
	}
	lead(p, 6)
	m.OnPartition(0, p, 1, 6) // a new coordinator loads the log
	if got := committed(t, m); got != 10 || !unstable(t, m) {
		t.Fatalf("after the load: committed %d, unstable %v", got, unstable(t, m))
	}
	if code := completeTxn(t, m, 0, record.Marker{ProducerID: 7, Commit: true, CoordinatorEpoch: 4}); code != 0 {
		t.Fatalf("commit marker after the load: %s", kerr.ErrorForCode(code))
	}
	if got := committed(t, m); got != 30 {
		t.Fatalf("after the load and commit: committed %d", got)
	}
}

// CompleteTxn answers NOT_LEADER_OR_FOLLOWER (for the transaction
// coordinator to retry) without a coordinator, while one waits to load,
// and from a coordinator of an earlier leadership; the partition's
// producer checks come back as their own codes.
func TestCompleteTxnErrors(t *testing.T) {
	p, _ := offsetsReplica(t, 5)
	m := manager(t)
	commit := record.Marker{ProducerID: 7, ProducerEpoch: 2, Commit: true, CoordinatorEpoch: 3}
	if code := completeTxn(t, m, 0, commit); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("no coordinator: %v", kerr.ErrorForCode(code))
	}
	m.OnPartition(0, p, 1, 5)
	if code := txnCode(t, m, 7, 2, 10); code != 0 {
		t.Fatalf("TxnOffsetCommit: %s", kerr.ErrorForCode(code))
	}
	if code := completeTxn(t, m, 0, record.Marker{ProducerID: 7, ProducerEpoch: 1, Commit: true, CoordinatorEpoch: 3}); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("marker of an older producer epoch: %v", kerr.ErrorForCode(code))
	}
	if code := completeTxn(t, m, 0, commit); code != 0 {
		t.Fatalf("commit marker: %v", kerr.ErrorForCode(code))
	}
	if code := txnCode(t, m, 7, 1, 20); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("TxnOffsetCommit of a fenced epoch: %v", kerr.ErrorForCode(code))
	}
	if code := completeTxn(t, m, 0, record.Marker{ProducerID: 7, ProducerEpoch: 2, CoordinatorEpoch: 2}); code != kerr.TransactionCoordinatorFenced.Code {
		t.Fatalf("marker of an older coordinator epoch: %v", kerr.ErrorForCode(code))
	}
	first := m.runners.get(0)
	hold := make(chan struct{})
	first.cmds <- func() { <-hold } // the epoch-5 runner is busy
	lead(p, 6)
	m.OnPartition(0, p, 1, 6)
	if code := completeTxn(t, m, 0, commit); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("while loading: %v", kerr.ErrorForCode(code))
	}
	close(hold)
	if got := committed(t, m); got != 10 {
		t.Fatalf("committed %d, want 10", got)
	}
	lead(p, 7) // the new leadership, not yet reported to the manager
	if code := completeTxn(t, m, 0, record.Marker{ProducerID: 7, ProducerEpoch: 2, Commit: true, CoordinatorEpoch: 3}); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("marker to the epoch-6 runner in epoch 7: %v", kerr.ErrorForCode(code))
	}
}
