package main

// fjord reassign: kafka-reassign-partitions as subcommands (generate,
// execute, verify, cancel) over AlterPartitionReassignments and
// ListPartitionReassignments, reading and writing its JSON files and
// printing its messages.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reassignTimeout bounds the admin requests of `fjord reassign`.
var reassignTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "reassign",
		Short: "Move partition replicas between brokers (kafka-reassign-partitions)",
		Long: "Generate, execute, verify and cancel partition reassignments with the JSON\n" +
			"files of kafka-reassign-partitions:\n" +
			"  {\"version\":1,\"partitions\":[{\"topic\":\"t\",\"partition\":0,\"replicas\":[1,2,3]}]}\n" +
			"A typical run: generate a proposal, save it, execute it (with --throttle\n" +
			"on a busy cluster), then verify until every partition is completed; the\n" +
			"verify that sees them all completed clears the throttles.",
	}
	cmd.PersistentFlags().DurationVar(&reassignTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newReassignGenerateCmd(), newReassignExecuteCmd(), newReassignVerifyCmd(), newReassignCancelCmd())
	rootCmd.AddCommand(cmd)
}

// tpKey names a partition.
type tpKey struct {
	topic     string
	partition int32
}

// clusterAssignment is the replica assignment the metadata shows.
type clusterAssignment struct {
	md       kadm.Metadata
	replicas map[tpKey][]int32
	leaders  map[tpKey]int32
}

// loadAssignment reads the assignment of topics (all topics when none).
func loadAssignment(ctx context.Context, adm *kadm.Client, topics ...string) (clusterAssignment, error) {
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return clusterAssignment{}, err
	}
	ca := clusterAssignment{md: md, replicas: map[tpKey][]int32{}, leaders: map[tpKey]int32{}}
	for _, td := range md.Topics {
		if td.Err != nil {
			if slices.Contains(topics, td.Topic) {
				return ca, fmt.Errorf("topic %s: %w", td.Topic, td.Err)
			}
			continue
		}
		for _, pd := range td.Partitions {
			k := tpKey{td.Topic, pd.Partition}
			ca.replicas[k], ca.leaders[k] = pd.Replicas, pd.Leader
		}
	}
	return ca, nil
}

// racks returns the rack of every live broker ("" when none).
func (ca clusterAssignment) racks() map[int32]string {
	out := map[int32]string{}
	for _, b := range ca.md.Brokers {
		out[b.NodeID] = ""
		if b.Rack != nil {
			out[b.NodeID] = *b.Rack
		}
	}
	return out
}

// liveBrokers returns the ids of the live brokers, sorted.
func (ca clusterAssignment) liveBrokers() []int32 {
	ids := ca.md.Brokers.NodeIDs()
	slices.Sort(ids)
	return ids
}

// moves pairs the entries' targets with their current replicas; a
// partition the metadata does not know is an error.
func (ca clusterAssignment) moves(entries []reassignEntry) ([]planMove, error) {
	out := make([]planMove, 0, len(entries))
	for _, e := range entries {
		cur, ok := ca.replicas[tpKey{e.Topic, e.Partition}]
		if !ok {
			return nil, fmt.Errorf("partition %s does not exist", e.name())
		}
		out = append(out, planMove{Topic: e.Topic, Partition: e.Partition, From: cur, To: e.Replicas})
	}
	return out, nil
}

// current returns the current assignment of entries' partitions.
func currentEntries(moves []planMove) []reassignEntry {
	out := make([]reassignEntry, len(moves))
	for i, m := range moves {
		out[i] = reassignEntry{Topic: m.Topic, Partition: m.Partition, Replicas: m.From}
	}
	return out
}

// entryTopics returns the distinct topics of entries, sorted.
func entryTopics(entries []reassignEntry) []string {
	var out []string
	for _, e := range entries {
		if !slices.Contains(out, e.Topic) {
			out = append(out, e.Topic)
		}
	}
	slices.Sort(out)
	return out
}

