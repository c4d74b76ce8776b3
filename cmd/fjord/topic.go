package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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
		newTopicDeleteCmd(), newTopicAlterConfigCmd())
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
}

func newTopicDescribeCmd() *cobra.Command {
	var o topicDescribeOpts
	cmd := &cobra.Command{
		Use:   "describe [NAME...]",
		Short: "Describe topics in kafka-topics --describe format (all topics if none named)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runTopicDescribe(ctx, adm, cmd.OutOrStdout(), args, o)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.filter.UnderReplicated, "under-replicated-partitions", false, "only partitions whose ISR is smaller than their replica set")
	f.BoolVar(&o.filter.UnderMinISR, "under-min-isr-partitions", false, "only partitions whose ISR is smaller than min.insync.replicas")
	f.BoolVar(&o.filter.Unavailable, "unavailable-partitions", false, "only partitions without a live leader")
	f.BoolVar(&o.excludeInternal, "exclude-internal", false, "leave out internal topics when describing all topics")
	f.BoolVar(&o.ifExists, "if-exists", false, "ignore named topics that do not exist")
	return cmd
}

func runTopicDescribe(ctx context.Context, adm *kadm.Client, w io.Writer, names []string, o topicDescribeOpts) error {
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return err
	}
	topics, err := usableTopics(md.Topics, o)
	if err != nil {
		return err
	}
	configs, err := adm.DescribeTopicConfigs(ctx, topics.Names()...)
	if err != nil {
		// Still useful without configs (e.g. a broker without
		// DescribeConfigs); min.insync.replicas then counts as 1.
		fmt.Fprintf(os.Stderr, "warning: describing topic configs: %v\n", err)
	}
	writeTopicDescribe(w, topics, configs, md.Brokers, o.filter)
	return nil
}

// usableTopics drops internal topics if asked and fails on missing or
// unloadable topics (missing ones are skipped with --if-exists).
func usableTopics(all kadm.TopicDetails, o topicDescribeOpts) (kadm.TopicDetails, error) {
	out := make(kadm.TopicDetails, len(all))
	var errs []error
	for name, td := range all {
		switch {
		case errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			if !o.ifExists {
				errs = append(errs, fmt.Errorf("topic '%s' does not exist", name))
			}
		case td.Err != nil:
			errs = append(errs, fmt.Errorf("topic '%s': %w", name, td.Err))
		case o.excludeInternal && td.IsInternal:
		default:
			out[name] = td
		}
	}
	return out, errors.Join(errs...)
}

// writeTopicDescribe prints topics exactly like kafka-topics --describe:
// a header line per topic, then one tab-indented line per partition. It is
// pure so it can be tested with synthetic kadm values. live is the set of
// brokers in the metadata response (used for --unavailable-partitions).
func writeTopicDescribe(w io.Writer, topics kadm.TopicDetails, configs kadm.ResourceConfigs, live kadm.BrokerDetails, f describeFilter) {
	liveIDs := make(map[int32]bool, len(live))
	for _, b := range live {
		liveIDs[b.NodeID] = true
	}
	for _, td := range topics.Sorted() {
		cfgs := topicConfigs(configs, td.Topic)
		if !f.active() {
			fmt.Fprintln(w, topicHeaderLine(td, cfgs))
		}
		minISR := minInsyncReplicas(cfgs)
		for _, pd := range td.Partitions.Sorted() {
			if !f.active() || f.matches(pd, minISR, liveIDs) {
				fmt.Fprintln(w, partitionLine(pd))
			}
		}
	}
}

// matches reports whether the partition is selected by any active flag.
func (f describeFilter) matches(pd kadm.PartitionDetail, minISR int, live map[int32]bool) bool {
	underReplicated := len(pd.ISR) < len(pd.Replicas)
	underMinISR := len(pd.ISR) < minISR
	unavailable := pd.Leader < 0 || !live[pd.Leader]
	return (f.UnderReplicated && underReplicated) ||
		(f.UnderMinISR && underMinISR) ||
		(f.Unavailable && unavailable)
}

// topicHeaderLine is the per-topic summary line.
func topicHeaderLine(td kadm.TopicDetail, cfgs []kadm.Config) string {
	return fmt.Sprintf("Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s",
		td.Topic, kafkaUUID(td.ID), len(td.Partitions), replicationFactor(td), overriddenConfigs(cfgs))
}

// partitionLine is the per-partition line, indented by a tab.
func partitionLine(pd kadm.PartitionDetail) string {
	leader := "none"
	if pd.Leader >= 0 {
		leader = strconv.Itoa(int(pd.Leader))
	}
	return fmt.Sprintf("\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s",
		pd.Topic, pd.Partition, leader, joinInt32s(pd.Replicas), joinInt32s(pd.ISR))
}

// kafkaUUID renders a topic ID the way Kafka's Uuid.toString does:
// URL-safe base64 without padding (22 characters).
func kafkaUUID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// replicationFactor is the replica count of the lowest-numbered partition.
func replicationFactor(td kadm.TopicDetail) int {
	ps := td.Partitions.Sorted()
	if len(ps) == 0 {
		return 0
	}
	return len(ps[0].Replicas)
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

// overriddenConfigs lists the topic-level overrides (source
// DYNAMIC_TOPIC_CONFIG) as k=v joined by commas, sorted by key.
func overriddenConfigs(cfgs []kadm.Config) string {
	var kvs []string
	for _, c := range cfgs {
		if c.Source != kmsg.ConfigSourceDynamicTopicConfig {
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
