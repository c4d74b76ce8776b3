package console

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// testSnap builds a snapshot of brokers and one topic "t" whose partition
// i has leader leaders[i] and ISR isrs[i] (replicas 1, 2, 3).
func testSnap(at time.Time, controller int32, brokers []int32, leaders []int32, isrs [][]int32) *snapshot {
	sn := &snapshot{at: at, meta: kadm.Metadata{Controller: controller, Topics: kadm.TopicDetails{}}}
	for _, id := range brokers {
		sn.meta.Brokers = append(sn.meta.Brokers, kadm.BrokerDetail{NodeID: id})
	}
	td := kadm.TopicDetail{Topic: "t", Partitions: kadm.PartitionDetails{}}
	for i, l := range leaders {
		td.Partitions[int32(i)] = kadm.PartitionDetail{Topic: "t", Partition: int32(i), Leader: l, Replicas: []int32{1, 2, 3}, ISR: isrs[i]}
	}
	sn.meta.Topics["t"] = td
	return sn
}

func TestDiffSnapshotsFailover(t *testing.T) {
	t0 := time.Unix(1000, 0)
	full := []int32{1, 2, 3}
	a := testSnap(t0, 1, []int32{1, 2, 3}, []int32{1, 2, 1}, [][]int32{full, full, full})
	b := testSnap(t0.Add(time.Second), 2, []int32{2, 3}, []int32{2, 2, 3}, [][]int32{{2, 3}, {2, 3}, {2, 3}})
	b.meta.Topics["new"] = kadm.TopicDetail{Topic: "new", Partitions: kadm.PartitionDetails{}}
	var texts []string
	for _, e := range diffSnapshots(a, b) {
		if !e.At.Equal(b.at) {
			t.Errorf("event %q stamped %v, want the later snapshot's time", e.Text, e.At)
		}
		texts = append(texts, e.Kind+": "+e.Text)
	}
	got := strings.Join(texts, "\n")
	for _, want := range []string{
		"broker: broker 1 is down or fenced",
		"controller: active controller 1 → 2",
		"topic: topic new created (0 partitions)",
		"leader: leader 1 → 2: t-0",
		"leader: leader 1 → 3: t-2",
		"isr: ISR shrank, without 1: t-0, t-1, t-2",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("events lack %q; got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "t-1, t-1") || strings.Contains(got, "leader 2 → 2") {
		t.Errorf("unexpected events:\n%s", got)
	}
}

func TestDiffSnapshotsAggregates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	n := 20
	leaders, moved, isrs := make([]int32, n), make([]int32, n), make([][]int32, n)
	for i := range n {
		leaders[i], moved[i], isrs[i] = 1, 3, []int32{1, 2, 3}
	}
	a := testSnap(t0, 1, []int32{1, 2, 3}, leaders, isrs)
	b := testSnap(t0.Add(time.Second), 1, []int32{1, 2, 3}, moved, isrs)
	evs := diffSnapshots(a, b)
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Text, fmt.Sprintf("leader 1 → 3: %d partitions (t-0, t-1, t-2, t-3, t-4, t-5, …)", n)) {
		t.Errorf("20 leader moves: %+v", evs)
	}
}

func TestEventLog(t *testing.T) {
	t0 := time.Unix(1000, 0)
	full := []int32{1, 2, 3}
	l := newEventLog(2)
	l.observe(testSnap(t0, 1, full, []int32{1}, [][]int32{full}))
	l.observe(testSnap(t0.Add(time.Second), 2, full, []int32{2}, [][]int32{full}))
	l.observe(testSnap(t0.Add(2*time.Second), 3, full, []int32{3}, [][]int32{full}))
	got := l.recent(10)
	if len(got) != 2 || got[0].Text != "leader 2 → 3: t-0" || got[1].Text != "active controller 2 → 3" {
		t.Errorf("recent = %+v", got)
	}
	l.observe(testSnap(t0, 9, full, []int32{1}, [][]int32{full})) // older than the last: ignored
	if got := l.recent(10); got[0].Text != "leader 2 → 3: t-0" {
		t.Errorf("an older snapshot made events: %+v", got)
	}
	l.observe(testSnap(t0.Add(3*time.Second), 3, full, []int32{3}, [][]int32{full}))
	if got := l.recent(10); got[0].Text != "leader 2 → 3: t-0" {
		t.Errorf("the older snapshot became the one compared with: %+v", got)
	}
}
