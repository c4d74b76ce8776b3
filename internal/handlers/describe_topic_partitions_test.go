package handlers

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeImage: brokers 1 (listener X), 2 (X, fenced) and 3 (only Y);
// topics a (3 partitions), b (2) and c (1), all on replicas 1,2,3 led by
// 1, except a-1: leaderless with ELR [2 3] and last known ELR [1], and
// a-2: led by 3, which has no X listener.
func describeImage(t *testing.T) *metadata.Image {
	t.Helper()
	ep := func(name string) []metadata.Endpoint { return []metadata.Endpoint{{Name: name, Host: "h", Port: 1}} }
	recs := []metadata.Record{
		metadata.ClusterID{ID: "c"},
		metadata.RegisterBroker{ID: 1, Endpoints: ep("X")},
		metadata.RegisterBroker{ID: 2, Endpoints: ep("X"), Fenced: true},
		metadata.RegisterBroker{ID: 3, Endpoints: ep("Y")},
	}
	for i, name := range []string{"a", "b", "c"} {
		id := metadata.UUID{0xd, byte(i)}
		recs = append(recs, metadata.Topic{Name: name, ID: id})
		for p := range 3 - i {
			part := metadata.Partition{TopicID: id, Partition: int32(p), Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 4}
			switch {
			case name == "a" && p == 1:
				part.Leader, part.ELR, part.LastKnownELR = -1, []int32{2, 3}, []int32{1}
			case name == "a" && p == 2:
				part.Leader, part.ISR = 3, []int32{3}
			}
			recs = append(recs, part)
		}
	}
	img, _, err := metadata.Empty().Apply(1, recs)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func describeReq(limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsRequest {
	r := kmsg.NewPtrDescribeTopicPartitionsRequest()
	r.ResponsePartitionLimit, r.Cursor = limit, cursor
	for _, name := range topics {
		r.Topics = append(r.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: name})
	}
	return r
}

func cursorAt(topic string, p int32) *kmsg.DescribeTopicPartitionsRequestCursor {
	return &kmsg.DescribeTopicPartitionsRequestCursor{Topic: topic, Partition: p}
}

// pageSummary renders a response as "a0 a1 | b0 -> b1": the partitions
// (topics with an error as "name!code") and the next cursor.
func pageSummary(resp *kmsg.DescribeTopicPartitionsResponse) string {
	var parts []string
	for _, t := range resp.Topics {
		if t.ErrorCode != 0 {
			parts = append(parts, fmt.Sprintf("%s!%d", *t.Topic, t.ErrorCode))
		}
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s%d", *t.Topic, p.Partition))
		}
	}
	s := strings.Join(parts, " ")
	if c := resp.NextCursor; c != nil {
		s += fmt.Sprintf(" -> %s%d", c.Topic, c.Partition)
	}
	return s
}

func describeNode(t *testing.T) *Handlers {
	img := describeImage(t)
	return New(Deps{NodeID: 1, Image: func() *metadata.Image { return img }, Partitions: noReplicas{}})
}

