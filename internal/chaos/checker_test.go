package chaos

import "testing"

// hist builds synthetic histories: sends (p, offset, value, outcome) and
// polls.
type hist []Op

func (h hist) send(client string, seq int64, p int32, off int64, out Outcome) hist {
	return append(h, Op{Kind: KindSend, Client: client, Seq: seq, Partition: p, Offset: off,
		Value: EncodeValue(client, seq), Outcome: out})
}

func (h hist) poll(client string, session int, reads ...Read) hist {
	return append(h, Op{Kind: KindPoll, Client: client, Session: session, Outcome: OK, Reads: reads, Drain: client == "drain"})
}

func rd(p int32, off int64, client string, seq int64) Read {
	return Read{Partition: p, Offset: off, Value: EncodeValue(client, seq)}
}

// clean is three acknowledged sends, one indefinite one that landed, one
// definitely failed, read in order by a consumer and the drain.
func clean() hist {
	return hist{}.
		send("p0.1", 0, 0, 0, OK).send("p0.1", 1, 0, 1, OK).send("p0.1", 2, 0, -1, Info).
		send("p0.1", 3, 0, -1, Fail).send("p0.1", 4, 0, 3, OK).
		poll("c0.1", 0, rd(0, 0, "p0.1", 0), rd(0, 1, "p0.1", 1)).
		poll("c0.1", 0, rd(0, 2, "p0.1", 2), rd(0, 3, "p0.1", 4)).
		poll("drain", 0, rd(0, 0, "p0.1", 0), rd(0, 1, "p0.1", 1), rd(0, 2, "p0.1", 2), rd(0, 3, "p0.1", 4))
}

func TestCheckerClean(t *testing.T) {
	res := Check(clean(), true, Final{})
	if !res.Valid || len(res.Counts) != 0 {
		t.Fatalf("clean history: %+v", res)
	}
	if res.SendsOK != 3 || res.SendsInfo != 1 || res.SendsFail != 1 || res.Reads != 8 {
		t.Errorf("counts: %+v", res)
	}
}

func TestCheckerFindsAnomalies(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    hist
		idem bool
		fin  Final
		want string
	}{
		{"lost write", hist{}.send("p", 0, 0, 0, OK).send("p", 1, 0, 1, OK).send("p", 2, 0, 2, OK).
			poll("drain", 0, rd(0, 0, "p", 0), rd(0, 1, "p", 2)), true, Final{}, LostWrite},
		{"read, then lost", hist{}.send("p", 0, 0, -1, Info).send("p", 1, 0, 1, OK).
			poll("c", 0, rd(0, 0, "p", 0)).poll("drain", 0, rd(0, 1, "p", 1)), true, Final{}, LostWrite},
		{"unseen write", hist{}.send("p", 0, 0, 0, OK).send("p", 1, 0, 1, OK).
			poll("drain", 0, rd(0, 0, "p", 0)), true, Final{}, Unseen},
		{"duplicate", hist{}.send("p", 0, 0, 0, OK).send("p", 1, 0, 1, OK).
			poll("drain", 0, rd(0, 0, "p", 0), rd(0, 1, "p", 1), rd(0, 2, "p", 1)), true, Final{}, DuplicateWrite},
		{"inconsistent offset", hist{}.send("p", 0, 0, 0, OK).send("q", 0, 0, 1, Info).
			poll("c", 0, rd(0, 0, "p", 0)).poll("drain", 0, rd(0, 0, "q", 0)), true, Final{}, InconsistentOffset},
		{"reordered poll", hist{}.send("p", 0, 0, 0, OK).send("p", 1, 0, 1, OK).
			poll("c", 0, rd(0, 1, "p", 1), rd(0, 0, "p", 0)), true, Final{}, NonMonotonicPoll},
		{"skipping poll", hist{}.send("p", 0, 0, 0, OK).send("p", 1, 0, 1, OK).send("p", 2, 0, 2, OK).
			poll("c", 0, rd(0, 0, "p", 0)).poll("c", 0, rd(0, 2, "p", 2)).
			poll("drain", 0, rd(0, 0, "p", 0), rd(0, 1, "p", 1), rd(0, 2, "p", 2)), true, Final{}, PollSkip},
		{"reordered send", hist{}.send("p", 0, 0, 1, OK).send("p", 1, 0, 0, OK).
			poll("drain", 0, rd(0, 0, "p", 1), rd(0, 1, "p", 0)), true, Final{}, NonMonotonicSend},
		{"aborted read", hist{}.send("p", 0, 0, -1, Fail).poll("drain", 0, rd(0, 0, "p", 0)), true, Final{}, AbortedRead},
		{"commit regression", append(hist{}.send("p", 0, 0, 0, OK).poll("drain", 0, rd(0, 0, "p", 0)),
			Op{Kind: KindCommit, Partition: 0, Offset: 1, Outcome: OK}), true,
			Final{Committed: map[int32]int64{0: 0}, End: map[int32]int64{0: 1}}, CommitRegression},
		{"no liveness", clean(), true, Final{Liveness: "p0 has no leader"}, NoLiveness},
		{"committed offset read back lower", append(clean(),
			Op{Kind: KindCommit, Partition: 0, Offset: 3, Outcome: OK, Start: 10, End: 20},
			Op{Kind: KindCommitted, Partition: 0, Offset: 1, Outcome: OK, Start: 30, End: 31}), true, Final{}, CommitRegression},
		{"two leaders in one epoch", append(clean(),
			Op{Kind: KindLeader, Target: "1#1", Partition: 0, Leader: 1, Epoch: 4},
			Op{Kind: KindLeader, Target: "2#1", Partition: 0, Leader: 2, Epoch: 4}), true, Final{}, SplitLeader},
		{"epoch going back", append(clean(),
			Op{Kind: KindLeader, Target: "1#1", Partition: 0, Leader: 1, Epoch: 4},
			Op{Kind: KindLeader, Target: "1#1", Partition: 0, Leader: 2, Epoch: 3}), true, Final{}, EpochRegression},
		{"fault check", append(clean(), Op{Kind: KindHeal, Fault: "last-replica-standing", Violation: "led"}), true, Final{}, FaultCheck},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Check(tc.h, tc.idem, tc.fin)
			if res.Valid || res.Counts[tc.want] == 0 {
				t.Fatalf("want %s, got %+v", tc.want, res)
			}
		})
	}
}

