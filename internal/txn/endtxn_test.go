package txn

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEndTV0 commits and aborts with EndTxn v3: answered once Prepare is
// durable, markers with the unchanged epoch, Complete once every marker
// is written, then the idempotent retries.
func TestEndTV0(t *testing.T) {
	for _, commit := range []bool{true, false} {
		h := newHarness(t)
		h.manualMarkers = true
		pid, epoch := h.ongoing("a", tp("t", 0), tp("u", 1))
		if r := h.end("a", pid, epoch, commit, 3); r.ErrorCode != 0 {
			t.Fatalf("end: %+v", r)
		}
		prepare, complete := "PrepareAbort", "CompleteAbort"
		if commit {
			prepare, complete = "PrepareCommit", "CompleteCommit"
		}
		if s := h.state("a"); s != prepare {
			t.Fatalf("state %s", s)
		}
		want := MarkerRequest{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch, Commit: commit,
			CoordinatorEpoch: coordEpoch, Partitions: []TopicPartition{tp("t", 0), tp("u", 1)}}
		if len(h.markers) != 1 || !equalMarker(h.markers[0], want) {
			t.Fatalf("markers %+v", h.markers)
		}
		h.writeMarker(MarkerRequest{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch,
			Partitions: []TopicPartition{tp("u", 1)}}, 0)
		if d := h.describe("a")[0]; d.State != prepare || len(d.Topics) != 1 || d.Topics[0].Topic != "t" {
			t.Fatalf("describe while markers are written: %+v", d)
		}
		h.writeMarker(MarkerRequest{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch,
			Partitions: []TopicPartition{tp("t", 0)}}, 0)
		v := h.lastValue("a")
		if d := h.describe("a")[0]; d.State != complete || len(d.Topics) != 0 || v.Topics == nil || len(v.Topics) != 0 {
			t.Fatalf("after markers: %+v, record %+v", d, v)
		}
		records := len(h.log)
		if r := h.end("a", pid, epoch, commit, 3); r.ErrorCode != 0 || len(h.log) != records {
			t.Fatalf("retry: %+v", r)
		}
		if r := h.end("a", pid, epoch, !commit, 3); r.ErrorCode != kerr.InvalidTxnState.Code {
			t.Fatalf("other result: %+v", r)
		}
		if r := h.end("a", pid, epoch+1, commit, 3); r.ErrorCode != kerr.ProducerFenced.Code {
			t.Fatalf("future epoch: %+v", r)
		}
	}
}

func equalMarker(a, b MarkerRequest) bool {
	return a.TransactionalID == b.TransactionalID && a.ProducerID == b.ProducerID && a.ProducerEpoch == b.ProducerEpoch &&
		a.Commit == b.Commit && a.CoordinatorEpoch == b.CoordinatorEpoch && slices.Equal(a.Partitions, b.Partitions)
}

func TestEndTV0Checks(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	cases := []struct {
		name    string
		id      string
		pid     int64
		epoch   int16
		version int16
		want    int16
	}{
		{"empty id", "", pid, epoch, 3, kerr.InvalidRequest.Code},
		{"unknown id", "zz", pid, epoch, 3, kerr.InvalidProducerIDMapping.Code},
		{"other pid", "a", pid + 1, epoch, 3, kerr.InvalidProducerIDMapping.Code},
		{"old epoch", "a", pid, epoch - 1, 3, kerr.ProducerFenced.Code},
		{"old epoch v1", "a", pid, epoch - 1, 1, kerr.InvalidProducerEpoch.Code},
		{"Empty", "a", pid, epoch, 3, kerr.InvalidTxnState.Code},
	}
	for _, tc := range cases {
		r := h.end(tc.id, tc.pid, tc.epoch, true, tc.version)
		if r.ErrorCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, r.ErrorCode, tc.want)
		}
	}
	h.manualMarkers = true
	h.add("a", pid, epoch, tp("t", 0))
	h.end("a", pid, epoch, true, 3)
	if r := h.end("a", pid, epoch, true, 3); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("retry during PrepareCommit: %+v", r)
	}
	if r := h.end("a", pid, epoch, false, 3); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("abort during PrepareCommit (pending Complete): %+v", r)
	}
}

