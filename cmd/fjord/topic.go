package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicTimeout bounds every admin request made by `fjord topic`.
var topicTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, delete and configure topics (like kafka-topics)",
	}
	cmd.PersistentFlags().DurationVar(&topicTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newTopicCreateCmd(), newTopicListCmd(), newTopicDescribeCmd(),
		newTopicDeleteCmd(), newTopicAlterConfigCmd(), newTopicDeleteRecordsCmd())
	rootCmd.AddCommand(cmd)
}

// withAdmin runs fn with an admin client and a context bounded by the topic
// --timeout and canceled by SIGINT/SIGTERM.
func withAdmin(cmd *cobra.Command, fn func(context.Context, *kadm.Client) error) error {
	return withAdminFor(cmd, topicTimeout, fn)
}

// withAdminFor runs fn with an admin client and a context bounded by
// timeout and canceled by SIGINT/SIGTERM.
func withAdminFor(cmd *cobra.Command, timeout time.Duration, fn func(context.Context, *kadm.Client) error) error {
	ctx, stop := signalContext(cmd)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	adm, err := newAdmin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return fn(ctx, adm)
}

// kafkaErr formats a Kafka error with its optional server message.
func kafkaErr(err error, msg string) error {
	if msg != "" && (err == nil || !strings.Contains(err.Error(), msg)) {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// ---- create ----

type topicCreateOpts struct {
	partitions  int32
	replication int16
	configs     []string
	ifNotExists bool
}

func newTopicCreateCmd() *cobra.Command {
	var o topicCreateOpts
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicCreate(ctx, adm, cmd.OutOrStdout(), args[0], o)
			})
		},
	}
	f := cmd.Flags()
	f.Int32Var(&o.partitions, "partitions", -1, "number of partitions (-1: broker's num.partitions)")
	f.Int16Var(&o.replication, "replication-factor", -1, "replication factor (-1: broker's default.replication.factor)")
	f.StringArrayVar(&o.configs, "config", nil, "topic config override key=value (repeatable)")
	f.BoolVar(&o.ifNotExists, "if-not-exists", false, "succeed silently if the topic already exists")
	return cmd
}

// validateCreate rejects counts kafka-topics rejects before any request.
func validateCreate(o topicCreateOpts) error {
	if o.partitions == 0 || o.partitions < -1 {
		return fmt.Errorf("--partitions must be positive or -1, got %d", o.partitions)
	}
	if o.replication == 0 || o.replication < -1 {
		return fmt.Errorf("--replication-factor must be positive or -1, got %d", o.replication)
	}
	return nil
}

func runTopicCreate(ctx context.Context, adm *kadm.Client, w io.Writer, name string, o topicCreateOpts) error {
	if err := validateCreate(o); err != nil {
		return err
	}
	configs, err := parseConfigs(o.configs)
	if err != nil {
		return err
	}
	resp, err := adm.CreateTopic(ctx, o.partitions, o.replication, configs, name)
	if o.ifNotExists && errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating topic %q: %w", name, kafkaErr(err, resp.ErrMessage))
	}
	fmt.Fprintf(w, "Created topic %s.\n", name)
	return nil
}

// ---- list ----

func newTopicListCmd() *cobra.Command {
	var excludeInternal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topic names, sorted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				topics, err := adm.ListTopicsWithInternal(ctx)
				if err != nil {
					return err
				}
				writeTopicList(cmd.OutOrStdout(), topics, excludeInternal)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&excludeInternal, "exclude-internal", false, "leave out internal topics such as __consumer_offsets")
	return cmd
}

// writeTopicList prints one topic name per line in sorted order.
func writeTopicList(w io.Writer, topics kadm.TopicDetails, excludeInternal bool) {
	for _, name := range topics.Names() {
		td := topics[name]
		if excludeInternal && td.IsInternal {
			continue
		}
		fmt.Fprintln(w, name)
	}
}

// ---- delete ----

func newTopicDeleteCmd() *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicDelete(ctx, adm, args, ifExists)
			})
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "ignore topics that do not exist")
	return cmd
}

