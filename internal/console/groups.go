package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupRow is one group in the list.
type groupRow struct {
	Name, State, Protocol, ProtocolType string
	Coordinator                         int32
	Members                             int
	Topics                              int
	Lag                                 int64 // -1 unknown
	Err                                 string
}

type groupsData struct{ Groups []groupRow }

// groups lists every group: one ListGroups, then one DescribeGroups and
// one OffsetFetch per coordinator, lag from the snapshot's end offsets.
func (s *Server) groups(ctx context.Context, _ *http.Request) (pageResult, error) {
	snap, err := s.snapshot()
	if err != nil {
		return pageResult{}, kafkaError("reading cluster metadata", err)
	}
	var warnings []string
	listed, err := s.adm.ListGroups(ctx)
	if isAuthErr(err) { // Kafka lists only the groups one may describe; another cluster may refuse
		listed, warnings = kadm.ListedGroups{}, []string{"groups: " + deniedText("list the consumer groups", err)}
	} else if err != nil {
		return pageResult{}, kafkaError("listing groups", err)
	}
	names := listed.Groups()
	var described kadm.DescribedGroups
	var fetched kadm.FetchOffsetsResponses
	var derr error
	if len(names) > 0 {
		var wg sync.WaitGroup
		wg.Go(func() { described, derr = s.adm.DescribeGroups(ctx, names...) })
		wg.Go(func() { fetched = s.adm.FetchManyOffsets(ctx, names...) })
		wg.Wait()
	}
	switch {
	case isAuthErr(derr):
		warnings = append(warnings, "describing groups: "+deniedText("describe some of the groups", derr))
	case derr != nil:
		warnings = append(warnings, "describing groups: "+derr.Error())
	}
	d := groupsData{}
	for _, name := range names {
		d.Groups = append(d.Groups, groupRowOf(snap, listed[name], described[name], fetched[name]))
	}
	slices.SortFunc(d.Groups, func(a, b groupRow) int { return strings.Compare(a.Name, b.Name) })
	return pageResult{page: "groups", title: "Consumer groups", nav: "groups", live: true, data: d,
		warnings: append(warnings, snap.warnings...)}, nil
}

func groupRowOf(snap *snapshot, lg kadm.ListedGroup, dg kadm.DescribedGroup, fo kadm.FetchOffsetsResponse) groupRow {
	row := groupRow{Name: lg.Group, State: lg.State, ProtocolType: lg.ProtocolType, Coordinator: lg.Coordinator, Lag: -1}
	if dg.Group != "" {
		row.State, row.Protocol, row.Members = dg.State, dg.Protocol, len(dg.Members)
	}
	if fo.Err != nil {
		row.Err = fo.Err.Error()
		if isAuthErr(fo.Err) {
			row.Err = deniedText("fetch its offsets", fo.Err)
		}
		return row
	}
	row.Topics = len(fo.Fetched)
	var total int64
	for topic, ps := range fo.Fetched {
		for p, o := range ps {
			lag := partitionLag(o.At, snapOffset(snap.start, topic, p), snapOffset(snap.end, topic, p))
			if o.Err == nil && lag >= 0 {
				total += lag
			}
		}
	}
	row.Lag = total
	return row
}

func snapOffset(lo kadm.ListedOffsets, topic string, p int32) int64 {
	if o, ok := lo.Lookup(topic, p); ok && o.Err == nil {
		return o.Offset
	}
	return -1
}

// ---- one group ----

// memberRow is one member with its assignment.
type memberRow struct {
	MemberID, InstanceID, ClientID, Host string
	Assigned                             string // "topic: 0, 1, 2; other: 3"
}

// lagRow is one partition the group consumes or committed to.
type lagRow struct {
	Topic                      string
	Partition                  int32
	Member                     string // client id and host of its owner, "" unassigned
	Committed, Start, End, Lag int64  // -1 unknown / no commit
	Metadata                   string
}

type groupData struct {
	Name, State, Protocol, ProtocolType string
	Coordinator                         int32
	Members                             []memberRow
	Lags                                []lagRow
	TotalLag                            int64
	LagChart                            template.HTML
	Topics                              []string // topics with commits, for the reset form
	AllTopics                           []string
	Resettable                          bool
}