// tv2Ongoing builds an Ongoing TV2 transaction (an add from a partition
// leader, as for Produce v12).
func tv2Ongoing(h *harness, txnID string, tps ...TopicPartition) (int64, int16) {
	h.t.Helper()
	pid, epoch := h.initOK(txnID)
	r := h.addBroker(brokerTxn{id: txnID, pid: pid, epoch: epoch, tps: tps})
	if codes := brokerCodes(r.Transactions[0]); slices.ContainsFunc(codes, func(c int16) bool { return c != 0 }) {
		h.t.Fatalf("add: %v", codes)
	}
	return pid, epoch
}

// TestEndTV2 commits with EndTxn v5: every end bumps the epoch and the
// answer carries it; retries with the old epoch are NONE.
func TestEndTV2(t *testing.T) {
	h := newHarness(t)
	pid, epoch := tv2Ongoing(h, "a", tp("t", 0))
	r := h.end("a", pid, epoch, true, 5)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != epoch+1 {
		t.Fatalf("commit: %+v", r)
	}
	if m := h.sent[len(h.sent)-1]; m.ProducerEpoch != epoch+1 || !m.Commit {
		t.Fatalf("marker %+v", m)
	}
	v := h.lastValue("a")
	if v.State != 4 || v.ProducerEpoch != epoch+1 || v.ClientTransactionVersion != 2 {
		t.Fatalf("record %+v", v)
	}
	records := len(h.log)
	if r := h.end("a", pid, epoch, true, 5); r.ErrorCode != 0 || r.ProducerEpoch != epoch+1 || len(h.log) != records {
		t.Fatalf("retry: %+v", r)
	}
	if r := h.end("a", pid, epoch, false, 5); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("abort retry after commit: %+v", r)
	}
	if r := h.end("a", pid, epoch+1, true, 5); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("commit with nothing added: %+v", r)
	}
	if r := h.end("a", pid, epoch-1, true, 5); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("older epoch: %+v", r)
	}
	// abort with the current epoch: an empty transaction, completed at once
	h.now = h.now.Add(time.Second)
	r = h.end("a", pid, epoch+1, false, 5)
	if r.ErrorCode != 0 || r.ProducerEpoch != epoch+2 || h.state("a") != "CompleteAbort" {
		t.Fatalf("abort after commit: %+v, %s", r, h.state("a"))
	}
	if d := h.describe("a")[0]; d.StartTimestamp != h.now.UnixMilli() {
		t.Fatalf("start of an empty abort %d", d.StartTimestamp)
	}
	if r := h.end("a", pid, epoch+1, false, 5); r.ErrorCode != 0 || r.ProducerEpoch != epoch+2 {
		t.Fatalf("retry of the abort: %+v", r)
	}
	if r := h.end("a", pid, epoch+2, false, 5); r.ErrorCode != 0 || r.ProducerEpoch != epoch+3 {
		t.Fatalf("abort again: %+v", r)
	}
}

func TestEndTV2Empty(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("a")
	if r := h.end("a", pid, epoch, true, 5); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("commit from Empty: %+v", r)
	}
	if r := h.end("a", pid, epoch-1, false, 5); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("old epoch on Empty: %+v", r)
	}
	if r := h.end("a", pid, epoch, false, 5); r.ErrorCode != 0 || r.ProducerEpoch != epoch+1 {
		t.Fatalf("abort from Empty: %+v", r)
	}
	if s := h.state("a"); s != "CompleteAbort" {
		t.Fatalf("state %s", s)
	}
	for _, sent := range h.sent {
		if sent.TransactionalID == "a" {
			t.Fatalf("markers for an empty transaction: %+v", sent)
		}
	}
	// the retry check follows the stored transition's version, as in Kafka
	if r := h.end("a", pid, epoch, false, 4); r.ErrorCode != 0 {
		t.Fatalf("v4 retry after a TV2 bump: %+v", r)
	}
}