func runTopicDelete(ctx context.Context, adm *kadm.Client, names []string, ifExists bool) error {
	resps, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		r, ok := resps[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: missing from the DeleteTopics response", name))
		case r.Err == nil, ifExists && errors.Is(r.Err, kerr.UnknownTopicOrPartition):
		default:
			errs = append(errs, fmt.Errorf("deleting topic %q: %w", name, kafkaErr(r.Err, r.ErrMessage)))
		}
	}
	return errors.Join(errs...)
}

// ---- alter-config ----

func newTopicAlterConfigCmd() *cobra.Command {
	var sets, deletes []string
	cmd := &cobra.Command{
		Use:   "alter-config NAME",
		Short: "Set or delete topic config overrides (IncrementalAlterConfigs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			alters, err := buildAlterConfigs(sets, deletes)
			if err != nil {
				return err
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicAlterConfig(ctx, adm, cmd.OutOrStdout(), args[0], alters)
			})
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "config to set, key=value (repeatable)")
	cmd.Flags().StringArrayVar(&deletes, "delete", nil, "config override to remove, key (repeatable)")
	return cmd
}

// buildAlterConfigs turns --set and --delete flags into incremental ops.
func buildAlterConfigs(sets, deletes []string) ([]kadm.AlterConfig, error) {
	if len(sets)+len(deletes) == 0 {
		return nil, errors.New("nothing to change: give --set key=value and/or --delete key")
	}
	seen := make(map[string]bool)
	var alters []kadm.AlterConfig
	for _, kv := range sets {
		k, v, err := parseKeyValue(kv)
		if err != nil {
			return nil, err
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
		seen[k] = true
	}
	for _, k := range deletes {
		if k = strings.TrimSpace(k); k == "" || strings.Contains(k, "=") {
			return nil, fmt.Errorf("invalid --delete %q: want a config name", k)
		}
		if seen[k] {
			return nil, fmt.Errorf("config %q is both set and deleted", k)
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return alters, nil
}

func runTopicAlterConfig(ctx context.Context, adm *kadm.Client, w io.Writer, name string, alters []kadm.AlterConfig) error {
	resps, err := adm.AlterTopicConfigs(ctx, alters, name)
	if err != nil {
		return err
	}
	r, err := resps.On(name, nil)
	if err != nil {
		return fmt.Errorf("topic %q: %w", name, err)
	}
	if r.Err != nil {
		return fmt.Errorf("altering configs of topic %q: %w", name, kafkaErr(r.Err, r.ErrMessage))
	}
	fmt.Fprintf(w, "Completed updating config for topic %s.\n", name)
	return nil
}

// ---- describe ----

// describeFilter selects partitions like kafka-topics' --describe report
// flags. When any flag is set, only matching partitions are printed (a
// partition matching any set flag is printed) and topic header lines are
// omitted.
type describeFilter struct {
	UnderReplicated bool
	UnderMinISR     bool
	Unavailable     bool
}

func (f describeFilter) active() bool { return f.UnderReplicated || f.UnderMinISR || f.Unavailable }

type topicDescribeOpts struct {
	filter          describeFilter
	excludeInternal bool
	ifExists        bool
	// partitionLimit is DescribeTopicPartitions' ResponsePartitionLimit
	// (kafka-topics' --partition-size-limit-per-response).
	partitionLimit int32
}

func newTopicDescribeCmd() *cobra.Command {
	var o topicDescribeOpts
	cmd := &cobra.Command{
		Use:   "describe [NAME...]",
		Short: "Describe topics in kafka-topics --describe format (all topics if none named)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withKafka(cmd, topicTimeout, func(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
				return runTopicDescribe(ctx, cl, adm, cmd.OutOrStdout(), args, o)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.filter.UnderReplicated, "under-replicated-partitions", false, "only partitions whose ISR is smaller than their replica set")
	f.BoolVar(&o.filter.UnderMinISR, "under-min-isr-partitions", false, "only partitions whose ISR is smaller than min.insync.replicas")
	f.BoolVar(&o.filter.Unavailable, "unavailable-partitions", false, "only partitions without a live leader")
	f.BoolVar(&o.excludeInternal, "exclude-internal", false, "leave out internal topics when describing all topics")
	f.BoolVar(&o.ifExists, "if-exists", false, "ignore named topics that do not exist")
	f.Int32Var(&o.partitionLimit, "partition-size-limit-per-response", 2000, "the most partitions one DescribeTopicPartitions response may hold")
	return cmd
}

// withKafka runs fn with a client, its admin wrapper, and a context
// bounded by timeout and canceled by SIGINT/SIGTERM.
func withKafka(cmd *cobra.Command, timeout time.Duration, fn func(context.Context, *kgo.Client, *kadm.Client) error) error {
	ctx, stop := signalContext(cmd)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(ctx, cl, kadm.NewClient(cl))
}

func runTopicDescribe(ctx context.Context, cl *kgo.Client, adm *kadm.Client, w io.Writer, names []string, o topicDescribeOpts) error {
	all, err := describeTopics(ctx, cl, adm, names, o.partitionLimit)
	if err != nil {
		return err
	}
	topics, err := usableTopics(all, o)
	if err != nil {
		return err
	}
	configs, err := adm.DescribeTopicConfigs(ctx, topicNames(topics)...)
	if err != nil {
		// Still useful without configs (e.g. a broker without
		// DescribeConfigs); min.insync.replicas then counts as 1.
		fmt.Fprintf(os.Stderr, "warning: describing topic configs: %v\n", err)
	}
	live, err := adm.ListBrokers(ctx)
	if err != nil {
		return err
	}
	writeTopicDescribe(w, topics, configs, live, o.filter)
	return nil
}

// topicView is one described topic, from DescribeTopicPartitions or, on
// brokers without it, from Metadata.
type topicView struct {
	Name       string
	ID         [16]byte
	Internal   bool
	Err        error
	Partitions []partitionView // by index
}

// partitionView is one described partition. ELR and LastKnownELR are
// known (ELRKnown) only from DescribeTopicPartitions; kafka-topics prints
// N/A otherwise.
type partitionView struct {
	Partition, Leader int32
	Replicas, ISR     []int32
	ELRKnown          bool
	ELR, LastKnownELR []int32
}

// describeTopics describes the named topics (every topic when none is
// named) with DescribeTopicPartitions, as Kafka 4's kafka-topics does, or
// with Metadata when a broker does not support it.
func describeTopics(ctx context.Context, cl *kgo.Client, adm *kadm.Client, names []string, limit int32) ([]topicView, error) {
	if describeTopicPartitionsSupported(ctx, adm) {
		topics, err := describeTopicPartitions(ctx, cl, names, limit)
		if !errors.Is(err, kerr.UnsupportedVersion) {
			return topics, err
		}
	}
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return nil, err
	}
	return metadataTopics(md.Topics), nil
}

// describeTopicPartitionsSupported reports whether every broker that
// answers ApiVersions serves DescribeTopicPartitions v0 (the client may
// send it to any of them).
func describeTopicPartitionsSupported(ctx context.Context, adm *kadm.Client) bool {
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return false
	}
	answered, ok := 0, true
	vs.Each(func(v kadm.BrokerApiVersions) {
		if v.Err != nil {
			return
		}
		answered++
		minV, _, exists := v.KeyVersions(kmsg.DescribeTopicPartitions.Int16())
		ok = ok && exists && minV <= 0
	})
	return answered > 0 && ok
}

// describeTopicPartitions pages through DescribeTopicPartitions, at most
// limit partitions a response, merging a topic's partitions across pages.
// A topic answering UNSUPPORTED_VERSION fails it with that error.
func describeTopicPartitions(ctx context.Context, r kmsg.Requestor, names []string, limit int32) ([]topicView, error) {
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = limit
	for _, n := range names {
		req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: n})
	}
	var acc describedTopics
	for {
		resp, err := req.RequestWith(ctx, r)
		if err != nil {
			return nil, err
		}
		if err := acc.add(resp.Topics); err != nil {
			return nil, err
		}
		if req.Cursor, err = nextDescribeCursor(req.Cursor, resp.NextCursor); err != nil || req.Cursor == nil {
			return acc.topics, err
		}
	}
}

