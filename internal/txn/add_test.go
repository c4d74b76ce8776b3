package txn

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAddPartitionsIncremental(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	h.now = h.now.Add(time.Second)
	start := h.now.UnixMilli()
	if code := h.add("a", pid, epoch, tp("t", 0)); code != 0 {
		t.Fatalf("add: %d", code)
	}
	v := h.lastValue("a")
	if v.State != 1 || v.StartTimestamp != start || v.LastUpdateTimestamp != start || len(v.Topics) != 1 {
		t.Fatalf("record %+v", v)
	}
	records := len(h.log)
	h.now = h.now.Add(time.Second)
	if code := h.add("a", pid, epoch, tp("t", 0)); code != 0 || len(h.log) != records {
		t.Fatalf("re-add: code %d, %d records (want no write)", code, len(h.log)-records)
	}
	if code := h.add("a", pid, epoch, tp("t", 0), tp("u", 3), tp("t", 1)); code != 0 {
		t.Fatalf("add more: %d", code)
	}
	v = h.lastValue("a")
	if v.StartTimestamp != start || v.LastUpdateTimestamp != h.now.UnixMilli() {
		t.Fatalf("timestamps %+v", v)
	}
	want := []kmsg.TxnMetadataValueTopic{{Topic: "t", Partitions: []int32{0, 1}}, {Topic: "u", Partitions: []int32{3}}}
	if !slices.EqualFunc(v.Topics, want, func(a, b kmsg.TxnMetadataValueTopic) bool {
		return a.Topic == b.Topic && slices.Equal(a.Partitions, b.Partitions)
	}) {
		t.Fatalf("topics %+v", v.Topics)
	}
	d := h.describe("a")[0]
	if d.State != "Ongoing" || d.StartTimestamp != start || len(d.Topics) != 2 {
		t.Fatalf("describe %+v", d)
	}
}

func TestAddPartitionsChecks(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	cases := []struct {
		name    string
		id      string
		pid     int64
		epoch   int16
		version int16
		want    int16
	}{
		{"empty id", "", pid, epoch, 3, kerr.InvalidRequest.Code},
		{"unknown id", "b", pid, epoch, 3, kerr.InvalidProducerIDMapping.Code},
		{"other pid", "a", pid + 1, epoch, 3, kerr.InvalidProducerIDMapping.Code},
		{"other epoch", "a", pid, epoch + 1, 3, kerr.ProducerFenced.Code},
		{"other epoch v2", "a", pid, epoch + 1, 2, kerr.ProducerFenced.Code},
		{"other epoch v1", "a", pid, epoch + 1, 1, kerr.InvalidProducerEpoch.Code},
		{"other epoch v0", "a", pid, epoch + 1, 0, kerr.InvalidProducerEpoch.Code},
	}
	for _, tc := range cases {
		if code := addCode(h, h.addReq(tc.id, tc.pid, tc.epoch, tc.version, tp("t", 0), tp("t", 1))); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	if len(h.log) != 1 {
		t.Fatalf("%d records", len(h.log))
	}
}

// TestAddPartitionsConcurrent: an add of the transaction's producer that
// meets a transition in flight waits for it (park.go) instead of getting
// CONCURRENT_TRANSACTIONS at once; the adds parked meanwhile are written
// as one record. Another producer id still gets CONCURRENT_TRANSACTIONS
// (the pending check comes before the producer id, as in Kafka 4.x).
func TestAddPartitionsConcurrent(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	h.manualAppends = true
	first := h.addReq("a", pid, epoch, 3, tp("t", 0))
	second := h.addReq("a", pid, epoch, 3, tp("t", 1))
	third := h.addReq("a", pid, epoch, 3, tp("t", 2))
	if h.answered(second) || h.answered(third) || len(h.held) != 1 {
		t.Fatalf("adds during an add: answered %v %v, %d appends", h.answered(second), h.answered(third), len(h.held))
	}
	if code := h.add("a", pid+9, epoch, tp("t", 1)); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("other pid during add: %d", code)
	}
	h.completeHeld(nil)
	if code := addCode(h, first); code != 0 || h.answered(second) || len(h.held) != 1 {
		t.Fatalf("first: %d; second answered %v; %d appends (want the parked adds in one)", code, h.answered(second), len(h.held))
	}
	h.completeHeld(nil)
	if c2, c3 := addCode(h, second), addCode(h, third); c2 != 0 || c3 != 0 {
		t.Fatalf("parked adds: %d %d", c2, c3)
	}
	if v := h.lastValue("a"); len(v.Topics) != 1 || len(v.Topics[0].Partitions) != 3 {
		t.Fatalf("partitions after the merged add: %+v", v.Topics)
	}
	h.manualAppends = false
	h.manualMarkers = true
	h.end("a", pid, epoch, false, 3)
	during := h.addReq("a", pid, epoch, 3, tp("t", 1))
	if h.answered(during) {
		t.Fatal("an add during PrepareAbort was answered before the markers")
	}
	h.writeHeldMarkers(0)
	if code := addCode(h, during); code != 0 || h.state("a") != "Ongoing" {
		t.Fatalf("add parked during PrepareAbort: %d, state %s", code, h.state("a"))
	}
}

