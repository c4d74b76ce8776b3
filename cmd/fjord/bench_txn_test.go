package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestBenchProduceTransactionFlags(t *testing.T) {
	good := benchProduceOpts{topic: "t", records: 10, recordSize: 1, producers: 1, batchBytes: 1, acks: "all",
		transactionalID: "bench", txnRecords: 5}
	if err := validateBenchProduce(good); err != nil {
		t.Errorf("good opts: %v", err)
	}
	plain := good
	plain.transactionalID, plain.txnRecords = "", 0
	if err := validateBenchProduce(plain); err != nil {
		t.Errorf("non-transactional opts: %v", err)
	}
	for name, mut := range map[string]func(*benchProduceOpts){
		"no records per txn":       func(o *benchProduceOpts) { o.txnRecords = 0 },
		"negative records per txn": func(o *benchProduceOpts) { o.txnRecords = -1 },
		"records without id":       func(o *benchProduceOpts) { o.transactionalID = "" },
		"acks 1":                   func(o *benchProduceOpts) { o.acks = "1" },
		"acks 0":                   func(o *benchProduceOpts) { o.acks = "0" },
	} {
		o := good
		mut(&o)
		if err := validateBenchProduce(o); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}

	cmd := newBenchProduceCmd()
	if err := cmd.ParseFlags([]string{"--topic", "t", "--transactional-id", "x", "--transaction-records", "100"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := cmd.Flags().GetString("transactional-id"); v != "x" {
		t.Errorf("--transactional-id %q", v)
	}
	if v, _ := cmd.Flags().GetInt64("transaction-records"); v != 100 {
		t.Errorf("--transaction-records %d", v)
	}
}

func TestBenchTransactionIDs(t *testing.T) {
	o := benchProduceOpts{transactionalID: "bench", producers: 1}
	if got := benchTxnID(o, 0); got != "bench" {
		t.Errorf("one producer: %q", got)
	}
	o.producers = 3
	if got := benchTxnID(o, 2); got != "bench-2" {
		t.Errorf("producer 2 of 3: %q", got)
	}
	opts, err := benchProducerOpts(benchProduceOpts{topic: "t", acks: "all", compression: "none", records: 1, producers: 1,
		batchBytes: 1_000_000, transactionalID: "bench", txnRecords: 1})
	if err != nil {
		t.Fatalf("transactional producer opts: %v", err)
	}
	// kgo refuses a transactional id without idempotence or with acks < all.
	cl, err := kgo.NewClient(append(opts, kgo.TransactionalID("bench"))...)
	if err != nil {
		t.Fatalf("kgo rejects the transactional producer: %v", err)
	}
	cl.Close()
}

func TestBenchTransactionResult(t *testing.T) {
	r := withCommits(newProduceResult(1000, 0, mib, 2*time.Second, latencySummary{}), 50)
	if got, want := txnSummaryLine(r), "50 transactions committed, 25.0 commits/sec."; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	var buf bytes.Buffer
	if err := writeResult(&buf, txnSummaryLine(r), r, true); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["transactions"] != 50.0 || got["commits_per_sec"] != 25.0 {
		t.Errorf("json %v", got)
	}
	plain := newProduceResult(1000, 0, mib, 2*time.Second, latencySummary{})
	buf.Reset()
	if err := writeResult(&buf, "", plain, true); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); strings.Contains(s, "transactions") || strings.Contains(s, "commits") {
		t.Errorf("non-transactional JSON has transaction fields: %s", s)
	}
	if r := withCommits(produceResult{}, 3); r.CommitsPerSec != 0 || r.Transactions != 3 {
		t.Errorf("zero-duration result %+v", r)
	}
}