// TestEndTV2Overflow: an end at epoch 32766 moves to a new producer id;
// Prepare carries 32767 and the next id, Complete the new id at epoch 0.
func TestEndTV2Overflow(t *testing.T) {
	h := newHarness(t)
	loadValue(t, h.c, "a", func(v *kmsg.TxnMetadataValue) {
		v.ProducerID, v.ProducerEpoch, v.State, v.ClientTransactionVersion = 500, 32766, 1, 2
		v.StartTimestamp, v.Topics = t0.UnixMilli(), []kmsg.TxnMetadataValueTopic{{Topic: "t", Partitions: []int32{0}}}
	})
	h.manualMarkers = true
	r := h.end("a", 500, 32766, true, 5)
	if r.ErrorCode != 0 || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("overflow commit: %+v", r)
	}
	if v := h.lastValue("a"); v.State != 2 || v.ProducerID != 500 || v.ProducerEpoch != 32767 || v.NextProducerID != 1001 {
		t.Fatalf("prepare record %+v", v)
	}
	if m := h.markers[0]; m.ProducerID != 500 || m.ProducerEpoch != 32767 {
		t.Fatalf("marker %+v", m)
	}
	// the client already has the new id while the markers are written
	if code := h.add("a", 1001, 0, tp("t", 1)); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("new id during the marker phase: %d", code)
	}
	h.writeHeldMarkers(0)
	v := h.lastValue("a")
	if v.State != 4 || v.ProducerID != 1001 || v.ProducerEpoch != 0 || v.PreviousProducerID != 500 || v.NextProducerID != -1 {
		t.Fatalf("complete record %+v", v)
	}
	if r := h.end("a", 500, 32766, true, 5); r.ErrorCode != 0 || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("retry with the old id: %+v", r)
	}
	if code := h.add("a", 1001, 0, tp("t", 1)); code != 0 {
		t.Fatalf("new id: %d", code)
	}
}

func TestEndTV2OverflowAllocationError(t *testing.T) {
	h := newHarness(t)
	loadValue(t, h.c, "a", func(v *kmsg.TxnMetadataValue) {
		v.ProducerID, v.ProducerEpoch, v.State, v.ClientTransactionVersion = 500, 32766, 1, 2
		v.Topics = []kmsg.TxnMetadataValueTopic{{Topic: "t", Partitions: []int32{0}}}
	})
	h.pidErr = errors.New("no ids")
	if r := h.end("a", 500, 32766, true, 5); r.ErrorCode != kerr.CoordinatorNotAvailable.Code || h.state("a") != "Ongoing" {
		t.Fatalf("%+v", r)
	}
}

// TestAppendFailureClearsPending: a failed append answers the mapped
// error and leaves the state as it was, ready for a retry.
func TestAppendFailureClearsPending(t *testing.T) {
	cases := []struct {
		err  error
		want int16
	}{
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotEnoughReplicasAfterAppend, kerr.CoordinatorNotAvailable.Code},
		{kerr.RequestTimedOut, kerr.CoordinatorNotAvailable.Code},
		{kerr.UnknownTopicOrPartition, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{kerr.KafkaStorageError, kerr.NotCoordinator.Code},
		{kerr.MessageTooLarge, kerr.UnknownServerError.Code},
		{kerr.RecordListTooLarge, kerr.UnknownServerError.Code},
		{errors.New("disk on fire"), kerr.CoordinatorNotAvailable.Code},
	}
	for _, tc := range cases {
		h := newHarness(t)
		pid, epoch := h.initOK("a")
		h.manualAppends = true
		add := h.addReq("a", pid, epoch, 3, tp("t", 0))
		h.completeHeld(tc.err)
		if code := addCode(h, add); code != tc.want {
			t.Errorf("%v: add answered %d, want %d", tc.err, code, tc.want)
		}
		h.manualAppends = false
		if s := h.state("a"); s != "Empty" {
			t.Fatalf("%v: state %s", tc.err, s)
		}
		if code := h.add("a", pid, epoch, tp("t", 0)); code != 0 {
			t.Fatalf("%v: retry %d", tc.err, code)
		}
		h.manualAppends = true
		end := h.endReq("a", pid, epoch, true, 3)
		h.completeHeld(tc.err)
		if r := reply[*kmsg.EndTxnResponse](h, end); r.ErrorCode != tc.want || h.state("a") != "Ongoing" {
			t.Fatalf("%v: end %+v, state %s", tc.err, r, h.state("a"))
		}
		init := h.initReq("a", 5, 60000, -1, -1) // fences the Ongoing transaction
		h.completeHeld(tc.err)
		if r := reply[*kmsg.InitProducerIDResponse](h, init); r.ErrorCode != tc.want {
			t.Fatalf("%v: init %+v", tc.err, r)
		}
	}
}

