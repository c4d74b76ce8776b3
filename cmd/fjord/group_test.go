package main

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	writeTable(&buf, [][]string{{"A", "BB", "C"}, {"long", "x", "tail"}, {"s", "yyy", "-"}})
	want := "" +
		"A    BB  C\n" +
		"long x   tail\n" +
		"s    yyy -\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestWriteGroupList(t *testing.T) {
	groups := kadm.ListedGroups{
		"zeta":  {Group: "zeta", State: "Stable", ProtocolType: "consumer"},
		"alpha": {Group: "alpha", State: "Empty", ProtocolType: "consumer"},
		"mid":   {Group: "mid"},
	}
	var buf bytes.Buffer
	writeGroupList(&buf, groups, false)
	if got, want := buf.String(), "alpha\nmid\nzeta\n"; got != want {
		t.Errorf("plain: got %q, want %q", got, want)
	}
	buf.Reset()
	writeGroupList(&buf, groups, true)
	want := "" +
		"GROUP STATE  PROTOCOL-TYPE\n" +
		"alpha Empty  consumer\n" +
		"mid   -      -\n" +
		"zeta  Stable consumer\n"
	if buf.String() != want {
		t.Errorf("state: got\n%s\nwant\n%s", buf.String(), want)
	}
	filtered := filterListedGroups(groups, []string{"stable", " EMPTY"})
	if got := filtered.Groups(); !reflect.DeepEqual(got, []string{"alpha", "zeta"}) {
		t.Errorf("filtered: got %v", got)
	}
	if got := filterListedGroups(groups, nil); len(got) != 3 {
		t.Errorf("unfiltered: got %d groups", len(got))
	}
}

func topicsSet(tps ...kadm.TopicPartitions) kadm.TopicsSet {
	s := make(kadm.TopicsSet)
	for _, tp := range tps {
		s.Add(tp.Topic, tp.Partitions...)
	}
	return s
}

func tps(topic string, ps ...int32) kadm.TopicPartitions {
	return kadm.TopicPartitions{Topic: topic, Partitions: ps}
}

// describeGroupFixture: group "g" with a member owning two partitions of
// "orders" (one committed), a member owning one, an idle member; commits
// also exist for an unowned partition and for a topic nobody owns.
func describeGroupFixture() (groupInfo, kadm.OffsetResponses, kadm.ListedOffsets) {
	g := groupInfo{
		DescribedGroup: kadm.DescribedGroup{
			Group:       "g",
			Coordinator: kadm.BrokerDetail{NodeID: 2, Host: "127.0.0.1", Port: 9093},
			State:       "Stable", ProtocolType: "consumer", Protocol: "cooperative-sticky",
			Members: []kadm.DescribedGroupMember{
				{MemberID: "a-1", ClientID: "cli-a", ClientHost: "/10.0.0.1"},
				{MemberID: "b-2", ClientID: "cli-b", ClientHost: "/10.0.0.2"},
				{MemberID: "c-3", ClientID: "cli-c", ClientHost: "/10.0.0.3"},
			},
		},
		Assigned: map[string]kadm.TopicsSet{
			"a-1": topicsSet(tps("orders", 2)),
			"b-2": topicsSet(tps("orders", 1, 0)),
			"c-3": {},
		},
	}
	committed := kadm.OffsetResponses{}
	for _, o := range []kadm.Offset{
		{Topic: "orders", Partition: 0, At: 5},
		{Topic: "orders", Partition: 2, At: 10},
		{Topic: "orders", Partition: 3, At: 7},
		{Topic: "audit", Partition: 0, At: 0},
	} {
		committed.Add(kadm.OffsetResponse{Offset: o})
	}
	committed.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "audit", Partition: 1, At: 3}, Err: kerr.UnknownTopicOrPartition})
	ends := kadm.ListedOffsets{
		"orders": {
			0: {Topic: "orders", Partition: 0, Offset: 8},
			1: {Topic: "orders", Partition: 1, Offset: 4},
			2: {Topic: "orders", Partition: 2, Offset: 10},
			3: {Topic: "orders", Partition: 3, Offset: 9},
		},
		"audit": {0: {Topic: "audit", Partition: 0, Err: kerr.NotLeaderForPartition}},
	}
	return g, committed, ends
}

