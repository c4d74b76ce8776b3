package chaos

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// FailoverReport is what `fjord bench failover` measured: the cluster's
// shape and, per fault, every run and the summary over them. Times are
// milliseconds.
type FailoverReport struct {
	Nodes      int      `json:"nodes"`
	Partitions int      `json:"partitions"`
	RF         int      `json:"replication_factor"`
	Overrides  []string `json:"config,omitempty"`
	Netns      bool     `json:"netns,omitempty"`
	// ClientTimeouts: the load client was left to notice a paused or
	// cut-off victim by its own timeouts (FailoverConfig.ClientTimeouts).
	ClientTimeouts bool  `json:"client_timeouts,omitempty"`
	IntervalMs     int64 `json:"produce_interval_ms"` // between two records to one partition
	PollMs         int64 `json:"metadata_poll_ms"`    // between two Metadata requests to one node
	// The topic's creation, in ms after the CreateTopics request was sent
	// (-1: not reached): until it returned (the first attempt's send to
	// the successful one's response, should the harness have to retry),
	// until every partition has a leader in a node's Metadata and an
	// acknowledged write of the load (started as CreateTopics returns),
	// and until every partition has a full ISR in a node's Metadata.
	CreateReturnMs   int64          `json:"create_return_ms"`
	CreateWritableMs int64          `json:"create_led_and_written_ms"`
	CreateMs         int64          `json:"create_ms"`
	Faults           []*FaultResult `json:"faults"`
	Err              string         `json:"error,omitempty"` // why the bench stopped early
}

// FaultResult is one fault's runs and their summary.
type FaultResult struct {
	Fault   string        `json:"fault"`
	Runs    []FailoverRun `json:"runs"`
	Summary []SummaryRow  `json:"summary"`
}

// FailoverRun is one injection of a fault. A partition's window is the
// time from the fault to the first acknowledged (acks=all) write of a
// record sent at or after the fault. The partitions are classed by the
// victim's role just before the fault: led (it was the leader), followed
// (it was a follower in the ISR: acks=all waits for it until it leaves the
// ISR) and all.
type FailoverRun struct {
	Run        int    `json:"run"`
	Fault      string `json:"fault"`
	Victim     int32  `json:"victim"`
	Controller int32  `json:"controller"` // the active controller before the fault
	Partitions int    `json:"partitions"`
	Led        int    `json:"led"`
	Followed   int    `json:"followed"`

	LedWindow      WindowStats `json:"led_window_ms"`
	FollowedWindow WindowStats `json:"followed_window_ms"`
	AllWindow      WindowStats `json:"all_window_ms"`

	// FenceMs: fault → the first survivor whose Metadata shows the victim
	// fenced (gone from the brokers) or no longer leading any partition.
	// AppliedMs: fault → the last survivor whose Metadata shows it fenced
	// and leading nothing. SpreadMs = AppliedMs - FenceMs. -1: not seen.
	// WrittenMs: the fence → the last partition the victim led took an
	// acknowledged write (its new leader had applied the change), -1 if
	// one never did. Metadata shows a change before every partition has
	// acted on it, so WrittenMs >= SpreadMs.
	FenceMs   int64       `json:"fence_ms"`
	AppliedMs int64       `json:"applied_ms"`
	SpreadMs  int64       `json:"applied_spread_ms"`
	WrittenMs int64       `json:"fence_to_led_written_ms"`
	Nodes     []NodeTimes `json:"nodes"`

	// kill-controller only: fault → a survivor's Metadata names a live
	// active controller (NewController), and → the first CreateTopics
	// that a controller committed (ServesMs). -1: not seen.
	NewController   int32 `json:"new_controller,omitempty"`
	NewControllerMs int64 `json:"new_controller_ms,omitempty"`
	ServesMs        int64 `json:"controller_serves_ms,omitempty"`

	// NewLeaders: how many of the partitions the victim led each survivor
	// leads when the fault is measured (every led partition written
	// again, or the bound), as the first survivor that answers shows it.
	// ShareSpreadPct = (max - min) / mean of those counts * 100, rounded
	// (0 for one survivor); -1 when the victim led nothing or no survivor
	// answered.
	NewLeaders     []LeaderCount `json:"new_leaders,omitempty"`
	ShareSpreadPct int64         `json:"share_spread_pct"`

	// After the victim is restarted (kill-broker, kill-controller) or
	// healed (resumed, reconnected), in ms from the restart or heal (-1:
	// not measured or not within the bound): RestartISRMs → every node
	// shows every ISR full; RestartPreferredMs → every node shows the
	// victim leading again each of the Preferred partitions whose first
	// replica it is (the harness asks for a preferred election of every
	// partition of the topic once the ISRs are full, as an operator would
	// with kafka-leader-election). NotPreferred counts the partitions not
	// led by their preferred replica when the run ends (after Settle; -1:
	// the nodes' metadata differed).
	RestartISRMs       int64        `json:"restart_to_full_isr_ms"`
	RestartPreferredMs int64        `json:"restart_to_preferred_ms"`
	Preferred          int          `json:"victim_preferred"`
	NotPreferred       int          `json:"not_preferred_after"`
	Settle             *SettleStats `json:"settle_after_restart,omitempty"` // --settle

	SendErrors int64  `json:"send_errors"` // records that failed for good during the run
	Err        string `json:"error,omitempty"`
}

