package main

// fjord transactions: kafka-transactions' subcommands, with its columns
// and options (docs/transactions-reference.md §10), over franz-go's kadm
// and kgo only:
//
//   - list [--duration-filter MS]: ListTransactions on every broker;
//   - describe --transactional-id ID: DescribeTransactions at the id's
//     coordinator;
//   - describe-producers --topic T --partition P [--broker-id B]:
//     DescribeProducers at the leader, or at broker B;
//   - abort --topic T --partition P (--start-offset O | --producer-id ID
//     --producer-epoch E --coordinator-epoch C): WriteTxnMarkers(ABORT) at
//     the partition's leader (transactions_abort.go);
//   - find-hanging (--broker-id B | --topic T [--partition P])
//     [--max-transaction-timeout MIN]: open transactions on partitions that
//     their coordinator no longer knows (transactions_hanging.go).
//
// The table writers are pure: they take kadm's result types and, where a
// duration is printed, the current time.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// transactionsTimeout bounds every admin request of `fjord transactions`.
var transactionsTimeout time.Duration

// none is printed for a time or offset that is absent, as kafka-transactions
// prints it.
const none = "None"

func init() {
	cmd := &cobra.Command{
		Use:   "transactions",
		Short: "Inspect producers and transactions (like kafka-transactions)",
	}
	cmd.PersistentFlags().DurationVar(&transactionsTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newListTransactionsCmd(), newDescribeTransactionCmd(), newDescribeProducersCmd(),
		newAbortTransactionCmd(), newFindHangingCmd())
	rootCmd.AddCommand(cmd)
}

// shardDetails spells out kadm's *ShardErrors, one line per failed
// broker, instead of its "first of N" summary; other errors pass through.
func shardDetails(err error) error {
	se, ok := errors.AsType[*kadm.ShardErrors](err)
	if !ok || len(se.Errs) == 0 {
		return err
	}
	errs := make([]error, 0, len(se.Errs))
	for _, e := range se.Errs {
		errs = append(errs, fmt.Errorf("%s%s: %w", se.Name, onBroker(e.Broker.NodeID), e.Err))
	}
	return errors.Join(errs...)
}

// printTable writes the tab-separated lines fill prints as aligned
// columns, two blanks apart, as every transactions table; an empty last
// cell leaves no trailing blanks.
func printTable(w io.Writer, fill func(io.Writer)) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fill(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// ---- list ----

func newListTransactionsCmd() *cobra.Command {
	var durationMs int64
	cmd := &cobra.Command{
		Use:   "list [--duration-filter MS]",
		Short: "List the transactions of every coordinator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withKafka(cmd, transactionsTimeout, func(ctx context.Context, cl *kgo.Client, _ *kadm.Client) error {
				listed, err := listTransactions(ctx, cl, durationMs)
				if err != nil && len(listed) == 0 {
					return err
				}
				if werr := writeTransactionsList(cmd.OutOrStdout(), listed); werr != nil {
					return werr
				}
				return err // some brokers did not answer: their ids are missing above
			})
		},
	}
	cmd.Flags().Int64Var(&durationMs, "duration-filter", -1,
		"list only transactions running for longer than this many milliseconds (negative: all)")
	return cmd
}

// listTransactions sends ListTransactions, with DurationFilter when
// durationMs >= 0, to every broker.
func listTransactions(ctx context.Context, cl *kgo.Client, durationMs int64) (kadm.ListedTransactions, error) {
	req := kmsg.NewPtrListTransactionsRequest()
	req.DurationFilterMillis = durationMs
	return listedFromShards(cl.RequestSharded(ctx, req), durationMs)
}

// listedFromShards merges the brokers' ListTransactions answers; the error
// joins those of the brokers whose list is missing.
func listedFromShards(shards []kgo.ResponseShard, durationMs int64) (kadm.ListedTransactions, error) {
	listed := make(kadm.ListedTransactions)
	var errs []error
	for _, s := range shards {
		if err := addListed(listed, s, durationMs); err != nil {
			errs = append(errs, err)
		}
	}
	return listed, errors.Join(errs...)
}