// group renders one group; a group with no members and no commits (Kafka
// reports unknown groups as Dead) is a 404.
func (s *Server) group(ctx context.Context, r *http.Request) (pageResult, error) {
	name := r.PathValue("name")
	snap, dg, fetched, err := s.loadGroup(ctx, name)
	if err != nil {
		return pageResult{}, err
	}
	d := groupData{Name: name, State: dg.State, Protocol: dg.Protocol, ProtocolType: dg.ProtocolType,
		Coordinator: dg.Coordinator.NodeID, Resettable: dg.State == "Empty" || dg.State == "Dead"}
	owners := map[string]map[int32]string{}
	for _, m := range dg.Members {
		d.Members = append(d.Members, memberRowOf(m, owners))
	}
	d.Lags, d.TotalLag = lagRows(snap, fetched, owners)
	d.LagChart = sparkline(s.lags.record(name, time.Now(), d.TotalLag), 240, 48)
	d.Topics = fetchedTopics(fetched)
	for _, td := range snap.meta.Topics.Sorted() {
		if !td.IsInternal {
			d.AllTopics = append(d.AllTopics, td.Topic)
		}
	}
	return pageResult{page: "group", title: "Group " + name, nav: "groups", live: true, data: d, warnings: snap.warnings}, nil
}

// loadGroup describes the group and fetches its commits in parallel.
func (s *Server) loadGroup(ctx context.Context, name string) (*snapshot, kadm.DescribedGroup, kadm.OffsetResponses, error) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, kadm.DescribedGroup{}, nil, kafkaError("reading cluster metadata", err)
	}
	var dgs kadm.DescribedGroups
	var fetched kadm.OffsetResponses
	var derr, ferr error
	var wg sync.WaitGroup
	wg.Go(func() { dgs, derr = s.adm.DescribeGroups(ctx, name) })
	wg.Go(func() { fetched, ferr = s.adm.FetchOffsets(ctx, name) })
	wg.Wait()
	dg, ok := dgs[name]
	if derr == nil && ok && dg.Err != nil {
		derr = dg.Err
	}
	if err := errors.Join(derr, ferr); err != nil {
		if errors.Is(err, kerr.GroupIDNotFound) {
			return nil, dg, nil, notFound("the cluster has no consumer group named " + strconv.Quote(name))
		}
		if isAuthErr(err) {
			return nil, dg, nil, forbidden("describe group "+name, err)
		}
		return nil, dg, nil, kafkaError("describing group "+name, err)
	}
	if (dg.State == "Dead" || dg.State == "") && len(dg.Members) == 0 && len(fetched) == 0 {
		return nil, dg, nil, notFound("the cluster has no consumer group named " + strconv.Quote(name))
	}
	return snap, dg, fetched, nil
}

