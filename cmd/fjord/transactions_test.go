package main

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnTestNow is the `now` of the table writer tests.
var txnTestNow = time.UnixMilli(1_700_000_600_000)

func TestWriteProducers(t *testing.T) {
	producers := kadm.DescribedProducers{
		9:    {ProducerID: 9, ProducerEpoch: 2, LastSequence: 41, LastTimestamp: 1_700_000_000_123, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
		1000: {ProducerID: 1000, ProducerEpoch: 0, LastSequence: 4, LastTimestamp: 1_700_000_000_000, CoordinatorEpoch: 3, CurrentTxnStartOffset: 77},
	}
	var buf bytes.Buffer
	if err := writeProducers(&buf, producers); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "transactions_describe_producers.golden", buf.Bytes())
}

func TestDescribeProducersNeedsPartition(t *testing.T) {
	cmd, _, err := rootCmd.Find([]string{"transactions", "describe-producers"})
	if err != nil || cmd.Name() != "describe-producers" {
		t.Fatalf("not registered: %v", err)
	}
	if err := cmd.RunE(cmd, nil); err == nil {
		t.Error("ran without --topic and --partition")
	}
}

// TestTransactionsNeedFlags runs the registered subcommands without their
// required flags: each must refuse before dialing the cluster.
func TestTransactionsNeedFlags(t *testing.T) {
	for _, name := range []string{"describe", "abort", "find-hanging"} {
		cmd, _, err := rootCmd.Find([]string{"transactions", name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("%s not registered: %v", name, err)
		}
		if err := cmd.RunE(cmd, nil); err == nil {
			t.Errorf("%s ran without its flags", name)
		}
	}
	if cmd, _, err := rootCmd.Find([]string{"transactions", "list"}); err != nil || cmd.Name() != "list" {
		t.Fatalf("list not registered: %v", err)
	}
}

func TestWriteTransactionsList(t *testing.T) {
	listed := kadm.ListedTransactions{
		"payments": {Coordinator: 2, TxnID: "payments", ProducerID: 4001, State: "Ongoing"},
		"audit-7":  {Coordinator: 1, TxnID: "audit-7", ProducerID: 12, State: "CompleteCommit"},
		"orders":   {Coordinator: 3, TxnID: "orders", ProducerID: 900, State: "Empty"},
	}
	var buf bytes.Buffer
	if err := writeTransactionsList(&buf, listed); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "transactions_list.golden", buf.Bytes())
}

func TestWriteTransactionDescribe(t *testing.T) {
	var topics kadm.TopicsSet
	topics.Add("orders", 3, 0)
	topics.Add("audit", 1)
	d := kadm.DescribedTransaction{
		Coordinator: 2, TxnID: "payments", State: "Ongoing", TimeoutMillis: 60_000,
		StartTimestamp: txnTestNow.UnixMilli() - 12_345, ProducerID: 4001, ProducerEpoch: 7, Topics: topics,
	}
	var buf bytes.Buffer
	if err := writeTransaction(&buf, d, txnTestNow); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "transactions_describe.golden", buf.Bytes())
}

func TestWriteTransactionDescribeNoStart(t *testing.T) {
	d := kadm.DescribedTransaction{
		Coordinator: 1, TxnID: "orders", State: "Empty", TimeoutMillis: 900_000,
		StartTimestamp: -1, ProducerID: 900, ProducerEpoch: 0,
	}
	var buf bytes.Buffer
	if err := writeTransaction(&buf, d, txnTestNow); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "transactions_describe_no_start.golden", buf.Bytes())
}

func listShard(node int32, version int16, code int16, states ...kmsg.ListTransactionsResponseTransactionState) kgo.ResponseShard {
	resp := kmsg.NewPtrListTransactionsResponse()
	resp.Version, resp.ErrorCode, resp.TransactionStates = version, code, states
	return kgo.ResponseShard{Meta: kgo.BrokerMetadata{NodeID: node}, Resp: resp}
}

func listedState(id string, pid int64, state string) kmsg.ListTransactionsResponseTransactionState {
	return kmsg.ListTransactionsResponseTransactionState{TransactionalID: id, ProducerID: pid, TransactionState: state}
}