// listReassigning lists the reassignments in progress among entries'
// partitions, or in the whole cluster for nil entries.
func listReassigning(ctx context.Context, cl *kgo.Client, entries []reassignEntry) (map[tpKey]bool, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = int32(reassignTimeout.Milliseconds())
	byTopic := map[string]int{}
	for _, e := range entries {
		i, ok := byTopic[e.Topic]
		if !ok {
			rt := kmsg.NewListPartitionReassignmentsRequestTopic()
			rt.Topic = e.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[e.Topic] = i
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, e.Partition)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("listing partition reassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("listing partition reassignments: %w", kafkaErr(err, deref(resp.ErrorMessage)))
	}
	out := map[tpKey]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[tpKey{t.Topic, p.Partition}] = true
		}
	}
	return out, nil
}

// readJSONFile reads a file named by a flag.
func readJSONFile(flag, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("--%s is required", flag)
	}
	return os.ReadFile(path)
}

// ---- generate ----

func newReassignGenerateCmd() *cobra.Command {
	var file, brokers string
	var noRack bool
	cmd := &cobra.Command{
		Use:   "generate --topics-to-move-json-file FILE --broker-list 1,2,3",
		Short: "Propose an assignment of the given topics over the given brokers",
		Long: "Print the current assignment of the topics of FILE ({\"version\":1,\n" +
			"\"topics\":[{\"topic\":\"t\"}]}) and a proposed one that spreads their\n" +
			"replicas over --broker-list, as kafka-reassign-partitions --generate.\n" +
			"Unlike Kafka's (random) proposal, this one is deterministic: brokers in\n" +
			"rack-alternated order, partition p led by the p-th (mod n), its\n" +
			"followers striped after it, replicas on distinct racks where brokers\n" +
			"carry broker.rack (unless --disable-rack-aware). Nothing is changed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readJSONFile("topics-to-move-json-file", file)
			if err != nil {
				return err
			}
			topics, err := parseTopicsToMove(data)
			if err != nil {
				return err
			}
			ids, err := parseBrokerList(brokers)
			if err != nil {
				return fmt.Errorf("--broker-list: %w", err)
			}
			return withKafka(cmd, reassignTimeout, func(ctx context.Context, _ *kgo.Client, adm *kadm.Client) error {
				return runReassignGenerate(ctx, adm, cmd.OutOrStdout(), topics, ids, !noRack)
			})
		},
	}
	cmd.Flags().StringVar(&file, "topics-to-move-json-file", "", "JSON file of the topics to move")
	cmd.Flags().StringVar(&brokers, "broker-list", "", "comma-separated ids of the brokers to spread them over")
	cmd.Flags().BoolVar(&noRack, "disable-rack-aware", false, "ignore broker.rack")
	return cmd
}

func runReassignGenerate(ctx context.Context, adm *kadm.Client, w io.Writer, topics []string, ids []int32, rackAware bool) error {
	ca, err := loadAssignment(ctx, adm, topics...)
	if err != nil {
		return err
	}
	racks, err := generateRacks(ca.racks(), ids, rackAware)
	if err != nil {
		return err
	}
	var current []reassignEntry
	for k, r := range ca.replicas {
		current = append(current, reassignEntry{Topic: k.topic, Partition: k.partition, Replicas: r})
	}
	proposed, err := proposeAssignment(current, racks)
	if err != nil {
		return err
	}
	writeGenerate(w, current, proposed)
	return nil
}

// generateRacks returns the racks of the brokers ids (all "" unless
// rackAware): every id must be live, and with rackAware either all or
// none carry a rack, as Kafka requires.
func generateRacks(live map[int32]string, ids []int32, rackAware bool) (map[int32]string, error) {
	out := map[int32]string{}
	withRack := 0
	for _, id := range ids {
		rack, ok := live[id]
		if !ok {
			return nil, fmt.Errorf("broker %d is not a live broker of the cluster", id)
		}
		if rackAware && rack != "" {
			withRack++
			out[id] = rack
		} else {
			out[id] = ""
		}
	}
	if withRack > 0 && withRack < len(ids) {
		return nil, errors.New("not all brokers have rack information; add --disable-rack-aware to place replicas without racks")
	}
	return out, nil
}