func memberRowOf(m kadm.DescribedGroupMember, owners map[string]map[int32]string) memberRow {
	row := memberRow{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
	if m.InstanceID != nil {
		row.InstanceID = *m.InstanceID
	}
	ca, ok := m.Assigned.AsConsumer()
	if !ok {
		return row
	}
	var parts []string
	for _, t := range ca.Topics {
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		parts = append(parts, t.Topic+": "+idList(ps))
		if owners[t.Topic] == nil {
			owners[t.Topic] = map[int32]string{}
		}
		for _, p := range ps {
			owners[t.Topic][p] = m.ClientID + " @ " + m.ClientHost
		}
	}
	slices.Sort(parts)
	row.Assigned = strings.Join(parts, "; ")
	return row
}

// lagRows joins commits and assignments with the snapshot's offsets:
// every committed or assigned partition, by topic and partition.
func lagRows(snap *snapshot, fetched kadm.OffsetResponses, owners map[string]map[int32]string) ([]lagRow, int64) {
	seen := map[string]map[int32]bool{}
	var rows []lagRow
	add := func(topic string, p int32, committed int64, meta string) {
		if seen[topic] == nil {
			seen[topic] = map[int32]bool{}
		}
		if seen[topic][p] {
			return
		}
		seen[topic][p] = true
		start, end := snapOffset(snap.start, topic, p), snapOffset(snap.end, topic, p)
		rows = append(rows, lagRow{Topic: topic, Partition: p, Member: owners[topic][p], Committed: committed,
			Start: start, End: end, Lag: partitionLag(committed, start, end), Metadata: meta})
	}
	for topic, ps := range fetched {
		for p, o := range ps {
			if o.Err == nil {
				add(topic, p, o.At, o.Metadata)
			}
		}
	}
	for topic, ps := range owners {
		for p := range ps {
			add(topic, p, -1, "")
		}
	}
	slices.SortFunc(rows, func(a, b lagRow) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	var total int64
	for _, r := range rows {
		total += max(0, r.Lag)
	}
	return rows, total
}

func fetchedTopics(fetched kadm.OffsetResponses) []string {
	out := make([]string, 0, len(fetched))
	for t := range fetched {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// ---- reset ----

// resetGroup commits new offsets for an Empty group: every partition of
// the chosen topic (or of every topic it has commits for) to its log start
// (earliest), its end (latest) or a given offset, clamped to the
// partition's [start, end] as kafka-consumer-groups does.
func (s *Server) resetGroup(ctx context.Context, r *http.Request) (string, string, error) {
	name := r.PathValue("name")
	back := "/groups/" + pathEscape(name)
	snap, dg, fetched, err := s.loadGroup(ctx, name)
	if err != nil {
		return "", "", err
	}
	if len(dg.Members) > 0 || (dg.State != "Empty" && dg.State != "Dead") {
		return "", "", &httpError{http.StatusConflict, "Group is active",
			fmt.Sprintf("group %s is %s with %d members: stop its consumers before resetting its offsets", name, dg.State, len(dg.Members))}
	}
	target, err := resetTarget(r)
	if err != nil {
		return "", "", err
	}
	offsets, clamped, err := resetOffsets(snap, fetched, r.PostFormValue("topic"), target)
	if err != nil {
		return "", "", err
	}
	if err := s.adm.CommitAllOffsets(ctx, name, offsets); err != nil {
		return "", "", kafkaError("committing offsets of "+name, err)
	}
	msg := fmt.Sprintf("reset %d partitions of %s to %s", countOffsets(offsets), name, r.PostFormValue("to"))
	if clamped > 0 {
		msg += fmt.Sprintf(" (%d clamped to the partition's range)", clamped)
	}
	return back, msg, nil
}

// resetTarget reads the form's target: -2 earliest, -1 latest, else an
// offset >= 0.
func resetTarget(r *http.Request) (int64, error) {
	switch r.PostFormValue("to") {
	case "earliest":
		return -2, nil
	case "latest":
		return -1, nil
	case "offset":
		v := strings.TrimSpace(r.PostFormValue("offset"))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, badRequest("offset must be a whole number from 0 to %d (got %q)", int64(1<<63-1), v)
		}
		return n, nil
	}
	return 0, badRequest("to must be earliest, latest or offset")
}

// resetOffsets computes the offsets to commit for topic ("" = every
// topic the group has commits for) and how many were clamped.
func resetOffsets(snap *snapshot, fetched kadm.OffsetResponses, topic string, target int64) (kadm.Offsets, int, error) {
	topics := fetchedTopics(fetched)
	if topic != "" {
		if _, ok := snap.meta.Topics[topic]; !ok {
			return nil, 0, notFound("the cluster has no topic named " + strconv.Quote(topic))
		}
		topics = []string{topic}
	}
	if len(topics) == 0 {
		return nil, 0, badRequest("the group has no committed offsets: choose a topic to reset")
	}
	var out kadm.Offsets
	clamped := 0
	for _, t := range topics {
		for _, p := range snap.meta.Topics[t].Partitions.Numbers() {
			start, end := snapOffset(snap.start, t, p), snapOffset(snap.end, t, p)
			if start < 0 || end < 0 {
				return nil, 0, &httpError{http.StatusBadGateway, "Offsets unknown", fmt.Sprintf("no offsets for %s-%d: is its leader up?", t, p)}
			}
			at, c := clampReset(target, start, end)
			if c {
				clamped++
			}
			out.AddOffset(t, p, at, -1)
		}
	}
	return out, clamped, nil
}

// clampReset maps a reset target to an offset within [start, end] and
// says whether an explicit offset had to be clamped.
func clampReset(target, start, end int64) (int64, bool) {
	switch {
	case target == -2:
		return start, false
	case target == -1:
		return end, false
	case target < start:
		return start, true
	case target > end:
		return end, true
	}
	return target, false
}

func countOffsets(os kadm.Offsets) int {
	n := 0
	for _, ps := range os {
		n += len(ps)
	}
	return n
}
