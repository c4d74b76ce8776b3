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

// entriesSince decodes the entries committed after the first from.
func entriesSince(t *testing.T, h *harness, from int) [][]metadata.Record {
	t.Helper()
	var out [][]metadata.Record
	for _, e := range h.log.entries[from:] {
		recs, err := metadata.DecodeBatch(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs)
	}
	return out
}

// oneEntry returns the records of the only entry committed after from.
func oneEntry(t *testing.T, h *harness, from int, what string) []metadata.Record {
	t.Helper()
	es := entriesSince(t, h, from)
	if len(es) != 1 {
		t.Fatalf("%s committed %d entries, want one", what, len(es))
	}
	return es[0]
}

// fencesIn lists the brokers an entry fences, in order.
func fencesIn(recs []metadata.Record) []int32 {
	var out []int32
	for _, r := range recs {
		if ch, ok := r.(metadata.BrokerRegistrationChange); ok && ch.Fenced != nil && *ch.Fenced {
			out = append(out, ch.ID)
		}
	}
	return out
}

// Two sessions expiring in one tick are fenced in one entry, the second
// decided on the image the first leaves: the partition led by 1 goes to
// 3, not to 2, which is fenced in the same entry. With
// min.insync.replicas 2, 2 (the ISR shrinks below it as 2 leaves, after
// 1) is eligible and 1 (which left an ISR of 3) is not.
func TestExpiredBrokersFencedInOneEntry(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopicOn(t, h, "t", [][]int32{{1, 2, 3}, {2, 1, 3}}, map[string]string{"min.insync.replicas": "2"})
	from := len(h.log.entries)
	h.expire(t, 3)
	if got := fencesIn(oneEntry(t, h, from, "the tick")); !slices.Equal(got, []int32{1, 2}) {
		t.Errorf("the entry fences %v, want [1 2]", got)
	}
	img := h.latest()
	if !img.Brokers[1].Fenced || !img.Brokers[2].Fenced || img.Brokers[3].Fenced {
		t.Fatalf("brokers after the tick: %+v", img.Brokers)
	}
	top, _ := img.Topic("t")
	want(t, "partition 0", top.Partitions[0], 3, []int32{3}, []int32{2})
	want(t, "partition 1", top.Partitions[1], 3, []int32{3}, []int32{2})
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

// liveBroker4 returns a 3-broker harness with a fourth broker registered
// (incarnation "a") and unfenced, and that broker's endpoints.
func liveBroker4(t *testing.T) (*harness, []metadata.Endpoint) {
	t.Helper()
	h := newHarness(t, 3, nil)
	eps := []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9094}}
	old, err := h.c.RegisterBroker(context.Background(), Registration{ID: 4, Incarnation: "a", Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	h.epochs[4] = old
	h.beat(t, 4)
	return h, eps
}

// A new incarnation of a broker whose session is alive, with the same
// endpoints, replaces it in one entry: the fence of the old registration
// (its leaderships move away) and the new registration, whose epoch is
// that entry's offset.
func TestLiveReRegistrationIsOneEntry(t *testing.T) {
	h, eps := liveBroker4(t)
	ctx := context.Background()
	createTopicOn(t, h, "t", [][]int32{{4, 1, 2}}, nil)
	from := len(h.log.entries)
	epoch, err := h.c.RegisterBroker(ctx, Registration{ID: 4, Incarnation: "b", Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	recs := oneEntry(t, h, from, "the re-registration")
	if got := fencesIn(recs); !slices.Equal(got, []int32{4}) {
		t.Errorf("the entry fences %v, want [4]", got)
	}
	if reg, ok := recs[len(recs)-1].(metadata.RegisterBroker); !ok || reg.ID != 4 || reg.Incarnation != "b" {
		t.Errorf("the entry ends with %+v, want the new registration", recs[len(recs)-1])
	}
	if epoch != int64(len(h.log.entries)) {
		t.Errorf("epoch %d, want the entry's offset %d", epoch, len(h.log.entries))
	}
	if b := h.latest().Brokers[4]; b.Epoch != epoch || b.Incarnation != "b" || !b.Fenced {
		t.Errorf("registration: %+v", b)
	}
	want(t, "partition", h.partition(t, "t"), 1, []int32{1, 2}, nil)
}

// A live broker that restarts after an unclean shutdown: its unclean
// records are decided on the image its fence leaves. Fenced as the sole
// ISR member, it hands leadership to the ELR member 1 and joins the ELR;
// the unclean shutdown then takes it out of the ELR again.
func TestUncleanReRegistrationDecidesOnTheFencedImage(t *testing.T) {
	h, eps := liveBroker4(t)
	ctx := context.Background()
	createTopicOn(t, h, "t", [][]int32{{4, 1, 2}}, map[string]string{"min.insync.replicas": "2"})
	h.shrinkTo(t, "t", 4) // ELR [1 2]
	from := len(h.log.entries)
	if _, err := h.c.RegisterBroker(ctx, Registration{ID: 4, Incarnation: "b", Endpoints: eps, UncleanShutdown: true}); err != nil {
		t.Fatal(err)
	}
	oneEntry(t, h, from, "the unclean re-registration")
	want(t, "partition", h.partition(t, "t"), 1, []int32{1}, []int32{2})
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

// Enabling unclean leader election commits the config and the election
// it makes possible in one entry.
func TestUncleanConfigAndElectionInOneEntry(t *testing.T) {
	h := newHarness(t, 2, nil)
	ctx := context.Background()
	createTopicOn(t, h, "t", [][]int32{{1, 2}}, nil)
	h.expire(t, 1) // 2 out of the ISR
	h.expire(t)    // 1 out: leaderless, ISR [1]
	h.join(t, 2)
	want(t, "leaderless", h.partition(t, "t"), -1, []int32{1}, nil)
	from := len(h.log.entries)
	errs, err := h.c.AlterConfigs(ctx, []AlterConfigs{{ResourceType: metadata.ResourceTopic, ResourceName: "t", Incremental: true,
		Ops: []ConfigOp{{Name: "unclean.leader.election.enable", Value: "true"}}}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	var cfg, unclean bool
	for _, r := range oneEntry(t, h, from, "AlterConfigs") {
		switch r := r.(type) {
		case metadata.Config:
			cfg = cfg || r.Name == "unclean.leader.election.enable"
		case metadata.PartitionChange:
			unclean = unclean || r.Unclean && r.Leader != nil && *r.Leader == 2
		}
	}
	if !cfg || !unclean {
		t.Errorf("the entry holds the config: %v, the unclean election: %v", cfg, unclean)
	}
	want(t, "after enabling unclean", h.partition(t, "t"), 2, []int32{2}, nil)
}

// DeleteTopics of several topics is one entry; when that entry fails,
// each topic it held answers the commit's error.
func TestDeleteTopicsInOneEntry(t *testing.T) {
	h := newHarness(t, 1, nil)
	ctx := context.Background()
	a, b := createTopic(t, h, "a", 1, 1, nil), createTopic(t, h, "b", 2, 1, nil)
	createTopic(t, h, "c", 1, 1, nil)
	from := len(h.log.entries)
	res, err := h.c.DeleteTopics(ctx, []string{"a", "b"})
	if err != nil || res[0].Err != nil || res[1].Err != nil || res[0].ID != a.ID || res[1].ID != b.ID {
		t.Fatalf("delete: %v %+v", err, res)
	}
	oneEntry(t, h, from, "DeleteTopics")
	if names := h.latest().TopicNames(); !slices.Equal(names, []string{"c"}) {
		t.Errorf("topics left: %v", names)
	}
	h.log.err = errors.New("quorum lost")
	res, err = h.c.DeleteTopics(ctx, []string{"c", "nope"})
	if err != nil || !errors.Is(res[0].Err, kerr.NotController) || !errors.Is(res[1].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("failed commit: %v %+v", err, res)
	}
}

// CreatePartitions of several items is one entry, each item decided on
// the image the earlier ones leave.
func TestCreatePartitionsInOneEntry(t *testing.T) {
	h := newHarness(t, 2, nil)
	createTopic(t, h, "a", 1, 2, nil)
	createTopic(t, h, "b", 1, 1, nil)
	from := len(h.log.entries)
	res, err := h.c.CreatePartitions(context.Background(), []CreatePartitions{{Name: "a", Count: 3}, {Name: "b", Count: 2}, {Name: "a", Count: 4}})
	if err != nil || res[0].Err != nil || res[1].Err != nil || res[2].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, res)
	}
	oneEntry(t, h, from, "CreatePartitions")
	a, _ := h.latest().Topic("a")
	b, _ := h.latest().Topic("b")
	if len(a.Partitions) != 4 || len(b.Partitions) != 2 {
		t.Errorf("partitions: a %d, b %d; want 4 and 2", len(a.Partitions), len(b.Partitions))
	}
}

// The broker alone in its cluster has no one to wait for: its first
// shutdown heartbeat marks it, moves its leaderships and fences it, in
// one entry.
func TestControlledShutdownOfTheOnlyBroker(t *testing.T) {
	h := newHarness(t, 1, nil)
	createTopic(t, h, "t", 2, 1, nil)
	h.clock.Advance(time.Second)
	from := len(h.log.entries)
	res, err := h.c.BrokerHeartbeat(context.Background(), Heartbeat{ID: 1, Epoch: h.epochs[1], MetadataOffset: 1 << 40, WantShutDown: true})
	if err != nil || !res.ShouldShutDown || !res.IsFenced {
		t.Fatalf("shutdown heartbeat: %+v %v", res, err)
	}
	oneEntry(t, h, from, "the shutdown")
	if b := h.latest().Brokers[1]; !b.Fenced || !b.InControlledShutdown {
		t.Errorf("broker after shutdown: %+v", b)
	}
	if n := leaderCount(h.latest(), "t", 1); n != 0 {
		t.Errorf("broker still leads %d partitions", n)
	}
}

// A txn applies its records to its scratch image only when the command
// reads the image back; records that do not apply fail the command, and
// nothing is committed.
func TestTxnAppliesLazilyAndRefusesRecordsThatDoNotApply(t *testing.T) {
	h := newHarness(t, 1, nil)
	from := len(h.log.entries)
	base := h.latest()
	var checks []string
	res, err := run(context.Background(), h.c, func() error {
		_, err := decideOn(h.c, func(tx *txn) (struct{}, error) {
			id := metadata.UUID{0xaa}
			tx.add(metadata.Topic{Name: "x", ID: id}, newPartition(id, 0, []int32{1}))
			if tx.applied != 0 || tx.img != base {
				checks = append(checks, "records applied before the image was read")
			}
			if img := tx.image(); img.Offset != base.Offset+1 || len(img.Topics) != len(base.Topics)+1 || tx.applied != 2 {
				checks = append(checks, "the scratch image lacks the records")
			}
			tx.add(newPartition(id, 5, []int32{1})) // out of order
			tx.image()
			return struct{}{}, nil
		})
		return err
	})
	if err != nil || res == nil {
		t.Fatalf("decide of records that do not apply: %v %v", res, err)
	}
	for _, c := range checks {
		t.Error(c)
	}
	if len(h.log.entries) != from || h.latest() != base {
		t.Error("records that do not apply were committed")
	}
}
