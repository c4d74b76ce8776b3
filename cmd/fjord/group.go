package main

import (
	"context"
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
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupTimeout bounds every admin request made by `fjord group`.
var groupTimeout time.Duration

// missing is printed for a value that is unknown or does not apply, as in
// kafka-consumer-groups.
const missing = "-"

func init() {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset offsets of and delete consumer groups (like kafka-consumer-groups)",
	}
	cmd.PersistentFlags().DurationVar(&groupTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newGroupListCmd(), newGroupDescribeCmd(), newGroupResetOffsetsCmd(), newGroupDeleteCmd())
	rootCmd.AddCommand(cmd)
}

// withGroupAdmin runs fn with an admin client and a context bounded by the
// group --timeout and canceled by SIGINT/SIGTERM.
func withGroupAdmin(cmd *cobra.Command, fn func(context.Context, *kadm.Client) error) error {
	return withAdminFor(cmd, groupTimeout, fn)
}

// writeTable prints rows as left-aligned columns separated by a space, each
// column as wide as its widest cell. The last column is not padded, so lines
// carry no trailing blanks.
func writeTable(w io.Writer, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for i, cell := range row {
			if i == len(row)-1 {
				b.WriteString(cell)
				break
			}
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", widths[i]-len(cell)+1))
		}
		fmt.Fprintln(w, b.String())
	}
}

// orMissing returns s, or "-" when s is empty.
func orMissing(s string) string {
	if s == "" {
		return missing
	}
	return s
}

// offsetCell formats an offset, or "-" when it is unknown (negative).
func offsetCell(o int64) string {
	if o < 0 {
		return missing
	}
	return strconv.FormatInt(o, 10)
}

// ---- list ----

type groupListOpts struct {
	state  bool
	states []string
}

func newGroupListCmd() *cobra.Command {
	var o groupListOpts
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List consumer group ids, sorted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withGroupAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				groups, err := adm.ListGroups(ctx, o.states...)
				if err != nil {
					return err
				}
				writeGroupList(cmd.OutOrStdout(), filterListedGroups(groups, o.states), o.state)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.state, "state", false, "also print each group's state and protocol type")
	f.StringSliceVar(&o.states, "in-state", nil, "only groups in these states (e.g. Stable,Empty; case-insensitive)")
	return cmd
}

// filterListedGroups keeps the groups whose state is one of states (all
// groups when states is empty). The broker is asked to filter too; this
// also covers brokers that ignore the filter.
func filterListedGroups(groups kadm.ListedGroups, states []string) kadm.ListedGroups {
	if len(states) == 0 {
		return groups
	}
	out := make(kadm.ListedGroups, len(groups))
	for name, g := range groups {
		for _, s := range states {
			if strings.EqualFold(strings.TrimSpace(s), g.State) {
				out[name] = g
				break
			}
		}
	}
	return out
}

// writeGroupList prints one group id per line, sorted, or with state a
// GROUP STATE PROTOCOL-TYPE table.
func writeGroupList(w io.Writer, groups kadm.ListedGroups, state bool) {
	if !state {
		for _, name := range groups.Groups() {
			fmt.Fprintln(w, name)
		}
		return
	}
	rows := [][]string{{"GROUP", "STATE", "PROTOCOL-TYPE"}}
	for _, g := range groups.Sorted() {
		rows = append(rows, []string{g.Group, orMissing(g.State), orMissing(g.ProtocolType)})
	}
	writeTable(w, rows)
}

// ---- describe ----

type groupDescribeOpts struct {
	allGroups bool
	members   bool
	state     bool
	verbose   bool
}

