package handlers

import (
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords moves the leader's log start at once and answers once the
// low watermark (here: follower 2's reported log start) reaches it, or
// REQUEST_TIMED_OUT with the low watermark then.

func deleteRecordsReq(timeoutMs int32, topic string, idx int32, offset int64) *kmsg.DeleteRecordsRequest {
	r := versioned(kmsg.NewPtrDeleteRecordsRequest(), 2)
	r.TimeoutMillis = timeoutMs
	r.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: topic,
		Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: idx, Offset: offset}}}}
	return r
}

func deleteRecordsResult(t *testing.T, resp kmsg.Response) kmsg.DeleteRecordsResponseTopicPartition {
	t.Helper()
	r := resp.(*kmsg.DeleteRecordsResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		t.Fatalf("response %+v", r.Topics)
	}
	return r.Topics[0].Partitions[0]
}

// followerReports is follower 2 fetching local-0 at the log end,
// reporting logStart.
func followerReports(t *testing.T, p *partition.Partition, logStart int64) {
	t.Helper()
	_, err := p.ReadForFollower(partition.FollowerFetch{ReplicaID: 2, FetchOffset: p.LogEndOffset(),
		LogStartOffset: logStart, CurrentEpoch: -1, LastFetchedEpoch: -1, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeleteRecordsWaitsForLowWatermark(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	for range 5 {
		if _, err := p.AppendAsLeader(oneRecord(t), 1); err != nil {
			t.Fatal(err)
		}
	}
	followerReports(t, p, 0)
	done := make(chan kmsg.Response, 1)
	go func() { done <- serve(t, h, deleteRecordsReq(5000, "local", 0, 3)) }()
	deadline := time.Now().Add(5 * time.Second)
	for p.LogStartOffset() != 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	select {
	case resp := <-done:
		t.Fatalf("answered before the follower had the new start: %+v", deleteRecordsResult(t, resp))
	default:
	}
	followerReports(t, p, 3)
	if got := deleteRecordsResult(t, <-done); got.ErrorCode != 0 || got.LowWatermark != 3 {
		t.Fatalf("local-0: %v, low watermark %d", kerr.ErrorForCode(got.ErrorCode), got.LowWatermark)
	}
	// Follower 2 does not follow: the wait times out with the low watermark.
	got := deleteRecordsResult(t, serve(t, h, deleteRecordsReq(20, "local", 0, -1)))
	if got.ErrorCode != kerr.RequestTimedOut.Code || got.LowWatermark != 3 || p.LogStartOffset() != 5 {
		t.Fatalf("to the HW: %v, low watermark %d, log start %d", kerr.ErrorForCode(got.ErrorCode), got.LowWatermark, p.LogStartOffset())
	}
	if res, err := p.ListOffset(partition.Earliest, -1, partition.ReadUncommitted); err != nil || res.Offset != 5 {
		t.Fatalf("earliest %+v, %v", res, err)
	}
}

func TestDeleteRecordsErrors(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	if _, err := p.AppendAsLeader(oneRecord(t), 1); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		topic  string
		idx    int32
		offset int64
		want   *kerr.Error
	}{
		{"local", 0, 2, kerr.OffsetOutOfRange}, // above the HW (1)
		{"local", 9, 0, kerr.UnknownTopicOrPartition},
		{"nope", 0, 0, kerr.UnknownTopicOrPartition},
		{"moved", 0, 0, kerr.NotLeaderForPartition},
	}
	for _, c := range cases {
		got := deleteRecordsResult(t, serve(t, h, deleteRecordsReq(1000, c.topic, c.idx, c.offset)))
		if got.ErrorCode != c.want.Code || got.LowWatermark != -1 {
			t.Errorf("%s-%d to %d: %v (low watermark %d), want %v", c.topic, c.idx, c.offset,
				kerr.ErrorForCode(got.ErrorCode), got.LowWatermark, c.want)
		}
	}
}

// DELETE on the topic is required; internal topics are refused.
func TestDeleteRecordsAuthorization(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, topicGrant("t", opDelete)))
	req := func(topic string) kmsg.Request { return deleteRecordsReq(1000, topic, 0, 0) }
	code := func(r kmsg.Response) int16 { return deleteRecordsResult(t, r).ErrorCode }
	if c := code(n.call(t, bob, false, req("t"))); c != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("bob: %v", kerr.ErrorForCode(c))
	}
	if c := code(n.call(t, alice, false, req("t"))); c != kerr.NotLeaderForPartition.Code { // no replicas here
		t.Errorf("alice: %v", kerr.ErrorForCode(c))
	}
	if c := code(n.call(t, alice, false, req("secret"))); c != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("alice on secret: %v", kerr.ErrorForCode(c))
	}
}
