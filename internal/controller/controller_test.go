package controller

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/fakeclock"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// memLog is an in-memory metadata log that applies entries to an image,
// as a node's replay does, and can be told to fail or to lose leadership.
type memLog struct {
	entries [][]byte
	img     *metadata.Image
	err     error
	leader  int32
	term    uint64
	publish func(*metadata.Image)
	// limboNext makes the next Propose time out while its entry stays in
	// the log (limbo): it commits just before the following entry.
	limboNext bool
	limbo     [][]byte
	// gate, if set, holds every Propose until it is closed; entered (if
	// set) is closed when the first Propose starts waiting.
	gate, entered chan struct{}
}

func (m *memLog) Propose(ctx context.Context, data []byte) (uint64, error) {
	if m.gate != nil {
		if m.entered != nil {
			close(m.entered)
			m.entered = nil
		}
		<-m.gate
	}
	if m.err != nil {
		return 0, m.err
	}
	if m.limboNext {
		m.limboNext, m.limbo = false, append(m.limbo, data)
		return 0, context.DeadlineExceeded
	}
	for _, e := range m.limbo {
		if _, err := m.append(e); err != nil {
			return 0, err
		}
	}
	m.limbo = nil
	return m.append(data)
}

func (m *memLog) append(data []byte) (uint64, error) {
	m.entries = append(m.entries, data)
	off := uint64(len(m.entries))
	recs, err := metadata.DecodeBatch(data)
	if err != nil {
		return 0, err
	}
	img, _, err := m.img.Apply(int64(off), recs)
	if err != nil {
		return 0, err
	}
	m.img = img
	m.publish(img)
	return off, nil
}

func (m *memLog) Leader() (int32, uint64)                     { return m.leader, m.term }
func (m *memLog) LeaderReady(context.Context) (uint64, error) { return uint64(len(m.entries)), nil }

// fakeClock is a settable clock.
type fakeClock = fakeclock.Clock

type harness struct {
	c      *Controller
	log    *memLog
	clock  *fakeClock
	images []*metadata.Image
	epochs map[int32]int64
}

// newHarness starts a controller on node 1 and registers and unfences
// brokers 1..n.
func newHarness(t *testing.T, brokers int, props map[string]string) *harness {
	t.Helper()
	cfg, err := config.NewBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{clock: fakeclock.New(time.Unix(1000, 0)), epochs: map[int32]int64{}}
	h.log = &memLog{img: metadata.Empty(), leader: 1, term: 1, publish: func(img *metadata.Image) { h.images = append(h.images, img) }}
	n := byte(0)
	h.c = New(Options{
		NodeID: 1, Config: cfg, Log: h.log, Image: func() *metadata.Image { return h.log.img },
		NewID: func() [16]byte { n++; return [16]byte{n} }, Now: h.clock.Now,
	})
	go h.c.Run()
	t.Cleanup(h.c.Stop)
	for id := int32(1); id <= int32(brokers); id++ {
		h.join(t, id)
	}
	return h
}

// join registers a broker and heartbeats it until unfenced.
func (h *harness) join(t *testing.T, id int32) {
	t.Helper()
	ctx := context.Background()
	epoch, err := h.c.RegisterBroker(ctx, Registration{ID: id, Incarnation: fmt.Sprint("inc", id, len(h.log.entries))})
	if err != nil {
		t.Fatal(err)
	}
	h.epochs[id] = epoch
	if !h.latest().Brokers[id].Fenced {
		t.Fatalf("broker %d registered unfenced", id)
	}
	res, err := h.c.BrokerHeartbeat(ctx, Heartbeat{ID: id, Epoch: epoch, MetadataOffset: epoch - 1})
	if err != nil || !res.IsFenced || res.IsCaughtUp {
		t.Fatalf("heartbeat before catching up: %+v %v", res, err)
	}
	res, err = h.c.BrokerHeartbeat(ctx, Heartbeat{ID: id, Epoch: epoch, MetadataOffset: epoch})
	if err != nil || res.IsFenced || !res.IsCaughtUp {
		t.Fatalf("heartbeat after catching up: %+v %v", res, err)
	}
}

// beat heartbeats the given brokers (renewing their sessions).
func (h *harness) beat(t *testing.T, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		if _, err := h.c.BrokerHeartbeat(context.Background(), Heartbeat{ID: id, Epoch: h.epochs[id], MetadataOffset: 1 << 40}); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) latest() *metadata.Image { return h.log.img }