// addListed adds one broker's answer to listed.
func addListed(listed kadm.ListedTransactions, s kgo.ResponseShard, durationMs int64) error {
	broker := s.Meta.NodeID
	if s.Err != nil {
		return fmt.Errorf("listing transactions%s: %w", onBroker(broker), s.Err)
	}
	resp, ok := s.Resp.(*kmsg.ListTransactionsResponse)
	if !ok {
		return fmt.Errorf("listing transactions%s: unexpected response %T", onBroker(broker), s.Resp)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("listing transactions%s: %w", onBroker(broker), err)
	}
	if durationMs >= 0 && resp.Version < 1 {
		return fmt.Errorf("broker %d cannot apply --duration-filter (it needs ListTransactions v1)", broker)
	}
	for _, t := range resp.TransactionStates {
		listed[t.TransactionalID] = kadm.ListedTransaction{
			Coordinator: broker, TxnID: t.TransactionalID, ProducerID: t.ProducerID, State: t.TransactionState,
		}
	}
	return nil
}

// onBroker names the broker a request went to, if it got that far.
func onBroker(id int32) string {
	if id < 0 {
		return ""
	}
	return fmt.Sprintf(" on broker %d", id)
}

// writeTransactionsList prints kafka-transactions list's table, sorted by
// transactional id.
func writeTransactionsList(w io.Writer, listed kadm.ListedTransactions) error {
	return printTable(w, func(tw io.Writer) {
		fmt.Fprintln(tw, "TransactionalId\tCoordinator\tProducerId\tTransactionState")
		for _, t := range listed.Sorted() {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t.TxnID, t.Coordinator, t.ProducerID, t.State)
		}
	})
}

// ---- describe ----

func newDescribeTransactionCmd() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "describe --transactional-id ID",
		Short: "Describe a transactional id's current transaction, as its coordinator keeps it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("--transactional-id is required")
			}
			return withAdminFor(cmd, transactionsTimeout, func(ctx context.Context, adm *kadm.Client) error {
				d, err := describeTransaction(ctx, adm, id)
				if err != nil {
					return err
				}
				return writeTransaction(cmd.OutOrStdout(), d, time.Now())
			})
		},
	}
	cmd.Flags().StringVar(&id, "transactional-id", "", "the transactional id")
	return cmd
}

// describeTransaction asks id's coordinator for its transaction.
func describeTransaction(ctx context.Context, adm *kadm.Client, id string) (kadm.DescribedTransaction, error) {
	described, err := adm.DescribeTransactions(ctx, id)
	if err != nil {
		return kadm.DescribedTransaction{}, fmt.Errorf("describing transactional id %q: %w", id, shardDetails(err))
	}
	d, ok := described[id]
	switch {
	case !ok:
		return d, fmt.Errorf("no answer for transactional id %q", id)
	case d.Err != nil:
		return d, fmt.Errorf("describing transactional id %q (coordinator %d): %w", id, d.Coordinator, d.Err)
	}
	return d, nil
}

// writeTransaction prints kafka-transactions describe's table: start time
// and duration (now minus start) are None when no transaction is running.
func writeTransaction(w io.Writer, d kadm.DescribedTransaction, now time.Time) error {
	start, duration := none, none
	if d.StartTimestamp >= 0 {
		start = strconv.FormatInt(d.StartTimestamp, 10)
		duration = strconv.FormatInt(now.UnixMilli()-d.StartTimestamp, 10)
	}
	return printTable(w, func(tw io.Writer) {
		fmt.Fprintln(tw, "CoordinatorId\tTransactionalId\tProducerId\tProducerEpoch\tTransactionState\t"+
			"TransactionTimeoutMs\tCurrentTransactionStartTimeMs\tTransactionDurationMs\tTopicPartitions")
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\n", d.Coordinator, d.TxnID, d.ProducerID, d.ProducerEpoch,
			d.State, d.TimeoutMillis, start, duration, joinPartitions(d.Topics))
	})
}

// joinPartitions prints a partition set as topic-p, comma separated, in
// topic and partition order.
func joinPartitions(set kadm.TopicsSet) string {
	var parts []string
	for _, t := range set.Sorted() {
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s-%d", t.Topic, p))
		}
	}
	return strings.Join(parts, ",")
}

// ---- describe-producers ----