// proposeAssignment places every partition of current, keeping each
// one's replication factor, over the brokers of racks (see stripe).
func proposeAssignment(current []reassignEntry, racks map[int32]string) ([]reassignEntry, error) {
	cur := slices.Clone(current)
	sortEntries(cur)
	var out []reassignEntry
	for i := 0; i < len(cur); {
		j := i
		for j < len(cur) && cur[j].Topic == cur[i].Topic {
			j++
		}
		parts, rfs := make([]int32, 0, j-i), make([]int, 0, j-i)
		for _, e := range cur[i:j] {
			parts, rfs = append(parts, e.Partition), append(rfs, len(e.Replicas))
		}
		placed, err := stripe(racks, parts, rfs)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", cur[i].Topic, err)
		}
		for k, e := range cur[i:j] {
			out = append(out, reassignEntry{Topic: e.Topic, Partition: e.Partition, Replicas: placed[k]})
		}
		i = j
	}
	return out, nil
}

// writeGenerate prints generate's answer in Kafka's words.
func writeGenerate(w io.Writer, current, proposed []reassignEntry) {
	fmt.Fprintf(w, "Current partition replica assignment\n%s\n\n", formatReassignJSON(current))
	fmt.Fprintf(w, "Proposed partition reassignment configuration\n%s\n", formatReassignJSON(proposed))
}

// ---- execute ----

func newReassignExecuteCmd() *cobra.Command {
	var file string
	var throttle int64
	var additional bool
	cmd := &cobra.Command{
		Use:   "execute --reassignment-json-file FILE [--throttle BYTES_PER_SEC] [--additional]",
		Short: "Start the reassignments of FILE",
		Long: "Start moving the partitions of FILE to their replicas, as\n" +
			"kafka-reassign-partitions --execute: first print the current assignment\n" +
			"(save it to roll back). --throttle limits the replication of the moving\n" +
			"replicas to BYTES_PER_SEC per broker (leader.replication.throttled.rate\n" +
			"and follower.replication.throttled.rate on the brokers involved, and the\n" +
			"topics' throttled replica lists); run verify until it reports every\n" +
			"partition completed, which clears them. Refused while other\n" +
			"reassignments are in progress unless --additional.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withReassignmentFile(cmd, file, func(ctx context.Context, cl *kgo.Client, adm *kadm.Client, entries []reassignEntry) error {
				return runReassignExecute(ctx, cl, adm, cmd.OutOrStdout(), entries, throttle, additional)
			})
		},
	}
	cmd.Flags().StringVar(&file, "reassignment-json-file", "", "JSON file of the target replicas")
	cmd.Flags().Int64Var(&throttle, "throttle", -1, "replication throttle in bytes/s for the moving replicas (-1: none)")
	cmd.Flags().BoolVar(&additional, "additional", false, "start these reassignments even though others are in progress")
	return cmd
}

func runReassignExecute(ctx context.Context, cl *kgo.Client, adm *kadm.Client, w io.Writer, entries []reassignEntry, throttle int64, additional bool) error {
	if !additional {
		busy, err := listReassigning(ctx, cl, nil)
		if err != nil {
			return err
		}
		if len(busy) > 0 {
			return errors.New("cannot execute because there is an existing partition reassignment; use --additional to start this one in addition to it")
		}
	}
	ca, err := loadAssignment(ctx, adm, entryTopics(entries)...)
	if err != nil {
		return err
	}
	moves, err := ca.moves(entries)
	if err != nil {
		return err
	}
	writeRollback(w, currentEntries(moves))
	if throttle >= 0 {
		if err := setThrottles(ctx, adm, planThrottles(moves), throttle); err != nil {
			return err
		}
		writeThrottleSet(w, throttle)
	}
	started, err := alterAssignments(ctx, adm, entries)
	writeStarted(w, started)
	return err
}

// writeStarted prints execute's success line.
func writeStarted(w io.Writer, started []reassignEntry) {
	if len(started) > 0 {
		fmt.Fprintf(w, "Successfully started partition %s for %s\n", plural(len(started), "reassignment"), joinNames(started))
	}
}