func TestGroupOffsetRowsAndFormat(t *testing.T) {
	g, committed, ends := describeGroupFixture()
	rows := groupOffsetRows(g, committed, ends)
	var buf bytes.Buffer
	writeGroupOffsets(&buf, g.Group, rows)
	want := "" +
		"GROUP TOPIC  PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST      CLIENT-ID\n" +
		"g     orders 0         5              8              3   b-2         /10.0.0.2 cli-b\n" +
		"g     orders 1         -              4              -   b-2         /10.0.0.2 cli-b\n" +
		"g     orders 2         10             10             0   a-1         /10.0.0.1 cli-a\n" +
		"g     -      -         -              -              -   c-3         /10.0.0.3 cli-c\n" +
		"g     audit  0         0              -              -   -           -         -\n" +
		"g     orders 3         7              9              2   -           -         -\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestGroupOffsetRowsEmptyGroup(t *testing.T) {
	g := groupInfo{DescribedGroup: kadm.DescribedGroup{Group: "g", State: "Empty"}}
	committed := kadm.OffsetResponses{}
	committed.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "t", Partition: 1, At: 2}})
	committed.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "t", Partition: 0, At: -1}}) // no commit
	rows := groupOffsetRows(g, committed, nil)
	want := []offsetRow{{Topic: "t", Partition: 1, Current: 2, End: -1}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got %+v, want %+v", rows, want)
	}
}

