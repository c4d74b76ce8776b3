package console

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ms is the tests' clock: n milliseconds after 00:16:40 UTC.
func ms(n int) time.Time { return time.Unix(1000, 0).Add(time.Duration(n) * time.Millisecond) }

// steady sends to p every 50 ms from..to (exclusive) with a 5 ms ack.
func steady(tr *windowTracker, p int32, from, to int) {
	for at := from; at < to; at += 50 {
		tr.sent(p, ms(at))
		if w, ok := tr.acked(p, ms(at), ms(at+5)); ok {
			panic("steady traffic closed a window: " + w.Text())
		}
	}
}

func TestWindowTrackerSteadyTrafficHasNoWindow(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.setPartitions(3)
	for p := range int32(3) {
		steady(tr, p, 0, 2000)
	}
	if open := tr.open(ms(2010)); len(open) != 0 {
		t.Errorf("open windows in steady traffic: %+v", open)
	}
	if c := tr.recentClosed(10); len(c) != 0 {
		t.Errorf("closed windows in steady traffic: %+v", c)
	}
}

func TestWindowTrackerStall(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.setPartitions(3)
	steady(tr, 1, 0, 1000) // last ack at 955
	for _, at := range []int{1000, 1050, 1100} {
		tr.sent(1, ms(at))
	}
	if open := tr.open(ms(1140)); len(open) != 0 {
		t.Errorf("a record pending 140 ms is a window already: %+v", open)
	}
	open := tr.open(ms(1755))
	if len(open) != 1 || open[0].Partition != 1 || !open[0].Start.Equal(ms(955)) || !open[0].Open {
		t.Fatalf("open at 1755 = %+v, want partition 1 from 955", open)
	}
	if got := open[0].Text(); got != "partition 1: no ack for 0.80 s" {
		t.Errorf("open text = %q", got)
	}
	if tr.inFlight(1) != 3 {
		t.Errorf("in flight = %d, want 3", tr.inFlight(1))
	}
	w, ok := tr.acked(1, ms(1000), ms(2185))
	if !ok || !w.Start.Equal(ms(955)) || !w.End.Equal(ms(2185)) || w.Duration() != 1230*time.Millisecond || w.Open {
		t.Fatalf("closing ack: %+v %v", w, ok)
	}
	if got := w.Text(); got != "partition 1: no ack for 1.23 s, from 00:16:40.955 to 00:16:42.185" {
		t.Errorf("closed text = %q", got)
	}
	if _, ok := tr.acked(1, ms(1050), ms(2186)); ok {
		t.Error("the second ack after the stall closed another window")
	}
	if open := tr.open(ms(2190)); len(open) != 0 {
		t.Errorf("open after the stall: %+v", open)
	}
}

func TestWindowTrackerFailureOpensAWindow(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.setPartitions(1)
	steady(tr, 0, 0, 500) // last ack at 455
	tr.sent(0, ms(500))
	tr.failed(0, ms(500))
	open := tr.open(ms(520))
	if len(open) != 1 || open[0].Failed != 1 {
		t.Fatalf("a failed record opens a window at once: %+v", open)
	}
	if got := open[0].Text(); got != "partition 0: no ack for 0.07 s, 1 record failed" {
		t.Errorf("text = %q", got)
	}
	tr.sent(0, ms(550))
	w, ok := tr.acked(0, ms(550), ms(560))
	if !ok || w.Failed != 1 || !w.Start.Equal(ms(455)) {
		t.Errorf("the next ack closes the window with its failure: %+v %v", w, ok)
	}
}

// TestWindowTrackerSlowSenderIsNoWindow: a gap in acks while nothing was
// in flight is the sender's, not the cluster's.
func TestWindowTrackerSlowSenderIsNoWindow(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.setPartitions(1)
	steady(tr, 0, 0, 100)
	if open := tr.open(ms(900)); len(open) != 0 {
		t.Errorf("open with nothing in flight: %+v", open)
	}
	tr.sent(0, ms(900))
	if _, ok := tr.acked(0, ms(900), ms(910)); ok {
		t.Error("a quick ack after an idle sender closed a window")
	}
}

// TestWindowTrackerBeforeFirstAck: before any ack, a stall counts from
// the first send.
func TestWindowTrackerBeforeFirstAck(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.sent(0, ms(0))
	w, ok := tr.acked(0, ms(0), ms(700))
	if !ok || !w.Start.Equal(ms(0)) || w.Duration() != 700*time.Millisecond {
		t.Errorf("first ack after 700 ms: %+v %v", w, ok)
	}
}

// stall makes partition p stall from its last ack to ackAt.
func stall(tr *windowTracker, p int32, from, ackAt int) {
	steady(tr, p, from, from+100) // last ack at from+55
	tr.sent(p, ms(from+100))
	tr.acked(p, ms(from+100), ms(ackAt))
}

