package handlers

import (
	"slices"
	"testing"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactions on the read paths: Fetch's IsolationLevel, LastStableOffset
// and AbortedTransactions, ListOffsets' IsolationLevel, DescribeProducers'
// transaction fields.

// txnRecord is producer pid's transactional one-record batch at sequence seq.
func txnRecord(t *testing.T, pid int64, seq int32) []byte {
	t.Helper()
	h := record.Header{BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000, ProducerID: pid,
		BaseSequence: seq, Attributes: record.TransactionalBit}
	b, err := record.RebuildBatch(h, []record.Record{{Value: []byte("t")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openTxn appends, on local-0 (led alone: the HW follows the log end), a
// plain batch (0), producer 7's transactional batch (1) and a plain batch
// (2): the LSO is 1, the HW 3.
func openTxn(t *testing.T, p *partition.Partition) {
	t.Helper()
	guard, _ := p.VerificationGuard(7, 0, 0)
	for _, app := range []func() (partition.AppendResult, error){
		func() (partition.AppendResult, error) { return p.AppendAsLeader(oneRecord(t), 1) },
		func() (partition.AppendResult, error) { return p.AppendVerified(txnRecord(t, 7, 0), 1, guard) },
		func() (partition.AppendResult, error) { return p.AppendAsLeader(oneRecord(t), 1) },
	} {
		if _, err := app(); err != nil {
			t.Fatal(err)
		}
	}
}

// baseOffsets lists the base offsets of a response partition's batches.
func baseOffsets(t *testing.T, b []byte) []int64 {
	t.Helper()
	var out []int64
	for len(b) > 0 {
		h, err := record.Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.BaseOffset)
		b = b[h.Size():]
	}
	return out
}

// committedFetch is a Fetch of local-0 from offset at version v with the
// isolation level.
func committedFetch(v int16, offset int64, isolation int8) *kmsg.FetchRequest {
	tp := fetchTopic("local", localID, 2, 0)
	tp.Partitions[0].FetchOffset = offset
	r := fetchByID(v, tp)
	r.IsolationLevel = isolation
	return r
}

// read_committed reads stop at the LSO and carry AbortedTransactions (a
// list, empty or not); read_uncommitted reads go to the HW with a null
// list. Both report the LSO.
func TestFetchReadCommitted(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	openTxn(t, p)
	for _, v := range []int16{4, 11, 13, 16} {
		rc := fetchOf(serve(t, h, committedFetch(v, 0, 1))).Topics[0].Partitions[0]
		if rc.ErrorCode != 0 || rc.HighWatermark != 3 || rc.LastStableOffset != 1 {
			t.Fatalf("v%d read_committed: error %d HW %d LSO %d", v, rc.ErrorCode, rc.HighWatermark, rc.LastStableOffset)
		}
		if got := baseOffsets(t, rc.RecordBatches); !slices.Equal(got, []int64{0}) || rc.AbortedTransactions == nil || len(rc.AbortedTransactions) != 0 {
			t.Fatalf("v%d read_committed: batches %v, aborted %#v", v, got, rc.AbortedTransactions)
		}
		ru := fetchOf(serve(t, h, committedFetch(v, 0, 0))).Topics[0].Partitions[0]
		if got := baseOffsets(t, ru.RecordBatches); !slices.Equal(got, []int64{0, 1, 2}) || ru.AbortedTransactions != nil || ru.LastStableOffset != 1 {
			t.Fatalf("v%d read_uncommitted: batches %v, aborted %#v, LSO %d", v, got, ru.AbortedTransactions, ru.LastStableOffset)
		}
	}
	if _, err := p.AppendMarker(record.Marker{ProducerID: 7}); err != nil { // abort at 3
		t.Fatal(err)
	}
	rc := fetchOf(serve(t, h, committedFetch(13, 0, 1))).Topics[0].Partitions[0]
	want := []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 1}}
	if got := baseOffsets(t, rc.RecordBatches); !slices.Equal(got, []int64{0, 1, 2, 3}) || rc.LastStableOffset != 4 ||
		!slices.EqualFunc(rc.AbortedTransactions, want, func(a, b kmsg.FetchResponseTopicPartitionAbortedTransaction) bool {
			return a.ProducerID == b.ProducerID && a.FirstOffset == b.FirstOffset
		}) {
		t.Fatalf("after the abort: batches %v, LSO %d, aborted %+v", got, rc.LastStableOffset, rc.AbortedTransactions)
	}
}

// A read_committed long poll with nothing below the LSO answers once the
// LSO moves (here a commit marker lands before the poll watches; the
// re-read after registering finds it).
func TestFetchReadCommittedLongPoll(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	openTxn(t, p)
	defer func(old func()) { beforeLongPollWatch = old }(beforeLongPollWatch)
	beforeLongPollWatch = func() {
		if _, err := p.AppendMarker(record.Marker{ProducerID: 7, Commit: true}); err != nil {
			t.Error(err)
		}
	}
	r := committedFetch(13, 1, 1)
	r.MinBytes, r.MaxWaitMillis = 1, 60000
	rc := fetchOf(serve(t, h, r)).Topics[0].Partitions[0]
	if got := baseOffsets(t, rc.RecordBatches); !slices.Equal(got, []int64{1, 2, 3}) || rc.LastStableOffset != 4 {
		t.Fatalf("long poll: batches %v, LSO %d", got, rc.LastStableOffset)
	}
}

// ListOffsets latest is the LSO for read_committed (v2+), the HW
// otherwise (and before v2, which has no isolation level).
func TestListOffsetsIsolation(t *testing.T) {
	h := leadersNode(t)
	openTxn(t, h.d.Partitions.Partition("local", 0))
	for _, tc := range []struct {
		version   int16
		isolation int8
		want      int64
	}{{1, 1, 3}, {2, 0, 3}, {2, 1, 1}, {7, 1, 1}} {
		r := versioned(kmsg.NewPtrListOffsetsRequest(), tc.version)
		r.ReplicaID, r.IsolationLevel = -1, tc.isolation
		tp := kmsg.NewListOffsetsRequestTopicPartition()
		tp.Partition, tp.Timestamp = 0, partition.Latest
		r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "local", Partitions: []kmsg.ListOffsetsRequestTopicPartition{tp}}}
		got := serve(t, h, r).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if got.ErrorCode != 0 || got.Offset != tc.want {
			t.Errorf("v%d isolation %d: error %d offset %d, want %d", tc.version, tc.isolation, got.ErrorCode, got.Offset, tc.want)
		}
	}
}

