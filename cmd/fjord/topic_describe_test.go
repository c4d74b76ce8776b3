package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerRequestor serves requests with Fjord's handlers over a fixed
// metadata image, through an encode/decode round trip, and counts them.
type handlerRequestor struct {
	h     *handlers.Handlers
	calls int
}

func (r *handlerRequestor) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	r.calls++
	reply := r.h.Handle(ctx, &server.Request{Body: req, Listener: "PLAINTEXT"})
	if reply.Response == nil {
		return nil, errors.New("no immediate response")
	}
	out := kmsg.ResponseForKey(req.Key())
	out.SetVersion(req.GetVersion())
	return out, out.ReadFrom(reply.Response.AppendTo(nil))
}

// describeNode is a node over topics "orders" (3 partitions; partition 1
// leaderless with an ELR and a last known leader) and "pay" (1).
func describeNode(t *testing.T) *handlerRequestor {
	t.Helper()
	orders, pay := metadata.UUID{0xa}, metadata.UUID{0xb}
	recs := []metadata.Record{metadata.ClusterID{ID: "c"}}
	for id := int32(1); id <= 3; id++ {
		recs = append(recs, metadata.RegisterBroker{ID: id, Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 9092 + id}}})
	}
	all := []int32{1, 2, 3}
	recs = append(recs,
		metadata.Topic{Name: "orders", ID: orders},
		metadata.Partition{TopicID: orders, Partition: 0, Replicas: all, ISR: all, Leader: 1},
		metadata.Partition{TopicID: orders, Partition: 1, Replicas: []int32{2, 3, 1}, ISR: []int32{2}, ELR: []int32{3, 1}, LastKnownELR: []int32{2}, Leader: -1},
		metadata.Partition{TopicID: orders, Partition: 2, Replicas: []int32{3, 1, 2}, ISR: []int32{3, 1}, Leader: 3},
		metadata.Topic{Name: "pay", ID: pay},
		metadata.Partition{TopicID: pay, Partition: 0, Replicas: []int32{2}, ISR: []int32{2}, Leader: 2},
	)
	img, _, err := metadata.Empty().Apply(1, recs)
	if err != nil {
		t.Fatal(err)
	}
	return &handlerRequestor{h: handlers.New(handlers.Deps{NodeID: 1, Image: func() *metadata.Image { return img }})}
}

// Paged at one partition a response, the answers merge into the same
// topics as one page holds; the output is kafka-topics' with Elr and
// LastKnownElr.
func TestDescribeTopicPartitionsPages(t *testing.T) {
	ctx := context.Background()
	r := describeNode(t)
	whole, err := describeTopicPartitions(ctx, r, nil, 2000)
	if err != nil || r.calls != 1 {
		t.Fatalf("one page: %v, %d requests", err, r.calls)
	}
	r.calls = 0
	paged, err := describeTopicPartitions(ctx, r, nil, 1)
	if err != nil || r.calls != 4 {
		t.Fatalf("paged: %v, %d requests, want 4", err, r.calls)
	}
	var a, b bytes.Buffer
	writeTopicDescribe(&a, whole, nil, kadm.BrokerDetails{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}}, describeFilter{})
	writeTopicDescribe(&b, paged, nil, kadm.BrokerDetails{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}}, describeFilter{})
	if a.String() != b.String() {
		t.Errorf("paged output differs:\n%s\nwhole:\n%s", b.String(), a.String())
	}
	checkGolden(t, "topic_describe_partitions.golden", a.Bytes())
}

// A named topic that does not exist is reported as kafka-topics does
// (unless --if-exists).
func TestDescribeTopicPartitionsNamed(t *testing.T) {
	topics, err := describeTopicPartitions(context.Background(), describeNode(t), []string{"pay", "nope"}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := usableTopics(topics, topicDescribeOpts{}); err == nil || err.Error() != "topic 'nope' does not exist" {
		t.Errorf("missing topic: %v", err)
	}
	got, err := usableTopics(topics, topicDescribeOpts{ifExists: true})
	if err != nil || len(got) != 1 || got[0].Name != "pay" || !got[0].Partitions[0].ELRKnown {
		t.Errorf("--if-exists: %+v, %v", got, err)
	}
}

// A topic answering UNSUPPORTED_VERSION sends the tool back to Metadata.
func TestDescribedTopicsUnsupported(t *testing.T) {
	var d describedTopics
	name := "x"
	err := d.add([]kmsg.DescribeTopicPartitionsResponseTopic{{Topic: &name, ErrorCode: kerr.UnsupportedVersion.Code}})
	if !errors.Is(err, kerr.UnsupportedVersion) {
		t.Errorf("got %v", err)
	}
}

// Refused topics come back on every page; a cursor must move forward.
func TestDescribedTopicsMerge(t *testing.T) {
	var d describedTopics
	a, secret := "a", "secret"
	denied := kmsg.DescribeTopicPartitionsResponseTopic{Topic: &secret, ErrorCode: kerr.TopicAuthorizationFailed.Code}
	page := func(first int32) []kmsg.DescribeTopicPartitionsResponseTopic {
		return []kmsg.DescribeTopicPartitionsResponseTopic{
			{Topic: &a, Partitions: []kmsg.DescribeTopicPartitionsResponseTopicPartition{{Partition: first}}}, denied}
	}
	if err := d.add(page(0)); err != nil {
		t.Fatal(err)
	}
	if err := d.add(page(1)); err != nil {
		t.Fatal(err)
	}
	if len(d.topics) != 2 || len(d.topics[0].Partitions) != 2 || d.topics[1].Name != "secret" {
		t.Errorf("merged: %+v", d.topics)
	}
	cur := &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "a", Partition: 1}
	for _, next := range []kmsg.DescribeTopicPartitionsResponseNextCursor{{Topic: "a", Partition: 1}, {Topic: "a", Partition: 0}, {Topic: "0"}} {
		if _, err := nextDescribeCursor(cur, &next); err == nil {
			t.Errorf("cursor %+v after %+v accepted", next, *cur)
		}
	}
	if c, err := nextDescribeCursor(cur, &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: "b"}); err != nil || c.Topic != "b" {
		t.Errorf("next topic: %+v %v", c, err)
	}
}
