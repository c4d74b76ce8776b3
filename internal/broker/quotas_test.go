package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/prometheus/client_golang/prometheus"
)

func quotaTestImage(t *testing.T) *metadata.Image {
	t.Helper()
	name := func(s string) *string { return &s }
	v := func(f float64) *float64 { return &f }
	img, _, err := metadata.Empty().Apply(0, []metadata.Record{
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{{Type: "user", Name: name("alice")}}, Key: controller.QuotaProducerByteRate, Value: v(1000)},
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{{Type: "client-id"}}, Key: controller.QuotaProducerByteRate, Value: v(100)},
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{{Type: "client-id"}}, Key: controller.QuotaRequestPercentage, Value: v(1)},
		metadata.ClientQuota{Entity: []metadata.QuotaEntityPart{{Type: "user", Name: name("admin")}}, Key: controller.QuotaControllerMutationRate, Value: v(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestClientQuotasRecord(t *testing.T) {
	img := quotaTestImage(t)
	now := time.Unix(1000, 0)
	q := newClientQuotas(func() *metadata.Image { return img }, func() time.Time { return now })
	// alice's user quota (1000 B/s) wins over the default client's (100).
	if d := q.Record(controller.QuotaProducerByteRate, "alice", "app", 500, now); d != 0 {
		t.Fatalf("alice within 1000 B/s throttled %v", d)
	}
	if d := q.Record(controller.QuotaProducerByteRate, "alice", "app", 1500, now); d != time.Second {
		t.Fatalf("alice at 2000 B/s over one window: throttle %v, want 1s", d)
	}
	// bob falls to the default client-id quota, measured per client id.
	if d := q.Record(controller.QuotaProducerByteRate, "bob", "x", 200, now); d != time.Second {
		t.Fatalf("bob at 200 B/s against 100: throttle %v, want 1s", d)
	}
	if d := q.Record(controller.QuotaProducerByteRate, "bob", "y", 100, now); d != 0 {
		t.Fatalf("another client id shares bob's sensor: throttle %v", d)
	}
	// request_percentage throttles are bounded by one window.
	if d := q.Record(controller.QuotaRequestPercentage, "bob", "x", 1000, now); d != time.Second {
		t.Fatalf("request throttle %v, want the 1s bound", d)
	}
	// Keys without enforcement record nothing.
	if d := q.Record(controller.QuotaControllerMutationRate, "bob", "x", 1e9, now); d != 0 {
		t.Fatalf("controller_mutation_rate throttled here: %v", d)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(q)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[fmt.Sprintf("%s{%s,%s}", mf.GetName(), labels["user"], labels["client_id"])] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"kafka_server_produce_throttle_time_ms_total{alice,}": 1000,
		"kafka_server_produce_throttle_time_ms_total{,x}":     1000,
		"kafka_server_produce_throttle_time_ms_total{,y}":     0,
		"kafka_server_produce_byte_rate{alice,}":              2000,
		"kafka_server_produce_byte_rate{,x}":                  200,
		"kafka_server_produce_byte_rate{,y}":                  100,
		"kafka_server_request_throttle_time_ms_total{,x}":     1000,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestClientQuotasMutate: a token bucket of 11 windows × 2/s = 22
// partitions; strict refuses once it is negative.
func TestClientQuotasMutate(t *testing.T) {
	img := quotaTestImage(t)
	now := time.Unix(1000, 0)
	q := newClientQuotas(func() *metadata.Image { return img }, func() time.Time { return now })
	if ok, d := q.Mutate("admin", "c", 20, now, true); !ok || d != 0 {
		t.Fatalf("20 of 22: %v %v", ok, d)
	}
	if ok, d := q.Mutate("admin", "c", 6, now, true); !ok || d != 2*time.Second {
		t.Fatalf("crossing: %v %v, want admitted with 2s", ok, d)
	}
	if ok, d := q.Mutate("admin", "c", 1, now, true); ok || d != 2*time.Second {
		t.Fatalf("over: %v %v, want refused with 2s", ok, d)
	}
	if ok, d := q.Mutate("admin", "c", 1, now, false); !ok || d != 2500*time.Millisecond {
		t.Fatalf("permissive: %v %v, want recorded with 2.5s", ok, d)
	}
	if ok, d := q.Mutate("bob", "c", 1e6, now, true); !ok || d != 0 {
		t.Fatalf("no quota: %v %v", ok, d)
	}
}
