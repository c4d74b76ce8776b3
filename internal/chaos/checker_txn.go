package chaos

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// The checks of the transaction promise (DESIGN.md §1): a transaction's
// records become visible to read_committed consumers all at once or never,
// and an aborted record is never delivered to them.
//
// A transaction is identified by its producer incarnation and number
// (TxnValue); its records by their index among its K records. It
// committed if its commit was acknowledged, or if it was not aborted and
// a read_committed poll read one of its records (a read_committed consumer
// reads only committed transactions); it aborted if it was never asked to
// commit (a txn op that failed). The final read_committed drain runs once no transaction is
// open, so there every committed transaction must show all its K records
// and every other one none.

// txnKey names one transaction.
type txnKey struct {
	client string
	seq    int64
}

func (k txnKey) String() string { return fmt.Sprintf("%s-%d", k.client, k.seq) }

// txnState is what the history says about one transaction.
type txnState struct {
	outcome Outcome // "" if no txn op ended it
	err     string
	k       int             // its records, from its txn op or its values
	visible map[int]Read    // index -> its read by the read_committed drain
	rcReads map[string]Read // value -> a read_committed read of it (any poll)
}

// committed says whether the transaction must have committed: its commit
// was acknowledged, or it was not aborted and a read_committed poll read
// one of its records.
func (t *txnState) committed() bool { return t.outcome == OK || (!t.aborted() && len(t.rcReads) > 0) }

// aborted says whether the transaction definitely did not commit.
func (t *txnState) aborted() bool { return t.outcome == Fail }

func (c *checker) txn(k txnKey) *txnState {
	t := c.txns[k]
	if t == nil {
		t = &txnState{visible: map[int]Read{}, rcReads: map[string]Read{}}
		c.txns[k] = t
	}
	return t
}

// indexTxns indexes transactions: their outcomes (txn ops), their sends,
// and their records read read_committed, by the drain or live.
func (c *checker) indexTxns(ops []Op) {
	for _, op := range ops {
		switch {
		case op.Kind == KindTxn:
			t := c.txn(txnKey{op.Client, op.Seq})
			t.outcome, t.err, t.k = op.Outcome, op.Err, max(t.k, op.Records)
			switch op.Outcome {
			case OK:
				c.res.TxnCommitted++
			case Fail:
				c.res.TxnAborted++
			default:
				c.res.TxnInfo++
			}
		case op.Kind == KindTxnSend:
			if tv, ok := ParseTxnValue(op.Value); ok {
				t := c.txn(txnKey{tv.Client, tv.Txn})
				t.k = max(t.k, tv.K)
			}
		case op.Kind == KindPoll && op.Outcome == OK && op.ReadCommitted:
			c.rcDrain = c.rcDrain || op.Drain
			c.indexRCReads(op)
		}
	}
}

// indexRCReads indexes the transactional records one read_committed poll
// read.
func (c *checker) indexRCReads(op Op) {
	for _, r := range op.Reads {
		tv, ok := ParseTxnValue(r.Value)
		if r.Control != "" || !ok {
			continue
		}
		t := c.txn(txnKey{tv.Client, tv.Txn})
		t.k = max(t.k, tv.K)
		t.rcReads[r.Value] = r
		if op.Drain {
			t.visible[tv.Index] = r
		}
	}
}

// checkTxns reports, per transaction, aborted records read read_committed
// (TxnAbortedRead) and, if the history has a read_committed drain, a
// transaction only partly visible in it (TxnPartial) or a committed one
// not visible at all (TxnLost). An indefinite transaction may be either
// all there or not at all.
func (c *checker) checkTxns() {
	keys := slices.SortedFunc(maps.Keys(c.txns), func(a, b txnKey) int {
		return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.seq, b.seq))
	})
	for _, k := range keys {
		t := c.txns[k]
		if t.aborted() {
			for _, v := range slices.Sorted(maps.Keys(t.rcReads)) {
				r := t.rcReads[v]
				c.add(Anomaly{Kind: TxnAbortedRead, Partition: r.Partition, Offset: r.Offset, Value: v,
					Detail: fmt.Sprintf("transaction %s aborted: %s", k, t.err)})
			}
		}
		if !c.rcDrain {
			continue
		}
		switch n := len(t.visible); {
		case n > 0 && n < t.k:
			c.add(Anomaly{Kind: TxnPartial, Partition: -1, Offset: -1, Value: k.String(),
				Detail: fmt.Sprintf("%d of %d records visible read_committed: %s; outcome %q %s", n, t.k, t.describeVisible(), t.outcome, t.err)})
		case n == 0 && t.committed():
			why := "commit acknowledged"
			if t.outcome != OK {
				why = fmt.Sprintf("read read_committed during the run (outcome %q %s)", t.outcome, t.err)
			}
			c.add(Anomaly{Kind: TxnLost, Partition: -1, Offset: -1, Value: k.String(),
				Detail: fmt.Sprintf("none of its %d records visible read_committed at the end; %s", t.k, why)})
		}
	}
}

// describeVisible lists the visible records as index@partition/offset.
func (t *txnState) describeVisible() string {
	s := ""
	for _, i := range slices.Sorted(maps.Keys(t.visible)) {
		r := t.visible[i]
		s += fmt.Sprintf(" %d@p%d/%d", i, r.Partition, r.Offset)
	}
	return "[" + s[min(1, len(s)):] + "]"
}

// filteredGap says whether every offset in [from, to) of partition p
// holds, as far as the history knows, only records of transactions that
// did not commit: the offsets a read_committed consumer does not see.
// An offset the history knows nothing of is not such an offset.
func (c *checker) filteredGap(p int32, from, to int64) bool {
	for off := from; off < to; off++ {
		vs := c.at[p][off]
		if len(vs) == 0 {
			return false
		}
		for v := range vs {
			tv, ok := ParseTxnValue(v)
			if !ok {
				return false
			}
			if t := c.txns[txnKey{tv.Client, tv.Txn}]; t == nil || t.committed() {
				return false
			}
		}
	}
	return true
}
