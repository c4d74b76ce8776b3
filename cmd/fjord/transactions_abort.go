package main

// fjord transactions abort: ends an open transaction on one partition by
// writing an ABORT marker there, as kafka-transactions abort does. The
// producer is given either by the offset its transaction starts at (looked
// up with DescribeProducers) or by id, epoch and coordinator epoch. The
// marker goes straight to the partition's leader (WriteTxnMarkers needs
// ALTER or CLUSTER_ACTION on the cluster).

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// abortOpts are abort's flags.
type abortOpts struct {
	topic            string
	partition        int32
	startOffset      int64
	producerID       int64
	producerEpoch    int16
	coordinatorEpoch int32
}

// The flags that name the producer directly, all three or none.
var abortProducerFlags = []string{"producer-id", "producer-epoch", "coordinator-epoch"}

func newAbortTransactionCmd() *cobra.Command {
	var o abortOpts
	cmd := &cobra.Command{
		Use:   "abort --topic T --partition P (--start-offset O | --producer-id ID --producer-epoch E --coordinator-epoch C)",
		Short: "Abort an open transaction on a partition by writing an ABORT marker at its leader",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateAbort(o, cmd.Flags().Changed); err != nil {
				return err
			}
			return withAdminFor(cmd, transactionsTimeout, func(ctx context.Context, adm *kadm.Client) error {
				m, err := abortMarkers(ctx, adm, o, cmd.Flags().Changed("start-offset"))
				if err != nil {
					return err
				}
				if err := writeAbortMarker(ctx, adm, m, o.topic, o.partition); err != nil {
					return err
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), abortedLine(m, o.topic, o.partition))
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "the partition's topic")
	f.Int32Var(&o.partition, "partition", -1, "the partition")
	f.Int64Var(&o.startOffset, "start-offset", -1, "the offset the transaction to abort starts at")
	f.Int64Var(&o.producerID, "producer-id", -1, "the transaction's producer id")
	f.Int16Var(&o.producerEpoch, "producer-epoch", -1, "the transaction's producer epoch")
	f.Int32Var(&o.coordinatorEpoch, "coordinator-epoch", -1, "the coordinator epoch of its last marker (< 0: 0)")
	return cmd
}

// validateAbort checks abort's flags; changed tells which were given.
func validateAbort(o abortOpts, changed func(string) bool) error {
	if o.topic == "" || o.partition < 0 {
		return errors.New("--topic and --partition are required")
	}
	byProducer := 0
	for _, name := range abortProducerFlags {
		if changed(name) {
			byProducer++
		}
	}
	switch {
	case changed("start-offset") && byProducer > 0:
		return errors.New("--start-offset conflicts with --producer-id, --producer-epoch and --coordinator-epoch")
	case changed("start-offset"):
		if o.startOffset < 0 {
			return errors.New("--start-offset must not be negative")
		}
		return nil
	case byProducer < len(abortProducerFlags):
		return errors.New("give --start-offset, or all of --producer-id, --producer-epoch and --coordinator-epoch")
	case o.producerID < 0 || o.producerEpoch < 0:
		return errors.New("--producer-id and --producer-epoch must not be negative")
	}
	return nil
}

// abortMarkers builds the ABORT marker for o: from the flags, or, with
// --start-offset, from the producer whose transaction starts there.
func abortMarkers(ctx context.Context, adm *kadm.Client, o abortOpts, byOffset bool) (kadm.TxnMarkers, error) {
	if !byOffset {
		return abortMarker(o.topic, o.partition, o.producerID, o.producerEpoch, o.coordinatorEpoch), nil
	}
	described, err := adm.DescribeProducers(ctx, kadm.TopicsSet{o.topic: {o.partition: {}}})
	if err != nil {
		return kadm.TxnMarkers{}, fmt.Errorf("describing producers of %s-%d: %w", o.topic, o.partition, shardDetails(err))
	}
	p, ok := described[o.topic].Partitions[o.partition]
	switch {
	case !ok:
		return kadm.TxnMarkers{}, fmt.Errorf("no answer for %s-%d", o.topic, o.partition)
	case p.Err != nil:
		return kadm.TxnMarkers{}, fmt.Errorf("describing producers of %s-%d: %w", o.topic, o.partition, kafkaErr(p.Err, p.ErrMessage))
	}
	found, ok := producerAt(p.ActiveProducers, o.startOffset)
	if !ok {
		return kadm.TxnMarkers{}, fmt.Errorf("no open transaction starts at offset %d of %s-%d", o.startOffset, o.topic, o.partition)
	}
	return abortMarker(o.topic, o.partition, found.ProducerID, found.ProducerEpoch, found.CoordinatorEpoch), nil
}

// producerAt finds the producer whose current transaction starts at offset.
func producerAt(producers kadm.DescribedProducers, offset int64) (kadm.DescribedProducer, bool) {
	for _, p := range producers.Sorted() {
		if p.CurrentTxnStartOffset == offset {
			return p, true
		}
	}
	return kadm.DescribedProducer{}, false
}

// abortMarker is the ABORT marker of one producer on one partition; an
// unknown (negative) coordinator epoch is sent as 0.
func abortMarker(topic string, partition int32, id int64, epoch int16, coordinatorEpoch int32) kadm.TxnMarkers {
	return kadm.TxnMarkers{
		ProducerID: id, ProducerEpoch: epoch, Commit: false,
		CoordinatorEpoch: max(coordinatorEpoch, 0),
		Topics:           kadm.TopicsSet{topic: {partition: {}}},
	}
}

// writeAbortMarker sends m to the partition's leader and checks its answer.
func writeAbortMarker(ctx context.Context, adm *kadm.Client, m kadm.TxnMarkers, topic string, partition int32) error {
	resps, err := adm.WriteTxnMarkers(ctx, m)
	if err != nil {
		return fmt.Errorf("writing the ABORT marker to %s-%d: %w", topic, partition, shardDetails(err))
	}
	p, ok := resps[m.ProducerID].Topics[topic].Partitions[partition]
	switch {
	case !ok:
		return fmt.Errorf("no answer for the ABORT marker of %s-%d", topic, partition)
	case p.Err != nil:
		return fmt.Errorf("writing the ABORT marker to %s-%d%s: %w", topic, partition, onBroker(p.NodeID), p.Err)
	}
	return nil
}

// abortedLine says what abort did.
func abortedLine(m kadm.TxnMarkers, topic string, partition int32) string {
	return fmt.Sprintf("Aborted the transaction of producer %d (epoch %d, coordinator epoch %d) on %s-%d.",
		m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, topic, partition)
}