// nextDescribeCursor turns a response's NextCursor into the next
// request's cursor (nil: done), refusing one that does not move on.
func nextDescribeCursor(cur *kmsg.DescribeTopicPartitionsRequestCursor, next *kmsg.DescribeTopicPartitionsResponseNextCursor) (*kmsg.DescribeTopicPartitionsRequestCursor, error) {
	if next == nil {
		return nil, nil
	}
	if cur != nil && (next.Topic < cur.Topic || next.Topic == cur.Topic && next.Partition <= cur.Partition) {
		return nil, fmt.Errorf("DescribeTopicPartitions: the cursor does not advance past %s-%d", next.Topic, next.Partition)
	}
	return &kmsg.DescribeTopicPartitionsRequestCursor{Topic: next.Topic, Partition: next.Partition}, nil
}

// describedTopics accumulates the pages of DescribeTopicPartitions: a
// topic continued from an earlier page gets the new partitions, and a
// topic answered again with an error (a refused one is answered on each
// page) is kept once.
type describedTopics struct {
	topics []topicView
	index  map[string]int
}

func (d *describedTopics) add(page []kmsg.DescribeTopicPartitionsResponseTopic) error {
	if d.index == nil {
		d.index = map[string]int{}
	}
	for _, t := range page {
		if t.ErrorCode == kerr.UnsupportedVersion.Code {
			return kerr.UnsupportedVersion
		}
		v := describedTopic(t)
		if i, ok := d.index[v.Name]; ok {
			d.topics[i].Partitions = append(d.topics[i].Partitions, v.Partitions...)
			continue
		}
		d.index[v.Name] = len(d.topics)
		d.topics = append(d.topics, v)
	}
	return nil
}

