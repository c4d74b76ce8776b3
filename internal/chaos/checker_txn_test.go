package chaos

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// Transactional histories: tsend and txn record a transaction's records
// and its end, rpoll a read_committed poll (a drain if client is
// "drain-rc"), tr a read of a transactional record and ctl one of a
// transaction marker.

func (h hist) tsend(client string, seq int64, i, k int, p int32, off int64, out Outcome) hist {
	return append(h, Op{Kind: KindTxnSend, Client: client, Seq: seq, Partition: p, Offset: off,
		Value: EncodeTxnValue(client, seq, i, k), Outcome: out})
}

func (h hist) txn(client string, seq int64, k int, out Outcome, err string) hist {
	return append(h, Op{Kind: KindTxn, Client: client, Seq: seq, Records: k, Outcome: out, Err: err, Offset: -1})
}

func (h hist) rpoll(client string, reads ...Read) hist {
	return append(h, Op{Kind: KindPoll, Client: client, Outcome: OK, Reads: reads, Drain: client == "drain-rc", ReadCommitted: true})
}

func tr(p int32, off int64, client string, seq int64, i, k int) Read {
	return Read{Partition: p, Offset: off, Value: EncodeTxnValue(client, seq, i, k)}
}

func ctl(p int32, off int64, kind string) Read { return Read{Partition: p, Offset: off, Control: kind} }

// txnLog is the log of cleanTxn, by partition:
//
//	p0: 0 p-0 | 1 t-0 #0 | 2 t-0 #2 | 3 commit | 4 t-1 #0 | 5 abort | 6 p-1
//	p1: 0 t-0 #1 | 1 commit | 2 t-1 #1 | 3 abort
//
// t-0 (3 records) committed, t-1 (2 records) was aborted on purpose.
var txnLog = [][]Read{
	{rd(0, 0, "p", 0), tr(0, 1, "t", 0, 0, 3), tr(0, 2, "t", 0, 2, 3), ctl(0, 3, "commit"),
		tr(0, 4, "t", 1, 0, 2), ctl(0, 5, "abort"), rd(0, 6, "p", 1)},
	{tr(1, 0, "t", 0, 1, 3), ctl(1, 1, "commit"), tr(1, 2, "t", 1, 1, 2), ctl(1, 3, "abort")},
}

// committedView is what a read_committed reader sees of partition p of
// txnLog: everything but t-1's records.
func committedView(p int) []Read {
	return slices.DeleteFunc(slices.Clone(txnLog[p]), func(r Read) bool {
		tv, ok := ParseTxnValue(r.Value)
		return ok && tv.Txn == 1
	})
}

// cleanTxn is a valid history of plain sends and transactions: a
// committed one, one aborted on purpose, and two indefinite ones (one
// never written, one written and committed), read uncommitted (every
// offset, markers included) and read_committed (skipping the aborted
// records), live and by the drains.
func cleanTxn() hist {
	h := hist{}.send("p", 0, 0, 0, OK).send("p", 1, 0, 6, OK).
		tsend("t", 0, 0, 3, 0, 1, OK).tsend("t", 0, 1, 3, 1, 0, OK).tsend("t", 0, 2, 3, 0, 2, OK).txn("t", 0, 3, OK, "").
		tsend("t", 1, 0, 2, 0, 4, OK).tsend("t", 1, 1, 2, 1, 2, OK).txn("t", 1, 2, Fail, deliberateAbort).
		tsend("t", 2, 0, 2, 2, -1, Info).tsend("t", 2, 1, 2, 2, -1, Info).txn("t", 2, 2, Info, "commit: timeout").
		tsend("t", 3, 0, 1, 2, 0, OK).txn("t", 3, 1, Info, "commit: timeout")
	for _, client := range []string{"c", "drain"} {
		h = h.poll(client, 0, txnLog[0]...).poll(client, 0, txnLog[1]...).poll(client, 0, tr(2, 0, "t", 3, 0, 1), ctl(2, 1, "commit"))
	}
	for _, client := range []string{"r", "drain-rc"} {
		h = h.rpoll(client, committedView(0)...).rpoll(client, committedView(1)...).rpoll(client, tr(2, 0, "t", 3, 0, 1), ctl(2, 1, "commit"))
	}
	return h
}

func TestCheckerTxnClean(t *testing.T) {
	res := Check(cleanTxn(), true, Final{})
	if !res.Valid || len(res.Counts) != 0 {
		t.Fatalf("clean transactional history: %+v", res)
	}
	if res.TxnCommitted != 1 || res.TxnAborted != 1 || res.TxnInfo != 2 || res.SendsOK != 2 {
		t.Errorf("counts: %+v", res)
	}
}

// without returns h without the reads of client of value v (or, v "",
// of the marker at p/off).
func without(h hist, client string, v string, p int32, off int64) hist {
	out := slices.Clone(h)
	for i, op := range out {
		if op.Client == client {
			out[i].Reads = slices.DeleteFunc(slices.Clone(op.Reads), func(r Read) bool {
				return r.Value == v && (v != "" || r.Partition == p && r.Offset == off)
			})
		}
	}
	return out
}

