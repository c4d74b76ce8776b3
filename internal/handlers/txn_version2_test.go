package handlers

// Transaction version 2 (KIP-890 part 2): the transaction.version feature
// in ApiVersions, the partition leader's add for Produce v12, the group
// partition's add for TxnOffsetCommit v5, EndTxn v5.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The topics of tv2Image: "local" (one partition, led by this node, 1),
// __transaction_state (one partition, led by 2) and __consumer_offsets
// (two partitions, led by 1 and 2).
var (
	txnStateID = metadata.UUID{0x75}
	offsetsID  = metadata.UUID{0x76}
)

func tv2Image(t *testing.T) *metadata.Image {
	t.Helper()
	recs := []metadata.Record{
		metadata.ClusterID{ID: "c"},
		metadata.RegisterBroker{ID: 1, Endpoints: []metadata.Endpoint{{Name: "X", Host: "h1", Port: 9092}}},
		metadata.RegisterBroker{ID: 2, Endpoints: []metadata.Endpoint{{Name: "X", Host: "h2", Port: 9092}}},
		metadata.Topic{Name: "local", ID: localID},
		metadata.Partition{TopicID: localID, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2},
		metadata.Topic{Name: TransactionTopic, ID: txnStateID},
		metadata.Partition{TopicID: txnStateID, Replicas: []int32{2}, ISR: []int32{2}, Leader: 2},
		metadata.Topic{Name: OffsetsTopic, ID: offsetsID},
		metadata.Partition{TopicID: offsetsID, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		metadata.Partition{TopicID: offsetsID, Partition: 1, Replicas: []int32{2}, ISR: []int32{2}, Leader: 2},
	}
	img, _, err := metadata.Empty().Apply(1, recs)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// fakeTC is the transaction coordinator behind Brokers: it records the
// AddPartitionsToTxn requests (with their destination) and answers each
// with answer (every partition 0 when nil).
type fakeTC struct {
	mu     sync.Mutex
	asked  []*kmsg.AddPartitionsToTxnRequest
	to     []int32
	answer func(n int, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error)
}

func (f *fakeTC) Request(_ context.Context, broker int32, req kmsg.Request) (kmsg.Response, error) {
	r, ok := req.(*kmsg.AddPartitionsToTxnRequest)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", req)
	}
	f.mu.Lock()
	f.asked, f.to = append(f.asked, r), append(f.to, broker)
	n, answer := len(f.asked), f.answer
	f.mu.Unlock()
	if answer == nil {
		return coordinator.TxnErrorResponse(r, 0), nil
	}
	return answer(n, r)
}

// requests returns the requests so far.
func (f *fakeTC) requests() []*kmsg.AddPartitionsToTxnRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

// answering answers every request with code on every partition.
func answering(code int16) func(int, *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	return func(_ int, r *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
		return coordinator.TxnErrorResponse(r, code), nil
	}
}

// tv2Node is node 1 over tv2Image with the broker config props, leading
// local-0, its transaction coordinator reached through tc and its groups
// served by groups.
func tv2Node(t *testing.T, props map[string]string, tc *fakeTC, groups Groups) (*Handlers, *partition.Partition) {
	t.Helper()
	cfg, err := config.NewBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	l, err := storage.Open(filepath.Join(t.TempDir(), "local-0"), storage.Options{Config: storage.DefaultConfig(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := partition.New(partition.Options{Topic: "local", TopicID: localID, LocalID: 1, Log: l, Logger: discard,
		Config: partition.Config{MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, ReplicaLagTimeMax: time.Minute, Storage: storage.DefaultConfig()}})
	p.SetState(partition.State{Leader: 1, LeaderEpoch: 2, Replicas: []int32{1}, ISR: []int32{1}})
	img := tv2Image(t)
	d := Deps{NodeID: 1, Config: cfg, Image: func() *metadata.Image { return img }, Partitions: onePartition{"local", p},
		Groups: groups, Logger: discard}
	if tc != nil {
		d.Brokers = tc
	}
	return New(d), p
}

// txnBatch is producer pid's transactional one-record batch.
func txnBatchOf(t *testing.T, pid int64, epoch int16, seq int32) []byte {
	t.Helper()
	h := record.Header{BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000, ProducerID: pid,
		ProducerEpoch: epoch, BaseSequence: seq, Attributes: record.TransactionalBit}
	b, err := record.RebuildBatch(h, []record.Record{{Value: []byte("t")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// txnProduce is transactional id "tx"'s Produce of batch to local-0.
func txnProduce(version int16, batch []byte) *kmsg.ProduceRequest {
	r := versioned(kmsg.NewPtrProduceRequest(), version)
	id := "tx"
	r.TransactionID, r.Acks, r.TimeoutMillis = &id, -1, 5000
	r.Topics = []kmsg.ProduceRequestTopic{{Topic: "local", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
	return r
}

func produced(t *testing.T, h *Handlers, r *kmsg.ProduceRequest) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return serve(t, h, r).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// ApiVersions v3+ lists transaction.version 0-2 as supported and, from
// level 1, finalized at the configured level; older versions carry no
// features. The level is a broker config of 0-2, 2 by default.
func TestApiVersionsTransactionVersion(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		level int16
	}{
		{nil, 2},
		{map[string]string{"transaction.version": "1"}, 1},
		{map[string]string{"transaction.version": "0"}, 0},
	} {
		h, _ := tv2Node(t, tc.props, nil, nil)
		for v := int16(0); v <= 4; v++ {
			resp := serve(t, h, versioned(kmsg.NewPtrApiVersionsRequest(), v)).(*kmsg.ApiVersionsResponse)
			if v < 3 {
				if resp.SupportedFeatures != nil || resp.FinalizedFeatures != nil || resp.FinalizedFeaturesEpoch != -1 {
					t.Fatalf("level %d v%d: features %+v %+v epoch %d", tc.level, v, resp.SupportedFeatures, resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
				}
				continue
			}
			sf := resp.SupportedFeatures
			if len(sf) != 1 || sf[0].Name != "transaction.version" || sf[0].MinVersion != 0 || sf[0].MaxVersion != 2 {
				t.Fatalf("level %d v%d: supported %+v", tc.level, v, sf)
			}
			if resp.FinalizedFeaturesEpoch < 0 {
				t.Fatalf("level %d v%d: finalized epoch %d", tc.level, v, resp.FinalizedFeaturesEpoch)
			}
			ff := resp.FinalizedFeatures
			switch {
			case tc.level == 0 && len(ff) != 0:
				t.Fatalf("level 0 v%d: finalized %+v", v, ff)
			case tc.level > 0 && (len(ff) != 1 || ff[0].Name != "transaction.version" ||
				ff[0].MinVersionLevel != tc.level || ff[0].MaxVersionLevel != tc.level):
				t.Fatalf("level %d v%d: finalized %+v", tc.level, v, ff)
			}
		}
	}
	for _, bad := range []string{"3", "-1", "two"} {
		if _, err := config.NewBroker(map[string]string{"transaction.version": bad}); err == nil {
			t.Errorf("transaction.version=%s accepted", bad)
		}
	}
	for _, k := range []kmsg.Key{kmsg.EndTxn, kmsg.TxnOffsetCommit} {
		if a := registry[k]; a.max != 5 {
			t.Errorf("%s: max version %d, want 5", kmsg.NameForKey(int16(k)), a.max)
		}
	}
}

// A transactional Produce v12 asks the transactional id's coordinator to
// add the partition (AddPartitionsToTxn v4, VerifyOnly false); v11 only
// verifies. Once the transaction is open here, no more questions.
func TestProduceV12AddsPartition(t *testing.T) {
	tc := &fakeTC{}
	h, _ := tv2Node(t, nil, tc, nil)
	if got := produced(t, h, txnProduce(12, txnBatchOf(t, 7, 3, 0))); got.ErrorCode != 0 || got.BaseOffset != 0 {
		t.Fatalf("v12: %+v", got)
	}
	if got := produced(t, h, txnProduce(12, txnBatchOf(t, 7, 3, 1))); got.ErrorCode != 0 || got.BaseOffset != 1 {
		t.Fatalf("v12 into the open transaction: %+v", got)
	}
	if got := produced(t, h, txnProduce(11, txnBatchOf(t, 8, 0, 0))); got.ErrorCode != 0 {
		t.Fatalf("v11: %+v", got)
	}
	reqs := tc.requests()
	if len(reqs) != 2 || !slices.Equal(tc.to, []int32{2, 2}) {
		t.Fatalf("%d requests to %v, want 2 to the coordinator 2", len(reqs), tc.to)
	}
	for i, want := range []struct {
		pid        int64
		epoch      int16
		verifyOnly bool
	}{{7, 3, false}, {8, 0, true}} {
		r := reqs[i]
		if r.Version != 4 || len(r.Transactions) != 1 {
			t.Fatalf("request %d: %+v", i, r)
		}
		tx := r.Transactions[0]
		if tx.TransactionalID != "tx" || tx.ProducerID != want.pid || tx.ProducerEpoch != want.epoch || tx.VerifyOnly != want.verifyOnly ||
			len(tx.Topics) != 1 || tx.Topics[0].Topic != "local" || !slices.Equal(tx.Topics[0].Partitions, []int32{0}) {
			t.Fatalf("request %d: %+v", i, tx)
		}
	}
}

// The coordinator's answer maps to the partition's error as Kafka's
// leaders map it: CONCURRENT_TRANSACTIONS stays for v12 (NOT_ENOUGH_REPLICAS
// before), TRANSACTION_ABORTABLE stays from v11 (INVALID_TXN_STATE
// before), PRODUCER_FENCED is INVALID_PRODUCER_EPOCH, the other retriable
// errors NOT_ENOUGH_REPLICAS.
func TestProduceTxnCoordinatorErrors(t *testing.T) {
	netErr := errors.New("connection refused")
	for _, tc := range []struct {
		name   string
		answer func(int, *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error)
		want   map[int16]int16 // produce version → error
	}{
		{"concurrent", answering(kerr.ConcurrentTransactions.Code),
			map[int16]int16{10: kerr.NotEnoughReplicas.Code, 11: kerr.NotEnoughReplicas.Code, 12: kerr.ConcurrentTransactions.Code}},
		{"abortable", answering(kerr.TransactionAbortable.Code),
			map[int16]int16{10: kerr.InvalidTxnState.Code, 11: kerr.TransactionAbortable.Code, 12: kerr.TransactionAbortable.Code}},
		{"fenced", answering(kerr.ProducerFenced.Code),
			map[int16]int16{10: kerr.InvalidProducerEpoch.Code, 11: kerr.InvalidProducerEpoch.Code, 12: kerr.InvalidProducerEpoch.Code}},
		{"not coordinator", answering(kerr.NotCoordinator.Code),
			map[int16]int16{11: kerr.NotEnoughReplicas.Code, 12: kerr.NotEnoughReplicas.Code}},
		{"unreachable", func(int, *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) { return nil, netErr },
			map[int16]int16{11: kerr.NotEnoughReplicas.Code, 12: kerr.NotEnoughReplicas.Code}},
		{"mapping", answering(kerr.InvalidProducerIDMapping.Code),
			map[int16]int16{11: kerr.InvalidProducerIDMapping.Code, 12: kerr.InvalidProducerIDMapping.Code}},
		{"cannot verify", answering(kerr.UnsupportedVersion.Code), map[int16]int16{11: 0, 12: 0}},
		{"cluster authorization", func(_ int, r *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
			resp := kmsg.NewPtrAddPartitionsToTxnResponse()
			resp.SetVersion(r.Version)
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp, nil
		}, map[int16]int16{11: kerr.InvalidTxnState.Code, 12: kerr.InvalidTxnState.Code}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := tv2Node(t, nil, &fakeTC{answer: tc.answer}, nil)
			pid := int64(100)
			for _, v := range []int16{10, 11, 12} {
				want, ok := tc.want[v]
				if !ok {
					continue
				}
				pid++
				if got := produced(t, h, txnProduce(v, txnBatchOf(t, pid, 0, 0))); got.ErrorCode != want {
					t.Errorf("v%d: error %d, want %d", v, got.ErrorCode, want)
				}
			}
		})
	}
}

// Under transaction version 2 the next transaction's first batch (epoch
// bumped) may reach a partition before the previous transaction's marker:
// it does not join that transaction. Its add waits for the previous
// transaction to complete, and the marker landing meanwhile voids the
// guard taken before it: the partition is asked again with a fresh guard,
// and the batch opens the new transaction after the marker.
func TestProduceV12MarkerDuringAdd(t *testing.T) {
	tc := &fakeTC{}
	h, p := tv2Node(t, nil, tc, nil)
	if got := produced(t, h, txnProduce(12, txnBatchOf(t, 7, 0, 0))); got.ErrorCode != 0 || got.BaseOffset != 0 {
		t.Fatalf("first transaction: %+v", got)
	}
	tc.mu.Lock()
	tc.answer = func(n int, r *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
		if n == 2 { // the add of the next transaction waits for the previous one's marker
			if _, err := p.AppendMarker(record.Marker{ProducerID: 7, ProducerEpoch: 1, Commit: true}); err != nil {
				return nil, err
			}
		}
		return coordinator.TxnErrorResponse(r, 0), nil
	}
	tc.mu.Unlock()
	got := produced(t, h, txnProduce(12, txnBatchOf(t, 7, 1, 0)))
	if got.ErrorCode != 0 || got.BaseOffset != 2 {
		t.Fatalf("next transaction's first batch: %+v, want offset 2 (after the marker at 1)", got)
	}
	if n := len(tc.requests()); n != 3 {
		t.Fatalf("%d adds, want 3 (the first, then the next transaction's twice)", n)
	}
	if lso := p.LastStableOffset(); lso != 2 {
		t.Fatalf("LSO %d, want 2: the new transaction is open from 2", lso)
	}
	if got := produced(t, h, txnProduce(12, txnBatchOf(t, 7, 0, 1))); got.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("the old epoch after the bump: %+v", got)
	}
}

// transaction.partition.verification.enable=false skips the v11 question,
// not the v12 add.
func TestProduceV12AddWithoutVerification(t *testing.T) {
	tc := &fakeTC{}
	h, _ := tv2Node(t, map[string]string{"transaction.partition.verification.enable": "false"}, tc, nil)
	if got := produced(t, h, txnProduce(11, txnBatchOf(t, 7, 0, 0))); got.ErrorCode != 0 {
		t.Fatalf("v11 unverified: %+v", got)
	}
	if len(tc.requests()) != 0 {
		t.Fatal("v11 asked the coordinator with verification disabled")
	}
	if got := produced(t, h, txnProduce(12, txnBatchOf(t, 8, 0, 0))); got.ErrorCode != 0 {
		t.Fatalf("v12: %+v", got)
	}
	if len(tc.requests()) != 1 {
		t.Fatal("v12 did not add the partition")
	}
}

// groupOn returns a group id coordinated by __consumer_offsets partition
// idx of tv2Image.
func groupOn(idx int32) string {
	for i := 0; ; i++ {
		if g := fmt.Sprintf("g%d", i); metadata.CoordinatorPartition(g, 2) == idx {
			return g
		}
	}
}

func txnOffsetCommit(version int16, group string) *kmsg.TxnOffsetCommitRequest {
	r := versioned(kmsg.NewPtrTxnOffsetCommitRequest(), version)
	r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch, r.Generation = "tx", group, 7, 4, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "local"
	for _, p := range []int32{0, 1} {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, 10
		rt.Partitions = append(rt.Partitions, rp)
	}
	r.Topics = []kmsg.TxnOffsetCommitRequestTopic{rt}
	return r
}

// txnOffsetCodes lists a response's partition codes.
func txnOffsetCodes(resp kmsg.Response) []int16 {
	var codes []int16
	for _, t := range resp.(*kmsg.TxnOffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

// TxnOffsetCommit v5 adds the group's __consumer_offsets partition to the
// transaction (AddPartitionsToTxn v4, not VerifyOnly, to the transactional
// id's coordinator) before the group coordinator writes; v4 does not (the
// client sent AddOffsetsToTxn).
func TestTxnOffsetCommitV5AddsGroupPartition(t *testing.T) {
	tc, groups := &fakeTC{}, &fakeGroups{}
	h, _ := tv2Node(t, nil, tc, groups)
	g := groupOn(0)
	resp := serve(t, h, txnOffsetCommit(5, g))
	if codes := txnOffsetCodes(resp); !slices.Equal(codes, []int16{0, 0}) {
		t.Fatalf("v5: codes %v", codes)
	}
	if last, ok := groups.Last().(*kmsg.TxnOffsetCommitRequest); !ok || last.Version != 5 || last.Group != g {
		t.Fatalf("group coordinator got %+v", groups.Last())
	}
	reqs := tc.requests()
	if len(reqs) != 1 || tc.to[0] != 2 {
		t.Fatalf("%d adds to %v", len(reqs), tc.to)
	}
	tx := reqs[0].Transactions[0]
	if reqs[0].Version != 4 || tx.VerifyOnly || tx.TransactionalID != "tx" || tx.ProducerID != 7 || tx.ProducerEpoch != 4 ||
		len(tx.Topics) != 1 || tx.Topics[0].Topic != OffsetsTopic || !slices.Equal(tx.Topics[0].Partitions, []int32{0}) {
		t.Fatalf("add %+v", tx)
	}
	serve(t, h, txnOffsetCommit(4, g))
	if len(tc.requests()) != 1 {
		t.Fatal("v4 added the group's partition")
	}
}

// A failed add answers every partition with the error Kafka's group
// coordinator gives, and the offsets are not written; a group this node
// does not coordinate is NOT_COORDINATOR without an add.
func TestTxnOffsetCommitV5AddErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(int, *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error)
		want   int16
	}{
		{"fenced", answering(kerr.ProducerFenced.Code), kerr.InvalidProducerEpoch.Code},
		{"abortable", answering(kerr.TransactionAbortable.Code), kerr.TransactionAbortable.Code},
		{"concurrent", answering(kerr.ConcurrentTransactions.Code), kerr.ConcurrentTransactions.Code},
		{"mapping", answering(kerr.InvalidProducerIDMapping.Code), kerr.InvalidProducerIDMapping.Code},
		{"coordinator moved", answering(kerr.NotCoordinator.Code), kerr.NotCoordinator.Code},
		{"coordinator loading", answering(kerr.CoordinatorLoadInProgress.Code), kerr.CoordinatorLoadInProgress.Code},
		{"timed out", answering(kerr.RequestTimedOut.Code), kerr.CoordinatorNotAvailable.Code},
		{"unreachable", func(int, *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
			return nil, errors.New("connection refused")
		}, kerr.CoordinatorLoadInProgress.Code},
		{"cluster authorization", func(_ int, r *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
			resp := kmsg.NewPtrAddPartitionsToTxnResponse()
			resp.SetVersion(r.Version)
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp, nil
		}, kerr.InvalidTxnState.Code},
		{"cannot add", answering(kerr.UnsupportedVersion.Code), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups := &fakeGroups{}
			h, _ := tv2Node(t, nil, &fakeTC{answer: tc.answer}, groups)
			codes := txnOffsetCodes(serve(t, h, txnOffsetCommit(5, groupOn(0))))
			if !slices.Equal(codes, []int16{tc.want, tc.want}) {
				t.Fatalf("codes %v, want %d", codes, tc.want)
			}
			if wrote := groups.Last() != nil; wrote != (tc.want == 0) {
				t.Fatalf("group coordinator asked: %v", wrote)
			}
		})
	}
	tc, groups := &fakeTC{}, &fakeGroups{}
	h, _ := tv2Node(t, nil, tc, groups)
	codes := txnOffsetCodes(serve(t, h, txnOffsetCommit(5, groupOn(1))))
	if !slices.Equal(codes, []int16{kerr.NotCoordinator.Code, kerr.NotCoordinator.Code}) || len(tc.requests()) != 0 || groups.Last() != nil {
		t.Fatalf("group of another coordinator: codes %v, %d adds", codes, len(tc.requests()))
	}
}

// endTxnEcho is a transaction coordinator answering EndTxn v5 with the
// producer's next epoch.
type endTxnEcho struct{}

func (endTxnEcho) Do(_ context.Context, _ string, req kmsg.Request) (kmsg.Response, error) {
	r := req.(*kmsg.EndTxnRequest)
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	if r.Version >= 5 {
		resp.ProducerID, resp.ProducerEpoch = r.ProducerID, r.ProducerEpoch+1
	}
	return resp, nil
}

func (endTxnEcho) List(context.Context, *kmsg.ListTransactionsRequest) ([]kmsg.ListTransactionsResponseTransactionState, error) {
	return nil, nil
}

// EndTxn v5 reaches the coordinator as v5 and its ProducerId and
// ProducerEpoch reach the client; an error answer carries -1/-1.
func TestEndTxnV5(t *testing.T) {
	h := New(Deps{NodeID: 1, Transactions: endTxnEcho{}, Logger: slog.New(slog.DiscardHandler)})
	r := versioned(kmsg.NewPtrEndTxnRequest(), 5)
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = "tx", 7, 3, true
	resp := serve(t, h, r).(*kmsg.EndTxnResponse)
	if resp.ErrorCode != 0 || resp.ProducerID != 7 || resp.ProducerEpoch != 4 {
		t.Fatalf("v5: %+v", resp)
	}
	if !h.Supported(int16(kmsg.EndTxn), 5) || h.Supported(int16(kmsg.EndTxn), 6) {
		t.Fatal("EndTxn v5 not supported, or v6 is")
	}
	h = New(Deps{NodeID: 1, Logger: slog.New(slog.DiscardHandler)}) // no coordinator
	resp = serve(t, h, r).(*kmsg.EndTxnResponse)
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
		t.Fatalf("v5 error: %+v", resp)
	}
}