func TestWriteGroupMembers(t *testing.T) {
	g, _, _ := describeGroupFixture()
	var buf bytes.Buffer
	writeGroupMembers(&buf, g, false)
	want := "" +
		"GROUP CONSUMER-ID HOST      CLIENT-ID #PARTITIONS\n" +
		"g     a-1         /10.0.0.1 cli-a     1\n" +
		"g     b-2         /10.0.0.2 cli-b     2\n" +
		"g     c-3         /10.0.0.3 cli-c     0\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	buf.Reset()
	a1 := g.Assigned["a-1"]
	a1.Add("audit", 3, 1)
	writeGroupMembers(&buf, g, true)
	want = "" +
		"GROUP CONSUMER-ID HOST      CLIENT-ID #PARTITIONS ASSIGNMENT\n" +
		"g     a-1         /10.0.0.1 cli-a     3           audit(1,3),orders(2)\n" +
		"g     b-2         /10.0.0.2 cli-b     2           orders(0,1)\n" +
		"g     c-3         /10.0.0.3 cli-c     0           -\n"
	if buf.String() != want {
		t.Errorf("verbose: got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestWriteGroupState(t *testing.T) {
	g, _, _ := describeGroupFixture()
	empty := groupInfo{DescribedGroup: kadm.DescribedGroup{Group: "idle-group", State: "Empty",
		Coordinator: kadm.BrokerDetail{NodeID: 1, Host: "localhost", Port: 9092}}}
	var buf bytes.Buffer
	writeGroupState(&buf, []groupInfo{g, empty})
	want := "" +
		"GROUP      COORDINATOR (ID)   ASSIGNMENT-STRATEGY STATE  #MEMBERS\n" +
		"g          127.0.0.1:9093 (2) cooperative-sticky  Stable 3\n" +
		"idle-group localhost:9092 (1) -                   Empty  0\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestNewGroupInfoWithoutAssignment(t *testing.T) {
	gi := newGroupInfo(kadm.DescribedGroup{Group: "g", Members: []kadm.DescribedGroupMember{{MemberID: "m"}}})
	if gi.numPartitions("m") != 0 || gi.Assigned["m"] == nil {
		t.Errorf("got %+v", gi.Assigned)
	}
}

func TestDescribeErrorAndNotes(t *testing.T) {
	tests := []struct {
		g    kadm.DescribedGroup
		want string
	}{
		{kadm.DescribedGroup{Group: "g", State: "Stable"}, ""},
		{kadm.DescribedGroup{Group: "g", State: "Dead", Err: kerr.GroupIDNotFound}, "consumer group 'g' does not exist"},
		{kadm.DescribedGroup{Group: "g", State: "Dead"}, "consumer group 'g' does not exist"},
		{kadm.DescribedGroup{Group: "g", Err: kerr.CoordinatorNotAvailable}, "describing group 'g': " + kerr.CoordinatorNotAvailable.Error()},
	}
	for _, tt := range tests {
		err := describeError(tt.g)
		if got := errString(err); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.g, got, tt.want)
		}
	}
	notes := map[string]string{
		"Stable":              "",
		"Empty":               "Consumer group 'g' has no active members.",
		"PreparingRebalance":  "Warning: Consumer group 'g' is rebalancing.",
		"CompletingRebalance": "Warning: Consumer group 'g' is rebalancing.",
	}
	for state, want := range notes {
		if got := groupStateNote("g", state); got != want {
			t.Errorf("%s: got %q, want %q", state, got, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseTopicPartitions(t *testing.T) {
	tests := []struct {
		in   string
		want topicSelection
		ok   bool
	}{
		{"orders", topicSelection{Topic: "orders"}, true},
		{" orders ", topicSelection{Topic: "orders"}, true},
		{"orders:2,0,1,2", topicSelection{Topic: "orders", Partitions: []int32{0, 1, 2}}, true},
		{"orders: 3", topicSelection{Topic: "orders", Partitions: []int32{3}}, true},
		{"orders:", topicSelection{}, false},
		{"orders:1,,2", topicSelection{}, false},
		{"orders:-1", topicSelection{}, false},
		{"orders:x", topicSelection{}, false},
		{"orders:99999999999", topicSelection{}, false},
		{":1", topicSelection{}, false},
		{"", topicSelection{}, false},
	}
	for _, tt := range tests {
		got, err := parseTopicPartitions(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("%q: err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseDatetime(t *testing.T) {
	loc := time.FixedZone("test", 2*3600)
	utc := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2024-03-01T12:30:45.123", utc("2024-03-01T10:30:45.123Z"), true}, // local zone (+02:00)
		{"2024-03-01T12:30:45", utc("2024-03-01T10:30:45Z"), true},
		{"2024-03-01T12:30:45.123Z", utc("2024-03-01T12:30:45.123Z"), true},
		{"2024-03-01T12:30:45.123+01:00", utc("2024-03-01T11:30:45.123Z"), true},
		{"2024-03-01T12:30:45.123-0530", utc("2024-03-01T18:00:45.123Z"), true},
		{"2024-03-01T12:30:45.123+01", utc("2024-03-01T11:30:45.123Z"), true},
		{"2024-03-01 12:30:45.123", 0, false},
		{"2024-03-01", 0, false},
		{"yesterday", 0, false},
		{"2024-13-01T00:00:00.000", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDatetime(tt.in, loc)
		if (err == nil) != tt.ok {
			t.Errorf("%q: err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err == nil && got.UnixMilli() != tt.want {
			t.Errorf("%q: got %v (%d), want %d", tt.in, got, got.UnixMilli(), tt.want)
		}
	}
}

func i64(v int64) *int64 { return &v }

func TestParseResetRequest(t *testing.T) {
	loc := time.UTC
	tests := []struct {
		name    string
		f       resetFlags
		want    resetRequest
		wantErr string
	}{
		{"earliest topic", resetFlags{topics: []string{"t"}, toEarliest: true},
			resetRequest{Spec: resetSpec{Kind: resetToEarliest}, Topics: []topicSelection{{Topic: "t"}}}, ""},
		{"latest all execute", resetFlags{allTopics: true, toLatest: true, execute: true},
			resetRequest{Spec: resetSpec{Kind: resetToLatest}, AllTopics: true, Execute: true}, ""},
		{"to-offset 0 partitions", resetFlags{topics: []string{"t:1,0", "u"}, toOffset: i64(0), dryRun: true},
			resetRequest{Spec: resetSpec{Kind: resetToOffset}, Topics: []topicSelection{{Topic: "t", Partitions: []int32{0, 1}}, {Topic: "u"}}}, ""},
		{"shift negative", resetFlags{allTopics: true, shiftBy: i64(-3)},
			resetRequest{Spec: resetSpec{Kind: resetShiftBy, Value: -3}, AllTopics: true}, ""},
		{"datetime", resetFlags{allTopics: true, toDatetime: "1970-01-01T00:00:01.500"},
			resetRequest{Spec: resetSpec{Kind: resetToDatetime, Value: 1500}, AllTopics: true}, ""},
		{"no spec", resetFlags{allTopics: true}, resetRequest{}, "exactly one of"},
		{"two specs", resetFlags{allTopics: true, toEarliest: true, shiftBy: i64(1)}, resetRequest{}, "exactly one of"},
		{"negative offset", resetFlags{allTopics: true, toOffset: i64(-1)}, resetRequest{}, "invalid --to-offset"},
		{"bad datetime", resetFlags{allTopics: true, toDatetime: "now"}, resetRequest{}, "invalid --to-datetime"},
		{"no scope", resetFlags{toEarliest: true}, resetRequest{}, "--all-topics"},
		{"both scopes", resetFlags{allTopics: true, topics: []string{"t"}, toEarliest: true}, resetRequest{}, "mutually exclusive"},
		{"dry and execute", resetFlags{allTopics: true, toEarliest: true, dryRun: true, execute: true}, resetRequest{}, "mutually exclusive"},
		{"bad topic", resetFlags{topics: []string{"t:a"}, toEarliest: true}, resetRequest{}, "invalid partition"},
	}
	for _, tt := range tests {
		got, err := parseResetRequest(tt.f, loc)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func listed(topic string, offsets map[int32]int64) map[int32]kadm.ListedOffset {
	m := make(map[int32]kadm.ListedOffset, len(offsets))
	for p, o := range offsets {
		m[p] = kadm.ListedOffset{Topic: topic, Partition: p, Offset: o}
	}
	return m
}

// resetFixture: topic "t" partitions 0..2 with ranges [0,10], [5,20],
// [3,3]; commits t-0 at 4 and t-1 at 18; topic "u" has one partition [0,7].
func resetFixture() resetInputs {
	committed := kadm.OffsetResponses{}
	committed.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "t", Partition: 0, At: 4}})
	committed.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "t", Partition: 1, At: 18}})
	return resetInputs{
		Committed: committed,
		Starts:    kadm.ListedOffsets{"t": listed("t", map[int32]int64{0: 0, 1: 5, 2: 3}), "u": listed("u", map[int32]int64{0: 0})},
		Ends:      kadm.ListedOffsets{"t": listed("t", map[int32]int64{0: 10, 1: 20, 2: 3}), "u": listed("u", map[int32]int64{0: 7})},
		AtTime:    kadm.ListedOffsets{"t": listed("t", map[int32]int64{0: 6, 1: 2, 2: -1})},
	}
}

func planString(plan kadm.Offsets) string {
	var parts []string
	for _, o := range plan.Sorted() {
		parts = append(parts, o.Topic+"-"+itoa(o.Partition)+"="+itoa64(o.At))
	}
	return strings.Join(parts, " ")
}

func itoa(p int32) string   { return strconv.Itoa(int(p)) }
func itoa64(v int64) string { return strconv.FormatInt(v, 10) }

func TestPlanReset(t *testing.T) {
	in := resetFixture()
	all := topicsSet(tps("t", 0, 1, 2))
	tests := []struct {
		name     string
		parts    kadm.TopicsSet
		spec     resetSpec
		want     string
		warnings int
		wantErr  string
	}{
		{"earliest", all, resetSpec{Kind: resetToEarliest}, "t-0=0 t-1=5 t-2=3", 0, ""},
		{"latest", all, resetSpec{Kind: resetToLatest}, "t-0=10 t-1=20 t-2=3", 0, ""},
		{"to-offset clamps both ways", all, resetSpec{Kind: resetToOffset, Value: 7}, "t-0=7 t-1=7 t-2=3", 1, ""},
		{"to-offset below start", topicsSet(tps("t", 1)), resetSpec{Kind: resetToOffset, Value: 1}, "t-1=5", 1, ""},
		{"shift forward clamps", topicsSet(tps("t", 0, 1)), resetSpec{Kind: resetShiftBy, Value: 5}, "t-0=9 t-1=20", 1, ""},
		{"shift back clamps", topicsSet(tps("t", 0, 1)), resetSpec{Kind: resetShiftBy, Value: -14}, "t-0=0 t-1=5", 2, ""},
		{"shift needs commit", all, resetSpec{Kind: resetShiftBy, Value: 1}, "", 0, "no committed offset"},
		{"datetime", all, resetSpec{Kind: resetToDatetime, Value: 1}, "t-0=6 t-1=5 t-2=3", 1, ""},
		{"missing listing", topicsSet(tps("t", 9)), resetSpec{Kind: resetToEarliest}, "", 0, "no offset listed for t-9"},
	}
	for _, tt := range tests {
		plan, warnings, err := planReset(tt.parts, tt.spec, in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := planString(plan); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
		if len(warnings) != tt.warnings {
			t.Errorf("%s: warnings %q, want %d", tt.name, warnings, tt.warnings)
		}
		for _, o := range plan.Sorted() {
			if o.LeaderEpoch != -1 {
				t.Errorf("%s: leader epoch %d, want -1", tt.name, o.LeaderEpoch)
			}
		}
	}
	_, warnings, _ := planReset(topicsSet(tps("t", 1)), resetSpec{Kind: resetToOffset, Value: 1}, in)
	if want := "New offset (1) is lower than earliest offset for topic partition t-1. Value will be set to 5"; warnings[0] != want {
		t.Errorf("warning %q, want %q", warnings[0], want)
	}
}

func TestResetPartitions(t *testing.T) {
	in := resetFixture()
	in.Ends["gone"] = map[int32]kadm.ListedOffset{-1: {Topic: "gone", Partition: -1, Err: kerr.UnknownTopicOrPartition}}
	tests := []struct {
		name    string
		req     resetRequest
		want    string
		wantErr string
	}{
		{"all topics = committed", resetRequest{AllTopics: true}, "t-0 t-1", ""},
		{"whole topics", resetRequest{Topics: []topicSelection{{Topic: "t"}, {Topic: "u"}}}, "t-0 t-1 t-2 u-0", ""},
		{"some partitions", resetRequest{Topics: []topicSelection{{Topic: "t", Partitions: []int32{2}}}}, "t-2", ""},
		{"unknown partition", resetRequest{Topics: []topicSelection{{Topic: "t", Partitions: []int32{3}}}}, "", "partition t-3 does not exist"},
		{"unknown topic", resetRequest{Topics: []topicSelection{{Topic: "gone"}}}, "", "topic 'gone' does not exist"},
		{"unlisted topic", resetRequest{Topics: []topicSelection{{Topic: "nope"}}}, "", "topic 'nope' does not exist"},
	}
	for _, tt := range tests {
		set, err := resetPartitions(tt.req, in.Committed, in.Ends)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var got []string
		set.Each(func(topic string, p int32) { got = append(got, topic+"-"+itoa(p)) })
		sort.Strings(got)
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: got %v, want %s", tt.name, got, tt.want)
		}
	}
}

func TestResettable(t *testing.T) {
	tests := []struct {
		g  kadm.DescribedGroup
		ok bool
	}{
		{kadm.DescribedGroup{Group: "g", State: "Empty"}, true},
		{kadm.DescribedGroup{Group: "g", State: "Dead", Err: kerr.GroupIDNotFound}, true},
		{kadm.DescribedGroup{Group: "g", State: "Dead"}, true},
		{kadm.DescribedGroup{Group: "g", State: "Stable", Members: []kadm.DescribedGroupMember{{MemberID: "m"}}}, false},
		{kadm.DescribedGroup{Group: "g", State: "PreparingRebalance"}, false},
		{kadm.DescribedGroup{Group: "g", Err: kerr.CoordinatorNotAvailable}, false},
	}
	for _, tt := range tests {
		err := resettable(tt.g)
		if (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok=%v", tt.g, err, tt.ok)
		}
	}
	err := resettable(kadm.DescribedGroup{Group: "g", State: "Stable", Members: []kadm.DescribedGroupMember{{MemberID: "m"}}})
	if !strings.Contains(err.Error(), "'g'") || !strings.Contains(err.Error(), "Stable with 1 active member") {
		t.Errorf("message: %v", err)
	}
}

func TestWriteResetPlan(t *testing.T) {
	plan := kadm.Offsets{}
	plan.Add(kadm.Offset{Topic: "t", Partition: 10, At: 1234})
	plan.Add(kadm.Offset{Topic: "t", Partition: 2, At: 0})
	plan.Add(kadm.Offset{Topic: "a-topic", Partition: 0, At: 5})
	var buf bytes.Buffer
	writeResetPlan(&buf, "my-group", plan)
	want := "" +
		"GROUP    TOPIC   PARTITION NEW-OFFSET\n" +
		"my-group a-topic 0         5\n" +
		"my-group t       2         0\n" +
		"my-group t       10        1234\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestCommitErrors(t *testing.T) {
	resps := kadm.OffsetResponses{}
	resps.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "t", Partition: 0, At: 3}})
	if err := commitErrors("g", resps); err != nil {
		t.Errorf("ok commit: %v", err)
	}
	resps.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: "t", Partition: 1, At: 4}, Err: kerr.UnknownMemberID})
	err := commitErrors("g", resps)
	if !errors.Is(err, kerr.UnknownMemberID) || !strings.Contains(err.Error(), "t-1") {
		t.Errorf("failed commit: %v", err)
	}
}