func TestListTransactionsFromShards(t *testing.T) {
	shards := []kgo.ResponseShard{
		listShard(1, 1, 0, listedState("a", 10, "Ongoing")),
		listShard(2, 1, 0, listedState("b", 20, "Empty"), listedState("c", 30, "PrepareCommit")),
	}
	listed, err := listedFromShards(shards, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 3 || listed["b"].Coordinator != 2 || listed["c"].State != "PrepareCommit" || listed["a"].ProducerID != 10 {
		t.Errorf("listed %+v", listed)
	}

	failing := []kgo.ResponseShard{
		listShard(1, 1, 0, listedState("a", 10, "Ongoing")),
		listShard(2, 1, kerr.CoordinatorLoadInProgress.Code),
		{Meta: kgo.BrokerMetadata{NodeID: 3}, Err: errors.New("connection refused")},
	}
	listed, err = listedFromShards(failing, -1)
	if len(listed) != 1 || !errors.Is(err, kerr.CoordinatorLoadInProgress) ||
		!strings.Contains(err.Error(), "broker 3: connection refused") {
		t.Errorf("partial list %v, err %v", listed, err)
	}

	v0 := []kgo.ResponseShard{listShard(1, 0, 0, listedState("a", 10, "Ongoing"))}
	if _, err := listedFromShards(v0, -1); err != nil {
		t.Errorf("v0 without a duration filter: %v", err)
	}
	if _, err := listedFromShards(v0, 0); err == nil || !strings.Contains(err.Error(), "--duration-filter") {
		t.Errorf("v0 with a duration filter: %v", err)
	}
}

func TestTransactionProducersFromResponse(t *testing.T) {
	resp := kmsg.NewPtrDescribeProducersResponse()
	rt := kmsg.NewDescribeProducersResponseTopic()
	rt.Topic = "orders"
	ok := kmsg.NewDescribeProducersResponseTopicPartition()
	ok.Partition = 0
	ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
	ap.ProducerID, ap.ProducerEpoch, ap.LastSequence, ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = 7, 2, 9, 100, 4, 55
	ok.ActiveProducers = append(ok.ActiveProducers, ap)
	bad := kmsg.NewDescribeProducersResponseTopicPartition()
	bad.Partition, bad.ErrorCode = 1, kerr.NotLeaderForPartition.Code
	msg := "not here"
	bad.ErrorMessage = &msg
	rt.Partitions = append(rt.Partitions, ok, bad)
	resp.Topics = append(resp.Topics, rt)

	got := producersFromResponse(3, resp)
	p0, p1 := got["orders"].Partitions[0], got["orders"].Partitions[1]
	want := kadm.DescribedProducer{Leader: 3, Topic: "orders", Partition: 0, ProducerID: 7, ProducerEpoch: 2,
		LastSequence: 9, LastTimestamp: 100, CoordinatorEpoch: 4, CurrentTxnStartOffset: 55}
	if p0.Err != nil || p0.ActiveProducers[7] != want {
		t.Errorf("partition 0: %+v", p0)
	}
	if !errors.Is(p1.Err, kerr.NotLeaderForPartition) || p1.ErrMessage != msg || p1.Leader != 3 {
		t.Errorf("partition 1: %+v", p1)
	}
}

// flagsOf returns a changed func that reports exactly names as given.
func flagsOf(names ...string) func(string) bool {
	return func(name string) bool { return slices.Contains(names, name) }
}

func TestAbortTransactionFlags(t *testing.T) {
	bad := [][]string{
		{"--start-offset", "5"},                 // no topic
		{"--topic", "t", "--start-offset", "5"}, // no partition
		{"--topic", "t", "--partition", "0"},    // no producer
		{"--topic", "t", "--partition", "0", "--start-offset", "-1"},
		{"--topic", "t", "--partition", "0", "--start-offset", "5", "--producer-id", "1"},
		{"--topic", "t", "--partition", "0", "--producer-id", "1", "--producer-epoch", "0"},
		{"--topic", "t", "--partition", "0", "--producer-id", "-1", "--producer-epoch", "0", "--coordinator-epoch", "0"},
	}
	for _, args := range bad {
		cmd := newAbortTransactionCmd()
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if err := cmd.RunE(cmd, nil); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
	byOffset := abortOpts{topic: "t", partition: 0, startOffset: 5}
	if err := validateAbort(byOffset, flagsOf("topic", "partition", "start-offset")); err != nil {
		t.Errorf("by offset: %v", err)
	}
	byProducer := abortOpts{topic: "t", partition: 0, startOffset: -1, producerID: 1, producerEpoch: 0, coordinatorEpoch: -1}
	if err := validateAbort(byProducer, flagsOf("topic", "partition", "producer-id", "producer-epoch", "coordinator-epoch")); err != nil {
		t.Errorf("by producer: %v", err)
	}
}

func TestAbortTransactionMarkers(t *testing.T) {
	producers := kadm.DescribedProducers{
		7: {ProducerID: 7, ProducerEpoch: 1, CoordinatorEpoch: 5, CurrentTxnStartOffset: 40},
		8: {ProducerID: 8, ProducerEpoch: 3, CoordinatorEpoch: -1, CurrentTxnStartOffset: 90},
		9: {ProducerID: 9, ProducerEpoch: 0, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
	}
	if _, ok := producerAt(producers, 41); ok {
		t.Error("found a transaction at 41")
	}
	p, ok := producerAt(producers, 90)
	if !ok || p.ProducerID != 8 {
		t.Fatalf("at 90: %+v %v", p, ok)
	}
	m := abortMarker("orders", 2, p.ProducerID, p.ProducerEpoch, p.CoordinatorEpoch)
	if m.Commit || m.ProducerID != 8 || m.ProducerEpoch != 3 || m.CoordinatorEpoch != 0 || !m.Topics.Lookup("orders", 2) || len(m.Topics) != 1 {
		t.Errorf("marker %+v", m)
	}
	if m := abortMarker("orders", 2, 7, 1, 5); m.CoordinatorEpoch != 5 {
		t.Errorf("coordinator epoch %d, want 5", m.CoordinatorEpoch)
	}
	want := "Aborted the transaction of producer 8 (epoch 3, coordinator epoch 0) on orders-2."
	if got := abortedLine(m, "orders", 2); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

func TestFindHangingTransactionsFlags(t *testing.T) {
	bad := [][]string{
		{},
		{"--partition", "0"},
		{"--broker-id", "1", "--topic", "t"},
		{"--broker-id", "1", "--partition", "0"},
		{"--broker-id", "-1"},
		{"--topic", "t", "--partition", "-2"},
		{"--topic", "t", "--max-transaction-timeout", "-1"},
	}
	for _, args := range bad {
		cmd := newFindHangingCmd()
		cmd.SetOut(io.Discard)
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if err := cmd.RunE(cmd, nil); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
	good := []struct {
		o       findHangingOpts
		changed []string
	}{
		{findHangingOpts{broker: 1, partition: -1, maxTimeoutMin: 15}, []string{"broker-id"}},
		{findHangingOpts{broker: -1, topic: "t", partition: -1, maxTimeoutMin: 15}, []string{"topic"}},
		{findHangingOpts{broker: -1, topic: "t", partition: 3, maxTimeoutMin: 0}, []string{"topic", "partition", "max-transaction-timeout"}},
	}
	for _, g := range good {
		if err := validateFindHanging(g.o, flagsOf(g.changed...)); err != nil {
			t.Errorf("%+v: %v", g.o, err)
		}
	}
}

func TestTransactionPartitionsOnBroker(t *testing.T) {
	topics := kadm.TopicDetails{
		"orders": {Topic: "orders", Partitions: kadm.PartitionDetails{
			0: {Topic: "orders", Partition: 0, Leader: 1, Replicas: []int32{1, 2}},
			1: {Topic: "orders", Partition: 1, Leader: 2, Replicas: []int32{2, 3}},
			2: {Topic: "orders", Partition: 2, Leader: 3, Replicas: []int32{3, 1}},
		}},
		"audit": {Topic: "audit", Partitions: kadm.PartitionDetails{
			0: {Topic: "audit", Partition: 0, Leader: 2, Replicas: []int32{2}},
		}},
	}
	got := partitionsOnBroker(topics, 1)
	if len(got) != 1 || len(got["orders"]) != 2 || !got.Lookup("orders", 0) || !got.Lookup("orders", 2) {
		t.Errorf("broker 1: %v", got)
	}
}

// hangingFixture: on orders-0, producer 10 is open for 20 minutes and its
// coordinator has orders-0 in the transaction; producer 11 is open for 20
// minutes but its transaction has moved on to orders-1; producer 12 is
// open for 5 minutes; producer 13 is open for 30 minutes with no
// transactional id; producer 14 is closed. On orders-1, producer 15's id
// failed to describe. orders-2 failed.
func hangingFixture() kadm.DescribedProducersTopics {
	at := func(p int32, pid int64, start int64, ago time.Duration) kadm.DescribedProducer {
		return kadm.DescribedProducer{Leader: 1, Topic: "orders", Partition: p, ProducerID: pid, ProducerEpoch: 1,
			LastSequence: 3, LastTimestamp: txnTestNow.Add(-ago).UnixMilli(), CoordinatorEpoch: 2, CurrentTxnStartOffset: start}
	}
	part := func(p int32, prods ...kadm.DescribedProducer) kadm.DescribedProducersPartition {
		ps := make(kadm.DescribedProducers)
		for _, pr := range prods {
			ps[pr.ProducerID] = pr
		}
		return kadm.DescribedProducersPartition{Leader: 1, Topic: "orders", Partition: p, ActiveProducers: ps}
	}
	return kadm.DescribedProducersTopics{"orders": {Topic: "orders", Partitions: kadm.DescribedProducersPartitions{
		0: part(0, at(0, 10, 100, 20*time.Minute), at(0, 11, 120, 20*time.Minute), at(0, 12, 130, 5*time.Minute),
			at(0, 13, 90, 30*time.Minute), at(0, 14, -1, time.Hour)),
		1: part(1, at(1, 15, 7, 16*time.Minute)),
		2: {Leader: 1, Topic: "orders", Partition: 2, Err: kerr.NotLeaderForPartition},
	}}}
}

func TestHangingTransactionCandidates(t *testing.T) {
	candidates, failed := hangingCandidates(hangingFixture(), txnTestNow, 15*time.Minute)
	var pids []int64
	for _, c := range candidates {
		pids = append(pids, c.ProducerID)
	}
	if want := []int64{10, 11, 13, 15}; !slices.Equal(pids, want) {
		t.Errorf("candidates %v, want %v", pids, want)
	}
	if len(failed) != 1 || failed[0].Partition != 2 {
		t.Errorf("failed %+v", failed)
	}
	if got := candidatePIDs(append(candidates, candidates[0])); !slices.Equal(got, []int64{10, 11, 13, 15}) {
		t.Errorf("candidate pids %v", got)
	}
	err := uncheckedErr(failed, nil)
	if err == nil || !strings.Contains(err.Error(), "orders-2 on broker 1") || !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("unchecked %v", err)
	}
	if uncheckedErr(nil, nil) != nil {
		t.Error("error with every partition checked")
	}
}

func TestHangingTransactionsConfirmed(t *testing.T) {
	candidates, _ := hangingCandidates(hangingFixture(), txnTestNow, 15*time.Minute)
	listed := kadm.ListedTransactions{
		"pay-a": {TxnID: "pay-a", ProducerID: 10, State: "Ongoing"},
		"pay-b": {TxnID: "pay-b", ProducerID: 11, State: "Ongoing"},
		"pay-c": {TxnID: "pay-c", ProducerID: 15, State: "Ongoing"},
	}
	var inA, inB kadm.TopicsSet
	inA.Add("orders", 0)
	inB.Add("orders", 1)
	described := kadm.DescribedTransactions{
		"pay-a": {TxnID: "pay-a", ProducerID: 10, State: "Ongoing", Topics: inA},
		"pay-b": {TxnID: "pay-b", ProducerID: 11, State: "Ongoing", Topics: inB},
		"pay-c": {TxnID: "pay-c", Err: kerr.CoordinatorLoadInProgress},
	}
	hanging := hangingAmong(candidates, txnIDsByPID(listed), described)
	var pids []int64
	for _, h := range hanging {
		pids = append(pids, h.ProducerID)
	}
	if want := []int64{11, 13, 15}; !slices.Equal(pids, want) {
		t.Errorf("hanging %v, want %v", pids, want)
	}
	var buf bytes.Buffer
	if err := writeHanging(&buf, hanging, txnTestNow); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "transactions_find_hanging.golden", buf.Bytes())
}

func TestTransactionShardDetails(t *testing.T) {
	se := &kadm.ShardErrors{Name: "DescribeTransactions", Errs: []kadm.ShardError{
		{Err: kerr.NotCoordinator, Broker: kgo.BrokerMetadata{NodeID: 2}},
		{Err: errors.New("no broker"), Broker: kgo.BrokerMetadata{NodeID: -1}},
	}}
	err := shardDetails(se)
	want := "DescribeTransactions on broker 2: " + kerr.NotCoordinator.Error() + "\nDescribeTransactions: no broker"
	if err.Error() != want || !errors.Is(err, kerr.NotCoordinator) {
		t.Errorf("got %q", err)
	}
	plain := errors.New("plain")
	if shardDetails(plain) != plain {
		t.Error("plain error changed")
	}
}