// describedTopic converts one topic of a DescribeTopicPartitions answer.
func describedTopic(t kmsg.DescribeTopicPartitionsResponseTopic) topicView {
	v := topicView{ID: t.TopicID, Internal: t.IsInternal, Err: kerr.ErrorForCode(t.ErrorCode)}
	if t.Topic != nil {
		v.Name = *t.Topic
	}
	for _, p := range t.Partitions {
		v.Partitions = append(v.Partitions, partitionView{Partition: p.Partition, Leader: p.LeaderID,
			Replicas: p.Replicas, ISR: p.ISR, ELRKnown: true, ELR: p.EligibleLeaderReplicas, LastKnownELR: p.LastKnownELR})
	}
	return v
}

// metadataTopics converts a Metadata answer (brokers without
// DescribeTopicPartitions: no ELR).
func metadataTopics(tds kadm.TopicDetails) []topicView {
	var out []topicView
	for _, td := range tds.Sorted() {
		v := topicView{Name: td.Topic, ID: td.ID, Internal: td.IsInternal, Err: td.Err}
		for _, pd := range td.Partitions.Sorted() {
			v.Partitions = append(v.Partitions, partitionView{Partition: pd.Partition, Leader: pd.Leader, Replicas: pd.Replicas, ISR: pd.ISR})
		}
		out = append(out, v)
	}
	return out
}

