package chaos

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Anomaly kinds the checker reports. All but the informational ones
// (DupNonIdempotent) are violations.
const (
	LostWrite          = "lost-write"          // committed (acknowledged or read), missing from the final read though later offsets are there
	Unseen             = "unseen"              // committed, missing from the final read, beyond its end
	DuplicateWrite     = "duplicate"           // a value at 2+ offsets with idempotence on
	DupNonIdempotent   = "duplicate-retry"     // the same without idempotence: allowed, counted
	InconsistentOffset = "inconsistent-offset" // an offset holds 2+ values
	AbortedRead        = "aborted-read"        // a definitely failed send was read
	NonMonotonicPoll   = "nonmonotonic-poll"   // a consumer session read an offset again or went back
	PollSkip           = "poll-skip"           // a consumer session skipped offsets
	NonMonotonicSend   = "nonmonotonic-send"   // a producer's later send landed lower
	CommitRegression   = "commit-regression"   // the final committed offset is below an acknowledged commit
	CommitBeyondEnd    = "commit-beyond-end"   // the final committed offset is above the log end
	NoLiveness         = "liveness"            // not healthy again within the bound after healing
	SplitLeader        = "split-leader"        // two nodes named as leader in one leader epoch (I8)
	EpochRegression    = "epoch-regression"    // a node's view of a leader epoch went back (I8)
	FaultCheck         = "fault-check"         // a fault saw an invariant broken itself (Violation)

	// Transactions (checker_txn.go).
	TxnPartial     = "txn-partial"      // some but not all records of one transaction visible read_committed at the end
	TxnAbortedRead = "txn-aborted-read" // a record of an aborted transaction read read_committed
	TxnLost        = "txn-lost"         // a committed (acknowledged, or read read_committed) transaction not visible at all at the end
)

// maxExamples bounds the anomalies of each kind listed in a Result.
const maxExamples = 20