// Pages hold at most ResponsePartitionLimit partitions and resume at the
// cursor: inside a topic, or at the next topic's partition 0 when a page
// ends exactly at a topic's end (as Kafka's KRaftMetadataCache).
func TestDescribeTopicPartitionsPaging(t *testing.T) {
	h := describeNode(t)
	cases := []struct {
		name string
		req  *kmsg.DescribeTopicPartitionsRequest
		want string
	}{
		{"all", describeReq(2000, nil), "a0 a1 a2 b0 b1 c0"},
		{"first page", describeReq(2, nil), "a0 a1 -> a2"},
		{"second page", describeReq(2, cursorAt("a", 2)), "a2 b0 -> b1"},
		{"last page", describeReq(2, cursorAt("b", 1)), "b1 c0"},
		{"page ends with a topic", describeReq(3, nil), "a0 a1 a2 -> b0"},
		{"limit below 1 counts as 1", describeReq(0, nil), "a0 -> a1"},
		{"cursor on a missing topic", describeReq(10, cursorAt("bb", 0)), "c0"},
		{"cursor past the partitions", describeReq(10, cursorAt("c", 5)), ""},
		{"named, sorted, once", describeReq(10, nil, "c", "a", "c"), "a0 a1 a2 c0"},
		{"named from the cursor", describeReq(1, cursorAt("c", 0), "a", "c"), "c0"},
		{"named, unknown and invalid", describeReq(10, nil, "nope", "b", "bad/name"), "b0 b1 bad/name!17 nope!3"},
		{"unknown named topic at a full page", describeReq(2, nil, "b", "nope"), "b0 b1 -> nope0"},
		{"bad cursor partition", describeReq(10, cursorAt("a", -1), "a", "b"), "a!42 b!42"},
		{"cursor topic not named", describeReq(10, cursorAt("c", 0), "a", "b"), "a!42 b!42"},
	}
	for _, tc := range cases {
		resp := serve(t, h, tc.req).(*kmsg.DescribeTopicPartitionsResponse)
		if got := pageSummary(resp); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Each partition carries its leader (when it listens on the request's
// listener), epoch, replicas, ISR, ELR, last known ELR (empty lists, not
// null) and offline replicas (fenced, unregistered or without the
// listener); topics carry their id and authorized operations.
func TestDescribeTopicPartitionsFields(t *testing.T) {
	h := describeNode(t)
	resp := serve(t, h, describeReq(10, nil, "a")).(*kmsg.DescribeTopicPartitionsResponse)
	a := resp.Topics[0]
	if a.TopicID != (metadata.UUID{0xd, 0}) || a.IsInternal || a.AuthorizedOperations == operationsNotRequested {
		t.Errorf("topic a: id %v internal %v operations %d", a.TopicID, a.IsInternal, a.AuthorizedOperations)
	}
	type part struct {
		leader, epoch               int32
		replicas, isr, elr, lke, of []int32
	}
	var got []part
	for _, p := range a.Partitions {
		got = append(got, part{p.LeaderID, p.LeaderEpoch, p.Replicas, p.ISR, p.EligibleLeaderReplicas, p.LastKnownELR, p.OfflineReplicas})
	}
	all, none := []int32{1, 2, 3}, []int32{}
	want := []part{
		{1, 4, all, []int32{1}, none, none, []int32{2, 3}},
		{-1, 4, all, []int32{1}, []int32{2, 3}, []int32{1}, []int32{2, 3}},
		{-1, 4, all, []int32{3}, none, none, []int32{2, 3}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("partitions:\n got %+v\nwant %+v", got, want)
	}
}

// DESCRIBE on each topic: listing all topics leaves out the others; named
// ones without it answer TOPIC_AUTHORIZATION_FAILED (existing or not, no
// id, no partitions) after the described ones.
func TestDescribeTopicPartitionsAuthorization(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, topicGrant("t", opDescribe), topicGrant("other", opCreate)))
	all := n.call(t, alice, false, describeReq(10, nil)).(*kmsg.DescribeTopicPartitionsResponse)
	if got := pageSummary(all); got != "t0" {
		t.Errorf("all topics: %q, want t0 only", got)
	}
	if ops := all.Topics[0].AuthorizedOperations; ops != 1<<opDescribe {
		t.Errorf("authorized operations of t: %b, want DESCRIBE only", ops)
	}
	named := n.call(t, alice, false, describeReq(10, nil, "secret", "t", "nope", "other")).(*kmsg.DescribeTopicPartitionsResponse)
	denied := kerr.TopicAuthorizationFailed.Code
	if got, want := pageSummary(named), fmt.Sprintf("t0 nope!%d other!%d secret!%d", denied, denied, denied); got != want {
		t.Errorf("named: %q, want %q", got, want)
	}
	for _, tp := range named.Topics[1:] {
		if tp.TopicID != ([16]byte{}) || tp.Partitions != nil || tp.AuthorizedOperations != operationsNotRequested {
			t.Errorf("denied %s reveals %+v", *tp.Topic, tp)
		}
	}
	if got := pageSummary(n.call(t, admin, false, describeReq(10, nil)).(*kmsg.DescribeTopicPartitionsResponse)); got != "other0 secret0 t0" {
		t.Errorf("super user: %q", got)
	}
}

// describeTopicCode is the first topic's code (the ACL matrix's).
func describeTopicCode(r kmsg.Response) int16 {
	for _, t := range r.(*kmsg.DescribeTopicPartitionsResponse).Topics {
		return t.ErrorCode
	}
	return none
}