// DescribeProducers shows a transactional producer's open transaction and
// last coordinator epoch.
func TestDescribeProducersTransactional(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	openTxn(t, p)
	if _, err := p.AppendMarker(record.Marker{ProducerID: 7, Commit: true, CoordinatorEpoch: 6}); err != nil {
		t.Fatal(err)
	}
	guard, _ := p.VerificationGuard(7, 0, 1)
	if _, err := p.AppendVerified(txnRecord(t, 7, 1), 1, guard); err != nil { // offset 4
		t.Fatal(err)
	}
	req := kmsg.NewPtrDescribeProducersRequest()
	req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "local", Partitions: []int32{0}}}
	got := serve(t, h, req).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
	if len(got.ActiveProducers) != 1 {
		t.Fatalf("producers %+v", got.ActiveProducers)
	}
	if ap := got.ActiveProducers[0]; ap.ProducerID != 7 || ap.CoordinatorEpoch != 6 || ap.CurrentTxnStartOffset != 4 || ap.LastSequence != 1 {
		t.Fatalf("producer %+v", ap)
	}
}

// A read_committed session reads up to the LSO, and its incremental
// answers carry the partition when the LSO moves.
func TestFetchSessionReadCommitted(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	openTxn(t, p)
	fetch := func(id, epoch int32, named bool, offset int64) *kmsg.FetchResponse {
		r := sessionFetch(id, epoch, named, offset)
		r.IsolationLevel = 1
		return fetchOf(serve(t, h, r))
	}
	open := fetch(0, 0, true, 0)
	if got := baseOffsets(t, open.Topics[0].Partitions[0].RecordBatches); !slices.Equal(got, []int64{0}) || open.Topics[0].Partitions[0].LastStableOffset != 1 {
		t.Fatalf("opening: batches %v, %+v", got, open.Topics[0].Partitions[0])
	}
	if r := fetch(open.SessionID, 1, true, 1); sessionPartitions(r) != 0 {
		t.Fatalf("nothing committed yet: %+v", r.Topics)
	}
	if _, err := p.AppendMarker(record.Marker{ProducerID: 7, Commit: true}); err != nil {
		t.Fatal(err)
	}
	r := fetch(open.SessionID, 2, false, 0)
	if sessionPartitions(r) != 1 {
		t.Fatalf("after the commit: %+v", r.Topics)
	}
	if part := r.Topics[0].Partitions[0]; part.LastStableOffset != 4 || !slices.Equal(baseOffsets(t, part.RecordBatches), []int64{1, 2, 3}) {
		t.Fatalf("after the commit: %+v", part)
	}
}