func TestCheckerFindsTxnAnomalies(t *testing.T) {
	committedRec := EncodeTxnValue("t", 0, 2, 3)
	for _, tc := range []struct {
		name string
		h    hist
		want string
	}{
		{"committed transaction partly visible", without(cleanTxn(), "drain-rc", committedRec, 0, 0), TxnPartial},
		{"indefinite transaction partly visible", cleanTxn().tsend("t", 4, 0, 2, 2, 2, OK).tsend("t", 4, 1, 2, 2, 3, OK).
			txn("t", 4, 2, Info, "commit: timeout").rpoll("drain-rc", tr(2, 2, "t", 4, 0, 2)), TxnPartial},
		{"committed transaction not visible", cleanTxn().tsend("t", 4, 0, 1, 2, 2, OK).txn("t", 4, 1, OK, ""), TxnLost},
		{"transaction read live, then gone", cleanTxn().tsend("t", 4, 0, 1, 2, -1, Info).txn("t", 4, 1, Info, "commit: eof").
			rpoll("r", tr(2, 2, "t", 4, 0, 1)), TxnLost},
		{"aborted record in the read_committed drain", cleanTxn().tsend("t", 4, 0, 1, 2, 2, OK).txn("t", 4, 1, Fail, deliberateAbort).
			rpoll("drain-rc", tr(2, 2, "t", 4, 0, 1)), TxnAbortedRead},
		{"aborted record read live read_committed", cleanTxn().rpoll("r2", tr(1, 2, "t", 1, 1, 2)), TxnAbortedRead},
		{"crashed client's transaction read", cleanTxn().tsend("t", 4, 0, 1, 2, 2, Info).txn("t", 4, 1, Fail, "produce failed: client closed").
			rpoll("drain-rc", tr(2, 2, "t", 4, 0, 1)), TxnAbortedRead},
		{"read_committed session skips a committed record", cleanTxn().rpoll("r3", tr(0, 1, "t", 0, 0, 3), ctl(0, 3, "commit")), PollSkip},
		{"read_committed session skips an unknown offset", cleanTxn().rpoll("r3", rd(0, 6, "p", 1), rd(0, 8, "p", 9)), PollSkip},
		{"read_uncommitted session skips a marker", cleanTxn().poll("c2", 0, tr(0, 2, "t", 0, 2, 3), tr(0, 4, "t", 1, 0, 2)), PollSkip},
		{"transactional record at two offsets", cleanTxn().poll("c3", 0, tr(0, 7, "t", 0, 0, 3)), DuplicateWrite},
		{"transactions of one producer reordered", hist{}.tsend("u", 0, 0, 1, 0, 5, OK).txn("u", 0, 1, OK, "").
			tsend("u", 1, 0, 1, 0, 3, OK).txn("u", 1, 1, OK, ""), NonMonotonicSend},
		{"records of one transaction reordered", hist{}.tsend("u", 0, 0, 2, 0, 5, OK).tsend("u", 0, 1, 2, 0, 4, OK).
			txn("u", 0, 2, OK, ""), NonMonotonicSend},
		{"marker and record at one offset", cleanTxn().poll("c3", 0, ctl(0, 2, "commit")), InconsistentOffset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Check(tc.h, false, Final{})
			if res.Valid || res.Counts[tc.want] == 0 {
				t.Fatalf("want %s, got %+v", tc.want, res)
			}
		})
	}
}

func TestCheckerTxnAllowed(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    hist
	}{
		// Uncommitted reads see aborted records, and only the final
		// read_committed drain says what is visible.
		{"aborted records read uncommitted", cleanTxn().poll("c2", 0, tr(0, 4, "t", 1, 0, 2), ctl(0, 5, "abort"))},
		{"an indefinite transaction entirely visible", cleanTxn().tsend("t", 4, 0, 1, 2, 2, Info).txn("t", 4, 1, Info, "commit: eof").
			rpoll("drain-rc", tr(2, 2, "t", 4, 0, 1))},
		{"a read_committed session skips aborted records", cleanTxn().rpoll("r2", tr(0, 2, "t", 0, 2, 3), ctl(0, 3, "commit"), ctl(0, 5, "abort"))},
		{"no read_committed drain: nothing to say of visibility", hist{}.tsend("t", 0, 0, 2, 0, 0, OK).tsend("t", 0, 1, 2, 1, 0, OK).
			txn("t", 0, 2, OK, "").poll("drain", 0, tr(0, 0, "t", 0, 0, 2))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := Check(tc.h, true, Final{}); !res.Valid {
				t.Fatalf("%+v", res)
			}
		})
	}
}

func TestTxnValue(t *testing.T) {
	v := EncodeTxnValue("t1.3", 42, 5, 9)
	got, ok := ParseTxnValue(v)
	if want := (TxnValue{Client: "t1.3", Txn: 42, Index: 5, K: 9}); !ok || got != want {
		t.Fatalf("ParseTxnValue(%q) = %+v, %v; want %+v", v, got, ok, want)
	}
	for _, bad := range []string{EncodeValue("p0.1", 12), "", "t0.1-5-2", "t0.1-5-7/7", "t0.1-5--1/7", "-5-1/2",
		"t0.1-x-1/2", "t0.1-5-1/x", "t0.1--5-1/2", "t0.1-5-1/2-3"} {
		if tv, ok := ParseTxnValue(bad); ok {
			t.Errorf("ParseTxnValue(%q) = %+v, want not a transactional value", bad, tv)
		}
	}
}

func TestRunRefusesTxnFaultWithoutTransactions(t *testing.T) {
	faults, err := Faults([]string{"kill-txn-coordinator", "pause-txn-coordinator"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Config{Bin: "/nonexistent", Dir: t.TempDir(), Faults: faults})
	if err == nil || !strings.Contains(err.Error(), "--transactions") {
		t.Fatalf("Run: %v, want a refusal naming --transactions", err)
	}
	if !NeedsTxn(faults[1]) || NeedsTxn(procFault{act: "kill", who: "coordinator"}) {
		t.Fatal("NeedsTxn is wrong")
	}
}
