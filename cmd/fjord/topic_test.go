package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func part(p, leader int32, replicas, isr []int32) partitionView {
	return partitionView{Partition: p, Leader: leader, Replicas: replicas, ISR: isr}
}

// withELR marks a partition as described by DescribeTopicPartitions.
func withELR(pv partitionView, elr, lastKnown []int32) partitionView {
	pv.ELRKnown, pv.ELR, pv.LastKnownELR = true, elr, lastKnown
	return pv
}

func topicOf(name string, id byte, parts ...partitionView) topicView {
	tv := topicView{Name: name, Partitions: parts}
	tv.ID[15] = id
	return tv
}

func cfg(key, value string, src kmsg.ConfigSource) kadm.Config {
	return kadm.Config{Key: key, Value: kadm.StringPtr(value), Source: src}
}

// fixture: topic "a" (RF 3, min.insync.replicas=2 override, described
// with ELRs) with one healthy partition, one under-replicated, one under
// min ISR, one leaderless and one led by a dead broker; topic "b" (RF 1,
// no overrides, from Metadata: no ELR).
func describeFixture() ([]topicView, kadm.ResourceConfigs, kadm.BrokerDetails) {
	topics := []topicView{
		topicOf("a", 1,
			withELR(part(0, 1, []int32{1, 2, 3}, []int32{1, 2, 3}), nil, nil),
			withELR(part(1, 2, []int32{2, 3, 1}, []int32{2, 3}), nil, nil),
			withELR(part(2, 3, []int32{3, 1, 2}, []int32{3}), []int32{1}, nil),
			withELR(part(3, -1, []int32{1, 2, 3}, []int32{1}), []int32{2, 3}, []int32{1}),
			withELR(part(4, 4, []int32{4, 1, 2}, []int32{4}), []int32{}, []int32{}),
		),
		topicOf("b", 2, part(0, 1, []int32{1}, []int32{1})),
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
	tests := []struct {
		golden string
		filter describeFilter
	}{
		{"topic_describe.golden", describeFilter{}},
		{"topic_describe_under_replicated.golden", describeFilter{UnderReplicated: true}},
		{"topic_describe_under_min_isr.golden", describeFilter{UnderMinISR: true}},
		{"topic_describe_unavailable.golden", describeFilter{Unavailable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			topics, configs, brokers := describeFixture()
			var buf bytes.Buffer
			writeTopicDescribe(&buf, topics, configs, brokers, tt.filter)
			checkGolden(t, tt.golden, buf.Bytes())
		})
	}
}

func TestWriteTopicDescribeWithoutConfigs(t *testing.T) {
	topics, _, brokers := describeFixture()
	var buf bytes.Buffer
	// Without configs min.insync.replicas counts as 1: only the
	// leaderless partition is under min ISR.
	writeTopicDescribe(&buf, topics, nil, brokers, describeFilter{UnderMinISR: true})
	want := "\tTopic: a\tPartition: 3\tLeader: none\tReplicas: 1,2,3\tIsr: 1\tElr: 2,3\tLastKnownElr: 1\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

// As Kafka's TopicCommand: no TopicId field for an unknown (zero) id.
func TestTopicHeaderLineWithoutID(t *testing.T) {
	got := topicHeaderLine(topicView{Name: "x", Partitions: []partitionView{part(0, 1, []int32{1, 2}, nil)}}, nil)
	if want := "Topic: x\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestKafkaUUID(t *testing.T) {
	var id [16]byte
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

// Like kafka-topics, every config not at its default is listed: topic
// overrides and broker settings alike.
func TestOverriddenConfigs(t *testing.T) {
	sensitive := kadm.Config{Key: "secret", Sensitive: true, Source: kmsg.ConfigSourceDynamicTopicConfig}
	cfgs := []kadm.Config{
		cfg("z", "1", kmsg.ConfigSourceDynamicTopicConfig),
		cfg("a", "x,y", kmsg.ConfigSourceDynamicTopicConfig),
		cfg("b", "2", kmsg.ConfigSourceDynamicBrokerConfig),
		cfg("c", "3", kmsg.ConfigSourceDefaultConfig),
		sensitive,
	}
	if got, want := overriddenConfigs(cfgs), "a=x,y,b=2,secret=<sensitive>,z=1"; got != want {
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
	all := []topicView{
		topicOf("ok", 1),
		{Name: "missing", Err: kerr.UnknownTopicOrPartition},
		{Name: "internal", Internal: true},
	}
	got, err := usableTopics(all, topicDescribeOpts{excludeInternal: true})
	if err == nil || !strings.Contains(err.Error(), "topic 'missing' does not exist") {
		t.Errorf("want missing-topic error, got %v", err)
	}
	if names := topicNames(got); !slices.Equal(names, []string{"ok"}) {
		t.Errorf("exclude-internal: %v", names)
	}
	got, err = usableTopics(all, topicDescribeOpts{ifExists: true})
	if names := topicNames(got); err != nil || !slices.Equal(names, []string{"internal", "ok"}) {
		t.Errorf("--if-exists: got %v, %v", names, err)
	}
	all = append(all, topicView{Name: "broken", Err: kerr.LeaderNotAvailable})
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
