package controller

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

func brokerAlter(name string, incremental bool, ops ...ConfigOp) AlterConfigs {
	return AlterConfigs{ResourceType: metadata.ResourceBroker, ResourceName: name, Incremental: incremental, Ops: ops}
}

func TestAlterBrokerConfigs(t *testing.T) {
	h := newHarness(t, 1, nil)
	ctx := context.Background()
	errs, err := h.c.AlterConfigs(ctx, []AlterConfigs{
		brokerAlter("", true, ConfigOp{Name: "log.retention.ms", Value: "1000"}, ConfigOp{Name: "log.cleanup.policy", Op: OpAppend, Value: "compact"}),
		brokerAlter("2", true, ConfigOp{Name: "message.max.bytes", Value: "2000"}),
	})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatal(err, errs)
	}
	img := h.latest()
	if got := img.BrokerConfig(""); !maps.Equal(got, map[string]string{"log.retention.ms": "1000", "log.cleanup.policy": "delete,compact"}) {
		t.Errorf("cluster default %v", got)
	}
	if got := img.BrokerConfig("2"); !maps.Equal(got, map[string]string{"message.max.bytes": "2000"}) {
		t.Errorf("broker 2 %v", got)
	}

	// Incremental delete; legacy AlterConfigs replaces the whole set.
	errs, _ = h.c.AlterConfigs(ctx, []AlterConfigs{
		brokerAlter("", true, ConfigOp{Name: "log.retention.ms", Op: OpDelete}),
		brokerAlter("2", false, ConfigOp{Name: "min.insync.replicas", Value: "2"}),
	})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	img = h.latest()
	if !maps.Equal(img.BrokerConfig(""), map[string]string{"log.cleanup.policy": "delete,compact"}) ||
		!maps.Equal(img.BrokerConfig("2"), map[string]string{"min.insync.replicas": "2"}) {
		t.Errorf("after delete/replace: %v %v", img.BrokerConfig(""), img.BrokerConfig("2"))
	}

	// ValidateOnly writes nothing.
	before := len(h.log.entries)
	v := brokerAlter("", true, ConfigOp{Name: "message.max.bytes", Value: "5"})
	v.ValidateOnly = true
	if errs, _ = h.c.AlterConfigs(ctx, []AlterConfigs{v}); errs[0] != nil || len(h.log.entries) != before {
		t.Errorf("validate only: %v, %d entries", errs[0], len(h.log.entries)-before)
	}
	if !reflect.DeepEqual(h.replay(t), h.latest()) {
		t.Error("replay differs")
	}
}

// Kafka answers every invalid broker config change with INVALID_REQUEST.
func TestAlterBrokerConfigsRefused(t *testing.T) {
	h := newHarness(t, 1, nil)
	ctx := context.Background()
	bad := []AlterConfigs{
		brokerAlter("", true, ConfigOp{Name: "log.retention.hours", Value: "1"}),             // read-only synonym
		brokerAlter("", true, ConfigOp{Name: "node.id", Value: "7"}),                         // read-only
		brokerAlter("1", true, ConfigOp{Name: "log.retention.msx", Value: "1"}),              // unknown
		brokerAlter("1", true, ConfigOp{Name: "log.retention.msx", Op: OpDelete}),            // unknown, even to delete
		brokerAlter("1", true, ConfigOp{Name: "message.max.bytes", Value: "lots"}),           // malformed
		brokerAlter("x", true, ConfigOp{Name: "message.max.bytes", Value: "1"}),              // not an id
		brokerAlter("-1", true, ConfigOp{Name: "message.max.bytes", Value: "1"}),             // negative id
		brokerAlter("1", false, ConfigOp{Name: "auto.create.topics.enable", Value: "false"}), // read-only, legacy
	}
	before := len(h.log.entries)
	errs, err := h.c.AlterConfigs(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if !errors.Is(e, kerr.InvalidRequest) {
			t.Errorf("%+v: %v, want INVALID_REQUEST", bad[i], e)
		}
	}
	if len(h.log.entries) != before {
		t.Error("refused changes were committed")
	}
	// As Kafka's prepareIncrementalConfigs: APPEND to a non-list config is
	// INVALID_CONFIG.
	errs, _ = h.c.AlterConfigs(ctx, []AlterConfigs{brokerAlter("1", true, ConfigOp{Name: "message.max.bytes", Op: OpAppend, Value: "1"})})
	if !errors.Is(errs[0], kerr.InvalidConfig) {
		t.Errorf("append to a non-list: %v", errs[0])
	}
	// A name stored before that is no longer dynamic can still be deleted.
	v := "1"
	data, err := metadata.EncodeBatch([]metadata.Record{metadata.Config{ResourceType: metadata.ResourceBroker, Name: "node.id", Value: &v}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.log.Propose(ctx, data); err != nil {
		t.Fatal(err)
	}
	errs, _ = h.c.AlterConfigs(ctx, []AlterConfigs{brokerAlter("", true, ConfigOp{Name: "node.id", Op: OpDelete})})
	if errs[0] != nil || len(h.latest().BrokerConfig("")) != 0 {
		t.Errorf("stale config not deleted: %v %v", errs[0], h.latest().BrokerConfig(""))
	}
}

// The controller decides with the dynamic configs of its image: the
// cluster-wide unclean.leader.election.enable elects at once, and
// min.insync.replicas set for this node (1) counts.
func TestBrokerConfigsInControllerDecisions(t *testing.T) {
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
	errs, err := h.c.AlterConfigs(ctx, []AlterConfigs{brokerAlter("", true, ConfigOp{Name: "unclean.leader.election.enable", Value: "true"})})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if top, _ := h.latest().Topic("t"); top.Partitions[0].Leader != 2 || !slices.Equal(top.Partitions[0].ISR, []int32{2}) {
		t.Errorf("after enabling unclean cluster-wide: %+v", top.Partitions[0])
	}
	if n := h.c.topicConfig(h.latest(), "t").Int("min.insync.replicas"); n != 1 {
		t.Fatalf("min.insync.replicas %d", n)
	}
	h.c.AlterConfigs(ctx, []AlterConfigs{brokerAlter("1", true, ConfigOp{Name: "min.insync.replicas", Value: "2"})})
	h.c.AlterConfigs(ctx, []AlterConfigs{brokerAlter("2", true, ConfigOp{Name: "min.insync.replicas", Value: "3"})})
	if n := h.c.effectiveMinISR(h.latest(), "t", 3); n != 2 {
		t.Errorf("min.insync.replicas for node 1: %d, want 2 (node 2's own is not the controller's)", n)
	}
}