func newGroupDescribeCmd() *cobra.Command {
	var o groupDescribeOpts
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Describe groups: committed offsets and lag per partition, or --members, or --state",
		Long: "Without flags, prints per partition the group's committed offset, the log end\n" +
			"offset, the lag and the owning member (\"-\" when not owned), like\n" +
			"kafka-consumer-groups --describe. --members prints one line per member and\n" +
			"--state one line per group.",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.members && o.state:
				return errors.New("--members and --state are mutually exclusive")
			case o.verbose && !o.members:
				return errors.New("--verbose applies only to --members")
			case o.allGroups && len(args) > 0:
				return errors.New("give group names or --all-groups, not both")
			case !o.allGroups && len(args) == 0:
				return errors.New("give at least one group name or --all-groups")
			}
			return withGroupAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runGroupDescribe(ctx, adm, cmd.OutOrStdout(), args, o)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.allGroups, "all-groups", false, "describe every group in the cluster")
	f.BoolVar(&o.members, "members", false, "print the members: GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS")
	f.BoolVar(&o.state, "state", false, "print the group state: GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS")
	f.BoolVar(&o.verbose, "verbose", false, "with --members, also print each member's assignment")
	return cmd
}

// groupInfo is a described group with each member's assignment decoded
// (kadm keeps the decoded assignment behind an unexported field, so the
// formatting functions take this instead).
type groupInfo struct {
	kadm.DescribedGroup
	Assigned map[string]kadm.TopicsSet // member ID -> assigned partitions
}

func newGroupInfo(g kadm.DescribedGroup) groupInfo {
	gi := groupInfo{DescribedGroup: g, Assigned: make(map[string]kadm.TopicsSet, len(g.Members))}
	for _, m := range g.Members {
		set := make(kadm.TopicsSet)
		if a, ok := m.Assigned.AsConsumer(); ok && a != nil {
			for _, t := range a.Topics {
				set.Add(t.Topic, t.Partitions...)
			}
		}
		gi.Assigned[m.MemberID] = set
	}
	return gi
}

// numPartitions counts the partitions assigned to a member.
func (g groupInfo) numPartitions(memberID string) int {
	n := 0
	for _, ps := range g.Assigned[memberID] {
		n += len(ps)
	}
	return n
}

// groupExists reports whether a described group is a live group rather than
// the Dead placeholder a coordinator returns for an unknown id.
func groupExists(g kadm.DescribedGroup) bool {
	return !errors.Is(g.Err, kerr.GroupIDNotFound) && !strings.EqualFold(g.State, "Dead")
}

// describeError turns a group's describe result into an error, if any.
func describeError(g kadm.DescribedGroup) error {
	switch {
	case !groupExists(g):
		return fmt.Errorf("consumer group '%s' does not exist", g.Group)
	case g.Err != nil:
		return fmt.Errorf("describing group '%s': %w", g.Group, kafkaErr(g.Err, g.ErrMessage))
	}
	return nil
}

// groupStateNote is the notice kafka-consumer-groups prints to stderr
// before a group's table when the group is not Stable ("" for none).
func groupStateNote(group, state string) string {
	switch strings.ToLower(state) {
	case "empty":
		return fmt.Sprintf("Consumer group '%s' has no active members.", group)
	case "preparingrebalance", "completingrebalance", "assigning", "reconciling":
		return fmt.Sprintf("Warning: Consumer group '%s' is rebalancing.", group)
	}
	return ""
}

func runGroupDescribe(ctx context.Context, adm *kadm.Client, w io.Writer, names []string, o groupDescribeOpts) error {
	if o.allGroups {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return err
		}
		if names = listed.Groups(); len(names) == 0 {
			return nil
		}
	}
	described, err := adm.DescribeGroups(ctx, names...)
	if err != nil {
		return err
	}
	var errs []error
	first := true
	for _, name := range names {
		g, ok := described[name]
		if !ok {
			errs = append(errs, fmt.Errorf("group '%s': missing from the DescribeGroups response", name))
			continue
		}
		if err := describeError(g); err != nil {
			errs = append(errs, err)
			continue
		}
		gi := newGroupInfo(g)
		if note := groupStateNote(name, g.State); note != "" && !o.state {
			fmt.Fprintln(os.Stderr, note)
		}
		// Like kafka-consumer-groups, a table without rows is not printed
		// (an Empty group without commits gets only the note above).
		var show func()
		switch {
		case o.state:
			show = func() { writeGroupState(w, []groupInfo{gi}) }
		case o.members:
			if len(gi.Members) > 0 {
				show = func() { writeGroupMembers(w, gi, o.verbose) }
			}
		default:
			rows, err := describeOffsets(ctx, adm, gi)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(rows) > 0 {
				show = func() { writeGroupOffsets(w, name, rows) }
			}
		}
		if show == nil {
			continue
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		show()
	}
	return errors.Join(errs...)
}