// usableTopics drops internal topics if asked and fails on missing or
// unloadable topics (missing ones are skipped with --if-exists). The
// result is sorted by name.
func usableTopics(all []topicView, o topicDescribeOpts) ([]topicView, error) {
	var out []topicView
	var errs []error
	for _, tv := range all {
		switch {
		case errors.Is(tv.Err, kerr.UnknownTopicOrPartition):
			if !o.ifExists {
				errs = append(errs, fmt.Errorf("topic '%s' does not exist", tv.Name))
			}
		case tv.Err != nil:
			errs = append(errs, fmt.Errorf("topic '%s': %w", tv.Name, tv.Err))
		case o.excludeInternal && tv.Internal:
		default:
			out = append(out, tv)
		}
	}
	slices.SortFunc(out, func(a, b topicView) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

func topicNames(topics []topicView) []string {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	return names
}

// writeTopicDescribe prints topics exactly like Kafka 4's kafka-topics
// --describe: a header line per topic, then one tab-indented line per
// partition. It is pure so it can be tested with synthetic values. live
// is the set of brokers in the metadata response (used for
// --unavailable-partitions).
func writeTopicDescribe(w io.Writer, topics []topicView, configs kadm.ResourceConfigs, live kadm.BrokerDetails, f describeFilter) {
	liveIDs := make(map[int32]bool, len(live))
	for _, b := range live {
		liveIDs[b.NodeID] = true
	}
	for _, tv := range topics {
		cfgs := topicConfigs(configs, tv.Name)
		if !f.active() {
			fmt.Fprintln(w, topicHeaderLine(tv, cfgs))
		}
		minISR := minInsyncReplicas(cfgs)
		for _, pv := range tv.Partitions {
			if !f.active() || f.matches(pv, minISR, liveIDs) {
				fmt.Fprintln(w, partitionLine(tv.Name, pv))
			}
		}
	}
}

// matches reports whether the partition is selected by any active flag.
func (f describeFilter) matches(pv partitionView, minISR int, live map[int32]bool) bool {
	underReplicated := len(pv.ISR) < len(pv.Replicas)
	underMinISR := pv.Leader < 0 || len(pv.ISR) < minISR
	unavailable := pv.Leader < 0 || !live[pv.Leader]
	return (f.UnderReplicated && underReplicated) ||
		(f.UnderMinISR && underMinISR) ||
		(f.Unavailable && unavailable)
}

// topicHeaderLine is the per-topic summary line; the id is left out when
// unknown (zero), as Kafka does.
func topicHeaderLine(tv topicView, cfgs []kadm.Config) string {
	var b strings.Builder
	b.WriteString("Topic: " + tv.Name)
	if tv.ID != ([16]byte{}) {
		b.WriteString("\tTopicId: " + kafkaUUID(tv.ID))
	}
	fmt.Fprintf(&b, "\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s",
		len(tv.Partitions), replicationFactor(tv), overriddenConfigs(cfgs))
	return b.String()
}

// partitionLine is the per-partition line, indented by a tab.
func partitionLine(topic string, pv partitionView) string {
	leader := "none"
	if pv.Leader >= 0 {
		leader = strconv.Itoa(int(pv.Leader))
	}
	elr, lastKnown := "N/A", "N/A"
	if pv.ELRKnown {
		elr, lastKnown = joinInt32s(pv.ELR), joinInt32s(pv.LastKnownELR)
	}
	return fmt.Sprintf("\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s\tElr: %s\tLastKnownElr: %s",
		topic, pv.Partition, leader, joinInt32s(pv.Replicas), joinInt32s(pv.ISR), elr, lastKnown)
}

// kafkaUUID renders a topic ID the way Kafka's Uuid.toString does:
// URL-safe base64 without padding (22 characters).
func kafkaUUID(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// replicationFactor is the replica count of the lowest-numbered partition.
func replicationFactor(tv topicView) int {
	if len(tv.Partitions) == 0 {
		return 0
	}
	return len(tv.Partitions[0].Replicas)
}

func joinInt32s(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(int(x))
	}
	return strings.Join(parts, ",")
}

// topicConfigs returns the described configs of one topic, if any.
func topicConfigs(rcs kadm.ResourceConfigs, topic string) []kadm.Config {
	for _, rc := range rcs {
		if rc.Name == topic && rc.Err == nil {
			return rc.Configs
		}
	}
	return nil
}

// overriddenConfigs lists, as kafka-topics does, every config whose value
// does not come from the default (source other than DEFAULT_CONFIG: topic
// overrides and broker settings) as k=v joined by commas, sorted by key.
func overriddenConfigs(cfgs []kadm.Config) string {
	var kvs []string
	for _, c := range cfgs {
		if c.Source == kmsg.ConfigSourceDefaultConfig {
			continue
		}
		v := c.MaybeValue()
		if c.Sensitive {
			v = "<sensitive>"
		}
		kvs = append(kvs, c.Key+"="+v)
	}
	sort.Strings(kvs)
	return strings.Join(kvs, ",")
}

// minInsyncReplicas returns the topic's effective min.insync.replicas,
// defaulting to 1 (Kafka's default) when unknown.
func minInsyncReplicas(cfgs []kadm.Config) int {
	for _, c := range cfgs {
		if c.Key != "min.insync.replicas" {
			continue
		}
		if n, err := strconv.Atoi(c.MaybeValue()); err == nil {
			return n
		}
	}
	return 1
}