// LeaderCount is how many partitions a node leads.
type LeaderCount struct {
	Node       int32 `json:"node"`
	Partitions int   `json:"partitions"`
}

// SettleStats is what every node's Metadata showed while the harness
// watched the cluster for FailoverConfig.Settle after the victim was back
// (full ISRs, preferred leaders elected). The events are transitions from
// good to bad, counted per node's view and summed over the nodes.
type SettleStats struct {
	Ms            int64 `json:"ms"`             // how long it watched
	Fences        int   `json:"fences"`         // a broker gone from a node's brokers
	Leaderless    int   `json:"leaderless"`     // every partition led → some partition without a leader
	MaxLeaderless int   `json:"max_leaderless"` // the most leaderless partitions in one response
	Shrinks       int   `json:"isr_shrinks"`    // every ISR full → some ISR smaller than the replication factor
	Errors        int   `json:"errors"`         // Metadata requests that failed or lacked partitions
}

// add folds another node's counts into s.
func (s *SettleStats) add(o SettleStats) {
	s.Fences += o.Fences
	s.Leaderless += o.Leaderless
	s.MaxLeaderless = max(s.MaxLeaderless, o.MaxLeaderless)
	s.Shrinks += o.Shrinks
	s.Errors += o.Errors
}

// newLeaders counts, per survivor, the partitions it leads in leaders (by
// partition) among those the victim led (class 'l').
func newLeaders(class []byte, leaders []int32, survivors []int32) []LeaderCount {
	out := make([]LeaderCount, len(survivors))
	for i, id := range survivors {
		out[i].Node = id
	}
	for p, l := range leaders {
		if p >= len(class) || class[p] != 'l' {
			continue
		}
		if i := slices.Index(survivors, l); i >= 0 {
			out[i].Partitions++
		}
	}
	return out
}

// shareSpread is (max - min) / mean * 100 of the counts, rounded: 0 for
// one count, -1 for none or a zero mean.
func shareSpread(counts []LeaderCount) int64 {
	if len(counts) == 0 {
		return -1
	}
	lo, hi, sum := counts[0].Partitions, counts[0].Partitions, 0
	for _, c := range counts {
		lo, hi, sum = min(lo, c.Partitions), max(hi, c.Partitions), sum+c.Partitions
	}
	if sum == 0 {
		return -1
	}
	mean := float64(sum) / float64(len(counts))
	return int64(math.Round(float64(hi-lo) / mean * 100))
}

// afterWord names how the victim comes back after fault.
func afterWord(fault string) string {
	switch fault {
	case "pause-broker":
		return "resume"
	case "isolate-broker":
		return "heal"
	}
	return "restart"
}

// NodeTimes is what one survivor's Metadata showed, in ms after the fault
// (-1: never within the bound).
type NodeTimes struct {
	Node       int32 `json:"node"`
	FencedMs   int64 `json:"fenced_ms"`
	AppliedMs  int64 `json:"applied_ms"`
	Controller int32 `json:"controller"` // the last active controller it named
}

// WindowStats summarises the windows of a class of partitions, in ms.
// Missing counts the partitions without an acknowledged write within the
// bound; the percentiles are over the others (nearest rank).
type WindowStats struct {
	N       int   `json:"n"`
	Missing int   `json:"missing"`
	P50     int64 `json:"p50"`
	P99     int64 `json:"p99"`
	Max     int64 `json:"max"`
}

// windowStats summarises windows (negative: missing).
func windowStats(ws []time.Duration) WindowStats {
	s := WindowStats{N: len(ws)}
	var got []time.Duration
	for _, w := range ws {
		if w < 0 {
			s.Missing++
			continue
		}
		got = append(got, w)
	}
	if len(got) == 0 {
		s.P50, s.P99, s.Max = -1, -1, -1
		return s
	}
	slices.Sort(got)
	s.P50 = percentile(got, 0.50).Milliseconds()
	s.P99 = percentile(got, 0.99).Milliseconds()
	s.Max = got[len(got)-1].Milliseconds()
	return s
}

