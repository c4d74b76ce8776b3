package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestParseReassignJSON(t *testing.T) {
	good := `{"version":1,"partitions":[{"topic":"t","partition":1,"replicas":[3,1],"log_dirs":["any","any"]},{"topic":"t","partition":0,"replicas":[1,2]}]}`
	es, err := parseReassignJSON([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].name() != "t-1" || !slices.Equal(es[0].Replicas, []int32{3, 1}) {
		t.Errorf("parsed %+v", es)
	}
	for _, bad := range []string{
		`{"version":2,"partitions":[{"topic":"t","partition":0,"replicas":[1]}]}`,
		`{"version":1,"partitions":[]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[]}]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}`,
		`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["/data"]}]}`,
		`{"version":1,"partitions":[{"topic":"","partition":0,"replicas":[1]}]}`,
		`not json`,
	} {
		if _, err := parseReassignJSON([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestParseTopicsToMove(t *testing.T) {
	ts, err := parseTopicsToMove([]byte(`{"topics":[{"topic":"b"},{"topic":"a"}],"version":1}`))
	if err != nil || !slices.Equal(ts, []string{"a", "b"}) {
		t.Errorf("got %v %v", ts, err)
	}
	for _, bad := range []string{`{"topics":[],"version":1}`, `{"topics":[{"topic":"a"},{"topic":"a"}],"version":1}`, `{"topics":[{"topic":"a"}]}`} {
		if _, err := parseTopicsToMove([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestFormatReassignJSON(t *testing.T) {
	got := formatReassignJSON([]reassignEntry{{Topic: "t", Partition: 1, Replicas: []int32{2, 3}}, {Topic: "t", Partition: 0, Replicas: []int32{1}}})
	want := `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["any"]},{"topic":"t","partition":1,"replicas":[2,3],"log_dirs":["any","any"]}]}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := formatReassignJSON(nil); got != `{"version":1,"partitions":[]}` {
		t.Errorf("empty: %s", got)
	}
	es, err := parseReassignJSON([]byte(want))
	if err != nil || formatReassignJSON(es) != want {
		t.Errorf("round trip: %v %v", es, err)
	}
}

func TestParseBrokerList(t *testing.T) {
	if ids, err := parseBrokerList(" 3,1,2 "); err != nil || !slices.Equal(ids, []int32{3, 1, 2}) {
		t.Errorf("got %v %v", ids, err)
	}
	for _, bad := range []string{"", "1,1", "a", "-1"} {
		if _, err := parseBrokerList(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestRackAlternated(t *testing.T) {
	got := rackAlternated(map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c"})
	if want := []int32{1, 3, 5, 2, 4}; !slices.Equal(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestStripe(t *testing.T) {
	parts := []int32{0, 1, 2, 3, 4, 5}
	rfs := []int{3, 3, 3, 3, 3, 3}
	got, err := stripe(noRacks(1, 2, 3), parts, rfs)
	if err != nil {
		t.Fatal(err)
	}
	// Leaders round-robin; the follower distance shifts after a round.
	want := [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 3, 2}, {2, 1, 3}, {3, 2, 1}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("partition %d: %v want %v", i, got[i], want[i])
		}
	}
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}
	got, err = stripe(racks, []int32{0, 1, 2, 3, 4, 5, 6, 7}, []int{2, 2, 2, 2, 2, 2, 2, 2})
	if err != nil {
		t.Fatal(err)
	}
	count := map[int32]int{}
	for i, rs := range got {
		if spreadOf(racks, rs) != 2 {
			t.Errorf("partition %d: %v on one rack", i, rs)
		}
		for _, r := range rs {
			count[r]++
		}
	}
	for _, id := range []int32{1, 2, 3, 4} {
		if count[id] != 4 {
			t.Errorf("broker %d holds %d replicas, want 4 (%v)", id, count[id], got)
		}
	}
	if _, err := stripe(noRacks(1, 2), []int32{0}, []int{3}); err == nil {
		t.Error("RF 3 on 2 brokers accepted")
	}
	if got, err := stripe(noRacks(7), []int32{0, 1}, []int{1, 1}); err != nil || !slices.Equal(got[1], []int32{7}) {
		t.Errorf("one broker: %v %v", got, err)
	}
}

func TestGenerateRacks(t *testing.T) {
	live := map[int32]string{1: "a", 2: "b", 3: ""}
	if _, err := generateRacks(live, []int32{1, 2, 3}, true); err == nil {
		t.Error("mixed racks accepted without --disable-rack-aware")
	}
	if r, err := generateRacks(live, []int32{1, 2, 3}, false); err != nil || r[1] != "" {
		t.Errorf("rack-unaware: %v %v", r, err)
	}
	if _, err := generateRacks(live, []int32{1, 9}, false); err == nil {
		t.Error("unknown broker accepted")
	}
}

func TestMergeThrottleList(t *testing.T) {
	for _, c := range []struct{ existing, want string }{
		{"", "0:1,1:2"},
		{"*", "*"},
		{"1:2,5:9", "0:1,1:2,5:9"},
		{"garbage", "0:1,1:2,garbage"},
	} {
		if got := mergeThrottleList(c.existing, []throttlePair{{1, 2}, {0, 1}}); got != c.want {
			t.Errorf("merge into %q: %q, want %q", c.existing, got, c.want)
		}
	}
}

func TestPlanThrottles(t *testing.T) {
	tp := planThrottles([]planMove{
		{Topic: "t", Partition: 0, From: []int32{1, 2, 3}, To: []int32{4, 2, 3}},
		{Topic: "t", Partition: 1, From: []int32{2, 3, 1}, To: []int32{3, 2, 1}}, // reorder only
		{Topic: "u", Partition: 2, From: []int32{1, 2}, To: []int32{5, 6}},
	})
	if !slices.Equal(tp.brokers, []int32{1, 2, 3, 4, 5, 6}) || !slices.Equal(tp.topics(), []string{"t", "u"}) {
		t.Errorf("brokers %v topics %v", tp.brokers, tp.topics())
	}
	if got := mergeThrottleList("", tp.leader["t"]); got != "0:1,0:2,0:3" {
		t.Errorf("leader list of t: %s", got)
	}
	if got := mergeThrottleList("", tp.follower["u"]); got != "2:5,2:6" {
		t.Errorf("follower list of u: %s", got)
	}
}

// reassignFixture is the fixed data of the reassign goldens.
func reassignFixture() (current, target []reassignEntry) {
	current = []reassignEntry{
		{Topic: "orders", Partition: 1, Replicas: []int32{2, 3, 1}},
		{Topic: "orders", Partition: 0, Replicas: []int32{1, 2, 3}},
		{Topic: "audit", Partition: 0, Replicas: []int32{3, 1}},
	}
	target = []reassignEntry{
		{Topic: "orders", Partition: 0, Replicas: []int32{4, 2, 3}},
		{Topic: "orders", Partition: 1, Replicas: []int32{2, 3, 4}},
		{Topic: "audit", Partition: 0, Replicas: []int32{3, 4}},
	}
	return current, target
}

func TestReassignGenerateGolden(t *testing.T) {
	current, _ := reassignFixture()
	proposed, err := proposeAssignment(current, map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	writeGenerate(&buf, current, proposed)
	checkGolden(t, "reassign_generate.golden", buf.Bytes())
}

func TestReassignExecuteGolden(t *testing.T) {
	current, target := reassignFixture()
	var buf bytes.Buffer
	writeRollback(&buf, current)
	writeThrottleSet(&buf, 10000000)
	sortEntries(target)
	writeStarted(&buf, target)
	checkGolden(t, "reassign_execute.golden", buf.Bytes())
}

func TestReassignVerifyGolden(t *testing.T) {
	_, target := reassignFixture()
	states := []reassignState{
		{entry: target[0], current: []int32{4, 2, 3, 1}, inProgress: true},
		{entry: target[1], current: []int32{2, 3, 4}},
		{entry: target[2], current: []int32{3, 1}},
	}
	var buf bytes.Buffer
	writeVerify(&buf, states)
	checkGolden(t, "reassign_verify.golden", buf.Bytes())
}

func TestReassignCancelGolden(t *testing.T) {
	_, target := reassignFixture()
	sortEntries(target)
	var buf bytes.Buffer
	writeCancelled(&buf, target[1:])
	writeCancelled(&buf, target[:1])
	checkGolden(t, "reassign_cancel.golden", buf.Bytes())
}

func TestReassignCommandsRegistered(t *testing.T) {
	for _, path := range [][]string{
		{"reassign", "generate"}, {"reassign", "execute"}, {"reassign", "verify"}, {"reassign", "cancel"},
		{"cluster", "rebalance"}, {"broker", "drain"}, {"broker", "cordon"}, {"broker", "uncordon"}, {"broker", "unregister"},
	} {
		cmd, rest, err := rootCmd.Find(path)
		if err != nil || len(rest) != 0 || cmd.Name() != path[1] {
			t.Errorf("fjord %s not registered: %v %v", strings.Join(path, " "), rest, err)
		}
	}
}