func TestCheckerAllowsRetryDuplicatesWithoutIdempotence(t *testing.T) {
	h := hist{}.send("p", 0, 0, 1, OK).poll("drain", 0, rd(0, 0, "p", 0), rd(0, 1, "p", 0))
	res := Check(h, false, Final{})
	if !res.Valid || res.Counts[DupNonIdempotent] != 1 {
		t.Fatalf("got %+v", res)
	}
}

func TestCheckerLeaderViewsAndCommittedReads(t *testing.T) {
	h := append(clean(),
		Op{Kind: KindLeader, Target: "1#1", Partition: 0, Leader: 1, Epoch: 4},
		Op{Kind: KindLeader, Target: "2#1", Partition: 0, Leader: 1, Epoch: 4},
		Op{Kind: KindLeader, Target: "2#1", Partition: 0, Leader: -1, Epoch: 5},
		Op{Kind: KindLeader, Target: "2#1", Partition: 0, Leader: 3, Epoch: 6},
		Op{Kind: KindLeader, Target: "1#2", Partition: 0, Leader: 3, Epoch: 6},
		Op{Kind: KindCommit, Partition: 0, Offset: 3, Outcome: OK, Start: 10, End: 20},
		Op{Kind: KindCommitted, Partition: 0, Offset: 2, Outcome: OK, Start: 15, End: 25}, // started before the ack
		Op{Kind: KindCommitted, Partition: 0, Offset: 3, Outcome: OK, Start: 30, End: 31})
	if res := Check(h, true, Final{}); !res.Valid {
		t.Fatalf("consistent views: %+v", res)
	}
}

func TestCheckerSessionsResetPollOrder(t *testing.T) {
	h := hist{}.send("p", 0, 0, 0, OK).send("p", 1, 0, 1, OK).
		poll("g", 1, rd(0, 0, "p", 0), rd(0, 1, "p", 1)).poll("g", 2, rd(0, 0, "p", 0))
	if res := Check(h, true, Final{}); !res.Valid {
		t.Fatalf("a rebalance may rewind: %+v", res)
	}
}

func TestRecoveryTime(t *testing.T) {
	ops := []Op{
		{Kind: KindSend, Partition: 0, Outcome: OK, Start: 50, End: 60},
		{Kind: KindSend, Partition: 1, Outcome: Info, Start: 100, End: 900},
		{Kind: KindSend, Partition: 0, Outcome: OK, Start: 120, End: 300},
		{Kind: KindSend, Partition: 1, Outcome: OK, Start: 400, End: 1100},
	}
	if got := recoveryTime(ops, 100); got != 1000 {
		t.Errorf("recoveryTime = %d, want 1000", got)
	}
	if got := recoveryTime(ops, 500); got != -1 {
		t.Errorf("recoveryTime after the last send = %d, want -1", got)
	}
}