func TestWindowTrackerAttachesWindowsToActions(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.setPartitions(3)
	tr.action(ms(1000), 2, ActionKill)
	stall(tr, 1, 900, 2185) // from 955: 45 ms before the kill
	stall(tr, 2, 1500, 1905)
	stall(tr, 0, 7000, 7400) // from 7055: past the horizon
	tr.action(ms(10000), 3, ActionPause)
	stall(tr, 0, 8000, 9000)   // ended before the pause: no one's
	steady(tr, 2, 9400, 10000) // last ack at 9955
	tr.sent(2, ms(10000))      // open at now
	sums := tr.summaries(ms(10655), 10)
	if len(sums) != 2 || sums[0].Action != ActionPause || sums[1].Action != ActionKill {
		t.Fatalf("summaries = %+v", sums)
	}
	kill, pause := sums[1], sums[0]
	if len(kill.Windows) != 2 || kill.Windows[0].Partition != 1 || kill.Windows[1].Partition != 2 {
		t.Errorf("kill's windows = %+v", kill.Windows)
	}
	want := "kill node 2 at 00:16:41.000 — producers to 2 of 3 partitions waited 1.23 s at most (p1: 1.23 s, p2: 0.35 s), 0 records failed"
	if got := kill.Text(); got != want {
		t.Errorf("kill text\n got %q\nwant %q", got, want)
	}
	if len(pause.Windows) != 1 || !pause.Windows[0].Open {
		t.Fatalf("pause's windows = %+v", pause.Windows)
	}
	want = "pause node 3 at 00:16:50.000 — producers to 1 of 3 partitions have waited 0.70 s so far (p2: 0.70 s), 0 records failed"
	if got := pause.Text(); got != want {
		t.Errorf("pause text\n got %q\nwant %q", got, want)
	}
	if got := tr.summaries(ms(10655), 1); len(got) != 1 || got[0].Action != ActionPause {
		t.Errorf("summaries(1) = %+v", got)
	}
}

func TestActionSummaryWithoutWindows(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.setPartitions(1)
	tr.action(ms(0), 1, ActionStop)
	steady(tr, 0, 0, 1000)
	sums := tr.summaries(ms(1000), 5)
	if len(sums) != 1 || !strings.HasSuffix(sums[0].Text(), "— producers saw no stall") {
		t.Errorf("summaries = %+v", sums)
	}
}

func TestWindowTrackerBounds(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.maxClosed, tr.maxActions = 3, 2
	for i := range 5 {
		tr.action(ms(i*1000), int32(i), ActionKill)
		stall(tr, 0, i*1000, i*1000+500)
	}
	if c := tr.recentClosed(10); len(c) != 3 || !c[0].End.Equal(ms(4500)) {
		t.Errorf("closed = %+v", c)
	}
	if s := tr.summaries(ms(5000), 10); len(s) != 2 || s[0].Node != 4 || s[1].Node != 3 {
		t.Errorf("actions = %+v", s)
	}
}

func TestCanaryAssignment(t *testing.T) {
	for _, c := range []struct {
		ids  []int32
		want string
	}{
		{[]int32{1}, "[[1]]"},
		{[]int32{1, 2}, "[[1 2] [2 1]]"},
		{[]int32{1, 2, 3}, "[[1 2 3] [2 3 1] [3 1 2]]"},
		{[]int32{1, 2, 3, 4}, "[[1 2 3] [2 3 4] [3 4 1] [4 1 2]]"},
	} {
		if got := fmt.Sprint(canaryAssignment(c.ids)); got != c.want {
			t.Errorf("canaryAssignment(%v) = %s, want %s", c.ids, got, c.want)
		}
	}
	nodes := []NodeStatus{{ID: 1, State: "running"}, {ID: 2, State: "stopped"}, {ID: 3, State: "paused"}}
	if !allRunningRegistered(nodes, []int32{1, 3}) || allRunningRegistered(nodes, []int32{1, 2}) {
		t.Error("allRunningRegistered: stopped nodes are not waited for, paused ones are")
	}
}

func TestWindowTrackerDropPending(t *testing.T) {
	tr := newWindowTracker(150 * time.Millisecond)
	tr.setPartitions(2)
	steady(tr, 0, 0, 100) // last ack at 55
	tr.sent(0, ms(100))
	tr.sent(0, ms(150))
	tr.dropPending()
	if tr.inFlight(0) != 0 {
		t.Fatalf("in flight after drop: %d", tr.inFlight(0))
	}
	open := tr.open(ms(200))
	if len(open) != 1 || open[0].Partition != 0 || open[0].Failed != 2 {
		t.Fatalf("open after drop = %+v", open)
	}
	tr.sent(0, ms(300))
	if w, ok := tr.acked(0, ms(300), ms(310)); !ok || w.Failed != 2 || !w.Start.Equal(ms(55)) {
		t.Errorf("the next ack: %+v %v", w, ok)
	}
}