// percentile is the nearest-rank q-quantile (0 < q <= 1) of sorted, which
// must not be empty.
func percentile[T int64 | time.Duration](sorted []T, q float64) T {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// median is the median of xs (the mean of the middle two for an even
// count); xs need not be sorted and must not be empty.
func median(xs []int64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return float64(s[n/2-1]+s[n/2]) / 2
}

// SummaryRow is one metric over a fault's runs: its median and maximum
// over the runs where it was measured (N of them).
type SummaryRow struct {
	Metric string  `json:"metric"`
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Max    int64   `json:"max"`
}

// summarise builds the rows of a fault's table. A value of -1 (not
// measured) is left out of its row; a row with no value is omitted.
func summarise(runs []FailoverRun) []SummaryRow {
	type metric struct {
		name string
		get  func(r FailoverRun) int64
	}
	stats := func(class string, get func(r FailoverRun) WindowStats) []metric {
		return []metric{
			{class + " window p50", func(r FailoverRun) int64 { return get(r).P50 }},
			{class + " window p99", func(r FailoverRun) int64 { return get(r).P99 }},
			{class + " window max", func(r FailoverRun) int64 { return get(r).Max }},
			{class + " not recovered", func(r FailoverRun) int64 { return int64(get(r).Missing) }},
		}
	}
	ms := []metric{
		{"partitions led by the victim", func(r FailoverRun) int64 { return int64(r.Led) }},
		{"partitions it followed (ISR)", func(r FailoverRun) int64 { return int64(r.Followed) }},
	}
	ms = append(ms, stats("led", func(r FailoverRun) WindowStats { return r.LedWindow })...)
	ms = append(ms, stats("followed", func(r FailoverRun) WindowStats { return r.FollowedWindow })...)
	ms = append(ms, stats("all", func(r FailoverRun) WindowStats { return r.AllWindow })...)
	ms = append(ms,
		metric{"fence seen (fault → first node)", func(r FailoverRun) int64 { return r.FenceMs }},
		metric{"fence → metadata on all survivors", func(r FailoverRun) int64 { return r.SpreadMs }},
		metric{"fence → every led partition written", func(r FailoverRun) int64 { return r.WrittenMs }},
	)
	ms = append(ms, metric{"new leaders: share spread %", func(r FailoverRun) int64 { return r.ShareSpreadPct }})
	if slices.ContainsFunc(runs, func(r FailoverRun) bool { return r.Fault == "kill-controller" }) {
		ms = append(ms,
			metric{"new active controller seen", func(r FailoverRun) int64 { return r.NewControllerMs }},
			metric{"new controller serves", func(r FailoverRun) int64 { return r.ServesMs }},
		)
	}
	after := "restart"
	if len(runs) > 0 {
		after = afterWord(runs[0].Fault)
	}
	settle := func(get func(s *SettleStats) int) func(r FailoverRun) int64 {
		return func(r FailoverRun) int64 {
			if r.Settle == nil {
				return -1
			}
			return int64(get(r.Settle))
		}
	}
	ms = append(ms,
		metric{after + " → full ISRs", func(r FailoverRun) int64 { return r.RestartISRMs }},
		metric{after + " → preferred leaders back", func(r FailoverRun) int64 { return r.RestartPreferredMs }},
		metric{"not led by the preferred replica", func(r FailoverRun) int64 { return int64(r.NotPreferred) }},
		metric{"fences after " + after, settle(func(s *SettleStats) int { return s.Fences })},
		metric{"leaderless events after " + after, settle(func(s *SettleStats) int { return s.Leaderless })},
		metric{"max leaderless after " + after, settle(func(s *SettleStats) int { return s.MaxLeaderless })},
		metric{"ISR shrinks after " + after, settle(func(s *SettleStats) int { return s.Shrinks })},
	)
	var rows []SummaryRow
	for _, m := range ms {
		var xs []int64
		for _, r := range runs {
			if v := m.get(r); v >= 0 {
				xs = append(xs, v)
			}
		}
		if len(xs) == 0 {
			continue
		}
		rows = append(rows, SummaryRow{Metric: m.name, N: len(xs), Median: median(xs), Max: slices.Max(xs)})
	}
	return rows
}

// Line is the run's one-line account.
func (r FailoverRun) Line(of int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s run %d/%d: node %d (controller %d) led %d, followed %d of %d", r.Fault, r.Run, of,
		r.Victim, r.Controller, r.Led, r.Followed, r.Partitions)
	for _, c := range []struct {
		name string
		s    WindowStats
	}{{"led", r.LedWindow}, {"followed", r.FollowedWindow}, {"all", r.AllWindow}} {
		if c.s.N == 0 {
			continue
		}
		fmt.Fprintf(&b, " | %s p50 %s p99 %s max %s", c.name, ms(c.s.P50), ms(c.s.P99), ms(c.s.Max))
		if c.s.Missing > 0 {
			fmt.Fprintf(&b, " (%d NOT recovered)", c.s.Missing)
		}
	}
	fmt.Fprintf(&b, " | fence seen %s", ms(r.FenceMs))
	if r.SpreadMs >= 0 {
		fmt.Fprintf(&b, ", in every survivor's metadata %s later", ms(r.SpreadMs))
	} else {
		b.WriteString(", NOT in every survivor's metadata")
	}
	if r.WrittenMs >= 0 {
		fmt.Fprintf(&b, ", every led partition written %s later", ms(r.WrittenMs))
	}
	b.WriteString(r.leadersText())
	if r.Fault == "kill-controller" {
		fmt.Fprintf(&b, " | new controller %d seen %s, serves %s", r.NewController, ms(r.NewControllerMs), ms(r.ServesMs))
	}
	b.WriteString(r.recoveryText())
	if r.SendErrors > 0 {
		fmt.Fprintf(&b, " | %d send errors", r.SendErrors)
	}
	if r.Err != "" {
		fmt.Fprintf(&b, " | error: %s", r.Err)
	}
	return b.String()
}

