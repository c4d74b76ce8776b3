package controller

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestUnregisterBrokerMovesLeadersAndRemovesIt(t *testing.T) {
	h := newHarness(t, 3, nil)
	createTopic(t, h, "t", 6, 3, nil)
	ctx := context.Background()
	if err := h.c.UnregisterBroker(ctx, 1); err != nil {
		t.Fatal(err)
	}
	img := h.latest()
	if _, ok := img.Brokers[1]; ok {
		t.Fatal("broker 1 still registered")
	}
	top, _ := img.Topic("t")
	for i, p := range top.Partitions {
		if p.Leader == 1 || slices.Contains(p.ISR, 1) {
			t.Errorf("partition %d: leader %d ISR %v", i, p.Leader, p.ISR)
		}
	}
	if err := h.c.UnregisterBroker(ctx, 1); !errors.Is(err, kerr.BrokerIDNotRegistered) {
		t.Fatalf("second unregister: %v", err)
	}
}

func TestCordonedBrokerGetsNoNewReplicas(t *testing.T) {
	h := newHarness(t, 3, nil)
	ctx := context.Background()
	errs, err := h.c.AlterConfigs(ctx, []AlterConfigs{{ResourceType: metadata.ResourceBroker, ResourceName: "2",
		Ops: []ConfigOp{{Name: "cordoned.log.dirs", Op: OpSet, Value: "*"}}, Incremental: true}})
	if err != nil || errs[0] != nil {
		t.Fatalf("cordon: %v %v", err, errs[0])
	}
	if !Cordoned(h.latest(), 2) || Cordoned(h.latest(), 1) {
		t.Fatal("cordon not recorded")
	}
	top := createTopic(t, h, "t", 12, 2, nil)
	for i, p := range top.Partitions {
		if slices.Contains(p.Replicas, 2) {
			t.Errorf("partition %d placed on cordoned broker 2: %v", i, p.Replicas)
		}
	}
	res, _ := h.c.CreateTopics(ctx, []CreateTopic{{Name: "u", NumPartitions: 1, ReplicationFactor: 3}})
	if !errors.Is(res[0].Err, kerr.InvalidReplicationFactor) {
		t.Errorf("RF 3 with one broker cordoned: %v", res[0].Err)
	}
}