// describeOffsets fetches the group's commits and the end offsets of every
// topic it owns or has committed, and builds the offset rows.
func describeOffsets(ctx context.Context, adm *kadm.Client, g groupInfo) ([]offsetRow, error) {
	committed, err := adm.FetchOffsets(ctx, g.Group)
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets of group '%s': %w", g.Group, err)
	}
	topics := make(kadm.TopicsSet)
	for _, set := range g.Assigned {
		topics.Merge(set)
	}
	topics.Merge(committed.Partitions())
	var ends kadm.ListedOffsets
	if names := topics.Topics(); len(names) > 0 {
		ends, err = adm.ListEndOffsets(ctx, names...)
		if err != nil {
			// Still useful without end offsets: they print as "-".
			fmt.Fprintf(os.Stderr, "warning: listing end offsets: %v\n", err)
		}
	}
	return groupOffsetRows(g, committed, ends), nil
}

// offsetRow is one line of the default describe output. Negative numbers
// and empty strings print as "-".
type offsetRow struct {
	Topic      string
	Partition  int32
	Current    int64
	End        int64
	ConsumerID string
	Host       string
	ClientID   string
}

// lag is end - current, or -1 (unknown) when either is unknown.
func (r offsetRow) lag() int64 {
	if r.Current < 0 || r.End < 0 {
		return -1
	}
	return r.End - r.Current
}

// groupOffsetRows builds the describe rows: first the members, those owning
// the most partitions first (each member's partitions sorted; a member
// owning nothing gets one row with "-" topic and partition), then the
// partitions that have a commit but no owner, with "-" as the consumer.
func groupOffsetRows(g groupInfo, committed kadm.OffsetResponses, ends kadm.ListedOffsets) []offsetRow {
	current := func(t string, p int32) int64 {
		if r, ok := committed.Lookup(t, p); ok && r.Err == nil && r.At >= 0 {
			return r.At
		}
		return -1
	}
	end := func(t string, p int32) int64 {
		if l, ok := ends.Lookup(t, p); ok && l.Err == nil {
			return l.Offset
		}
		return -1
	}
	members := append([]kadm.DescribedGroupMember(nil), g.Members...)
	sort.SliceStable(members, func(i, j int) bool {
		return g.numPartitions(members[i].MemberID) > g.numPartitions(members[j].MemberID)
	})
	var rows []offsetRow
	owned := make(kadm.TopicsSet)
	for _, m := range members {
		assigned := g.Assigned[m.MemberID].Sorted() // partitions sorted too
		if len(assigned) == 0 {
			rows = append(rows, offsetRow{Partition: -1, Current: -1, End: -1,
				ConsumerID: m.MemberID, Host: m.ClientHost, ClientID: m.ClientID})
			continue
		}
		for _, tp := range assigned {
			for _, p := range tp.Partitions {
				owned.Add(tp.Topic, p)
				rows = append(rows, offsetRow{Topic: tp.Topic, Partition: p,
					Current: current(tp.Topic, p), End: end(tp.Topic, p),
					ConsumerID: m.MemberID, Host: m.ClientHost, ClientID: m.ClientID})
			}
		}
	}
	for _, r := range committed.Sorted() {
		if r.Err != nil || r.At < 0 || owned.Lookup(r.Topic, r.Partition) {
			continue
		}
		rows = append(rows, offsetRow{Topic: r.Topic, Partition: r.Partition,
			Current: r.At, End: end(r.Topic, r.Partition)})
	}
	return rows
}

