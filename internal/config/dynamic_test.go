package config

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// Every dynamic name is a broker config: a typo in the set would make a
// config silently static.
func TestDynamicNamesKnown(t *testing.T) {
	for _, name := range DynamicNames() {
		if _, ok := LookupBroker(name); !ok {
			t.Errorf("dynamic config %s is not a broker config", name)
		}
	}
	// Only the first broker synonym of a topic config is dynamic, as in
	// Kafka.
	for _, d := range TopicDefs() {
		for i, s := range d.Synonyms {
			if IsDynamic(s) != (i == 0) {
				t.Errorf("%s: synonym %s dynamic=%v", d.Name, s, IsDynamic(s))
			}
		}
	}
}

func TestValidateDynamic(t *testing.T) {
	good := map[string]string{"log.retention.ms": "1000", "message.max.bytes": "2000", "leader.replication.throttled.rate": "1048576"}
	if err := ValidateDynamic(good); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		cfg  map[string]string
		want string
	}{
		{map[string]string{"log.retention.msx": "1"}, "unknown broker configs: log.retention.msx"},
		{map[string]string{"log.retention.hours": "1"}, "cannot update these configs dynamically: log.retention.hours"},
		{map[string]string{"node.id": "2", "listeners": "x"}, "cannot update these configs dynamically: listeners, node.id"},
		{map[string]string{"message.max.bytes": "big"}, `invalid value "big" for configuration message.max.bytes`},
		{map[string]string{"min.insync.replicas": "0"}, "at least 1"},
		{map[string]string{"log.cleanup.policy": "shred"}, "must be one of"},
	} {
		err := ValidateDynamic(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// Per-broker dynamic over cluster-wide dynamic over static over default,
// for broker and topic configs alike, swapped at run time.
func TestDynamicLayers(t *testing.T) {
	b, _ := NewBroker(map[string]string{"log.retention.hours": "2", "message.max.bytes": "5000", "node.id": "1"})
	topic := NewTopic(nil, b)
	check := func(name, value string, src Source) {
		t.Helper()
		if v, _ := b.Value(name); v != value || b.Source(name) != src {
			t.Errorf("%s = %q source %d, want %q source %d", name, v, b.Source(name), value, src)
		}
	}
	check("message.max.bytes", "5000", SourceStaticBroker)
	if topic.Int("retention.ms") != 7_200_000 {
		t.Error("static hours")
	}

	b.SetDynamic(nil, map[string]string{"log.retention.ms": "1000", "message.max.bytes": "6000", "node.id": "9"})
	check("message.max.bytes", "6000", SourceDynamicDefault)
	check("node.id", "1", SourceStaticBroker) // not dynamic: ignored
	e, _ := topic.Entry("retention.ms")
	if e.Value != "1000" || e.Source != SourceDynamicDefault {
		t.Errorf("retention.ms %+v", e)
	}
	want := "log.retention.ms=1000(3) log.retention.hours=2(4) log.retention.hours=168(5)"
	if got := synString(e.Synonyms); got != want {
		t.Errorf("synonyms %s, want %s", got, want)
	}

	b.SetDynamic(map[string]string{"message.max.bytes": "7000"}, map[string]string{"message.max.bytes": "6000"})
	check("message.max.bytes", "7000", SourceDynamicBroker)
	if got := synString(b.Synonyms("message.max.bytes")); got != "message.max.bytes=7000(2) message.max.bytes=6000(3) message.max.bytes=5000(4) message.max.bytes=1048588(5)" {
		t.Errorf("broker synonyms %s", got)
	}
	if topic.Int("max.message.bytes") != 7000 || topic.Int("retention.ms") != 7_200_000 {
		t.Error("topic does not follow the swapped layers")
	}
	if !b.DynamicEqual(map[string]string{"message.max.bytes": "7000"}, map[string]string{"message.max.bytes": "6000"}) {
		t.Error("DynamicEqual")
	}

	// WithDynamic leaves b alone.
	c := b.WithDynamic(nil, map[string]string{"min.insync.replicas": "2"})
	if c.Int("min.insync.replicas") != 2 || b.Int("min.insync.replicas") != 1 || c.Int("message.max.bytes") != 5000 {
		t.Error("WithDynamic")
	}
	if l, f := b.ThrottledRates(); l != 1<<63-1 || f != 1<<63-1 {
		t.Errorf("throttles %d %d", l, f)
	}
}

// Describing log.retention.hours drops the more preferred synonyms of
// other names, as Kafka.
func TestBrokerSynonymsDropPreferred(t *testing.T) {
	b, _ := NewBroker(nil)
	b.SetDynamic(nil, map[string]string{"log.retention.ms": "1000"})
	if got := synString(b.Synonyms("log.retention.hours")); got != "log.retention.hours=168(5)" {
		t.Errorf("hours: %s", got)
	}
	if got := synString(b.Synonyms("log.retention.ms")); got != "log.retention.ms=1000(3) log.retention.hours=168(5)" {
		t.Errorf("ms: %s", got)
	}
	if got := synString(b.Synonyms("log.retention.minutes")); got != "" {
		t.Errorf("minutes: %s", got)
	}
}

func synString(syns []Synonym) string {
	var parts []string
	for _, s := range syns {
		parts = append(parts, fmt.Sprintf("%s=%s(%d)", s.Name, s.Value, s.Source))
	}
	return strings.Join(parts, " ")
}

// ThrottledRates follow every SetDynamic, though cached between them.
func TestThrottledRatesFollowChanges(t *testing.T) {
	b, err := NewBroker(map[string]string{"follower.replication.throttled.rate": "7"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(wantL, wantF int64) {
		t.Helper()
		for range 2 { // computed, then cached
			if l, f := b.ThrottledRates(); l != wantL || f != wantF {
				t.Fatalf("rates %d, %d; want %d, %d", l, f, wantL, wantF)
			}
		}
	}
	check(math.MaxInt64, 7)
	b.SetDynamic(map[string]string{"leader.replication.throttled.rate": "100"}, nil)
	check(100, 7)
	b.SetDynamic(nil, map[string]string{"leader.replication.throttled.rate": "200", "follower.replication.throttled.rate": "300"})
	check(200, 300)
	b.SetDynamic(nil, nil)
	check(math.MaxInt64, 7)
}
