package chaos

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// Report is the outcome of one run, written as JSON. The history and the
// nodes' log tails are kept only when the run is not valid.
type Report struct {
	Seed     uint64 `json:"seed"`
	Profile  string `json:"config"`
	MustLose bool   `json:"canary"`
	// ReadsAborted: the canary must be caught reading aborted records
	// (the txn-uncommitted config) rather than losing writes.
	ReadsAborted bool              `json:"canary_reads_aborted,omitempty"`
	Nodes        int               `json:"nodes"`
	Netns        bool              `json:"netns,omitempty"`
	Proxy        bool              `json:"proxy,omitempty"`
	Secure       bool              `json:"secure,omitempty"`
	Txn          bool              `json:"transactions,omitempty"` // the transactional workload ran
	Duration     string            `json:"duration"`
	Faults       []string          `json:"faults"`
	Dir          string            `json:"dir,omitempty"` // the nodes' data and logs, kept for a failed run
	Result       Result            `json:"result"`
	Final        Final             `json:"final"`
	Recovery     []Recovery        `json:"recovery"`
	History      []Op              `json:"history,omitempty"`
	NodeLogs     map[string]string `json:"node_logs,omitempty"`
	HarnessOK    bool              `json:"harness_ok"`
}

// Recovery is one injected fault and how long the cluster took to
// acknowledge a produce (with the profile's acks) on every
// partition afterwards; -1 if it never did before the run ended.
type Recovery struct {
	Fault      string `json:"fault"`
	Target     string `json:"target"`
	At         int64  `json:"at_ms"` // when the injection completed
	RecoveryMs int64  `json:"recovery_ms"`
	Err        string `json:"err,omitempty"`
}

func newReport(cfg Config, dir string) *Report {
	r := &Report{Seed: cfg.Seed, Profile: cfg.Profile.Name, MustLose: cfg.Profile.MustLose,
		ReadsAborted: cfg.Profile.ReadUncommitted, Nodes: cfg.Nodes, Duration: cfg.Duration.String(), Dir: dir}
	for _, f := range cfg.Faults {
		r.Faults = append(r.Faults, f.Name())
	}
	return r
}

// fill sets the result, recovery times and, for a failed run, the
// history and node logs.
func (r *Report) fill(ops []Op, res Result, fin Final, c *Cluster) {
	r.Result, r.Final, r.HarnessOK = res, fin, true
	for _, op := range ops {
		if op.Kind == KindFault {
			r.Recovery = append(r.Recovery, Recovery{Fault: op.Fault, Target: op.Target, At: op.End,
				RecoveryMs: recoveryTime(ops, op.End), Err: op.Err})
		}
	}
	if !res.Valid {
		r.History = ops
		r.NodeLogs = map[string]string{}
		for _, nd := range c.Nodes {
			r.NodeLogs[fmt.Sprint(nd.ID)] = nd.Tail(200)
		}
	}
}

// recoveryTime is the time from t to the first acknowledged send started
// at or after t, on the slowest partition; -1 if a partition has none.
func recoveryTime(ops []Op, t int64) int64 {
	first := map[int32]int64{}
	parts := map[int32]bool{}
	for _, op := range ops {
		if op.Kind != KindSend {
			continue
		}
		parts[op.Partition] = true
		if op.Outcome == OK && op.Start >= t {
			if f, ok := first[op.Partition]; !ok || op.End < f {
				first[op.Partition] = op.End
			}
		}
	}
	worst := int64(0)
	for p := range parts {
		f, ok := first[p]
		if !ok {
			return -1
		}
		worst = max(worst, f-t)
	}
	return worst
}

// Passed says whether the run did what its profile demands: no violation
// for a safe profile, some loss (or, for txn-uncommitted, aborted reads)
// for a canary.
func (r *Report) Passed() bool {
	if r.MustLose {
		return r.Caught()
	}
	return r.Result.Valid
}

// Caught says whether the checker found what a canary must make it find.
func (r *Report) Caught() bool {
	if r.ReadsAborted {
		return r.Result.Counts[TxnAbortedRead] > 0
	}
	return r.Lost()
}

// Lost says whether the checker found lost or overwritten writes (or
// lost committed transactions).
func (r *Report) Lost() bool {
	c := r.Result.Counts
	return c[LostWrite]+c[Unseen]+c[InconsistentOffset]+c[TxnLost] > 0
}

// Summary is a human-readable account of the run.
func (r *Report) Summary() string {
	var b strings.Builder
	verdict := "VALID"
	if !r.Result.Valid {
		verdict = "VIOLATIONS"
	}
	where := ""
	if r.Netns {
		where = " in netns"
	}
	if r.Proxy {
		where = " behind proxies"
	}
	if r.Secure {
		where += " over SASL_SSL"
	}
	if r.Txn {
		where += " with transactions"
	}
	fmt.Fprintf(&b, "seed %d config %s, %d nodes%s, %s, faults %s: %s", r.Seed, r.Profile, r.Nodes, where, r.Duration,
		strings.Join(r.Faults, ","), verdict)
	if r.MustLose {
		what := "loss"
		if r.ReadsAborted {
			what = "aborted reads"
		}
		fmt.Fprintf(&b, " (canary: %s %s)", what, map[bool]string{true: "seen, as expected", false: "NOT seen"}[r.Caught()])
	}
	fmt.Fprintf(&b, "\n  sends ok %d / fail %d / info %d, records read %d\n",
		r.Result.SendsOK, r.Result.SendsFail, r.Result.SendsInfo, r.Result.Reads)
	if r.Txn {
		fmt.Fprintf(&b, "  transactions committed %d / aborted %d / info %d\n",
			r.Result.TxnCommitted, r.Result.TxnAborted, r.Result.TxnInfo)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Result.Counts)) {
		fmt.Fprintf(&b, "  %-20s %d\n", k, r.Result.Counts[k])
	}
	for i, a := range r.Result.Examples {
		if i == 10 {
			fmt.Fprintf(&b, "  ... %d more examples in the report\n", len(r.Result.Examples)-10)
			break
		}
		fmt.Fprintf(&b, "  e.g. %s p%d offset %d %s %s\n", a.Kind, a.Partition, a.Offset, a.Value, a.Detail)
	}
	for _, rc := range r.Recovery {
		fmt.Fprintf(&b, "  fault %-18s at %6.1fs on %s: recovered in %d ms %s\n", rc.Fault, float64(rc.At)/1000, rc.Target, rc.RecoveryMs, rc.Err)
	}
	if r.Final.Liveness != "" {
		fmt.Fprintf(&b, "  liveness: %s\n", r.Final.Liveness)
	}
	if r.Dir != "" {
		fmt.Fprintf(&b, "  node data and logs kept in %s\n", r.Dir)
	}
	return b.String()
}

// WriteJSON writes reports to path as a JSON array.
func WriteJSON(path string, reports []*Report) error {
	b, err := json.MarshalIndent(reports, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
