package main

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

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
