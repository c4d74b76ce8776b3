package main

// fjord transactions find-hanging: open transactions on partitions that
// their coordinator does not count as part of a running transaction, as
// kafka-transactions find-hanging looks for them (reference §10):
//
//  1. DescribeProducers on every selected partition: those of --topic
//     (at their leaders), or those with a replica on --broker-id (at that
//     broker);
//  2. candidates: producers with an open transaction whose last write is
//     older than --max-transaction-timeout;
//  3. ListTransactions filtered by the candidates' producer ids maps them
//     to transactional ids, DescribeTransactions describes those;
//  4. a candidate hangs if no transactional id has its producer id, if
//     the description failed, or if the partition is not in the
//     transaction's current partition set.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// findHangingOpts are find-hanging's flags.
type findHangingOpts struct {
	broker        int32
	topic         string
	partition     int32
	maxTimeoutMin int64
}

func newFindHangingCmd() *cobra.Command {
	var o findHangingOpts
	cmd := &cobra.Command{
		Use:   "find-hanging (--broker-id B | --topic T [--partition P]) [--max-transaction-timeout MIN]",
		Short: "Find open transactions that their coordinator no longer completes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateFindHanging(o, cmd.Flags().Changed); err != nil {
				return err
			}
			return withKafka(cmd, transactionsTimeout, func(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
				return runFindHanging(ctx, cl, adm, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	f := cmd.Flags()
	f.Int32Var(&o.broker, "broker-id", -1, "check the partitions with a replica on this broker, asking it")
	f.StringVar(&o.topic, "topic", "", "check the partitions of this topic, asking their leaders")
	f.Int32Var(&o.partition, "partition", -1, "check only this partition of --topic")
	f.Int64Var(&o.maxTimeoutMin, "max-transaction-timeout", 15,
		"the largest transaction timeout of the cluster's producers, in minutes: older open transactions are candidates")
	return cmd
}

// validateFindHanging checks find-hanging's flags; changed tells which
// were given.
func validateFindHanging(o findHangingOpts, changed func(string) bool) error {
	byBroker := changed("broker-id")
	switch {
	case byBroker && (o.topic != "" || changed("partition")):
		return errors.New("--broker-id conflicts with --topic and --partition")
	case byBroker && o.broker < 0:
		return errors.New("--broker-id must not be negative")
	case !byBroker && o.topic == "":
		return errors.New("give --broker-id, or --topic (and optionally --partition)")
	case changed("partition") && o.partition < 0:
		return errors.New("--partition must not be negative")
	case o.maxTimeoutMin < 0:
		return errors.New("--max-transaction-timeout must not be negative")
	}
	return nil
}

// runFindHanging prints the hanging transactions of o's partitions. The
// partitions that could not be described are left out of the table and
// named in the error.
func runFindHanging(ctx context.Context, cl *kgo.Client, adm *kadm.Client, o findHangingOpts, out, warn io.Writer) error {
	set, err := hangingScope(ctx, adm, o)
	if err != nil {
		return err
	}
	described, err := describeProducers(ctx, cl, adm, o.broker, set)
	if se, partial := errors.AsType[*kadm.ShardErrors](err); err != nil && (!partial || se.AllFailed) {
		return fmt.Errorf("describing producers: %w", shardDetails(err))
	}
	now := time.Now()
	candidates, failed := hangingCandidates(described, now, time.Duration(o.maxTimeoutMin)*time.Minute)
	hanging, herr := confirmHanging(ctx, adm, candidates, warn)
	if herr != nil {
		return herr
	}
	if werr := writeHanging(out, hanging, now); werr != nil {
		return werr
	}
	return uncheckedErr(failed, err)
}

// hangingScope returns the partitions find-hanging checks.
func hangingScope(ctx context.Context, adm *kadm.Client, o findHangingOpts) (kadm.TopicsSet, error) {
	if o.topic != "" && o.partition >= 0 {
		return kadm.TopicsSet{o.topic: {o.partition: {}}}, nil
	}
	if o.topic != "" {
		return topicPartitions(ctx, adm, o.topic)
	}
	m, err := adm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's metadata: %w", err)
	}
	if !slices.ContainsFunc(m.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == o.broker }) {
		return nil, fmt.Errorf("broker %d is not in the cluster", o.broker)
	}
	return partitionsOnBroker(m.Topics, o.broker), nil
}

// topicPartitions returns every partition of topic.
func topicPartitions(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicsSet, error) {
	m, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describing topic %q: %w", topic, err)
	}
	t, ok := m.Topics[topic]
	switch {
	case !ok:
		return nil, fmt.Errorf("no metadata for topic %q", topic)
	case t.Err != nil:
		return nil, fmt.Errorf("describing topic %q: %w", topic, t.Err)
	}
	set := make(kadm.TopicsSet)
	for p := range t.Partitions {
		set.Add(topic, p)
	}
	return set, nil
}

