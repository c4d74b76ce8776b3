package txn

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribe(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.ongoing("a", tp("u", 2), tp("t", 1), tp("t", 0))
	ds := h.describe("a", "", "zz")
	a := ds[0]
	if a.ErrorCode != 0 || a.TransactionalID != "a" || a.State != "Ongoing" || a.TimeoutMillis != 60000 ||
		a.StartTimestamp != t0.UnixMilli() || a.ProducerID != pid || a.ProducerEpoch != epoch || len(a.Topics) != 2 ||
		a.Topics[0].Topic != "t" || !slices.Equal(a.Topics[0].Partitions, []int32{0, 1}) || a.Topics[1].Topic != "u" {
		t.Fatalf("a: %+v", a)
	}
	if ds[1].ErrorCode != kerr.InvalidRequest.Code || ds[2].ErrorCode != kerr.TransactionalIDNotFound.Code ||
		ds[2].TransactionalID != "zz" {
		t.Fatalf("errors: %+v", ds[1:])
	}
}

func TestList(t *testing.T) {
	h := newHarness(t)
	pa, _ := h.ongoing("a", tp("t", 0))
	h.now = h.now.Add(time.Minute)
	h.ongoing("b", tp("t", 0))
	pc, _ := h.initOK("c")
	h.now = h.now.Add(time.Minute)
	cases := []struct {
		name string
		req  func(*kmsg.ListTransactionsRequest)
		want []string
	}{
		{"all", func(*kmsg.ListTransactionsRequest) {}, []string{"a", "b", "c"}},
		{"state", func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Ongoing"} }, []string{"a", "b"}},
		{"states", func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Empty", "Bogus"} }, []string{"c"}},
		{"unknown state only", func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Bogus"} }, nil},
		{"pids", func(r *kmsg.ListTransactionsRequest) { r.ProducerIDFilters = []int64{pa, pc} }, []string{"a", "c"}},
		{"pid and state", func(r *kmsg.ListTransactionsRequest) {
			r.ProducerIDFilters, r.StateFilters = []int64{pa, pc}, []string{"Empty"}
		}, []string{"c"}},
		// a started two minutes ago, b one; c never started (start -1 passes)
		{"duration", func(r *kmsg.ListTransactionsRequest) { r.Version, r.DurationFilterMillis = 1, 90000 },
			[]string{"a", "c"}},
		{"duration exact", func(r *kmsg.ListTransactionsRequest) { r.Version, r.DurationFilterMillis = 1, 60000 },
			[]string{"a", "c"}},
		{"duration v0 ignored", func(r *kmsg.ListTransactionsRequest) { r.Version, r.DurationFilterMillis = 0, 90000 },
			[]string{"a", "b", "c"}},
	}
	for _, tc := range cases {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = 1
		tc.req(req)
		var got []string
		for _, s := range h.c.ListTransactions(h.now, req) {
			got = append(got, s.TransactionalID)
			if s.TransactionalID == "a" && (s.ProducerID != pa || s.TransactionState != "Ongoing") {
				t.Errorf("%s: entry %+v", tc.name, s)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHandle(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, "a", pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	list := kmsg.NewPtrListTransactionsRequest()
	list.StateFilters = []string{"Ongoing", "Nope", "PrepareEpochFence"}
	var listID RequestID
	for _, req := range []kmsg.Request{add, list, kmsg.NewPtrDescribeTransactionsRequest(), kmsg.NewPtrEndTxnRequest(),
		kmsg.NewPtrAddOffsetsToTxnRequest(), kmsg.NewPtrInitProducerIDRequest()} {
		id := h.id()
		if req == list {
			listID = id
		}
		eff, err := h.c.Handle(h.now, id, req)
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		h.apply(eff)
		if !h.answered(id) {
			t.Fatalf("%T not answered", req)
		}
	}
	lr := reply[*kmsg.ListTransactionsResponse](h, listID)
	if len(lr.TransactionStates) != 1 || !slices.Equal(lr.UnknownStateFilters, []string{"Nope"}) {
		t.Fatalf("list %+v", lr)
	}
	if _, err := h.c.Handle(h.now, h.id(), kmsg.NewPtrProduceRequest()); err == nil {
		t.Fatal("Handle accepted a produce request")
	}
}
