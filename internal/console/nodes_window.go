package console

// The canary's unavailability windows, computed by a pure core: the
// canary producer (nodes_canary.go) feeds it sends, acks and failures with
// their times, and the node panel asks it, at a time it gives, for the
// windows open then, the closed ones and the windows that followed each
// panel action. Nothing here reads a clock or starts a goroutine.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// canaryWindow is one stall of one canary partition: from the last ack
// before it (or the first send, if nothing was acked yet) to the first
// ack after it. End is the time asked about while the window is open.
type canaryWindow struct {
	Partition int32     `json:"partition"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Open      bool      `json:"open"`
	Failed    int       `json:"failed"` // records that failed within it
}

// Duration is how long the partition saw no ack.
func (w canaryWindow) Duration() time.Duration { return w.End.Sub(w.Start) }

// Text describes the window in one line.
func (w canaryWindow) Text() string {
	s := fmt.Sprintf("partition %d: no ack for %s", w.Partition, seconds(w.Duration()))
	if !w.Open {
		s = fmt.Sprintf("partition %d: no ack for %s, from %s to %s", w.Partition, seconds(w.Duration()),
			clockMillis(w.Start), clockMillis(w.End))
	}
	if w.Failed > 0 {
		s += fmt.Sprintf(", %d %s failed", w.Failed, plural(w.Failed, "record", "records"))
	}
	return s
}

// nodeActionRecord is one action taken from the node panel.
type nodeActionRecord struct {
	At     time.Time  `json:"at"`
	Node   int32      `json:"node"`
	Action NodeAction `json:"action"`
}

// actionSummary is an action with the windows that followed it.
type actionSummary struct {
	nodeActionRecord
	Partitions int            `json:"partitions"` // canary partitions at the time asked
	Windows    []canaryWindow `json:"windows"`
}

// partTrack is one partition's progress.
type partTrack struct {
	lastAck   time.Time   // zero before the first ack
	firstSend time.Time   // the baseline before the first ack
	pending   []time.Time // send times of records neither acked nor failed
	failed    int         // records failed since lastAck
}

// base is where a stall of the partition starts.
func (p *partTrack) base() time.Time {
	if p.lastAck.IsZero() {
		return p.firstSend
	}
	return p.lastAck
}

// stalled reports whether the partition is in a window at now: a record
// failed since the last ack, or one has waited longer than threshold
// since it was sent and since the last ack (records queued during a
// stall are acked together when it ends: their wait was that window).
func (p *partTrack) stalled(now time.Time, threshold time.Duration) bool {
	if p.failed > 0 {
		return true
	}
	if len(p.pending) == 0 {
		return false
	}
	waiting := p.pending[0]
	if p.lastAck.After(waiting) {
		waiting = p.lastAck
	}
	return now.Sub(waiting) > threshold
}

// removePending drops one pending record sent at sentAt.
func (p *partTrack) removePending(sentAt time.Time) {
	if i := slices.IndexFunc(p.pending, sentAt.Equal); i >= 0 {
		p.pending = slices.Delete(p.pending, i, i+1)
	}
}

// windowTracker turns canary events into unavailability windows. A window
// counts when a record waits longer than threshold for its ack (three
// send intervals) or fails; it lasts from the last ack before it to the
// first ack after it. Waiting for a record the sender did not send yet is
// no window: a slow sender is not an unavailable cluster. Not safe for
// concurrent use; its owner locks.
type windowTracker struct {
	threshold time.Duration
	// slack and horizon attach a window to an action: the window starts
	// at most slack before the action (its last ack came just before it)
	// and at most horizon after it, and ends after it.
	slack, horizon time.Duration
	maxClosed      int
	maxActions     int
	parts          map[int32]*partTrack
	closed         []canaryWindow // oldest first
	actions        []nodeActionRecord
}

func newWindowTracker(threshold time.Duration) *windowTracker {
	return &windowTracker{threshold: threshold, slack: time.Second, horizon: 5 * time.Second,
		maxClosed: 500, maxActions: 50, parts: map[int32]*partTrack{}}
}

func (t *windowTracker) part(p int32) *partTrack {
	if t.parts[p] == nil {
		t.parts[p] = &partTrack{}
	}
	return t.parts[p]
}

// setPartitions declares the canary's partitions 0..n-1.
func (t *windowTracker) setPartitions(n int) {
	for p := range int32(n) {
		t.part(p)
	}
}

// partitions returns how many partitions the canary writes to.
func (t *windowTracker) partitions() int { return len(t.parts) }

// inFlight returns how many records of partition p await their outcome.
func (t *windowTracker) inFlight(p int32) int { return len(t.part(p).pending) }

// sent records a record sent to p at at.
func (t *windowTracker) sent(p int32, at time.Time) {
	pt := t.part(p)
	if pt.firstSend.IsZero() {
		pt.firstSend = at
	}
	pt.pending = append(pt.pending, at)
}

// acked records the ack at at of the record sent to p at sentAt. It
// returns the window the ack closes, if any.
func (t *windowTracker) acked(p int32, sentAt, at time.Time) (canaryWindow, bool) {
	pt := t.part(p)
	w := canaryWindow{Partition: p, Start: pt.base(), End: at, Failed: pt.failed}
	stalled := pt.stalled(at, t.threshold) && !w.Start.IsZero() && at.After(w.Start)
	pt.removePending(sentAt)
	if at.After(pt.lastAck) {
		pt.lastAck = at
	}
	pt.failed = 0
	if !stalled {
		return canaryWindow{}, false
	}
	t.closed = append(t.closed, w)
	if over := len(t.closed) - t.maxClosed; over > 0 {
		t.closed = slices.Delete(t.closed, 0, over)
	}
	return w, true
}

// failed records that the record sent to p at sentAt failed: it opens a
// window (or extends the open one) until the next ack.
func (t *windowTracker) failed(p int32, sentAt time.Time) {
	pt := t.part(p)
	pt.removePending(sentAt)
	pt.failed++
}

// dropPending counts every record awaiting its outcome as failed: their
// producer is gone. The window they open lasts until the next ack.
func (t *windowTracker) dropPending() {
	for _, pt := range t.parts {
		pt.failed += len(pt.pending)
		pt.pending = nil
	}
}

// action records a panel action.
func (t *windowTracker) action(at time.Time, node int32, a NodeAction) {
	t.actions = append(t.actions, nodeActionRecord{At: at, Node: node, Action: a})
	if over := len(t.actions) - t.maxActions; over > 0 {
		t.actions = slices.Delete(t.actions, 0, over)
	}
}

// open returns the windows open at now, by partition.
func (t *windowTracker) open(now time.Time) []canaryWindow {
	out := []canaryWindow{}
	for p, pt := range t.parts {
		if pt.stalled(now, t.threshold) {
			out = append(out, canaryWindow{Partition: p, Start: pt.base(), End: now, Open: true, Failed: pt.failed})
		}
	}
	slices.SortFunc(out, func(a, b canaryWindow) int { return int(a.Partition - b.Partition) })
	return out
}

// recentClosed returns up to n closed windows, newest first.
func (t *windowTracker) recentClosed(n int) []canaryWindow {
	out := make([]canaryWindow, 0, min(n, len(t.closed)))
	for i := len(t.closed) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, t.closed[i])
	}
	return out
}

// summaries returns up to n actions, newest first, each with the closed
// and open (at now) windows attached to it: a window belongs to the
// latest action it starts at most slack before and at most horizon after,
// and that happened before the window ended.
func (t *windowTracker) summaries(now time.Time, n int) []actionSummary {
	all := make([]actionSummary, len(t.actions))
	for i, a := range t.actions {
		all[i] = actionSummary{nodeActionRecord: a, Partitions: len(t.parts), Windows: []canaryWindow{}}
	}
	for _, w := range append(slices.Clone(t.closed), t.open(now)...) {
		if i := t.attachTo(w); i >= 0 {
			all[i].Windows = append(all[i].Windows, w)
		}
	}
	out := make([]actionSummary, 0, min(n, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
		slices.SortFunc(all[i].Windows, func(a, b canaryWindow) int { return int(a.Partition - b.Partition) })
		out = append(out, all[i])
	}
	return out
}

// attachTo returns the index of the action w belongs to, or -1.
func (t *windowTracker) attachTo(w canaryWindow) int {
	for i := len(t.actions) - 1; i >= 0; i-- {
		a := t.actions[i]
		if w.Start.Before(a.At.Add(-t.slack)) {
			continue // began before this action: maybe an earlier one's
		}
		if w.Start.After(a.At.Add(t.horizon)) || w.End.Before(a.At) {
			return -1
		}
		return i
	}
	return -1
}

// Text is the action's line on the panel: "kill node 2 at 12:00:01.234 —
// producers to 1 of 3 partitions waited 1.23 s at most (p1: 1.23 s), 0
// records failed".
func (a actionSummary) Text() string {
	head := fmt.Sprintf("%s node %d at %s — ", a.Action, a.Node, clockMillis(a.At))
	if len(a.Windows) == 0 {
		return head + "producers saw no stall"
	}
	worst, failed, open := time.Duration(0), 0, false
	per := map[int32]time.Duration{}
	for _, w := range a.Windows {
		worst = max(worst, w.Duration())
		per[w.Partition] = max(per[w.Partition], w.Duration())
		failed += w.Failed
		open = open || w.Open
	}
	ps := make([]string, 0, len(per))
	for _, p := range slices.Sorted(maps.Keys(per)) {
		ps = append(ps, fmt.Sprintf("p%d: %s", p, seconds(per[p])))
	}
	verb := "waited %s at most"
	if open {
		verb = "have waited %s so far"
	}
	return head + fmt.Sprintf("producers to %d of %d %s "+verb+" (%s), %d %s failed",
		len(per), a.Partitions, plural(a.Partitions, "partition", "partitions"), seconds(worst),
		strings.Join(ps, ", "), failed, plural(failed, "record", "records"))
}

// seconds formats d as "1.23 s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// clockMillis formats t as UTC "15:04:05.000".
func clockMillis(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