// partitionsOnBroker returns the partitions with a replica on broker.
func partitionsOnBroker(topics kadm.TopicDetails, broker int32) kadm.TopicsSet {
	set := make(kadm.TopicsSet)
	for _, t := range topics {
		for _, p := range t.Partitions {
			if slices.Contains(p.Replicas, broker) {
				set.Add(t.Topic, p.Partition)
			}
		}
	}
	return set
}

// hangingCandidates returns the producers with an open transaction whose
// last write is more than maxTimeout before now, in topic, partition and
// producer order, and the partitions that could not be described.
func hangingCandidates(described kadm.DescribedProducersTopics, now time.Time, maxTimeout time.Duration) (candidates []kadm.DescribedProducer, failed []kadm.DescribedProducersPartition) {
	for _, p := range described.SortedPartitions() {
		if p.Err != nil {
			failed = append(failed, p)
			continue
		}
		for _, pr := range p.ActiveProducers.Sorted() {
			if pr.CurrentTxnStartOffset >= 0 && now.UnixMilli()-pr.LastTimestamp > maxTimeout.Milliseconds() {
				candidates = append(candidates, pr)
			}
		}
	}
	return candidates, failed
}

// confirmHanging looks the candidates' transactions up at their
// coordinators and returns those that hang. A listing error fails (it
// would make every candidate look hanging); a coordinator that cannot
// describe counts as a failed describe, with a warning.
func confirmHanging(ctx context.Context, adm *kadm.Client, candidates []kadm.DescribedProducer, warn io.Writer) ([]kadm.DescribedProducer, error) {
	if len(candidates) == 0 {
		return nil, nil
	}
	pids := candidatePIDs(candidates)
	listed, err := adm.ListTransactions(ctx, pids, nil)
	if err != nil {
		return nil, fmt.Errorf("listing the transactions of producers %v: %w", pids, shardDetails(err))
	}
	var described kadm.DescribedTransactions
	if ids := listed.TransactionalIDs(); len(ids) > 0 { // none would describe every id
		described, err = adm.DescribeTransactions(ctx, ids...)
		if _, partial := errors.AsType[*kadm.ShardErrors](err); err != nil && !partial {
			return nil, fmt.Errorf("describing transactional ids %v: %w", ids, err)
		} else if err != nil {
			fmt.Fprintf(warn, "warning: describing transactional ids (those not described count as hanging): %v\n", shardDetails(err))
		}
	}
	return hangingAmong(candidates, txnIDsByPID(listed), described), nil
}

// candidatePIDs returns the candidates' producer ids, sorted, once each.
func candidatePIDs(candidates []kadm.DescribedProducer) []int64 {
	var pids []int64
	for _, c := range candidates {
		pids = append(pids, c.ProducerID)
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

// txnIDsByPID maps producer ids to the transactional ids listed with them.
func txnIDsByPID(listed kadm.ListedTransactions) map[int64][]string {
	byPID := make(map[int64][]string)
	for _, t := range listed.Sorted() {
		byPID[t.ProducerID] = append(byPID[t.ProducerID], t.TxnID)
	}
	return byPID
}

// hangingAmong returns the candidates that no described transaction of
// their producer id covers.
func hangingAmong(candidates []kadm.DescribedProducer, byPID map[int64][]string, described kadm.DescribedTransactions) []kadm.DescribedProducer {
	var hanging []kadm.DescribedProducer
	for _, c := range candidates {
		if !coveredByTransaction(c, byPID[c.ProducerID], described) {
			hanging = append(hanging, c)
		}
	}
	return hanging
}

// coveredByTransaction tells whether one of ids was described and has c's
// partition in its current partition set.
func coveredByTransaction(c kadm.DescribedProducer, ids []string, described kadm.DescribedTransactions) bool {
	for _, id := range ids {
		if d, ok := described[id]; ok && d.Err == nil && d.Topics.Lookup(c.Topic, c.Partition) {
			return true
		}
	}
	return false
}

// uncheckedErr names the partitions whose producers could not be
// described: those with an error, and those of the brokers that failed.
func uncheckedErr(failed []kadm.DescribedProducersPartition, shardErr error) error {
	var errs []error
	for _, p := range failed {
		errs = append(errs, fmt.Errorf("describing producers of %s-%d%s: %w",
			p.Topic, p.Partition, onBroker(p.Leader), kafkaErr(p.Err, p.ErrMessage)))
	}
	if shardErr != nil {
		errs = append(errs, fmt.Errorf("describing producers: %w", shardDetails(shardErr)))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("some partitions were not checked:\n%w", errors.Join(errs...))
}

// writeHanging prints kafka-transactions find-hanging's table; the
// duration is whole minutes since the producer's last write.
func writeHanging(w io.Writer, hanging []kadm.DescribedProducer, now time.Time) error {
	return printTable(w, func(tw io.Writer) {
		fmt.Fprintln(tw, "Topic\tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\tLastTimestamp\tDuration(min)")
		for _, p := range hanging {
			minutes := (now.UnixMilli() - p.LastTimestamp) / time.Minute.Milliseconds()
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p.Topic, p.Partition, p.ProducerID, p.ProducerEpoch,
				p.CoordinatorEpoch, p.CurrentTxnStartOffset, p.LastTimestamp, minutes)
		}
	})
}