// writeRollback prints the current assignment to save for a rollback.
func writeRollback(w io.Writer, current []reassignEntry) {
	fmt.Fprintf(w, "Current partition replica assignment\n\n%s\n\n", formatReassignJSON(current))
	fmt.Fprintln(w, "Save this to use as the --reassignment-json-file option during rollback")
}

// writeThrottleSet prints the throttle warning of Kafka's execute.
func writeThrottleSet(w io.Writer, rate int64) {
	fmt.Fprintln(w, "Warning: You must run verify periodically, until the reassignment completes, to ensure the throttle is removed.")
	fmt.Fprintf(w, "The inter-broker throttle limit was set to %d B/s\n", rate)
}

// joinNames renders partitions as "t-0,t-1".
func joinNames(es []reassignEntry) string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += ","
		}
		s += e.name()
	}
	return s
}

// alterAssignments sends entries (nil replicas cancel) and returns the
// ones accepted, in order, and an error naming the refused ones.
func alterAssignments(ctx context.Context, adm *kadm.Client, entries []reassignEntry) ([]reassignEntry, error) {
	req := kadm.AlterPartitionAssignmentsReq{}
	for _, e := range entries {
		req.Assign(e.Topic, e.Partition, e.Replicas)
	}
	rs, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("altering partition reassignments: %w", err)
	}
	var ok []reassignEntry
	var errs []error
	for _, e := range entries {
		r, found := rs[e.Topic][e.Partition]
		switch {
		case !found:
			errs = append(errs, fmt.Errorf("%s: no answer", e.name()))
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", e.name(), kafkaErr(r.Err, r.ErrMessage)))
		default:
			ok = append(ok, e)
		}
	}
	sortEntries(ok)
	if len(errs) > 0 {
		return ok, fmt.Errorf("error reassigning partitions:\n%w", errors.Join(errs...))
	}
	return ok, nil
}

// ---- verify ----

// reassignState is one partition's answer to verify.
type reassignState struct {
	entry      reassignEntry
	current    []int32
	inProgress bool
}

func newReassignVerifyCmd() *cobra.Command {
	var file string
	var preserve bool
	cmd := &cobra.Command{
		Use:   "verify --reassignment-json-file FILE [--preserve-throttles]",
		Short: "Report whether the reassignments of FILE are complete",
		Long: "Print, for each partition of FILE, whether its reassignment is completed\n" +
			"or still in progress, as kafka-reassign-partitions --verify. Once all are\n" +
			"done, clear the replication throttles (the broker rates on every broker\n" +
			"and the throttled replica lists of FILE's topics) unless\n" +
			"--preserve-throttles.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withReassignmentFile(cmd, file, func(ctx context.Context, cl *kgo.Client, adm *kadm.Client, entries []reassignEntry) error {
				return runReassignVerify(ctx, cl, adm, cmd.OutOrStdout(), entries, preserve)
			})
		},
	}
	cmd.Flags().StringVar(&file, "reassignment-json-file", "", "JSON file of the reassignments to verify")
	cmd.Flags().BoolVar(&preserve, "preserve-throttles", false, "leave the replication throttles in place")
	return cmd
}

func runReassignVerify(ctx context.Context, cl *kgo.Client, adm *kadm.Client, w io.Writer, entries []reassignEntry, preserve bool) error {
	busy, err := listReassigning(ctx, cl, entries)
	if err != nil {
		return err
	}
	ca, err := loadAssignment(ctx, adm, entryTopics(entries)...)
	if err != nil {
		return err
	}
	states := make([]reassignState, len(entries))
	done := true
	for i, e := range entries {
		k := tpKey{e.Topic, e.Partition}
		states[i] = reassignState{entry: e, current: ca.replicas[k], inProgress: busy[k]}
		done = done && !busy[k]
	}
	writeVerify(w, states)
	if !done || preserve {
		return nil
	}
	if err := clearBrokerThrottles(ctx, adm, w, ca.liveBrokers()); err != nil {
		return err
	}
	return clearTopicThrottles(ctx, adm, w, entryTopics(entries))
}

