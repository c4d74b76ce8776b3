package replication

import (
	"testing"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sessionPart(tp TopicPartition, offset int64) *inflight {
	return &inflight{a: &assignment{tp: tp, epoch: 3}, p: &partition.Partition{}, st: partition.FetchState{FetchOffset: offset, LastFetchedEpoch: 3}}
}

// fillNames fills a request and returns the partitions it carries.
func fillNames(s *session, parts ...*inflight) (*kmsg.FetchRequest, []TopicPartition) {
	req := kmsg.NewPtrFetchRequest()
	var got []TopicPartition
	s.fill(req, parts, parts, true, func(in *inflight) { got = append(got, in.a.tp) })
	return req, got
}

// The session's requests: full first, then only changed partitions and
// the forgotten ones; a failure makes the next one full on the same id, a
// session error drops the id.
func TestSessionRequests(t *testing.T) {
	a, b := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	var s session
	req, got := fillNames(&s, sessionPart(a, 0), sessionPart(b, 0))
	if req.SessionID != 0 || req.SessionEpoch != 0 || len(got) != 2 {
		t.Fatalf("first request: session %d/%d, %v", req.SessionID, req.SessionEpoch, got)
	}
	s.answered(&kmsg.FetchResponse{SessionID: 77})
	req, got = fillNames(&s, sessionPart(a, 5), sessionPart(b, 0))
	if req.SessionID != 77 || req.SessionEpoch != 1 || len(got) != 1 || got[0] != a {
		t.Fatalf("incremental: session %d/%d, %v; want only %v", req.SessionID, req.SessionEpoch, got, a)
	}
	s.answered(&kmsg.FetchResponse{SessionID: 77})
	req, got = fillNames(&s, sessionPart(a, 5))
	if req.SessionEpoch != 2 || len(got) != 0 || len(req.ForgottenTopics) != 1 || req.ForgottenTopics[0].Partitions[0] != 1 {
		t.Fatalf("forgetting b: epoch %d, %v, forgotten %+v", req.SessionEpoch, got, req.ForgottenTopics)
	}
	s.failed()
	if req, got = fillNames(&s, sessionPart(a, 5)); req.SessionID != 77 || req.SessionEpoch != 0 || len(got) != 1 {
		t.Fatalf("after a failure: session %d/%d, %v; want a full request closing 77", req.SessionID, req.SessionEpoch, got)
	}
	if !s.refused(kerr.FetchSessionIDNotFound) || s.refused(kerr.NotLeaderForPartition) {
		t.Fatal("session errors misclassified")
	}
	if req, _ = fillNames(&s, sessionPart(a, 5)); req.SessionID != 0 || req.SessionEpoch != 0 {
		t.Fatalf("after a session error: session %d/%d", req.SessionID, req.SessionEpoch)
	}
	s.answered(&kmsg.FetchResponse{}) // the leader keeps no session
	if req, _ = fillNames(&s, sessionPart(a, 5)); req.SessionID != 0 || req.SessionEpoch != 0 {
		t.Fatalf("without a session from the leader: %d/%d", req.SessionID, req.SessionEpoch)
	}
}
