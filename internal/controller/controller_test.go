package controller

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// memLog is an in-memory metadata log that can be told to fail.
type memLog struct {
	entries [][]byte
	err     error
}

func (m *memLog) Append(data [][]byte) (int64, error) {
	if m.err != nil {
		return 0, m.err
	}
	first := int64(len(m.entries))
	m.entries = append(m.entries, data...)
	return first, nil
}

type harness struct {
	c      *Controller
	log    *memLog
	images []*metadata.Image
}

func newHarness(t *testing.T, brokers int, props map[string]string) *harness {
	t.Helper()
	cfg, err := config.NewBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{log: &memLog{}}
	n := byte(0)
	h.c = New(Options{
		Config: cfg, Log: h.log, Image: metadata.Empty(),
		Publish: func(img *metadata.Image, _ *metadata.Delta) { h.images = append(h.images, img) },
		NewID:   func() [16]byte { n++; return [16]byte{n} },
	})
	go h.c.Run()
	t.Cleanup(h.c.Stop)
	for id := int32(1); id <= int32(brokers); id++ {
		if _, err := h.c.RegisterBroker(context.Background(), Registration{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *harness) latest() *metadata.Image { return h.images[len(h.images)-1] }

// replay rebuilds the image from the log, to check state comes only from records.
func (h *harness) replay(t *testing.T) *metadata.Image {
	t.Helper()
	var recs []metadata.Record
	for _, e := range h.log.entries {
		r, err := metadata.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	img, _, err := metadata.Empty().Apply(0, recs)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCreateTopicPlacesLeadersEvenly(t *testing.T) {
	h := newHarness(t, 3, nil)
	res, err := h.c.CreateTopics(context.Background(), []CreateTopic{{Name: "t", NumPartitions: 6, ReplicationFactor: 3}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create: %v %v", err, res)
	}
	top, _ := h.latest().Topic("t")
	leaders := map[int32]int{}
	for _, p := range top.Partitions {
		leaders[p.Leader]++
		if len(p.Replicas) != 3 || !reflect.DeepEqual(p.Replicas, p.ISR) || p.Leader != p.Replicas[0] {
			t.Errorf("partition %+v", p)
		}
		seen := map[int32]bool{}
		for _, r := range p.Replicas {
			if seen[r] {
				t.Errorf("replicas repeat a broker: %v", p.Replicas)
			}
			seen[r] = true
		}
	}
	if !reflect.DeepEqual(leaders, map[int32]int{1: 2, 2: 2, 3: 2}) {
		t.Errorf("leaders per broker: %v", leaders)
	}
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replaying the log does not rebuild the published image")
	}
}

func TestCreateTopicErrors(t *testing.T) {
	h := newHarness(t, 1, map[string]string{"num.partitions": "3"})
	ctx := context.Background()
	if _, err := h.c.CreateTopics(ctx, []CreateTopic{{Name: "dup", NumPartitions: 1, ReplicationFactor: 1}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		req  CreateTopic
		want *kerr.Error
	}{
		{CreateTopic{Name: "dup", NumPartitions: 1, ReplicationFactor: 1}, kerr.TopicAlreadyExists},
		{CreateTopic{Name: "bad/name", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{CreateTopic{Name: "..", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{CreateTopic{Name: string(make([]byte, 250)), NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{CreateTopic{Name: "zero", NumPartitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{CreateTopic{Name: "rf", NumPartitions: 1, ReplicationFactor: 2}, kerr.InvalidReplicationFactor},
		{CreateTopic{Name: "cfg", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "x"}}, kerr.InvalidConfig},
		{CreateTopic{Name: "cfg2", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"nope": "1"}}, kerr.InvalidConfig},
		{CreateTopic{Name: "asg", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{7}}}, kerr.InvalidReplicaAssignment},
	}
	for _, c := range cases {
		res, err := h.c.CreateTopics(ctx, []CreateTopic{c.req})
		if err != nil || !errors.Is(res[0].Err, c.want) {
			t.Errorf("%q: got %v %v, want %v", c.req.Name, err, res[0].Err, c.want)
		}
	}
	res, _ := h.c.CreateTopics(ctx, []CreateTopic{{Name: "defaults", NumPartitions: -1, ReplicationFactor: -1}})
	if res[0].Err != nil || res[0].NumPartitions != 3 || res[0].ReplicationFactor != 1 {
		t.Errorf("defaults: %+v", res[0])
	}
	res, _ = h.c.CreateTopics(ctx, []CreateTopic{{Name: "validate", NumPartitions: 1, ReplicationFactor: 1, ValidateOnly: true}})
	if _, ok := h.latest().Topic("validate"); ok || res[0].Err != nil {
		t.Errorf("validate-only created the topic or failed: %v", res[0].Err)
	}
}

func TestDeleteAndGrowTopics(t *testing.T) {
	h := newHarness(t, 2, nil)
	ctx := context.Background()
	h.c.CreateTopics(ctx, []CreateTopic{{Name: "t", NumPartitions: 2, ReplicationFactor: 2}})
	res, _ := h.c.CreatePartitions(ctx, []CreatePartitions{{Name: "t", Count: 5}, {Name: "t", Count: 1}, {Name: "x", Count: 3}})
	if res[0].Err != nil || !errors.Is(res[1].Err, kerr.InvalidPartitions) || !errors.Is(res[2].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("create partitions: %+v", res)
	}
	if top, _ := h.latest().Topic("t"); len(top.Partitions) != 5 || len(top.Partitions[4].Replicas) != 2 {
		t.Fatalf("after growth: %+v", top)
	}
	del, _ := h.c.DeleteTopics(ctx, []string{"t", "t"})
	if del[0].Err != nil || !errors.Is(del[1].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete: %+v", del)
	}
	if _, ok := h.latest().Topic("t"); ok {
		t.Fatal("topic still present")
	}
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

func TestAlterConfigs(t *testing.T) {
	h := newHarness(t, 1, nil)
	ctx := context.Background()
	h.c.CreateTopics(ctx, []CreateTopic{{Name: "t", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "10"}}})
	errs, _ := h.c.AlterConfigs(ctx, []AlterConfigs{{ResourceType: metadata.ResourceTopic, ResourceName: "t", Incremental: true, Ops: []ConfigOp{
		{Name: "segment.bytes", Op: OpSet, Value: "2048"},
		{Name: "cleanup.policy", Op: OpAppend, Value: "compact"},
	}}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	want := map[string]string{"retention.ms": "10", "segment.bytes": "2048", "cleanup.policy": "compact"}
	if got := h.latest().TopicConfig("t"); !reflect.DeepEqual(got, want) {
		t.Errorf("incremental: %v", got)
	}
	errs, _ = h.c.AlterConfigs(ctx, []AlterConfigs{{ResourceType: metadata.ResourceTopic, ResourceName: "t", Ops: []ConfigOp{{Name: "flush.ms", Value: "5"}}}})
	if got := h.latest().TopicConfig("t"); errs[0] != nil || !reflect.DeepEqual(got, map[string]string{"flush.ms": "5"}) {
		t.Errorf("full replacement: %v %v", errs[0], got)
	}
	errs, _ = h.c.AlterConfigs(ctx, []AlterConfigs{
		{ResourceType: metadata.ResourceTopic, ResourceName: "t", Incremental: true, Ops: []ConfigOp{{Name: "retention.ms", Value: "abc"}}},
		{ResourceType: metadata.ResourceTopic, ResourceName: "none", Incremental: true},
		{ResourceType: metadata.ResourceTopic, ResourceName: "t", Incremental: true, Ops: []ConfigOp{{Name: "segment.bytes", Op: OpAppend, Value: "1"}}},
	})
	if !errors.Is(errs[0], kerr.InvalidConfig) || !errors.Is(errs[1], kerr.UnknownTopicOrPartition) || !errors.Is(errs[2], kerr.InvalidConfig) {
		t.Errorf("errors: %v", errs)
	}
}

func TestLogFailureLeavesImageUnchanged(t *testing.T) {
	h := newHarness(t, 1, nil)
	before := len(h.images)
	h.log.err = errors.New("disk on fire")
	res, err := h.c.CreateTopics(context.Background(), []CreateTopic{{Name: "t", NumPartitions: 1, ReplicationFactor: 1}})
	if err != nil || res[0].Err == nil {
		t.Fatalf("expected the append error, got %v %v", err, res[0].Err)
	}
	if len(h.images) != before {
		t.Error("an image was published for an uncommitted change")
	}
}

func TestStoppedControllerRefusesCommands(t *testing.T) {
	cfg, _ := config.NewBroker(nil)
	c := New(Options{Config: cfg, Log: &memLog{}, Image: metadata.Empty(), NewID: func() [16]byte { return [16]byte{1} }})
	go c.Run()
	c.Stop()
	if _, err := c.CreateTopics(context.Background(), nil); !errors.Is(err, ErrStopped) {
		t.Errorf("got %v", err)
	}
}