// Anomaly is one violation (or informational finding).
type Anomaly struct {
	Kind      string `json:"kind"`
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
	Value     string `json:"v,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// Final is what the runner observed after healing and draining.
type Final struct {
	Committed map[int32]int64 `json:"committed,omitempty"` // the group's committed offsets
	End       map[int32]int64 `json:"end,omitempty"`       // log end offsets at the drain
	Stable    map[int32]int64 `json:"stable,omitempty"`    // last stable offsets at the read_committed drain (transactions)
	Liveness  string          `json:"liveness,omitempty"`  // "" if healthy in time
}

// Result is the checker's verdict.
type Result struct {
	Valid     bool           `json:"valid"`
	Counts    map[string]int `json:"counts"` // per anomaly kind
	Examples  []Anomaly      `json:"examples,omitempty"`
	SendsOK   int            `json:"sends_ok"`
	SendsFail int            `json:"sends_fail"`
	SendsInfo int            `json:"sends_info"`
	Reads     int            `json:"reads"`
	// Transactions by outcome: committed, aborted, indefinite.
	TxnCommitted int `json:"txn_committed,omitempty"`
	TxnAborted   int `json:"txn_aborted,omitempty"`
	TxnInfo      int `json:"txn_info,omitempty"`
}

// checker holds the indexes one Check builds.
type checker struct {
	res     *Result
	sends   map[string]Op                       // value -> its send
	tsends  map[string]Op                       // value -> its send in a transaction
	txns    map[txnKey]*txnState                // transactions
	rcDrain bool                                // the history has a read_committed drain
	at      map[int32]map[int64]map[string]bool // partition -> offset -> values read or acknowledged there
	seen    map[string]map[int64]bool           // value -> offsets it was read at
	final   map[string]bool                     // values read by the drain (by any poll if there was no drain)
	bound   map[int32]int64                     // partition -> highest offset of the final read
	idemp   bool
	perKind map[string]int
}

// Check checks a history (see the package doc for the checks). idempotent
// says whether the producers were idempotent: only then are duplicates and
// reordered sends violations.
func Check(ops []Op, idempotent bool, fin Final) Result {
	c := &checker{res: &Result{Counts: map[string]int{}}, sends: map[string]Op{},
		tsends: map[string]Op{}, txns: map[txnKey]*txnState{},
		at: map[int32]map[int64]map[string]bool{}, seen: map[string]map[int64]bool{},
		final: map[string]bool{}, bound: map[int32]int64{}, idemp: idempotent, perKind: map[string]int{}}
	c.index(ops)
	c.indexFinal(ops)
	c.indexTxns(ops)
	c.checkOffsets()
	c.checkWrites()
	c.checkPolls(ops)
	c.checkSendOrder(ops)
	c.checkCommits(ops, fin)
	c.checkCommittedReads(ops)
	c.checkLeaders(ops)
	c.checkTxns()
	for _, op := range ops {
		if op.Violation != "" {
			c.add(Anomaly{Kind: FaultCheck, Partition: -1, Offset: -1, Detail: op.Fault + ": " + op.Violation})
		}
	}
	if fin.Liveness != "" {
		c.add(Anomaly{Kind: NoLiveness, Partition: -1, Detail: fin.Liveness})
	}
	c.res.Valid = true
	for k, n := range c.res.Counts {
		if n > 0 && k != DupNonIdempotent {
			c.res.Valid = false
		}
	}
	return *c.res
}

func (c *checker) add(a Anomaly) {
	c.res.Counts[a.Kind]++
	if c.perKind[a.Kind] < maxExamples {
		c.perKind[a.Kind]++
		c.res.Examples = append(c.res.Examples, a)
	}
}

// index records every send and every value read at each offset; a
// transaction marker counts at its offset as "control:commit" or
// "control:abort".
func (c *checker) index(ops []Op) {
	for _, op := range ops {
		switch {
		case op.Kind == KindTxnSend:
			c.tsends[op.Value] = op
			if op.Outcome == OK {
				c.put(op.Partition, op.Offset, op.Value)
			}
		case op.Kind == KindSend:
			c.sends[op.Value] = op
			switch op.Outcome {
			case OK:
				c.res.SendsOK++
				c.put(op.Partition, op.Offset, op.Value)
			case Fail:
				c.res.SendsFail++
			default:
				c.res.SendsInfo++
			}
		case op.Kind == KindPoll && op.Outcome == OK:
			for _, r := range op.Reads {
				if r.Control != "" {
					c.put(r.Partition, r.Offset, "control:"+r.Control)
					continue
				}
				c.res.Reads++
				c.put(r.Partition, r.Offset, r.Value)
				if c.seen[r.Value] == nil {
					c.seen[r.Value] = map[int64]bool{}
				}
				c.seen[r.Value][r.Offset] = true
			}
		}
	}
}

// indexFinal indexes the final read: the drain's polls, or every poll if
// the history has no drain.
func (c *checker) indexFinal(ops []Op) {
	drained := slices.ContainsFunc(ops, func(op Op) bool { return op.Drain })
	for _, op := range ops {
		if op.Kind != KindPoll || op.Outcome != OK || (drained && !op.Drain) {
			continue
		}
		for _, r := range op.Reads {
			if r.Control == "" {
				c.final[r.Value] = true
			}
			if b, ok := c.bound[r.Partition]; !ok || r.Offset > b {
				c.bound[r.Partition] = r.Offset
			}
		}
	}
}

func (c *checker) put(p int32, off int64, v string) {
	if c.at[p] == nil {
		c.at[p] = map[int64]map[string]bool{}
	}
	if c.at[p][off] == nil {
		c.at[p][off] = map[string]bool{}
	}
	c.at[p][off][v] = true
}

// checkOffsets finds offsets with several values and values at several
// offsets.
func (c *checker) checkOffsets() {
	for _, p := range slices.Sorted(maps.Keys(c.at)) {
		for _, off := range slices.Sorted(maps.Keys(c.at[p])) {
			if vs := c.at[p][off]; len(vs) > 1 {
				c.add(Anomaly{Kind: InconsistentOffset, Partition: p, Offset: off,
					Detail: fmt.Sprintf("values %v", slices.Sorted(maps.Keys(vs)))})
			}
		}
	}
	for _, v := range slices.Sorted(maps.Keys(c.seen)) {
		offs := c.seen[v]
		s, ok := c.sends[v]
		_, txn := ParseTxnValue(v)
		if txn {
			s, ok = c.tsends[v]
		}
		if ok && s.Outcome == OK {
			offs = maps.Clone(offs)
			offs[s.Offset] = true
		}
		if len(offs) > 1 {
			kind := DuplicateWrite
			if !c.idemp && !txn { // a transactional producer is idempotent
				kind = DupNonIdempotent
			}
			c.add(Anomaly{Kind: kind, Partition: s.Partition, Value: v,
				Detail: fmt.Sprintf("at offsets %v", slices.Sorted(maps.Keys(offs)))})
		}
	}
}

// checkWrites finds committed writes missing from the final read, and
// definitely failed sends that were read. A write is committed if its send
// was acknowledged or any poll read it (consumers read only below the high
// watermark). A missing write at or below the final read's highest offset
// is lost; one above it is unseen (the log ends before it).
func (c *checker) checkWrites() {
	for _, v := range slices.Sorted(maps.Keys(c.sends)) {
		s := c.sends[v]
		_, read := c.seen[v]
		if s.Outcome == Fail && read {
			c.add(Anomaly{Kind: AbortedRead, Partition: s.Partition, Offset: -1, Value: v, Detail: s.Err})
		}
		if (s.Outcome != OK && !read) || c.final[v] {
			continue
		}
		off, detail := s.Offset, ""
		if s.Outcome != OK || read {
			for o := range c.seen[v] {
				off, detail = o, "read earlier at this offset"
			}
		}
		kind := Unseen
		if b, ok := c.bound[s.Partition]; ok && off <= b {
			kind = LostWrite
		}
		c.add(Anomaly{Kind: kind, Partition: s.Partition, Offset: off, Value: v, Detail: detail})
	}
}

// checkPolls checks that, within one consumer session, each partition's
// reads go up by exactly one offset at a time (transaction markers are
// reads too). A read_committed session may skip only offsets that hold
// records of transactions that did not commit (filteredGap).
func (c *checker) checkPolls(ops []Op) {
	type key struct {
		client  string
		session int
		p       int32
	}
	last := map[key]int64{}
	for _, op := range ops {
		if op.Kind != KindPoll || op.Outcome != OK {
			continue
		}
		for _, r := range op.Reads {
			k := key{op.Client, op.Session, r.Partition}
			prev, ok := last[k]
			last[k] = r.Offset
			switch {
			case !ok || r.Offset == prev+1:
			case r.Offset > prev && op.ReadCommitted && c.filteredGap(r.Partition, prev+1, r.Offset):
			case r.Offset <= prev:
				c.add(Anomaly{Kind: NonMonotonicPoll, Partition: r.Partition, Offset: r.Offset, Value: r.Value,
					Detail: fmt.Sprintf("%s read %d after %d", op.Client, r.Offset, prev)})
			default:
				c.add(Anomaly{Kind: PollSkip, Partition: r.Partition, Offset: r.Offset, Value: r.Value,
					Detail: fmt.Sprintf("%s read %d after %d", op.Client, r.Offset, prev)})
			}
		}
	}
}

// checkSendOrder checks that each idempotent producer's acknowledged
// sends to a partition land at increasing offsets in the order it sent
// them: the plain producers' if they are idempotent, and always the
// transactional producers' (whose transactions follow one another, each
// sending its records in index order).
func (c *checker) checkSendOrder(ops []Op) {
	type key struct {
		client string
		p      int32
	}
	byKey := map[key][]Op{}
	for _, op := range ops {
		if op.Outcome == OK && (op.Kind == KindSend && c.idemp || op.Kind == KindTxnSend) {
			k := key{op.Client, op.Partition}
			byKey[k] = append(byKey[k], op)
		}
	}
	for _, sends := range byKey {
		sort.Slice(sends, func(i, j int) bool {
			a, b := sendOrder(sends[i]), sendOrder(sends[j])
			return a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
		})
		for i := 1; i < len(sends); i++ {
			if sends[i].Offset <= sends[i-1].Offset {
				c.add(Anomaly{Kind: NonMonotonicSend, Partition: sends[i].Partition, Offset: sends[i].Offset, Value: sends[i].Value,
					Detail: fmt.Sprintf("after %s at %d", sends[i-1].Value, sends[i-1].Offset)})
			}
		}
	}
}

// sendOrder is the place of a send in its producer's order: its sequence
// number, or for a transactional record its transaction's number and its
// index.
func sendOrder(op Op) [2]int64 {
	if tv, ok := ParseTxnValue(op.Value); ok && op.Kind == KindTxnSend {
		return [2]int64{tv.Txn, int64(tv.Index)}
	}
	return [2]int64{op.Seq, 0}
}

// checkCommits checks the group's final committed offsets against the last
// acknowledged commit of each partition and against the log end.
func (c *checker) checkCommits(ops []Op, fin Final) {
	last := map[int32]Op{}
	for _, op := range ops {
		if op.Kind == KindCommit && op.Outcome == OK {
			if prev, ok := last[op.Partition]; !ok || op.End >= prev.End {
				last[op.Partition] = op
			}
		}
	}
	if fin.Committed == nil {
		return
	}
	for _, p := range slices.Sorted(maps.Keys(last)) {
		got, ok := fin.Committed[p]
		if !ok || got < last[p].Offset {
			c.add(Anomaly{Kind: CommitRegression, Partition: p, Offset: got,
				Detail: fmt.Sprintf("committed %d (present %v), last acknowledged commit %d", got, ok, last[p].Offset)})
		}
	}
	for p, got := range fin.Committed {
		if end, ok := fin.End[p]; ok && got > end {
			c.add(Anomaly{Kind: CommitBeyondEnd, Partition: p, Offset: got, Detail: fmt.Sprintf("log end %d", end)})
		}
	}
}

// checkCommittedReads checks every committed offset the Observer read
// back during the run against the commits acknowledged before the read
// started (I6 across coordinator failovers, not only at the end).
func (c *checker) checkCommittedReads(ops []Op) {
	commits := map[int32][]Op{}
	for _, op := range ops {
		if op.Kind == KindCommit && op.Outcome == OK {
			commits[op.Partition] = append(commits[op.Partition], op)
		}
	}
	for _, op := range ops {
		if op.Kind != KindCommitted {
			continue
		}
		acked, at := int64(-1), int64(0)
		for _, cm := range commits[op.Partition] {
			if cm.End < op.Start && cm.Offset > acked {
				acked, at = cm.Offset, cm.End
			}
		}
		if op.Offset < acked {
			c.add(Anomaly{Kind: CommitRegression, Partition: op.Partition, Offset: op.Offset,
				Detail: fmt.Sprintf("read back %d at %d ms, below the commit of %d acknowledged at %d ms", op.Offset, op.Start, acked, at)})
		}
	}
}

// checkLeaders checks the nodes' views of partition leadership (I8): one
// leader per (partition, leader epoch) across every node, and epochs that
// never go back in one node process's view.
func (c *checker) checkLeaders(ops []Op) {
	leaders := map[[2]int32]int32{} // (partition, epoch) -> leader
	last := map[string]int32{}      // node process + partition -> last epoch
	for _, op := range ops {
		if op.Kind != KindLeader {
			continue
		}
		k := [2]int32{op.Partition, op.Epoch}
		if l, ok := leaders[k]; op.Leader >= 0 && ok && l != op.Leader {
			c.add(Anomaly{Kind: SplitLeader, Partition: op.Partition, Offset: -1,
				Detail: fmt.Sprintf("epoch %d: leader %d, and %d in node %s's view at %d ms", op.Epoch, l, op.Leader, op.Target, op.Start)})
		} else if op.Leader >= 0 {
			leaders[k] = op.Leader
		}
		v := fmt.Sprintf("%s/%d", op.Target, op.Partition)
		if e, ok := last[v]; ok && op.Epoch < e {
			c.add(Anomaly{Kind: EpochRegression, Partition: op.Partition, Offset: -1,
				Detail: fmt.Sprintf("node %s saw epoch %d after %d at %d ms", op.Target, op.Epoch, e, op.Start)})
		}
		last[v] = max(last[v], op.Epoch)
	}
}
