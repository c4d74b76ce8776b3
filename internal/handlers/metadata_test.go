package handlers

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// creatingController creates topics at once in the image the handlers
// read (one partition led by node 1), or refuses them with refuse.
type creatingController struct {
	fakeController
	mu     sync.Mutex
	img    *metadata.Image
	refuse *kerr.Error
}

func (c *creatingController) image() *metadata.Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.img
}

func (c *creatingController) CreateTopics(_ context.Context, reqs []controller.CreateTopic) ([]controller.TopicResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]controller.TopicResult, len(reqs))
	for i, r := range reqs {
		out[i] = controller.TopicResult{Name: r.Name}
		if c.refuse != nil {
			out[i].Err = c.refuse
			continue
		}
		id := metadata.UUID{0xc1, byte(i)}
		img, _, err := c.img.Apply(2, []metadata.Record{metadata.Topic{Name: r.Name, ID: id},
			metadata.Partition{TopicID: id, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}})
		if err != nil {
			return nil, err
		}
		c.img = img
	}
	return out, nil
}

func creatingNode(t *testing.T, refuse *kerr.Error) (*Handlers, *creatingController) {
	t.Helper()
	cfg, err := config.NewBroker(nil) // auto.create.topics.enable defaults to true
	if err != nil {
		t.Fatal(err)
	}
	c := &creatingController{img: authzImage(t, nil), refuse: refuse}
	return New(Deps{NodeID: 1, Config: cfg, Image: c.image, Partitions: noReplicas{}, Controller: c,
		Logger: slog.New(slog.DiscardHandler)}), c
}

// As Kafka, the Metadata request that auto-creates a topic answers it
// with LEADER_NOT_AVAILABLE and no partitions, although the creation
// completed before the answer; the next request sees the topic.
func TestMetadataAutoCreateFirstAnswer(t *testing.T) {
	for _, v := range []int16{0, 4, 9, 12} {
		h, c := creatingNode(t, nil)
		topic := "new"
		r := versioned(kmsg.NewPtrMetadataRequest(), v)
		r.AllowAutoTopicCreation = true
		r.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}, {Topic: kmsg.StringPtr("t")}}
		first := serve(t, h, r).(*kmsg.MetadataResponse)
		if len(first.Topics) != 2 {
			t.Fatalf("v%d: topics %+v", v, first.Topics)
		}
		got := first.Topics[0]
		if got.ErrorCode != kerr.LeaderNotAvailable.Code || len(got.Partitions) != 0 || got.TopicID != [16]byte{} {
			t.Errorf("v%d first answer: %+v, want LEADER_NOT_AVAILABLE without partitions", v, got)
		}
		if _, ok := c.image().Topic(topic); !ok {
			t.Fatalf("v%d: topic not created", v)
		}
		if other := first.Topics[1]; other.ErrorCode != 0 || len(other.Partitions) != 1 {
			t.Errorf("v%d existing topic: %+v", v, other)
		}
		again := serve(t, h, r).(*kmsg.MetadataResponse).Topics[0]
		if again.ErrorCode != 0 || len(again.Partitions) != 1 || again.Partitions[0].Leader != 1 {
			t.Errorf("v%d second answer: %+v", v, again)
		}
	}
}

// A creation the controller refuses reports its error; without
// AllowAutoTopicCreation nothing is created.
func TestMetadataAutoCreateRefused(t *testing.T) {
	h, _ := creatingNode(t, kerr.InvalidReplicationFactor)
	got := serve(t, h, metadataReq(true, "new")).(*kmsg.MetadataResponse).Topics[0]
	if got.ErrorCode != kerr.InvalidReplicationFactor.Code || len(got.Partitions) != 0 {
		t.Errorf("refused: %+v", got)
	}
	h, c := creatingNode(t, nil)
	got = serve(t, h, metadataReq(false, "new")).(*kmsg.MetadataResponse).Topics[0]
	if _, ok := c.image().Topic("new"); ok || got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("not allowed: %+v", got)
	}
}