// TestCompleteAppendRetry: a Complete record failing with
// COORDINATOR_NOT_AVAILABLE is appended again after a backoff; with
// NOT_COORDINATOR it is dropped until the next load.
func TestCompleteAppendRetry(t *testing.T) {
	h := newHarness(t)
	h.manualMarkers = true
	pid, epoch := h.ongoing("a", tp("t", 0))
	h.end("a", pid, epoch, true, 3)
	h.manualAppends = true
	h.writeHeldMarkers(0)
	h.completeHeld(kerr.NotEnoughReplicas)
	if s := h.state("a"); s != "PrepareCommit" {
		t.Fatalf("state %s", s)
	}
	if dl := h.c.NextDeadline(); !dl.Equal(h.now.Add(completeRetryBackoff)) {
		t.Fatalf("deadline %v", dl)
	}
	h.advance(completeRetryBackoff)
	if len(h.held) != 1 {
		t.Fatalf("%d appends after the backoff", len(h.held))
	}
	h.completeHeld(kerr.NotLeaderForPartition)
	h.advance(time.Second)
	if len(h.held) != 0 || h.state("a") != "PrepareCommit" {
		t.Fatalf("dropped Complete appended again: %d", len(h.held))
	}
	h.manualAppends = false
	h.manualMarkers = false
	h.reload()
	if s := h.state("a"); s != "CompleteCommit" {
		t.Fatalf("after reload: %s", s)
	}
}

// TestMarkerStop: a marker that fails for good stops the transaction's
// markers; it stays in Prepare* until a reload sends them again.
func TestMarkerStop(t *testing.T) {
	h := newHarness(t)
	h.manualMarkers = true
	pid, epoch := h.ongoing("a", tp("t", 0), tp("t", 1))
	h.end("a", pid, epoch, false, 3)
	m := h.markers[0]
	h.markers = nil
	h.apply(h.c.MarkerDone(h.now, "a", pid, epoch, tp("t", 0), kerr.InvalidProducerEpoch.Code))
	h.apply(h.c.MarkerDone(h.now, "a", pid, epoch, tp("t", 1), 0))
	if s := h.state("a"); s != "PrepareAbort" {
		t.Fatalf("state %s", s)
	}
	if r := h.init("a", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init: %+v", r)
	}
	h.reload()
	if len(h.markers) != 1 || h.markers[0].ProducerEpoch != m.ProducerEpoch || len(h.markers[0].Partitions) != 2 ||
		h.markers[0].CoordinatorEpoch != coordEpoch+1 {
		t.Fatalf("markers after reload %+v", h.markers)
	}
	h.writeHeldMarkers(0)
	if s := h.state("a"); s != "CompleteAbort" {
		t.Fatalf("state %s", s)
	}
}

func TestMarkerStaleReportsIgnored(t *testing.T) {
	h := newHarness(t)
	h.manualMarkers = true
	pid, epoch := h.ongoing("a", tp("t", 0))
	h.end("a", pid, epoch, true, 3)
	for _, eff := range []Effects{
		h.c.MarkerDone(h.now, "a", pid, epoch+1, tp("t", 0), 0),
		h.c.MarkerDone(h.now, "a", pid+1, epoch, tp("t", 0), 0),
		h.c.MarkerDone(h.now, "zz", pid, epoch, tp("t", 0), 0),
		h.c.MarkerDone(h.now, "a", pid, epoch, tp("t", 9), 0),
	} {
		if eff.Append != nil || len(eff.Markers) > 0 {
			t.Fatalf("stale report had effects %+v", eff)
		}
	}
	h.writeHeldMarkers(0)
	if eff := h.c.MarkerDone(h.now, "a", pid, epoch, tp("t", 0), 0); eff.Append != nil {
		t.Fatal("report after Complete wrote again")
	}
	if s := h.state("a"); s != "CompleteCommit" {
		t.Fatalf("state %s", s)
	}
}

func TestMarkerUnsupportedCountsAsDone(t *testing.T) {
	h := newHarness(t)
	h.manualMarkers = true
	pid, epoch := h.ongoing("a", tp("t", 0))
	h.end("a", pid, epoch, true, 3)
	h.writeHeldMarkers(kerr.UnsupportedForMessageFormat.Code)
	if s := h.state("a"); s != "CompleteCommit" {
		t.Fatalf("state %s", s)
	}
}
