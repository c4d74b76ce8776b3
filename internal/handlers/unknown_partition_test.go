package handlers

import (
	"context"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// noReplicas is a node that holds no replica at all.
type noReplicas struct{}

func (noReplicas) Partition(string, int32) *partition.Partition { return nil }

// twoPartitionImage has topic "t" with partitions 0 and 1, led by node 2.
func twoPartitionImage() *metadata.Image {
	img := metadata.Empty()
	id := metadata.UUID{1}
	p := metadata.PartitionImage{Replicas: []int32{2}, ISR: []int32{2}, Leader: 2}
	img.Topics[id] = &metadata.TopicImage{Name: "t", ID: id, Partitions: []metadata.PartitionImage{p, p}}
	img.TopicsByName["t"] = id
	return img
}

// A partition the topic does not have is UNKNOWN_TOPIC_OR_PARTITION, like
// an unknown topic; one that exists but is not led here is
// NOT_LEADER_OR_FOLLOWER. Produce, Fetch and ListOffsets agree.
func TestUnknownPartitionVersusNotLeader(t *testing.T) {
	img := twoPartitionImage()
	h := New(Deps{NodeID: 1, Image: func() *metadata.Image { return img }, Partitions: noReplicas{}})
	ctx := context.Background()
	cases := []struct {
		topic     string
		partition int32
		want      *kerr.Error
	}{
		{"t", 0, kerr.NotLeaderForPartition},
		{"t", 1, kerr.NotLeaderForPartition},
		{"t", 2, kerr.UnknownTopicOrPartition},
		{"t", -1, kerr.UnknownTopicOrPartition},
		{"t", 1 << 30, kerr.UnknownTopicOrPartition},
		{"nope", 0, kerr.UnknownTopicOrPartition},
	}
	for _, tc := range cases {
		prod := kmsg.NewPtrProduceRequest()
		prod.SetVersion(9)
		prod.Acks, prod.TimeoutMillis = -1, 1000
		prod.Topics = []kmsg.ProduceRequestTopic{{Topic: tc.topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: tc.partition, Records: []byte{}}}}}
		reply := h.Handle(ctx, &server.Request{Body: prod})
		pr := reply.Response.(*kmsg.ProduceResponse)
		if got := pr.Topics[0].Partitions[0].ErrorCode; got != tc.want.Code {
			t.Errorf("produce %s/%d: %d, want %d", tc.topic, tc.partition, got, tc.want.Code)
		}

		fetch := kmsg.NewPtrFetchRequest()
		fetch.SetVersion(12)
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.PartitionMaxBytes = tc.partition, 1<<20
		fetch.Topics = []kmsg.FetchRequestTopic{{Topic: tc.topic, Partitions: []kmsg.FetchRequestTopicPartition{fp}}}
		fetch.MaxWaitMillis, fetch.MinBytes = 0, 0
		fr := fetchOf(h.Handle(ctx, &server.Request{Body: fetch}).Response)
		if got := fr.Topics[0].Partitions[0].ErrorCode; got != tc.want.Code {
			t.Errorf("fetch %s/%d: %d, want %d", tc.topic, tc.partition, got, tc.want.Code)
		}

		lo := kmsg.NewPtrListOffsetsRequest()
		lo.SetVersion(5)
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = tc.partition, -1
		lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: tc.topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{lp}}}
		lr := h.Handle(ctx, &server.Request{Body: lo}).Response.(*kmsg.ListOffsetsResponse)
		if got := lr.Topics[0].Partitions[0].ErrorCode; got != tc.want.Code {
			t.Errorf("list offsets %s/%d: %d, want %d", tc.topic, tc.partition, got, tc.want.Code)
		}
	}
}

// acks outside {-1, 0, 1}: INVALID_REQUIRED_ACKS for every partition,
// whether or not it exists, before anything else is looked at.
func TestProduceInvalidAcksEveryPartition(t *testing.T) {
	img := twoPartitionImage()
	h := New(Deps{NodeID: 1, Image: func() *metadata.Image { return img }, Partitions: noReplicas{}})
	for _, acks := range []int16{2, -2, 100} {
		prod := kmsg.NewPtrProduceRequest()
		prod.SetVersion(3)
		prod.Acks = acks
		prod.Topics = []kmsg.ProduceRequestTopic{
			{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0}, {Partition: 5}}},
			{Topic: "nope", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0}}},
		}
		reply := h.Handle(context.Background(), &server.Request{Body: prod})
		resp, ok := reply.Response.(*kmsg.ProduceResponse)
		if !ok || reply.Close {
			t.Fatalf("acks=%d: reply %+v", acks, reply)
		}
		n := 0
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				n++
				if p.ErrorCode != kerr.InvalidRequiredAcks.Code {
					t.Errorf("acks=%d %s/%d: %d", acks, rt.Topic, p.Partition, p.ErrorCode)
				}
			}
		}
		if n != 3 {
			t.Errorf("acks=%d: %d partitions answered", acks, n)
		}
	}
}
