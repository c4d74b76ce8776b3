package main

// fjord transactions: kafka-transactions' subcommands. describe-producers
// works against any cluster with DescribeProducers (61); list, describe
// and abort need the transaction coordinator (issue 13) and are not here
// yet.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// transactionsTimeout bounds every admin request of `fjord transactions`.
var transactionsTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "transactions",
		Short: "Inspect producers and transactions (like kafka-transactions)",
	}
	cmd.PersistentFlags().DurationVar(&transactionsTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newDescribeProducersCmd())
	rootCmd.AddCommand(cmd)
}

func newDescribeProducersCmd() *cobra.Command {
	var topic string
	var part int32
	cmd := &cobra.Command{
		Use:   "describe-producers --topic T --partition P",
		Short: "List the active producers of a partition, as its leader keeps them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if topic == "" || part < 0 {
				return errors.New("--topic and --partition are required")
			}
			return withAdminFor(cmd, transactionsTimeout, func(ctx context.Context, adm *kadm.Client) error {
				described, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {part: {}}})
				if err != nil {
					return err
				}
				p, ok := described[topic].Partitions[part]
				if !ok {
					return fmt.Errorf("no answer for %s-%d", topic, part)
				}
				if p.Err != nil {
					return fmt.Errorf("describing producers of %s-%d: %w", topic, part, kafkaErr(p.Err, p.ErrMessage))
				}
				return writeProducers(cmd.OutOrStdout(), p.ActiveProducers)
			})
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "the partition's topic")
	cmd.Flags().Int32Var(&part, "partition", -1, "the partition")
	return cmd
}

// writeProducers prints kafka-transactions describe-producers' table.
func writeProducers(w io.Writer, producers kadm.DescribedProducers) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset")
	for _, p := range producers.Sorted() {
		start := "None"
		if p.CurrentTxnStartOffset >= 0 {
			start = strconv.FormatInt(p.CurrentTxnStartOffset, 10)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\n", p.ProducerID, p.ProducerEpoch, p.CoordinatorEpoch, p.LastSequence, p.LastTimestamp, start)
	}
	return tw.Flush()
}
