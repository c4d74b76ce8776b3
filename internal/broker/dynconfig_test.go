package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Dynamic broker configs apply to a running node's replicas at once:
// the cluster default, then this broker's own value over it, then the
// topic's override over both; the throttles read through the accessor.
func TestDynamicConfigAppliesWithoutRestart(t *testing.T) {
	n := startNode(t, nil)
	n.createTopic(t, "t", 1, nil)
	cl := n.client(t)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	produce := func(size int) error {
		v := make([]byte, size)
		rand.Read(v)
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: v}).FirstErr()
	}
	set := func(brokers []int32, name, value string) {
		t.Helper()
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: name, Value: kadm.StringPtr(value)}}, brokers...)
		if err != nil || resps[0].Err != nil {
			t.Fatalf("set %s=%s on %v: %v %+v", name, value, brokers, err, resps)
		}
	}
	if err := produce(3000); err != nil {
		t.Fatal(err)
	}
	set(nil, "message.max.bytes", "2000")
	if err := produce(3000); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("over the dynamic default: %v", err)
	}
	set([]int32{n.nodeID}, "message.max.bytes", "10000")
	if err := produce(3000); err != nil {
		t.Fatalf("under this broker's own value: %v", err)
	}
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("1500")}}, "t")
	if err != nil || resps[0].Err != nil {
		t.Fatal(err, resps)
	}
	if err := produce(1600); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("over the topic's override: %v", err)
	}
	set([]int32{n.nodeID}, "leader.replication.throttled.rate", "1048576")
	if l, f := n.cfg.ThrottledRates(); l != 1048576 || f != 1<<63-1 {
		t.Errorf("throttles %d %d", l, f)
	}
}