// replay rebuilds the image from the log, to check state comes only from records.
func (h *harness) replay(t *testing.T) *metadata.Image {
	t.Helper()
	img := metadata.Empty()
	for i, e := range h.log.entries {
		recs, err := metadata.DecodeBatch(e)
		if err != nil {
			t.Fatal(err)
		}
		if img, _, err = img.Apply(int64(i+1), recs); err != nil {
			t.Fatal(err)
		}
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
	want := map[string]string{"retention.ms": "10", "segment.bytes": "2048", "cleanup.policy": "delete,compact"} // APPEND starts from the default, as Kafka
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
	if err != nil || !errors.Is(res[0].Err, kerr.NotController) {
		t.Fatalf("expected NOT_CONTROLLER from the failed commit, got %v %v", err, res[0].Err)
	}
	if len(h.images) != before {
		t.Error("an image was published for an uncommitted change")
	}
}

func TestStoppedControllerRefusesCommands(t *testing.T) {
	cfg, _ := config.NewBroker(nil)
	c := New(Options{Config: cfg, Log: &memLog{leader: 1}, NodeID: 1, Image: metadata.Empty, NewID: func() [16]byte { return [16]byte{1} }})
	go c.Run()
	c.Stop()
	if _, err := c.CreateTopics(context.Background(), nil); !errors.Is(err, ErrStopped) {
		t.Errorf("got %v", err)
	}
}

func TestPlacementSpreadsReplicasAcrossRacks(t *testing.T) {
	h := newHarness(t, 0, nil)
	ctx := context.Background()
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	for id := int32(1); id <= 6; id++ {
		epoch, err := h.c.RegisterBroker(ctx, Registration{ID: id, Rack: racks[id], Incarnation: fmt.Sprint(id)})
		if err != nil {
			t.Fatal(err)
		}
		h.epochs[id] = epoch
		h.beat(t, id)
	}
	top := createTopic(t, h, "t", 12, 3, nil)
	leaders := map[int32]int{}
	for i, p := range top.Partitions {
		leaders[p.Leader]++
		seen := map[string]bool{}
		for _, r := range p.Replicas {
			if seen[racks[r]] {
				t.Errorf("partition %d: replicas %v share rack %s", i, p.Replicas, racks[r])
			}
			seen[racks[r]] = true
		}
	}
	for id := int32(1); id <= 6; id++ {
		if leaders[id] != 2 {
			t.Errorf("broker %d leads %d partitions, want 2 (%v)", id, leaders[id], leaders)
		}
	}
}

func TestProducerIDBlocksAreUniqueAcrossFailover(t *testing.T) {
	h := newHarness(t, 2, nil)
	ctx := context.Background()
	seen := map[int64]bool{}
	for i := 0; i < 3; i++ {
		for _, b := range []int32{1, 2} {
			start, n, err := h.c.AllocateProducerIDs(ctx, b, h.epochs[b])
			if err != nil || n != ProducerIDBlockSize {
				t.Fatal(err)
			}
			if seen[start] {
				t.Fatalf("block %d handed out twice", start)
			}
			seen[start] = true
		}
		h.log.term++ // a controller failover: the next active one reads the log
	}
	if _, _, err := h.c.AllocateProducerIDs(ctx, 1, 12345); !errors.Is(err, kerr.StaleBrokerEpoch) {
		t.Errorf("stale epoch: %v", err)
	}
	if img := h.replay(t); img.NextProducerID != 6*ProducerIDBlockSize {
		t.Errorf("replayed next producer id %d", img.NextProducerID)
	}
}

func TestCreateTopicsCommitsOneEntry(t *testing.T) {
	h := newHarness(t, 3, nil)
	before := len(h.log.entries)
	res, err := h.c.CreateTopics(context.Background(), []CreateTopic{
		{Name: "a", NumPartitions: 30, ReplicationFactor: 3},
		{Name: "b", NumPartitions: 2, ReplicationFactor: 2},
		{Name: "a", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "bad/name", NumPartitions: 1, ReplicationFactor: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil || !errors.Is(res[2].Err, kerr.InvalidRequest) || res[3].Err == nil {
		t.Fatalf("results: %+v", res)
	}
	if n := len(h.log.entries) - before; n != 1 {
		t.Errorf("CreateTopics committed %d entries, want one", n)
	}
	if a, ok := h.latest().Topic("a"); !ok || len(a.Partitions) != 30 {
		t.Errorf("topic a: %+v", a)
	}
}