// writeGroupOffsets prints the kafka-consumer-groups --describe table.
func writeGroupOffsets(w io.Writer, group string, rows []offsetRow) {
	table := [][]string{{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"}}
	for _, r := range rows {
		part := missing
		if r.Partition >= 0 {
			part = strconv.Itoa(int(r.Partition))
		}
		table = append(table, []string{group, orMissing(r.Topic), part,
			offsetCell(r.Current), offsetCell(r.End), offsetCell(r.lag()),
			orMissing(r.ConsumerID), orMissing(r.Host), orMissing(r.ClientID)})
	}
	writeTable(w, table)
}

// writeGroupMembers prints the --members table (with verbose, an
// ASSIGNMENT column such as "a(0,1),b(2)").
func writeGroupMembers(w io.Writer, g groupInfo, verbose bool) {
	header := []string{"GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"}
	if verbose {
		header = append(header, "ASSIGNMENT")
	}
	table := [][]string{header}
	for _, m := range g.Members {
		row := []string{g.Group, orMissing(m.MemberID), orMissing(m.ClientHost), orMissing(m.ClientID),
			strconv.Itoa(g.numPartitions(m.MemberID))}
		if verbose {
			row = append(row, assignmentString(g.Assigned[m.MemberID]))
		}
		table = append(table, row)
	}
	writeTable(w, table)
}

// assignmentString renders partitions as "a(0,1),b(2)", sorted; "-" if none.
func assignmentString(set kadm.TopicsSet) string {
	var parts []string
	for _, tp := range set.Sorted() {
		if len(tp.Partitions) > 0 {
			parts = append(parts, tp.Topic+"("+joinInt32s(tp.Partitions)+")")
		}
	}
	if len(parts) == 0 {
		return missing
	}
	return strings.Join(parts, ",")
}

// writeGroupState prints the --state table, one line per group.
func writeGroupState(w io.Writer, groups []groupInfo) {
	table := [][]string{{"GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"}}
	for _, g := range groups {
		c := g.Coordinator
		coord := fmt.Sprintf("%s:%d (%d)", c.Host, c.Port, c.NodeID)
		table = append(table, []string{g.Group, coord, orMissing(g.Protocol), orMissing(g.State), strconv.Itoa(len(g.Members))})
	}
	writeTable(w, table)
}

// ---- reset-offsets ----

// resetFlags are the raw reset-offsets flags. toOffset and shiftBy are nil
// when not given.
type resetFlags struct {
	topics     []string
	allTopics  bool
	toEarliest bool
	toLatest   bool
	toOffset   *int64
	shiftBy    *int64
	toDatetime string
	dryRun     bool
	execute    bool
}

type resetKind int

const (
	resetToEarliest resetKind = iota
	resetToLatest
	resetToOffset
	resetShiftBy
	resetToDatetime
)

// resetSpec says how to compute each partition's new offset. Value is the
// offset (--to-offset), the shift (--shift-by) or the Unix milliseconds
// (--to-datetime).
type resetSpec struct {
	Kind  resetKind
	Value int64
}

// topicSelection is one --topic value: a topic and optionally partitions
// (nil: all partitions).
type topicSelection struct {
	Topic      string
	Partitions []int32
}

// resetRequest is a validated reset-offsets invocation.
type resetRequest struct {
	Spec      resetSpec
	Topics    []topicSelection // empty with AllTopics
	AllTopics bool
	Execute   bool
}

func newGroupResetOffsetsCmd() *cobra.Command {
	var (
		f                 resetFlags
		toOffset, shiftBy int64
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Reset a group's committed offsets (dry run unless --execute)",
		Long: "Computes new committed offsets for the chosen partitions (--topic T, --topic\n" +
			"T:0,2 or --all-topics, meaning every partition the group has committed) with\n" +
			"exactly one of --to-earliest, --to-latest, --to-offset, --shift-by or\n" +
			"--to-datetime, clamped to each partition's [earliest, latest] range. Prints the\n" +
			"plan; with --execute also commits it, which requires the group to have no\n" +
			"active members.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("to-offset") {
				f.toOffset = &toOffset
			}
			if cmd.Flags().Changed("shift-by") {
				f.shiftBy = &shiftBy
			}
			req, err := parseResetRequest(f, time.Local)
			if err != nil {
				return err
			}
			if !f.dryRun && !f.execute {
				fmt.Fprintln(os.Stderr, "Dry run: no offsets will be changed (add --execute to commit them).")
			}
			return withGroupAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				return runGroupResetOffsets(ctx, adm, cmd.OutOrStdout(), args[0], req)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.topics, "topic", nil, "topic to reset, optionally with partitions: T or T:0,1 (repeatable)")
	fl.BoolVar(&f.allTopics, "all-topics", false, "reset every partition the group has committed offsets for")
	fl.BoolVar(&f.toEarliest, "to-earliest", false, "reset to the earliest offset")
	fl.BoolVar(&f.toLatest, "to-latest", false, "reset to the latest (log end) offset")
	fl.Int64Var(&toOffset, "to-offset", 0, "reset to this offset")
	fl.Int64Var(&shiftBy, "shift-by", 0, "move the committed offset by N (may be negative)")
	fl.StringVar(&f.toDatetime, "to-datetime", "", "reset to the first offset at or after this time, YYYY-MM-DDTHH:mm:SS.sss with optional Z or ±hh:mm (default local time)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "only print the new offsets (the default)")
	fl.BoolVar(&f.execute, "execute", false, "commit the new offsets")
	return cmd
}

// parseResetRequest validates the flags: a scope (--topic or --all-topics,
// not both), exactly one reset spec, and not both --dry-run and --execute.
// Datetimes without a zone are read in loc.
func parseResetRequest(f resetFlags, loc *time.Location) (resetRequest, error) {
	var req resetRequest
	switch {
	case f.dryRun && f.execute:
		return req, errors.New("--dry-run and --execute are mutually exclusive")
	case f.allTopics && len(f.topics) > 0:
		return req, errors.New("--topic and --all-topics are mutually exclusive")
	case !f.allTopics && len(f.topics) == 0:
		return req, errors.New("choose the partitions to reset: --topic T[:p1,p2] or --all-topics")
	}
	spec, err := parseResetSpec(f, loc)
	if err != nil {
		return req, err
	}
	for _, t := range f.topics {
		sel, err := parseTopicPartitions(t)
		if err != nil {
			return req, err
		}
		req.Topics = append(req.Topics, sel)
	}
	req.Spec, req.AllTopics, req.Execute = spec, f.allTopics, f.execute
	return req, nil
}

// parseResetSpec returns the single reset spec given in the flags.
func parseResetSpec(f resetFlags, loc *time.Location) (resetSpec, error) {
	var specs []resetSpec
	if f.toEarliest {
		specs = append(specs, resetSpec{Kind: resetToEarliest})
	}
	if f.toLatest {
		specs = append(specs, resetSpec{Kind: resetToLatest})
	}
	if f.toOffset != nil {
		if *f.toOffset < 0 {
			return resetSpec{}, fmt.Errorf("invalid --to-offset %d: must not be negative", *f.toOffset)
		}
		specs = append(specs, resetSpec{Kind: resetToOffset, Value: *f.toOffset})
	}
	if f.shiftBy != nil {
		specs = append(specs, resetSpec{Kind: resetShiftBy, Value: *f.shiftBy})
	}
	if f.toDatetime != "" {
		t, err := parseDatetime(f.toDatetime, loc)
		if err != nil {
			return resetSpec{}, err
		}
		specs = append(specs, resetSpec{Kind: resetToDatetime, Value: t.UnixMilli()})
	}
	if len(specs) != 1 {
		return resetSpec{}, errors.New("give exactly one of --to-earliest, --to-latest, --to-offset, --shift-by or --to-datetime")
	}
	return specs[0], nil
}

// datetimeZoned are the accepted --to-datetime layouts carrying a zone (Go
// also accepts a fractional second after the seconds when parsing, and
// "Z07:00" accepts a literal Z).
var datetimeZoned = []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05Z07"}

// parseDatetime parses Kafka's reset datetime, YYYY-MM-DDTHH:mm:SS.sss,
// optionally followed by Z or a ±hh:mm offset; without one it is in loc.
// The milliseconds may be left out.
func parseDatetime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range datetimeZoned {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid --to-datetime %q: want YYYY-MM-DDTHH:mm:SS.sss, optionally with Z or ±hh:mm, e.g. 2006-01-02T15:04:05.000+01:00", s)
}

// parseTopicPartitions parses "T" or "T:0,1,2". Partitions are returned
// sorted and deduplicated.
func parseTopicPartitions(s string) (topicSelection, error) {
	topic, list, hasList := strings.Cut(strings.TrimSpace(s), ":")
	if topic == "" {
		return topicSelection{}, fmt.Errorf("invalid --topic %q: want TOPIC or TOPIC:P1,P2", s)
	}
	sel := topicSelection{Topic: topic}
	if !hasList {
		return sel, nil
	}
	seen := make(map[int32]bool)
	for _, field := range strings.Split(list, ",") {
		p, err := strconv.ParseInt(strings.TrimSpace(field), 10, 32)
		if err != nil || p < 0 {
			return topicSelection{}, fmt.Errorf("invalid partition %q in --topic %q", field, s)
		}
		if !seen[int32(p)] {
			seen[int32(p)] = true
			sel.Partitions = append(sel.Partitions, int32(p))
		}
	}
	sort.Slice(sel.Partitions, func(i, j int) bool { return sel.Partitions[i] < sel.Partitions[j] })
	return sel, nil
}

// resettable fails unless the group has no active members: Kafka only
// resets the offsets of an Empty (or not yet existing) group.
func resettable(g kadm.DescribedGroup) error {
	if !groupExists(g) {
		return nil
	}
	if g.Err != nil {
		return fmt.Errorf("describing group '%s': %w", g.Group, kafkaErr(g.Err, g.ErrMessage))
	}
	if strings.EqualFold(g.State, "Empty") {
		return nil
	}
	return fmt.Errorf("cannot reset offsets of group '%s': it is %s with %d active member(s); "+
		"offsets can only be reset while the group is inactive (stop its consumers first)",
		g.Group, g.State, len(g.Members))
}

// resetPartitions resolves the selection to concrete partitions: with
// allTopics, every committed partition; otherwise each selected topic's
// partitions (all of them, per the end offsets, unless listed).
func resetPartitions(req resetRequest, committed kadm.OffsetResponses, ends kadm.ListedOffsets) (kadm.TopicsSet, error) {
	set := make(kadm.TopicsSet)
	if req.AllTopics {
		for _, r := range committed.Sorted() {
			if r.Err == nil && r.At >= 0 {
				set.Add(r.Topic, r.Partition)
			}
		}
		return set, nil
	}
	var errs []error
	for _, sel := range req.Topics {
		parts, ok := ends[sel.Topic]
		if bad, isErr := parts[-1]; !ok || (isErr && bad.Err != nil) {
			errs = append(errs, fmt.Errorf("topic '%s' does not exist", sel.Topic))
			continue
		}
		if sel.Partitions == nil {
			for p := range parts {
				set.Add(sel.Topic, p)
			}
			continue
		}
		for _, p := range sel.Partitions {
			if _, ok := parts[p]; !ok {
				errs = append(errs, fmt.Errorf("partition %s-%d does not exist", sel.Topic, p))
				continue
			}
			set.Add(sel.Topic, p)
		}
	}
	return set, errors.Join(errs...)
}

// resetInputs are the offsets a reset plan is computed from.
type resetInputs struct {
	Committed kadm.OffsetResponses
	Starts    kadm.ListedOffsets
	Ends      kadm.ListedOffsets
	AtTime    kadm.ListedOffsets // only for --to-datetime
}

// planReset computes the new offset of every partition in parts, clamped
// to [start, end]. warnings report the clamps, as kafka-consumer-groups does.
func planReset(parts kadm.TopicsSet, spec resetSpec, in resetInputs) (plan kadm.Offsets, warnings []string, err error) {
	plan = make(kadm.Offsets)
	var errs []error
	for _, tp := range parts.Sorted() {
		for _, p := range tp.Partitions {
			t := tp.Topic
			start, serr := listedOffset(in.Starts, t, p)
			end, eerr := listedOffset(in.Ends, t, p)
			if err := errors.Join(serr, eerr); err != nil {
				errs = append(errs, err)
				continue
			}
			var target int64
			switch spec.Kind {
			case resetToEarliest:
				target = start
			case resetToLatest:
				target = end
			case resetToOffset:
				target = spec.Value
			case resetShiftBy:
				c, ok := in.Committed.Lookup(t, p)
				if !ok || c.Err != nil || c.At < 0 {
					errs = append(errs, fmt.Errorf("cannot shift %s-%d: the group has no committed offset for it", t, p))
					continue
				}
				target = c.At + spec.Value
			case resetToDatetime:
				at, err := listedOffset(in.AtTime, t, p)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				target = at
				if at < 0 { // no record at or after the time
					target = end
				}
			}
			switch {
			case target < start:
				warnings = append(warnings, fmt.Sprintf("New offset (%d) is lower than earliest offset for topic partition %s-%d. Value will be set to %d", target, t, p, start))
				target = start
			case target > end:
				warnings = append(warnings, fmt.Sprintf("New offset (%d) is higher than latest offset for topic partition %s-%d. Value will be set to %d", target, t, p, end))
				target = end
			}
			plan.Add(kadm.Offset{Topic: t, Partition: p, At: target, LeaderEpoch: -1})
		}
	}
	return plan, warnings, errors.Join(errs...)
}

// listedOffset looks up a listed offset, failing if absent or errored.
func listedOffset(l kadm.ListedOffsets, t string, p int32) (int64, error) {
	o, ok := l.Lookup(t, p)
	switch {
	case !ok:
		return 0, fmt.Errorf("no offset listed for %s-%d", t, p)
	case o.Err != nil:
		return 0, fmt.Errorf("listing offsets of %s-%d: %w", t, p, o.Err)
	}
	return o.Offset, nil
}

// writeResetPlan prints the GROUP TOPIC PARTITION NEW-OFFSET table.
func writeResetPlan(w io.Writer, group string, plan kadm.Offsets) {
	table := [][]string{{"GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"}}
	for _, o := range plan.Sorted() {
		table = append(table, []string{group, o.Topic, strconv.Itoa(int(o.Partition)), strconv.FormatInt(o.At, 10)})
	}
	writeTable(w, table)
}

func runGroupResetOffsets(ctx context.Context, adm *kadm.Client, w io.Writer, group string, req resetRequest) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return err
	}
	g, ok := described[group]
	if !ok {
		return fmt.Errorf("group '%s': missing from the DescribeGroups response", group)
	}
	if err := resettable(g); err != nil {
		if req.Execute {
			return err
		}
		fmt.Fprintf(os.Stderr, "warning: %v\n", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("fetching committed offsets of group '%s': %w", group, err)
	}
	topics := committed.Partitions().Topics()
	if !req.AllTopics {
		topics = topics[:0]
		for _, sel := range req.Topics {
			topics = append(topics, sel.Topic)
		}
	}
	if len(topics) == 0 {
		return fmt.Errorf("group '%s' has no committed offsets to reset (name the topics with --topic)", group)
	}
	in := resetInputs{Committed: committed}
	if in.Starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
		return fmt.Errorf("listing earliest offsets: %w", err)
	}
	if in.Ends, err = adm.ListEndOffsets(ctx, topics...); err != nil {
		return fmt.Errorf("listing latest offsets: %w", err)
	}
	if req.Spec.Kind == resetToDatetime {
		if in.AtTime, err = adm.ListOffsetsAfterMilli(ctx, req.Spec.Value, topics...); err != nil {
			return fmt.Errorf("listing offsets by time: %w", err)
		}
	}
	parts, err := resetPartitions(req, committed, in.Ends)
	if err != nil {
		return err
	}
	plan, warnings, err := planReset(parts, req.Spec, in)
	if err != nil {
		return err
	}
	for _, warn := range warnings {
		fmt.Fprintln(os.Stderr, warn)
	}
	if req.Execute {
		resps, err := adm.CommitOffsets(ctx, group, plan)
		if err != nil {
			return fmt.Errorf("committing offsets of group '%s': %w", group, err)
		}
		if err := commitErrors(group, resps); err != nil {
			return err
		}
	}
	writeResetPlan(w, group, plan)
	return nil
}