// TestParkedAddTimesOut: an add that waits longer than parkTimeout (the
// markers are stuck) gets CONCURRENT_TRANSACTIONS, as in Kafka.
func TestParkedAddTimesOut(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.ongoing("a", tp("t", 0))
	h.manualMarkers = true
	h.end("a", pid, epoch, true, 3)
	id := h.addReq("a", pid, epoch, 3, tp("t", 1))
	h.advance(parkTimeout / 2)
	if h.answered(id) {
		t.Fatal("answered before its deadline")
	}
	h.advance(parkTimeout)
	if code := addCode(h, id); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("after the deadline: %d", code)
	}
}

func TestAddBrokerBatch(t *testing.T) {
	h := newHarness(t)
	pa, ea := h.ongoing("a", tp("t", 0))
	pb, eb := h.initOK("b")
	records := len(h.log)
	h.manualAppends = true
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	for _, x := range []brokerTxn{
		{id: "a", pid: pa, epoch: ea, verify: true, tps: []TopicPartition{tp("t", 0), tp("t", 1)}},
		{id: "b", pid: pb, epoch: eb, tps: []TopicPartition{tp("t", 5)}},
	} {
		rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
		rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = x.id, x.pid, x.epoch, x.verify
		for _, p := range x.tps {
			rt.Topics = append(rt.Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: p.Topic, Partitions: []int32{p.Partition}})
		}
		req.Transactions = append(req.Transactions, rt)
	}
	id := h.id()
	h.apply(h.c.AddPartitionsToTxn(h.now, id, req))
	if h.answered(id) {
		t.Fatal("answered before the add of b is durable")
	}
	h.completeHeld(nil)
	r := reply[*kmsg.AddPartitionsToTxnResponse](h, id)
	if len(r.Transactions) != 2 || r.Transactions[0].TransactionalID != "a" || r.Transactions[1].TransactionalID != "b" {
		t.Fatalf("response %+v", r)
	}
	if got := brokerCodes(r.Transactions[0]); !slices.Equal(got, []int16{0, kerr.TransactionAbortable.Code}) {
		t.Fatalf("verify codes %v", got)
	}
	if got := brokerCodes(r.Transactions[1]); !slices.Equal(got, []int16{0}) {
		t.Fatalf("add codes %v", got)
	}
	if len(h.log) != records+1 {
		t.Fatalf("%d records written, want 1", len(h.log)-records)
	}
	if v := h.lastValue("b"); v.ClientTransactionVersion != 2 {
		t.Fatalf("client TV of a broker add: %d", v.ClientTransactionVersion)
	}
}

