package main

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func syn(key, value string, src kmsg.ConfigSource) kadm.ConfigSynonym {
	return kadm.ConfigSynonym{Key: key, Value: kadm.StringPtr(value), Source: src}
}

// Broker 1's configs as DescribeConfigs answers them: message.max.bytes
// set for broker 1 and as the cluster default, log.retention.ms as the
// cluster default, node.id static, log.roll.ms unset.
func testBrokerConfigs() []kadm.Config {
	return []kadm.Config{
		{Key: "node.id", Value: kadm.StringPtr("1"), Source: kmsg.ConfigSourceStaticBrokerConfig,
			Synonyms: []kadm.ConfigSynonym{syn("node.id", "1", kmsg.ConfigSourceStaticBrokerConfig), syn("node.id", "1", kmsg.ConfigSourceDefaultConfig)}},
		{Key: "message.max.bytes", Value: kadm.StringPtr("7000"), Source: kmsg.ConfigSourceDynamicBrokerConfig,
			Synonyms: []kadm.ConfigSynonym{
				syn("message.max.bytes", "7000", kmsg.ConfigSourceDynamicBrokerConfig),
				syn("message.max.bytes", "6000", kmsg.ConfigSourceDynamicDefaultBrokerConfig),
				syn("message.max.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)}},
		{Key: "log.retention.ms", Value: kadm.StringPtr("1000"), Source: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			Synonyms: []kadm.ConfigSynonym{
				syn("log.retention.ms", "1000", kmsg.ConfigSourceDynamicDefaultBrokerConfig),
				syn("log.retention.hours", "168", kmsg.ConfigSourceDefaultConfig)}},
		{Key: "log.roll.ms", Source: kmsg.ConfigSourceDefaultConfig},
		{Key: "ssl.key.password", Sensitive: true, Source: kmsg.ConfigSourceStaticBrokerConfig,
			Synonyms: []kadm.ConfigSynonym{{Key: "ssl.key.password", Source: kmsg.ConfigSourceStaticBrokerConfig}}},
	}
}

func TestConfigsDescribeBrokerOutput(t *testing.T) {
	var buf bytes.Buffer
	writeBrokerConfigs(&buf, brokerEntity{id: 1}, false, testBrokerConfigs())
	checkGolden(t, "configs_describe_broker.golden", buf.Bytes())
}

func TestConfigsDescribeBrokerAllOutput(t *testing.T) {
	var buf bytes.Buffer
	writeBrokerConfigs(&buf, brokerEntity{id: 1}, true, testBrokerConfigs())
	checkGolden(t, "configs_describe_broker_all.golden", buf.Bytes())
}

func TestConfigsDescribeDefaultsOutput(t *testing.T) {
	defaults := []kadm.Config{
		{Key: "message.max.bytes", Value: kadm.StringPtr("6000"), Source: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			Synonyms: []kadm.ConfigSynonym{syn("message.max.bytes", "6000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)}},
		{Key: "log.retention.ms", Value: kadm.StringPtr("1000"), Source: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			Synonyms: []kadm.ConfigSynonym{syn("log.retention.ms", "1000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)}},
	}
	var buf bytes.Buffer
	writeBrokerConfigs(&buf, brokerEntity{id: -1, defaults: true}, false, defaults)
	checkGolden(t, "configs_describe_defaults.golden", buf.Bytes())
}

func TestBrokerConfigAlters(t *testing.T) {
	alters, err := brokerConfigAlters([]string{"log.retention.ms=1000,log.cleanup.policy=[delete,compact]", "message.max.bytes=2000"}, []string{"min.insync.replicas,log.roll.ms"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range alters {
		got = append(got, a.Name+"|"+nullable(a.Value)+"|"+map[kadm.IncrementalOp]string{kadm.SetConfig: "set", kadm.DeleteConfig: "delete"}[a.Op])
	}
	want := []string{"log.retention.ms|1000|set", "log.cleanup.policy|delete,compact|set", "message.max.bytes|2000|set",
		"min.insync.replicas|null|delete", "log.roll.ms|null|delete"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range [][2][]string{
		{nil, nil},
		{{"novalue"}, nil},
		{{"a=1,a=2"}, nil},
		{{"a=1"}, {"a"}},
		{nil, {"a=1"}},
	} {
		if _, err := brokerConfigAlters(bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestConfigsCommandsRegistered(t *testing.T) {
	for _, name := range []string{"describe", "alter"} {
		cmd, rest, err := rootCmd.Find([]string{"configs", name})
		if err != nil || len(rest) != 0 || cmd.Name() != name {
			t.Fatalf("fjord configs %s not registered: %v %v", name, rest, err)
		}
		if err := cmd.RunE(cmd, nil); err == nil {
			t.Errorf("%s without --broker or --broker-defaults ran", name)
		}
	}
}