// commitErrors collects the per-partition errors of an offset commit.
func commitErrors(group string, resps kadm.OffsetResponses) error {
	var errs []error
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("committing offset %d for %s-%d of group '%s': %w", r.At, r.Topic, r.Partition, group, r.Err))
		}
	}
	return errors.Join(errs...)
}

// ---- delete ----

func newGroupDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups (they must have no active members)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withGroupAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteGroups(ctx, args...)
				if err != nil {
					return err
				}
				return writeDeleteResult(cmd.OutOrStdout(), args, resps)
			})
		},
	}
}

// writeDeleteResult prints the groups that were deleted and returns an
// error listing every group that was not (with its Kafka error, such as
// NON_EMPTY_GROUP or GROUP_ID_NOT_FOUND).
func writeDeleteResult(w io.Writer, names []string, resps kadm.DeleteGroupResponses) error {
	var ok []string
	var errs []error
	seen := make(map[string]bool)
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		r, found := resps[name]
		switch {
		case !found:
			errs = append(errs, fmt.Errorf("group '%s' could not be deleted: missing from the DeleteGroups response", name))
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("group '%s' could not be deleted: %w", name, kafkaErr(r.Err, r.ErrMessage)))
		default:
			ok = append(ok, "'"+name+"'")
		}
	}
	if len(ok) > 0 {
		fmt.Fprintf(w, "Deletion of requested consumer groups (%s) was successful.\n", strings.Join(ok, ", "))
	}
	return errors.Join(errs...)
}

// ---- consume --group ----

// groupConsumerOpts are the kgo options for `fjord consume --group`: join
// the group, subscribe to the topic, and start partitions without a commit
// at the earliest offset (--from-beginning) or the end.
func groupConsumerOpts(topic string, o consumeOpts) ([]kgo.Opt, error) {
	if o.partition >= 0 || o.offset != -1 {
		return nil, errors.New("--group cannot be used with --partition or --offset: the group assigns partitions and tracks offsets")
	}
	start := kgo.NewOffset().AtEnd()
	if o.fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	// Only records actually printed are marked for commit, so --max-messages
	// never commits past what the user saw.
	return []kgo.Opt{kgo.ConsumerGroup(o.group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start), kgo.AutoCommitMarks()}, nil
}

// commitOnExit commits the printed (marked) records not yet autocommitted,
// so a restarted member of the group resumes after the last printed one.
// It does not use the command's context, which is canceled on SIGINT.
func commitOnExit(cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		return fmt.Errorf("committing offsets on exit: %w", err)
	}
	return nil
}
