package config

import (
	"strings"
	"testing"
)

func TestReadProperties(t *testing.T) {
	in := "# comment\n! also\n\nnode.id=3\nlog.dirs : /a,/b\nlisteners=PLAINTEXT://h:1,\\\n  CONTROLLER://h:2\n"
	props, err := ReadProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"node.id": "3", "log.dirs": "/a,/b", "listeners": "PLAINTEXT://h:1,CONTROLLER://h:2"}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	if _, err := ReadProperties(strings.NewReader("novalue\n")); err == nil {
		t.Error("line without = accepted")
	}
}

func TestNewBrokerValidates(t *testing.T) {
	bad := []map[string]string{
		{"no.such.config": "1"},
		{"node.id": "x"},
		{"num.partitions": "0"},
		{"auto.create.topics.enable": "yes"},
		{"process.roles": "broker,router"},
	}
	for _, p := range bad {
		if _, err := NewBroker(p); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
	b, err := NewBroker(map[string]string{"num.partitions": "6"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Int("num.partitions") != 6 || b.Source("num.partitions") != SourceStaticBroker {
		t.Error("static value lost")
	}
	if b.Int("message.max.bytes") != 1048588 || b.Source("message.max.bytes") != SourceDefault {
		t.Error("default wrong")
	}
	if _, set := b.Value("log.retention.ms"); set {
		t.Error("null default reported as set")
	}
}

func TestTopicResolution(t *testing.T) {
	b, _ := NewBroker(map[string]string{"log.retention.hours": "2", "log.segment.bytes": "4096"})
	topic := NewTopic(map[string]string{"segment.bytes": "2048"}, b)
	cases := []struct {
		name, value string
		src         Source
	}{
		{"retention.ms", "7200000", SourceStaticBroker}, // hours converted
		{"segment.bytes", "2048", SourceDynamicTopic},
		{"max.message.bytes", "1048588", SourceDefault},
		{"min.insync.replicas", "1", SourceDefault},
	}
	for _, c := range cases {
		e, ok := topic.Entry(c.name)
		if !ok || e.Value != c.value || e.Source != c.src {
			t.Errorf("%s: got %q source %d, want %q source %d", c.name, e.Value, e.Source, c.value, c.src)
		}
	}
	e, _ := topic.Entry("segment.bytes")
	// As Kafka: the override, the static synonym, the synonym's default.
	if len(e.Synonyms) != 3 || e.Synonyms[1].Name != "log.segment.bytes" || e.Synonyms[2].Source != SourceDefault {
		t.Errorf("synonyms: %+v", e.Synonyms)
	}
	if NewTopic(nil, b).Int("retention.ms") != 7200000 {
		t.Error("Int")
	}
}

func TestValidateTopic(t *testing.T) {
	good := map[string]string{"retention.ms": "-1", "cleanup.policy": "compact,delete", "message.timestamp.type": "LogAppendTime"}
	if err := ValidateTopic(good); err != nil {
		t.Error(err)
	}
	for _, bad := range []map[string]string{
		{"retention.ms": "-5"}, {"cleanup.policy": "shred"}, {"segment.bytes": "10"}, {"x": "1"}, {"preallocate": "1"},
	} {
		if err := ValidateTopic(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestSegmentBytesMinimum: the topic config accepts Kafka's minimum, 14,
// as the broker's log.segment.bytes does, and refuses below it.
func TestSegmentBytesMinimum(t *testing.T) {
	if err := ValidateTopic(map[string]string{"segment.bytes": "14"}); err != nil {
		t.Errorf("segment.bytes=14 refused: %v", err)
	}
	if err := ValidateTopic(map[string]string{"segment.bytes": "13"}); err == nil {
		t.Error("segment.bytes=13 accepted")
	}
	if _, err := NewBroker(map[string]string{"log.segment.bytes": "14"}); err != nil {
		t.Errorf("log.segment.bytes=14 refused: %v", err)
	}
}

func TestPerListenerSecurityConfigs(t *testing.T) {
	b, err := NewBroker(map[string]string{
		"listener.name.sasl_ssl.plain.sasl.jaas.config": `x required user_admin="s";`,
		"listener.name.sasl_ssl.ssl.client.auth":        "required",
		"ssl.client.auth":                               "requested",
		"sasl.jaas.config":                              "fallback",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.JAAS("SASL_SSL", "PLAIN"); got != `x required user_admin="s";` {
		t.Errorf("JAAS(SASL_SSL, PLAIN) = %q", got)
	}
	if got := b.JAAS("SASL_SSL", "SCRAM-SHA-512"); got != "fallback" {
		t.Errorf("JAAS falls back to sasl.jaas.config: %q", got)
	}
	if b.ForListener("SASL_SSL", "ssl.client.auth") != "required" || b.ForListener("SSL", "ssl.client.auth") != "requested" {
		t.Error("ForListener does not prefer the listener's value")
	}
	for _, bad := range []map[string]string{
		{"listener.name.x.node.id": "1"},                      // not a per-listener config
		{"listener.name.x.ssl.client.auth": "sometimes"},      // validated as the base config
		{"listener.name.x.gssapi.sasl.jaas.config": "a b c;"}, // unknown mechanism prefix
		{"authorizer.class.name": "com.example.Custom"},
	} {
		if _, err := NewBroker(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if d, ok := LookupBroker("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"); !ok || !d.Sensitive {
		t.Errorf("per-listener JAAS config is not a sensitive known config: %+v %v", d, ok)
	}
}

// max.connections.per.ip.overrides: host:count entries, IPv6 split at the
// last colon; bad entries fail startup.
func TestConnectionLimitConfigs(t *testing.T) {
	got, err := ParseHostCounts(" 127.0.0.1:200 , hostName:100,::1:5,")
	if err != nil || got["127.0.0.1"] != 200 || got["hostName"] != 100 || got["::1"] != 5 || len(got) != 3 {
		t.Fatalf("parsed %v, %v", got, err)
	}
	for _, bad := range []string{"foo", "a:-1", "a:x", "a:1,a:2", "bad host:1", "a:99999999999"} {
		if _, err := NewBroker(map[string]string{"max.connections.per.ip.overrides": bad}); err == nil {
			t.Errorf("overrides %q accepted", bad)
		}
	}
	if _, err := NewBroker(map[string]string{"max.connections": "0"}); err == nil {
		t.Error("max.connections=0 accepted")
	}
	b, err := NewBroker(map[string]string{"listener.name.client.max.connections": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Int("queued.max.request.bytes") != -1 || b.Int("max.incremental.fetch.session.cache.slots") != 1000 {
		t.Error("Kafka's defaults lost")
	}
}