func TestVerifyOnlyErrors(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.ongoing("a", tp("t", 0))
	cases := []struct {
		name string
		txn  brokerTxn
		want int16
	}{
		{"empty id", brokerTxn{id: "", pid: pid, epoch: epoch}, kerr.InvalidRequest.Code},
		{"unknown id", brokerTxn{id: "zz", pid: pid, epoch: epoch}, kerr.InvalidProducerIDMapping.Code},
		{"other pid", brokerTxn{id: "a", pid: pid + 1, epoch: epoch}, kerr.InvalidProducerIDMapping.Code},
		{"other epoch", brokerTxn{id: "a", pid: pid, epoch: epoch + 1}, kerr.ProducerFenced.Code},
	}
	for _, tc := range cases {
		tc.txn.verify, tc.txn.tps = true, []TopicPartition{tp("t", 0), tp("t", 1)}
		got := brokerCodes(h.addBroker(tc.txn).Transactions[0])
		if !slices.Equal(got, []int16{tc.want, tc.want}) {
			t.Errorf("%s: %v, want %d", tc.name, got, tc.want)
		}
	}
	h.manualMarkers = true
	h.end("a", pid, epoch, true, 3)
	got := brokerCodes(h.addBroker(brokerTxn{id: "a", pid: pid, epoch: epoch, verify: true, tps: []TopicPartition{tp("t", 0)}}).Transactions[0])
	if !slices.Equal(got, []int16{kerr.ConcurrentTransactions.Code}) {
		t.Fatalf("verify during PrepareCommit: %v", got)
	}
}

func TestVerifyIgnoresPending(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.ongoing("a", tp("t", 0))
	h.manualAppends = true
	h.addReq("a", pid, epoch, 3, tp("t", 1))
	got := brokerCodes(h.addBroker(brokerTxn{id: "a", pid: pid, epoch: epoch, verify: true,
		tps: []TopicPartition{tp("t", 0), tp("t", 1)}}).Transactions[0])
	if !slices.Equal(got, []int16{0, kerr.TransactionAbortable.Code}) {
		t.Fatalf("verify with a pending add: %v", got)
	}
}

func TestAddBrokerEmptyRequest(t *testing.T) {
	h := newHarness(t)
	if r := h.addBroker(); len(r.Transactions) != 0 || r.ErrorCode != 0 {
		t.Fatalf("%+v", r)
	}
}

func TestAddOffsets(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	id := h.addOffsetsReq("a", pid, epoch, 3, "hello")
	if r := reply[*kmsg.AddOffsetsToTxnResponse](h, id); r.ErrorCode != 0 {
		t.Fatalf("add offsets: %+v", r)
	}
	d := h.describe("a")[0]
	if d.State != "Ongoing" || len(d.Topics) != 1 || d.Topics[0].Topic != "__consumer_offsets" ||
		!slices.Equal(d.Topics[0].Partitions, []int32{22}) {
		t.Fatalf("describe %+v", d)
	}
	if v := h.lastValue("a"); v.ClientTransactionVersion != 0 {
		t.Fatalf("client TV %d", v.ClientTransactionVersion)
	}
	id = h.addOffsetsReq("a", pid, epoch+1, 1, "hello")
	if r := reply[*kmsg.AddOffsetsToTxnResponse](h, id); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced v1: %+v", r)
	}
	id = h.addOffsetsReq("a", pid, epoch+1, 2, "hello")
	if r := reply[*kmsg.AddOffsetsToTxnResponse](h, id); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("fenced v2: %+v", r)
	}
}

// TestPartitionFor checks Java's String.hashCode semantics, including
// Utils.abs(MinInt32) == 0 and surrogate pairs.
func TestPartitionFor(t *testing.T) {
	cases := map[string]int32{"hello": 22, "my-group": 12, "polygenelubricants": 0, "txn-é😀": 17, "consumer-group-42": 17}
	for s, want := range cases {
		if got := PartitionFor(s, 50); got != want {
			t.Errorf("PartitionFor(%q) = %d, want %d", s, got, want)
		}
	}
	if PartitionFor("x", 0) != 0 {
		t.Fatal("zero partitions")
	}
}