func TestWriteDeleteResult(t *testing.T) {
	resps := kadm.DeleteGroupResponses{
		"a": {Group: "a"},
		"b": {Group: "b", Err: kerr.NonEmptyGroup},
		"c": {Group: "c"},
		"d": {Group: "d", Err: kerr.GroupIDNotFound},
	}
	var buf bytes.Buffer
	err := writeDeleteResult(&buf, []string{"a", "b", "c", "d", "e", "a"}, resps)
	if got, want := buf.String(), "Deletion of requested consumer groups ('a', 'c') was successful.\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if !errors.Is(err, kerr.NonEmptyGroup) || !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"group 'b' could not be deleted: NON_EMPTY_GROUP", "group 'd'", "group 'e'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err %q lacks %q", err, want)
		}
	}
	buf.Reset()
	if err := writeDeleteResult(&buf, []string{"a"}, resps); err != nil || buf.Len() == 0 {
		t.Errorf("all ok: err %v, output %q", err, buf.String())
	}
	buf.Reset()
	if err := writeDeleteResult(&buf, []string{"b"}, resps); err == nil || buf.Len() != 0 {
		t.Errorf("all failed: err %v, output %q", err, buf.String())
	}
}

func TestGroupConsumerOpts(t *testing.T) {
	tests := []struct {
		name string
		o    consumeOpts
		ok   bool
	}{
		{"plain", consumeOpts{group: "g", offset: -1, partition: -1}, true},
		{"from beginning", consumeOpts{group: "g", offset: -1, partition: -1, fromBeginning: true}, true},
		{"partition", consumeOpts{group: "g", offset: -1, partition: 0}, false},
		{"offset", consumeOpts{group: "g", offset: 5, partition: -1}, false},
		{"both", consumeOpts{group: "g", offset: 5, partition: 1}, false},
	}
	for _, tt := range tests {
		opts, err := groupConsumerOpts("t", tt.o)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err == nil && len(opts) != 4 { // group, topics, reset offset, commit marks
			t.Errorf("%s: %d opts", tt.name, len(opts))
		}
		if err != nil && !strings.Contains(err.Error(), "--group cannot be used with --partition or --offset") {
			t.Errorf("%s: message %q", tt.name, err)
		}
	}
}