// leadersText is the run's new leaders of the victim's partitions for
// Line ("" if not measured).
func (r FailoverRun) leadersText() string {
	if len(r.NewLeaders) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" | new leaders")
	moved := 0
	for _, c := range r.NewLeaders {
		fmt.Fprintf(&b, " %d:%d", c.Node, c.Partitions)
		moved += c.Partitions
	}
	if r.ShareSpreadPct >= 0 {
		fmt.Fprintf(&b, " (spread %d%%)", r.ShareSpreadPct)
	}
	if moved < r.Led {
		fmt.Fprintf(&b, " (%d NOT moved)", r.Led-moved)
	}
	return b.String()
}

// recoveryText is what followed the victim's restart or heal for Line
// ("" if it was not measured).
func (r FailoverRun) recoveryText() string {
	if r.RestartISRMs < 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, " | %s → full ISRs %s, its %d preferred leaderships back %s", afterWord(r.Fault), ms(r.RestartISRMs),
		r.Preferred, ms(r.RestartPreferredMs))
	switch {
	case r.NotPreferred > 0:
		fmt.Fprintf(&b, " (%d NOT led by the preferred replica at the end)", r.NotPreferred)
	case r.NotPreferred < 0:
		b.WriteString(" (preferred leaders at the end unknown)")
	}
	if s := r.Settle; s != nil {
		fmt.Fprintf(&b, " | settle %v: %d fences, %d leaderless events (max %d partitions), %d ISR shrinks",
			(time.Duration(s.Ms) * time.Millisecond).Round(100*time.Millisecond), s.Fences, s.Leaderless, s.MaxLeaderless, s.Shrinks)
		if s.Errors > 0 {
			fmt.Fprintf(&b, ", %d metadata errors", s.Errors)
		}
	}
	return b.String()
}

// ms formats a millisecond value, "-" for -1 (not seen).
func ms(v int64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprintf("%d ms", v)
}

// WriteText writes the per-fault tables (the runs' lines are printed as
// they finish, see FailoverConfig.OnRun).
func (rep *FailoverReport) WriteText(w io.Writer) {
	if rep.CreateReturnMs >= 0 {
		fmt.Fprintf(w, "\ntopic %s created: CreateTopics returned %s, every partition led and written %s, full ISRs %s after it was sent\n",
			failoverTopic, ms(rep.CreateReturnMs), ms(rep.CreateWritableMs), ms(rep.CreateMs))
	}
	for _, f := range rep.Faults {
		fmt.Fprintf(w, "\n%s: %d runs, %d partitions RF=%d on %d nodes (ms unless a count; median and max over the runs)\n",
			f.Fault, len(f.Runs), rep.Partitions, rep.RF, rep.Nodes)
		fmt.Fprintf(w, "  %-38s %5s %9s %9s\n", "", "runs", "median", "max")
		for _, row := range f.Summary {
			fmt.Fprintf(w, "  %-38s %5d %9s %9d\n", row.Metric, row.N, trimFloat(row.Median), row.Max)
		}
	}
	if rep.Err != "" {
		fmt.Fprintf(w, "\nstopped early: %s\n", rep.Err)
	}
}

func trimFloat(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.1f", f)
}

// Unrecovered counts the runs in which some partition never took an
// acknowledged write again within the bound, or that failed.
func (rep *FailoverReport) Unrecovered() int {
	n := 0
	for _, f := range rep.Faults {
		for _, r := range f.Runs {
			if r.AllWindow.Missing > 0 || r.Err != "" {
				n++
			}
		}
	}
	return n
}