func newDescribeProducersCmd() *cobra.Command {
	var topic string
	var part, broker int32
	cmd := &cobra.Command{
		Use:   "describe-producers --topic T --partition P [--broker-id B]",
		Short: "List the active producers of a partition, as its leader (or a given broker) keeps them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if topic == "" || part < 0 {
				return errors.New("--topic and --partition are required")
			}
			return withKafka(cmd, transactionsTimeout, func(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
				described, err := describeProducers(ctx, cl, adm, broker, kadm.TopicsSet{topic: {part: {}}})
				if err != nil {
					return shardDetails(err)
				}
				p, ok := described[topic].Partitions[part]
				if !ok {
					return fmt.Errorf("no answer for %s-%d", topic, part)
				}
				if p.Err != nil {
					return fmt.Errorf("describing producers of %s-%d%s: %w", topic, part, onBroker(p.Leader), kafkaErr(p.Err, p.ErrMessage))
				}
				return writeProducers(cmd.OutOrStdout(), p.ActiveProducers)
			})
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "the partition's topic")
	cmd.Flags().Int32Var(&part, "partition", -1, "the partition")
	cmd.Flags().Int32Var(&broker, "broker-id", -1, "ask this broker instead of the partition's leader")
	return cmd
}

// describeProducers asks for the active producers of set's partitions:
// their leaders when broker < 0, else broker itself.
func describeProducers(ctx context.Context, cl *kgo.Client, adm *kadm.Client, broker int32, set kadm.TopicsSet) (kadm.DescribedProducersTopics, error) {
	if broker < 0 {
		return adm.DescribeProducers(ctx, set)
	}
	req := kmsg.NewPtrDescribeProducersRequest()
	for _, t := range set.Sorted() {
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = t.Topic, t.Partitions
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl.Broker(int(broker)))
	if err != nil {
		return nil, fmt.Errorf("describing producers on broker %d: %w", broker, err)
	}
	return producersFromResponse(broker, resp), nil
}

// producersFromResponse turns broker's DescribeProducers answer into
// kadm's types, as kadm.DescribeProducers returns them.
func producersFromResponse(broker int32, resp *kmsg.DescribeProducersResponse) kadm.DescribedProducersTopics {
	out := make(kadm.DescribedProducersTopics)
	for _, rt := range resp.Topics {
		t, ok := out[rt.Topic]
		if !ok {
			t = kadm.DescribedProducersTopic{Topic: rt.Topic, Partitions: make(kadm.DescribedProducersPartitions)}
			out[rt.Topic] = t
		}
		for _, rp := range rt.Partitions {
			t.Partitions[rp.Partition] = producersPartition(broker, rt.Topic, rp)
		}
	}
	return out
}

func producersPartition(broker int32, topic string, rp kmsg.DescribeProducersResponseTopicPartition) kadm.DescribedProducersPartition {
	p := kadm.DescribedProducersPartition{
		Leader: broker, Topic: topic, Partition: rp.Partition, ActiveProducers: make(kadm.DescribedProducers),
		Err: kerr.ErrorForCode(rp.ErrorCode),
	}
	if rp.ErrorMessage != nil {
		p.ErrMessage = *rp.ErrorMessage
	}
	for _, a := range rp.ActiveProducers {
		p.ActiveProducers[a.ProducerID] = kadm.DescribedProducer{
			Leader: broker, Topic: topic, Partition: rp.Partition,
			ProducerID: a.ProducerID, ProducerEpoch: int16(a.ProducerEpoch), LastSequence: a.LastSequence,
			LastTimestamp: a.LastTimestamp, CoordinatorEpoch: a.CoordinatorEpoch, CurrentTxnStartOffset: a.CurrentTxnStartOffset,
		}
	}
	return p
}

// writeProducers prints kafka-transactions describe-producers' table.
func writeProducers(w io.Writer, producers kadm.DescribedProducers) error {
	return printTable(w, func(tw io.Writer) {
		fmt.Fprintln(tw, "ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset")
		for _, p := range producers.Sorted() {
			start := none
			if p.CurrentTxnStartOffset >= 0 {
				start = strconv.FormatInt(p.CurrentTxnStartOffset, 10)
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\n", p.ProducerID, p.ProducerEpoch, p.CoordinatorEpoch, p.LastSequence, p.LastTimestamp, start)
		}
	})
}
