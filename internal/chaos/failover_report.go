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
	ClientTimeouts bool           `json:"client_timeouts,omitempty"`
	IntervalMs     int64          `json:"produce_interval_ms"` // between two records to one partition
	PollMs         int64          `json:"metadata_poll_ms"`    // between two Metadata requests to one node
	CreateMs       int64          `json:"create_ms"`           // CreateTopics until every partition has a full ISR
	Faults         []*FaultResult `json:"faults"`
	Err            string         `json:"error,omitempty"` // why the bench stopped early
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

	SendErrors int64  `json:"send_errors"` // records that failed for good during the run
	Err        string `json:"error,omitempty"`
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
	if slices.ContainsFunc(runs, func(r FailoverRun) bool { return r.Fault == "kill-controller" }) {
		ms = append(ms,
			metric{"new active controller seen", func(r FailoverRun) int64 { return r.NewControllerMs }},
			metric{"new controller serves", func(r FailoverRun) int64 { return r.ServesMs }},
		)
	}
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
	if r.Fault == "kill-controller" {
		fmt.Fprintf(&b, " | new controller %d seen %s, serves %s", r.NewController, ms(r.NewControllerMs), ms(r.ServesMs))
	}
	if r.SendErrors > 0 {
		fmt.Fprintf(&b, " | %d send errors", r.SendErrors)
	}
	if r.Err != "" {
		fmt.Fprintf(&b, " | error: %s", r.Err)
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
