package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func part(topic string, p, leader int32, replicas, isr []int32) kadm.PartitionDetail {
	return kadm.PartitionDetail{Topic: topic, Partition: p, Leader: leader, Replicas: replicas, ISR: isr}
}

func topicDetail(name string, id byte, parts ...kadm.PartitionDetail) kadm.TopicDetail {
	td := kadm.TopicDetail{Topic: name, Partitions: kadm.PartitionDetails{}}
	td.ID[15] = id
	for _, p := range parts {
		td.Partitions[p.Partition] = p
	}
	return td
}

func cfg(key, value string, src kmsg.ConfigSource) kadm.Config {
	return kadm.Config{Key: key, Value: kadm.StringPtr(value), Source: src}
}

// fixture: topic "a" (RF 3, min.insync.replicas=2 override) with one healthy
// partition, one under-replicated, one under min ISR, one leaderless and one
// led by a dead broker; topic "b" (RF 1, no overrides).
func describeFixture() (kadm.TopicDetails, kadm.ResourceConfigs, kadm.BrokerDetails) {
	topics := kadm.TopicDetails{
		"b": topicDetail("b", 2, part("b", 0, 1, []int32{1}, []int32{1})),
		"a": topicDetail("a", 1,
			part("a", 4, 4, []int32{4, 1, 2}, []int32{4}),
			part("a", 0, 1, []int32{1, 2, 3}, []int32{1, 2, 3}),
			part("a", 1, 2, []int32{2, 3, 1}, []int32{2, 3}),
			part("a", 2, 3, []int32{3, 1, 2}, []int32{3}),
			part("a", 3, -1, []int32{1, 2, 3}, []int32{}),
		),
	}
	configs := kadm.ResourceConfigs{
		{Name: "a", Configs: []kadm.Config{
			cfg("retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig),
			cfg("cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig),
			cfg("min.insync.replicas", "2", kmsg.ConfigSourceDynamicTopicConfig),
			cfg("segment.bytes", "1073741824", kmsg.ConfigSourceStaticBrokerConfig),
		}},
		{Name: "b", Configs: []kadm.Config{cfg("min.insync.replicas", "1", kmsg.ConfigSourceDefaultConfig)}},
	}
	brokers := kadm.BrokerDetails{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}}
	return topics, configs, brokers
}

func TestWriteTopicDescribe(t *testing.T) {
	idA := "AAAAAAAAAAAAAAAAAAAAAQ"
	idB := "AAAAAAAAAAAAAAAAAAAAAg"
	tests := []struct {
		name   string
		filter describeFilter
		want   string
	}{
		{"all", describeFilter{}, "" +
			"Topic: a\tTopicId: " + idA + "\tPartitionCount: 5\tReplicationFactor: 3\tConfigs: min.insync.replicas=2,retention.ms=3600000\n" +
			"\tTopic: a\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\n" +
			"\tTopic: a\tPartition: 1\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3\n" +
			"\tTopic: a\tPartition: 2\tLeader: 3\tReplicas: 3,1,2\tIsr: 3\n" +
			"\tTopic: a\tPartition: 3\tLeader: none\tReplicas: 1,2,3\tIsr: \n" +
			"\tTopic: a\tPartition: 4\tLeader: 4\tReplicas: 4,1,2\tIsr: 4\n" +
			"Topic: b\tTopicId: " + idB + "\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n" +
			"\tTopic: b\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n"},
		{"under-replicated", describeFilter{UnderReplicated: true}, "" +
			"\tTopic: a\tPartition: 1\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3\n" +
			"\tTopic: a\tPartition: 2\tLeader: 3\tReplicas: 3,1,2\tIsr: 3\n" +
			"\tTopic: a\tPartition: 3\tLeader: none\tReplicas: 1,2,3\tIsr: \n" +
			"\tTopic: a\tPartition: 4\tLeader: 4\tReplicas: 4,1,2\tIsr: 4\n"},
		{"under-min-isr", describeFilter{UnderMinISR: true}, "" +
			"\tTopic: a\tPartition: 2\tLeader: 3\tReplicas: 3,1,2\tIsr: 3\n" +
			"\tTopic: a\tPartition: 3\tLeader: none\tReplicas: 1,2,3\tIsr: \n" +
			"\tTopic: a\tPartition: 4\tLeader: 4\tReplicas: 4,1,2\tIsr: 4\n"},
		{"unavailable", describeFilter{Unavailable: true}, "" +
			"\tTopic: a\tPartition: 3\tLeader: none\tReplicas: 1,2,3\tIsr: \n" +
			"\tTopic: a\tPartition: 4\tLeader: 4\tReplicas: 4,1,2\tIsr: 4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topics, configs, brokers := describeFixture()
			var buf bytes.Buffer
			writeTopicDescribe(&buf, topics, configs, brokers, tt.filter)
			if got := buf.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestWriteTopicDescribeWithoutConfigs(t *testing.T) {
	topics, _, brokers := describeFixture()
	var buf bytes.Buffer
	// Without configs min.insync.replicas counts as 1: only the
	// leaderless partition (empty ISR) is under min ISR.
	writeTopicDescribe(&buf, topics, nil, brokers, describeFilter{UnderMinISR: true})
	want := "\tTopic: a\tPartition: 3\tLeader: none\tReplicas: 1,2,3\tIsr: \n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestKafkaUUID(t *testing.T) {
	var id kadm.TopicID
	if got := kafkaUUID(id); got != "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Errorf("zero id: %q", got)
	}
	for i := range id {
		id[i] = 0xff
	}
	if got := kafkaUUID(id); got != "_____________________w" {
		t.Errorf("all-ones id: %q (want URL-safe, unpadded)", got)
	}
}

func TestOverriddenConfigs(t *testing.T) {
	sensitive := kadm.Config{Key: "secret", Sensitive: true, Source: kmsg.ConfigSourceDynamicTopicConfig}
	cfgs := []kadm.Config{
		cfg("z", "1", kmsg.ConfigSourceDynamicTopicConfig),
		cfg("a", "x,y", kmsg.ConfigSourceDynamicTopicConfig),
		cfg("b", "2", kmsg.ConfigSourceDynamicBrokerConfig),
		sensitive,
	}
	if got, want := overriddenConfigs(cfgs), "a=x,y,secret=<sensitive>,z=1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMinInsyncReplicas(t *testing.T) {
	tests := []struct {
		cfgs []kadm.Config
		want int
	}{
		{nil, 1},
		{[]kadm.Config{cfg("min.insync.replicas", "3", kmsg.ConfigSourceStaticBrokerConfig)}, 3},
		{[]kadm.Config{cfg("min.insync.replicas", "junk", kmsg.ConfigSourceDynamicTopicConfig)}, 1},
	}
	for _, tt := range tests {
		if got := minInsyncReplicas(tt.cfgs); got != tt.want {
			t.Errorf("minInsyncReplicas(%v) = %d, want %d", tt.cfgs, got, tt.want)
		}
	}
}

func TestUsableTopics(t *testing.T) {
	all := kadm.TopicDetails{
		"ok":       topicDetail("ok", 1),
		"missing":  {Topic: "missing", Err: kerr.UnknownTopicOrPartition},
		"internal": {Topic: "internal", IsInternal: true},
	}
	got, err := usableTopics(all, topicDescribeOpts{excludeInternal: true})
	if err == nil || !strings.Contains(err.Error(), "topic 'missing' does not exist") {
		t.Errorf("want missing-topic error, got %v", err)
	}
	if _, ok := got["internal"]; ok {
		t.Errorf("internal topic not excluded")
	}
	got, err = usableTopics(all, topicDescribeOpts{ifExists: true})
	if err != nil || len(got) != 2 {
		t.Errorf("--if-exists: got %v, %v", got.Names(), err)
	}
	all["broken"] = kadm.TopicDetail{Topic: "broken", Err: kerr.LeaderNotAvailable}
	if _, err := usableTopics(all, topicDescribeOpts{ifExists: true}); !errors.Is(err, kerr.LeaderNotAvailable) {
		t.Errorf("want LeaderNotAvailable, got %v", err)
	}
}

func TestWriteTopicList(t *testing.T) {
	topics := kadm.TopicDetails{
		"zeta":               {Topic: "zeta"},
		"__consumer_offsets": {Topic: "__consumer_offsets", IsInternal: true},
		"alpha":              {Topic: "alpha"},
	}
	var buf bytes.Buffer
	writeTopicList(&buf, topics, false)
	if got, want := buf.String(), "__consumer_offsets\nalpha\nzeta\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	buf.Reset()
	writeTopicList(&buf, topics, true)
	if got, want := buf.String(), "alpha\nzeta\n"; got != want {
		t.Errorf("exclude-internal: got %q, want %q", got, want)
	}
}

func TestBuildAlterConfigs(t *testing.T) {
	got, err := buildAlterConfigs([]string{"retention.ms=1", "x=a,b"}, []string{"segment.ms"})
	if err != nil {
		t.Fatal(err)
	}
	want := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")},
		{Op: kadm.SetConfig, Name: "x", Value: kadm.StringPtr("a,b")},
		{Op: kadm.DeleteConfig, Name: "segment.ms"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d ops, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Op != w.Op || g.Name != w.Name || (g.Value == nil) != (w.Value == nil) || (g.Value != nil && *g.Value != *w.Value) {
			t.Errorf("op %d = %+v, want %+v", i, g, w)
		}
	}
	for _, bad := range []struct{ sets, dels []string }{
		{nil, nil},
		{[]string{"novalue"}, nil},
		{nil, []string{"a=b"}},
		{nil, []string{""}},
		{[]string{"a=1"}, []string{"a"}},
	} {
		if _, err := buildAlterConfigs(bad.sets, bad.dels); err == nil {
			t.Errorf("buildAlterConfigs(%v, %v): want error", bad.sets, bad.dels)
		}
	}
}

func TestValidateCreate(t *testing.T) {
	tests := []struct {
		o  topicCreateOpts
		ok bool
	}{
		{topicCreateOpts{partitions: -1, replication: -1}, true},
		{topicCreateOpts{partitions: 6, replication: 3}, true},
		{topicCreateOpts{partitions: 0, replication: 1}, false},
		{topicCreateOpts{partitions: -2, replication: 1}, false},
		{topicCreateOpts{partitions: 1, replication: 0}, false},
	}
	for _, tt := range tests {
		if err := validateCreate(tt.o); (err == nil) != tt.ok {
			t.Errorf("validateCreate(%+v) = %v, want ok=%v", tt.o, err, tt.ok)
		}
	}
}

// Compile-time check that broker details are kgo broker metadata, as the
// fixture assumes.
var _ kadm.BrokerDetail = kgo.BrokerMetadata{}
