package controller

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

func createTopic(t *testing.T, h *harness, name string, parts int32, rf int16, cfg map[string]string) *metadata.TopicImage {
	t.Helper()
	res, err := h.c.CreateTopics(context.Background(), []CreateTopic{{Name: name, NumPartitions: parts, ReplicationFactor: rf, Configs: cfg}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create %s: %v %v", name, err, res[0].Err)
	}
	top, _ := h.latest().Topic(name)
	return top
}

func TestMissedHeartbeatsFenceAndMoveLeadersInOneEntry(t *testing.T) {
	h := newHarness(t, 3, nil)
	before := createTopic(t, h, "t", 6, 3, nil)
	h.clock.Advance(5 * time.Second)
	h.beat(t, 2, 3)
	h.clock.Advance(5 * time.Second) // broker 1: 10 s since its last heartbeat > 9 s
	entries := len(h.log.entries)
	if err := h.c.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	img := h.latest()
	if !img.Brokers[1].Fenced || img.Brokers[2].Fenced || img.Brokers[3].Fenced {
		t.Fatalf("fencing: %+v", img.Brokers)
	}
	if got := len(h.log.entries) - entries; got != 1 {
		t.Errorf("fencing took %d entries, want one batch", got)
	}
	after, _ := img.Topic("t")
	for i, p := range after.Partitions {
		old := before.Partitions[i]
		if slices.Contains(p.ISR, 1) {
			t.Errorf("partition %d: fenced broker still in ISR %v", i, p.ISR)
		}
		wantLeader := old.Leader
		if old.Leader == 1 {
			wantLeader = old.Replicas[1] // next ISR member in assignment order
		}
		if p.Leader != wantLeader {
			t.Errorf("partition %d: leader %d, want %d (replicas %v)", i, p.Leader, wantLeader, old.Replicas)
		}
		if old.Leader == 1 && p.LeaderEpoch != old.LeaderEpoch+1 {
			t.Errorf("partition %d: leader epoch %d, want %d", i, p.LeaderEpoch, old.LeaderEpoch+1)
		}
		if p.PartitionEpoch != old.PartitionEpoch+1 {
			t.Errorf("partition %d: partition epoch %d, want %d", i, p.PartitionEpoch, old.PartitionEpoch+1)
		}
	}
	// A heartbeat within the session keeps brokers unfenced.
	h.clock.Advance(8 * time.Second)
	h.beat(t, 2, 3)
	h.c.Tick(context.Background())
	if h.latest().Brokers[2].Fenced || h.latest().Brokers[3].Fenced {
		t.Error("live brokers fenced")
	}
}

func TestLeaderlessWhenISRExhaustedThenBack(t *testing.T) {
	h := newHarness(t, 2, nil)
	createTopic(t, h, "t", 2, 2, nil)
	ctx := context.Background()
	h.clock.Advance(10 * time.Second)
	h.beat(t, 2)
	h.c.Tick(ctx) // fences 1
	h.clock.Advance(10 * time.Second)
	h.c.Tick(ctx) // fences 2
	top, _ := h.latest().Topic("t")
	for i, p := range top.Partitions {
		if p.Leader != -1 || !slices.Equal(p.ISR, []int32{2}) {
			t.Errorf("partition %d: leader %d ISR %v, want leaderless with ISR [2]", i, p.Leader, p.ISR)
		}
	}
	// Broker 1 is not in the ISR: its return must not make it leader (clean election only).
	h.join(t, 1)
	top, _ = h.latest().Topic("t")
	if top.Partitions[0].Leader != -1 {
		t.Fatalf("out-of-sync replica elected: %+v", top.Partitions[0])
	}
	// Broker 2, the last in-sync replica, brings the partitions back.
	h.join(t, 2)
	top, _ = h.latest().Topic("t")
	for i, p := range top.Partitions {
		if p.Leader != 2 {
			t.Errorf("partition %d: leader %d, want 2", i, p.Leader)
		}
	}
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

func TestUncleanElectionOnlyWhenEnabled(t *testing.T) {
	h := newHarness(t, 2, nil)
	createTopic(t, h, "clean", 1, 2, nil)
	createTopic(t, h, "unclean", 1, 2, map[string]string{"unclean.leader.election.enable": "true"})
	ctx := context.Background()
	// Broker 2 dies first (ISR -> [1]), then broker 1: leaderless, ISR [1].
	h.clock.Advance(10 * time.Second)
	h.beat(t, 1)
	h.c.Tick(ctx)
	h.clock.Advance(10 * time.Second)
	h.c.Tick(ctx)
	h.join(t, 2) // only the out-of-sync replica returns
	clean, _ := h.latest().Topic("clean")
	unclean, _ := h.latest().Topic("unclean")
	if p := clean.Partitions[0]; p.Leader != -1 || !slices.Equal(p.ISR, []int32{1}) {
		t.Errorf("clean topic: %+v, want leaderless with ISR [1]", p)
	}
	if p := unclean.Partitions[0]; p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
		t.Errorf("unclean topic: %+v, want leader 2 with ISR [2]", p)
	}
}

func TestRegistrationRules(t *testing.T) {
	h := newHarness(t, 2, nil)
	ctx := context.Background()
	createTopic(t, h, "t", 2, 2, nil)
	_, err := h.c.RegisterBroker(ctx, Registration{ID: 2, Incarnation: "someone-else"})
	if !errors.Is(err, kerr.DuplicateBrokerRegistration) {
		t.Errorf("duplicate live registration: %v", err)
	}
	h.log.img.ClusterID = "abc"
	if _, err := h.c.RegisterBroker(ctx, Registration{ID: 3, ClusterID: "other"}); !errors.Is(err, kerr.InconsistentClusterID) {
		t.Errorf("cluster id mismatch: %v", err)
	}
	if _, err := h.c.BrokerHeartbeat(ctx, Heartbeat{ID: 1, Epoch: 999}); !errors.Is(err, kerr.StaleBrokerEpoch) {
		t.Errorf("stale epoch heartbeat: %v", err)
	}
	// After its session expired, a restarted broker 2 re-registers: the old
	// registration is fenced and its leaderships move away in the same entry.
	h.clock.Advance(10 * time.Second)
	h.beat(t, 1)
	epoch, err := h.c.RegisterBroker(ctx, Registration{ID: 2, Incarnation: "restarted"})
	if err != nil || epoch <= h.epochs[2] {
		t.Fatalf("re-registration: epoch %d err %v", epoch, err)
	}
	top, _ := h.latest().Topic("t")
	for i, p := range top.Partitions {
		if p.Leader == 2 || slices.Contains(p.ISR, 2) {
			t.Errorf("partition %d still uses the old incarnation: %+v", i, p)
		}
	}
	// The broker of the controller's own node shares its process: a new
	// incarnation of it replaces the old at once.
	if _, err := h.c.RegisterBroker(ctx, Registration{ID: 1, Incarnation: "new-process"}); err != nil {
		t.Errorf("own node re-registration: %v", err)
	}
}

func TestControlledShutdownMovesLeadershipFirst(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopic(t, h, "t", 3, 3, nil)
	ctx := context.Background()
	shutdown := Heartbeat{ID: 1, Epoch: h.epochs[1], MetadataOffset: 1 << 40, WantShutDown: true}
	// Leadership moves at once, but the broker may stop only once the
	// others have reported seeing that.
	res, err := h.c.BrokerHeartbeat(ctx, shutdown)
	if err != nil || res.ShouldShutDown {
		t.Fatalf("first shutdown heartbeat, before the others saw the change: %+v %v", res, err)
	}
	if n := leaderCount(h.latest(), "t", 1); n != 0 {
		t.Fatalf("broker 1 still leads %d partitions after asking to shut down", n)
	}
	h.beat(t, 2)
	if res, err = h.c.BrokerHeartbeat(ctx, shutdown); err != nil || res.ShouldShutDown {
		t.Fatalf("shutdown heartbeat before broker 3 saw the change: %+v %v", res, err)
	}
	h.beat(t, 3)
	if res, err = h.c.BrokerHeartbeat(ctx, shutdown); err != nil || !res.ShouldShutDown {
		t.Fatalf("shutdown heartbeat after the others saw the change: %+v %v", res, err)
	}
	// A regular heartbeat of the stopping process (sent before it asked to
	// shut down) does not unfence it.
	if res, err := h.c.BrokerHeartbeat(ctx, Heartbeat{ID: 1, Epoch: h.epochs[1], MetadataOffset: 1 << 40}); err != nil || !res.IsFenced {
		t.Errorf("regular heartbeat after controlled shutdown: %+v %v, want fenced", res, err)
	}
	img := h.latest()
	if !img.Brokers[1].Fenced {
		t.Error("broker not fenced after controlled shutdown")
	}
	top, _ := img.Topic("t")
	for i, p := range top.Partitions {
		if p.Leader == 1 || p.Leader == -1 || slices.Contains(p.ISR, 1) {
			t.Errorf("partition %d after shutdown: %+v", i, p)
		}
	}
}

func TestFailoverResetsSessionsAndRefusesWhenInactive(t *testing.T) {
	h := newHarness(t, 2, nil)
	ctx := context.Background()
	h.log.leader, h.log.term = 2, 2
	if _, err := h.c.CreateTopics(ctx, nil); !errors.Is(err, kerr.NotController) {
		t.Errorf("inactive controller accepted a command: %v", err)
	}
	h.clock.Advance(time.Minute) // nobody heartbeated to us meanwhile
	h.log.leader, h.log.term = 1, 3
	if err := h.c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if h.latest().Brokers[1].Fenced || h.latest().Brokers[2].Fenced {
		t.Error("a newly active controller fenced brokers before giving them a session")
	}
	h.clock.Advance(10 * time.Second)
	h.c.Tick(ctx)
	if !h.latest().Brokers[1].Fenced {
		t.Error("expired session not fenced after failover")
	}
}

func TestAlterPartitionValidation(t *testing.T) {
	h := newHarness(t, 3, nil)
	ctx := context.Background()
	top := createTopic(t, h, "t", 1, 3, nil)
	p := top.Partitions[0] // leader 1 (first broker), replicas [1 2 3]
	leader, other := p.Leader, p.Replicas[1]
	base := AlterPartitionItem{TopicID: top.ID, Partition: 0, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch}
	with := func(f func(*AlterPartitionItem)) []AlterPartitionItem {
		it := base
		it.ISR = []int32{leader, other}
		f(&it)
		return []AlterPartitionItem{it}
	}
	if _, err := h.c.AlterPartition(ctx, leader, 999, with(func(*AlterPartitionItem) {})); !errors.Is(err, kerr.StaleBrokerEpoch) {
		t.Errorf("stale broker epoch: %v", err)
	}
	cases := []struct {
		name  string
		from  int32
		items []AlterPartitionItem
		want  *kerr.Error
	}{
		{"unknown topic", leader, with(func(i *AlterPartitionItem) { i.TopicID = metadata.UUID{77} }), kerr.UnknownTopicID},
		{"unknown partition", leader, with(func(i *AlterPartitionItem) { i.Partition = 5 }), kerr.UnknownTopicOrPartition},
		{"newer epoch", leader, with(func(i *AlterPartitionItem) { i.LeaderEpoch++ }), kerr.NotController},
		{"not leader", other, with(func(*AlterPartitionItem) {}), kerr.InvalidRequest},
		{"isr without leader", leader, with(func(i *AlterPartitionItem) { i.ISR = []int32{other} }), kerr.InvalidRequest},
		{"isr not subset", leader, with(func(i *AlterPartitionItem) { i.ISR = []int32{leader, 9} }), kerr.InvalidRequest},
	}
	for _, c := range cases {
		res, err := h.c.AlterPartition(ctx, c.from, h.epochs[c.from], c.items)
		if err != nil || !errors.Is(res[0].Err, c.want) {
			t.Errorf("%s: got %v %v, want %v", c.name, err, res, c.want)
		}
	}
	// A valid shrink commits and bumps the partition epoch only.
	res, err := h.c.AlterPartition(ctx, leader, h.epochs[leader], with(func(*AlterPartitionItem) {}))
	if err != nil || res[0].Err != nil || res[0].PartitionEpoch != p.PartitionEpoch+1 || res[0].LeaderEpoch != p.LeaderEpoch ||
		!slices.Equal(res[0].ISR, []int32{leader, other}) {
		t.Fatalf("valid shrink: %+v %v", res, err)
	}
	// The old partition epoch is now stale.
	res, _ = h.c.AlterPartition(ctx, leader, h.epochs[leader], with(func(*AlterPartitionItem) {}))
	if !errors.Is(res[0].Err, kerr.InvalidUpdateVersion) {
		t.Errorf("stale partition epoch: %+v", res)
	}
	// Expanding with a fenced broker is refused.
	third := p.Replicas[2]
	h.clock.Advance(10 * time.Second)
	h.beat(t, leader, other)
	h.c.Tick(ctx)
	cur, _ := h.latest().Topic("t")
	it := AlterPartitionItem{TopicID: top.ID, LeaderEpoch: cur.Partitions[0].LeaderEpoch, PartitionEpoch: cur.Partitions[0].PartitionEpoch, ISR: []int32{leader, other, third}}
	res, _ = h.c.AlterPartition(ctx, leader, h.epochs[leader], []AlterPartitionItem{it})
	if !errors.Is(res[0].Err, kerr.IneligibleReplica) {
		t.Errorf("fenced member: %+v", res)
	}
}

func TestUncleanConfigTakesEffectAtOnce(t *testing.T) {
	h := newHarness(t, 2, nil)
	ctx := context.Background()
	createTopic(t, h, "t", 1, 2, nil)
	h.clock.Advance(10 * time.Second)
	h.beat(t, 1)
	h.c.Tick(ctx) // 2 out
	h.clock.Advance(10 * time.Second)
	h.c.Tick(ctx) // 1 out: leaderless, ISR [1]
	h.join(t, 2)
	if top, _ := h.latest().Topic("t"); top.Partitions[0].Leader != -1 {
		t.Fatalf("clean: %+v", top.Partitions[0])
	}
	errs, err := h.c.AlterConfigs(ctx, []AlterConfigs{{ResourceType: metadata.ResourceTopic, ResourceName: "t", Incremental: true,
		Ops: []ConfigOp{{Name: "unclean.leader.election.enable", Value: "true"}}}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if top, _ := h.latest().Topic("t"); top.Partitions[0].Leader != 2 || !slices.Equal(top.Partitions[0].ISR, []int32{2}) {
		t.Errorf("after enabling unclean: %+v", top.Partitions[0])
	}
}

// rejoinISR puts broker id back into the ISR of every partition of topic
// through AlterPartition, as its leader would once it caught up.
func rejoinISR(t *testing.T, h *harness, topic string, id int32) {
	t.Helper()
	top, _ := h.latest().Topic(topic)
	for i, p := range top.Partitions {
		if slices.Contains(p.ISR, id) {
			continue
		}
		isr := append(slices.Clone(p.ISR), id)
		it := AlterPartitionItem{TopicID: top.ID, Partition: int32(i), LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr}
		res, err := h.c.AlterPartition(context.Background(), p.Leader, h.epochs[p.Leader], []AlterPartitionItem{it})
		if err != nil || res[0].Err != nil {
			t.Fatalf("rejoin partition %d: %v %+v", i, err, res)
		}
	}
}

func TestPreferredElectionAndAutoRebalance(t *testing.T) {
	h := newHarness(t, 3, map[string]string{"leader.imbalance.check.interval.seconds": "1"})
	ctx := context.Background()
	createTopic(t, h, "t", 3, 3, nil)
	h.clock.Advance(10 * time.Second)
	h.beat(t, 2, 3)
	h.c.Tick(ctx) // broker 1 fenced; its partition moves
	h.join(t, 1)
	top, _ := h.latest().Topic("t")
	var moved []TopicPartition
	for i, p := range top.Partitions {
		if p.Replicas[0] == 1 {
			moved = append(moved, TopicPartition{"t", int32(i)})
			if p.Leader == 1 {
				t.Fatalf("partition %d still led by the fenced broker", i)
			}
		}
	}
	res, err := h.c.ElectLeaders(ctx, ElectPreferred, moved)
	if err != nil || !errors.Is(res[0].Err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred replica out of ISR: %v %+v", err, res)
	}
	rejoinISR(t, h, "t", 1)
	res, err = h.c.ElectLeaders(ctx, ElectPreferred, moved)
	if err != nil || res[0].Err != nil {
		t.Fatalf("preferred election: %v %+v", err, res)
	}
	res, _ = h.c.ElectLeaders(ctx, ElectPreferred, moved)
	if !errors.Is(res[0].Err, kerr.ElectionNotNeeded) {
		t.Errorf("second election: %+v", res)
	}
	res, _ = h.c.ElectLeaders(ctx, ElectPreferred, []TopicPartition{{"nope", 0}})
	if !errors.Is(res[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown partition: %+v", res)
	}

	// Auto rebalance: fence broker 2, bring it back into the ISR, and the
	// periodic check returns its leadership without an explicit request.
	h.clock.Advance(10 * time.Second)
	h.beat(t, 1, 3)
	h.c.Tick(ctx)
	h.join(t, 2)
	rejoinISR(t, h, "t", 2)
	h.beat(t, 1, 2, 3)
	h.clock.Advance(2 * time.Second)
	if err := h.c.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	top, _ = h.latest().Topic("t")
	for i, p := range top.Partitions {
		if p.Leader != p.Replicas[0] {
			t.Errorf("partition %d: leader %d, preferred %d after auto rebalance", i, p.Leader, p.Replicas[0])
		}
	}
}

// leaderCount counts the partitions of topic that id leads in img.
func leaderCount(img *metadata.Image, topic string, id int32) int {
	t, _ := img.Topic(topic)
	n := 0
	for _, p := range t.Partitions {
		if p.Leader == id {
			n++
		}
	}
	return n
}

// loopTick runs one tick of Run's loop (stall detection included).
func (h *harness) loopTick(t *testing.T) {
	t.Helper()
	if _, err := run(context.Background(), h.c, func() struct{} { h.c.tick(context.Background()); return struct{}{} }); err != nil {
		t.Fatal(err)
	}
}

// A controller whose own loop stalled past the session timeout (SIGSTOP,
// starvation) must not fence every broker on resume: found by the chaos
// suite, where fencing the two resumed followers shrank an ISR to a
// leader that then died with a torn log. The dead still expire a session
// later.
func TestStalledControllerRenewsSessionsInsteadOfFencing(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopic(t, h, "t", 3, 3, nil)
	h.loopTick(t)
	h.clock.Advance(30 * time.Second) // paused: no tick, no heartbeat
	h.loopTick(t)
	for id, b := range h.latest().Brokers {
		if b.Fenced {
			t.Fatalf("broker %d fenced after the controller's own stall", id)
		}
	}
	for range 100 { // 10 s in ticks of 100 ms: 2 and 3 heartbeat, 1 is dead
		h.clock.Advance(100 * time.Millisecond)
		h.beat(t, 2, 3)
		h.loopTick(t)
	}
	img := h.latest()
	if !img.Brokers[1].Fenced || img.Brokers[2].Fenced || img.Brokers[3].Fenced {
		t.Fatalf("after a session of silence: %+v", img.Brokers)
	}
}