// writeVerify prints verify's status lines in Kafka's words.
func writeVerify(w io.Writer, states []reassignState) {
	fmt.Fprintln(w, "Status of partition reassignment:")
	sorted := slices.Clone(states)
	slices.SortFunc(sorted, func(a, b reassignState) int { return cmpEntries(a.entry, b.entry) })
	for _, s := range sorted {
		switch {
		case s.inProgress:
			fmt.Fprintf(w, "Reassignment of partition %s is still in progress.\n", s.entry.name())
		case slices.Equal(s.current, s.entry.Replicas):
			fmt.Fprintf(w, "Reassignment of partition %s is completed.\n", s.entry.name())
		default:
			fmt.Fprintf(w, "There is no active reassignment of partition %s, but replica set is %s rather than %s.\n",
				s.entry.name(), joinIDs(s.current), joinIDs(s.entry.Replicas))
		}
	}
}

// cmpEntries orders entries by topic, then partition.
func cmpEntries(a, b reassignEntry) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// ---- cancel ----

func newReassignCancelCmd() *cobra.Command {
	var file string
	var preserve bool
	cmd := &cobra.Command{
		Use:   "cancel --reassignment-json-file FILE [--preserve-throttles]",
		Short: "Cancel the reassignments of FILE that are in progress",
		Long: "Cancel the reassignments in progress of FILE's partitions, as\n" +
			"kafka-reassign-partitions --cancel: each reverts to its original\n" +
			"replicas. Then clear the replication throttles unless\n" +
			"--preserve-throttles.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withReassignmentFile(cmd, file, func(ctx context.Context, cl *kgo.Client, adm *kadm.Client, entries []reassignEntry) error {
				return runReassignCancel(ctx, cl, adm, cmd.OutOrStdout(), entries, preserve)
			})
		},
	}
	cmd.Flags().StringVar(&file, "reassignment-json-file", "", "JSON file of the reassignments to cancel")
	cmd.Flags().BoolVar(&preserve, "preserve-throttles", false, "leave the replication throttles in place")
	return cmd
}

func runReassignCancel(ctx context.Context, cl *kgo.Client, adm *kadm.Client, w io.Writer, entries []reassignEntry, preserve bool) error {
	busy, err := listReassigning(ctx, cl, entries)
	if err != nil {
		return err
	}
	var cancels []reassignEntry
	for _, e := range entries {
		if busy[tpKey{e.Topic, e.Partition}] {
			cancels = append(cancels, reassignEntry{Topic: e.Topic, Partition: e.Partition})
		}
	}
	var cancelErr error
	if len(cancels) == 0 {
		fmt.Fprintln(w, "None of the specified partition reassignments are active.")
	} else {
		var done []reassignEntry
		done, cancelErr = alterAssignments(ctx, adm, cancels)
		writeCancelled(w, done)
	}
	if preserve || cancelErr != nil {
		return cancelErr
	}
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if err := clearBrokerThrottles(ctx, adm, w, clusterAssignment{md: md}.liveBrokers()); err != nil {
		return err
	}
	return clearTopicThrottles(ctx, adm, w, entryTopics(entries))
}

// writeCancelled prints cancel's success line.
func writeCancelled(w io.Writer, done []reassignEntry) {
	if len(done) > 0 {
		fmt.Fprintf(w, "Successfully cancelled partition %s for: %s\n", plural(len(done), "reassignment"), joinNames(done))
	}
}

// withReassignmentFile reads and checks the --reassignment-json-file
// FILE, then runs fn with Kafka clients (withKafka).
func withReassignmentFile(cmd *cobra.Command, file string, fn func(context.Context, *kgo.Client, *kadm.Client, []reassignEntry) error) error {
	data, err := readJSONFile("reassignment-json-file", file)
	if err != nil {
		return err
	}
	entries, err := parseReassignJSON(data)
	if err != nil {
		return err
	}
	return withKafka(cmd, reassignTimeout, func(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
		return fn(ctx, cl, adm, entries)
	})
}
