package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDynamicBrokerConfigs sets cluster-wide dynamic broker configs
// (message.max.bytes, log.retention.ms) and a per-broker one through kadm
// on a 3-node cluster: every broker describes them with their sources and
// synonyms, a topic without overrides reports them
// (DYNAMIC_DEFAULT_BROKER_CONFIG), they act without a restart (a batch
// over the new limit gets MESSAGE_TOO_LARGE, from franz-go and from kcat;
// old segments are deleted by the new retention), read-only and unknown
// names are refused with INVALID_REQUEST, `fjord configs` prints them, and
// they survive a restart of every node (they are in the metadata log).
func TestDynamicBrokerConfigs(t *testing.T) {
	c := startCluster(t, 3, nil, "log.retention.check.interval.ms=500")
	waitAgreed(t, c.nodes, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	const topic = "dyn"
	if err := c.node(1).createTopics(1, 3, map[string]string{"segment.bytes": "1024"}, topic); err != nil {
		t.Fatal(err)
	}
	waitAgreed(t, c.nodes, waitTimeout, "every node serves "+topic, allConds(topicReady(topic, 1), grpFullISR(topic, 3)))
	adm := grpAdmin(t, c.nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitTimeout)
	defer cancel()

	// Small records, a segment each; nothing expires yet.
	prod := grpProducer(t, c.nodes)
	for i := range 20 {
		produceValue(t, ctx, prod, topic, 900, fmt.Sprint(i))
	}
	alterBroker(t, ctx, adm, nil, "message.max.bytes=2000", "log.retention.ms=3600000")
	alterBroker(t, ctx, adm, []int32{2}, "follower.replication.throttled.rate=1048576")
	checkDynamicDescribed(t, ctx, adm, "3600000")
	checkTopicDescribed(t, c, topic, "3600000")
	waitTooLarge(t, ctx, prod, topic)
	checkKcatTooLarge(t, c.node(1).addr, topic)
	checkKafkaPythonConfigs(t, c.node(1).addr, topic)
	checkConfigsCLI(t, c.node(3))
	checkRefused(t, ctx, adm)

	// A shorter retention deletes the old segments without a restart.
	alterBroker(t, ctx, adm, nil, "log.retention.ms=200")
	checkTopicDescribed(t, c, topic, "200")
	waitFor(t, waitTimeout, "retention by the dynamic log.retention.ms", func() (bool, string) {
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		o, _ := starts.Lookup(topic, 0)
		return o.Err == nil && o.Offset > 0, fmt.Sprintf("log start %+v", o)
	})

	// Stored in the metadata log: back after every node restarts.
	alterBroker(t, ctx, adm, nil, "log.retention.ms=3600000")
	restartAll(t, c)
	waitAgreed(t, c.nodes, readyTimeout, "all brokers back", allConds(brokersAre(1, 2, 3), topicReady(topic, 1)))
	adm = grpAdmin(t, c.nodes)
	prod = grpProducer(t, c.nodes)
	checkDynamicDescribed(t, ctx, adm, "3600000")
	checkTopicDescribed(t, c, topic, "3600000")
	waitTooLarge(t, ctx, prod, topic)

	// Deleted, the limit is the default again.
	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "message.max.bytes"}})
	if err != nil || resps[0].Err != nil {
		t.Fatalf("delete: %v %+v", err, resps)
	}
	waitFor(t, waitTimeout, "a 3000-byte record accepted again", func() (bool, string) {
		err := tryProduce(ctx, prod, topic, 3000)
		return err == nil, fmt.Sprint(err)
	})
}

// alterBroker sets configs (k=v) of brokers (none: the cluster default).
func alterBroker(t *testing.T, ctx context.Context, adm *kadm.Client, brokers []int32, kvs ...string) {
	t.Helper()
	var alters []kadm.AlterConfig
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
	}
	resps, err := adm.AlterBrokerConfigs(ctx, alters, brokers...)
	if err != nil {
		t.Fatalf("altering %v of %v: %v", kvs, brokers, err)
	}
	for _, r := range resps {
		if r.Err != nil {
			t.Fatalf("altering %v of broker %q: %v %s", kvs, r.Name, r.Err, r.ErrMessage)
		}
	}
}

// checkDynamicDescribed waits until every broker describes the dynamic
// configs: message.max.bytes=2000 and log.retention.ms=retention as
// cluster defaults, follower.replication.throttled.rate set for broker 2
// only.
func checkDynamicDescribed(t *testing.T, ctx context.Context, adm *kadm.Client, retention string) {
	t.Helper()
	want := map[string]string{
		"message.max.bytes": "2000(DYNAMIC_DEFAULT_BROKER_CONFIG) [DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=2000 DEFAULT_CONFIG:message.max.bytes=1048588]",
		"log.retention.ms": retention + "(DYNAMIC_DEFAULT_BROKER_CONFIG) [DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=" + retention +
			" DEFAULT_CONFIG:log.retention.hours=168]",
		"log.retention.hours": "168(DEFAULT_CONFIG) [DEFAULT_CONFIG:log.retention.hours=168]",
	}
	throttle := map[int32]string{
		1: "9223372036854775807(DEFAULT_CONFIG) [DEFAULT_CONFIG:follower.replication.throttled.rate=9223372036854775807]",
		2: "1048576(DYNAMIC_BROKER_CONFIG) [DYNAMIC_BROKER_CONFIG:follower.replication.throttled.rate=1048576 DEFAULT_CONFIG:follower.replication.throttled.rate=9223372036854775807]",
		3: "9223372036854775807(DEFAULT_CONFIG) [DEFAULT_CONFIG:follower.replication.throttled.rate=9223372036854775807]",
	}
	waitFor(t, waitTimeout, "every broker describes the dynamic configs", func() (bool, string) {
		rcs, err := adm.DescribeBrokerConfigs(ctx, 1, 2, 3)
		if err != nil {
			return false, err.Error()
		}
		for _, id := range []int32{1, 2, 3} {
			rc, err := rcs.On(fmt.Sprint(id), nil)
			if err != nil || rc.Err != nil {
				return false, fmt.Sprintf("broker %d: %v %v", id, err, rc.Err)
			}
			got := describedConfigs(rc.Configs)
			for k, v := range want {
				if got[k] != v {
					return false, fmt.Sprintf("broker %d: %s = %s, want %s", id, k, got[k], v)
				}
			}
			if k := "follower.replication.throttled.rate"; got[k] != throttle[id] {
				return false, fmt.Sprintf("broker %d: %s = %s, want %s", id, k, got[k], throttle[id])
			}
		}
		rcs, err = adm.DescribeBrokerConfigs(ctx)
		if err != nil {
			return false, err.Error()
		}
		got := describedConfigs(rcs[0].Configs)
		wantDefaults := map[string]string{
			"message.max.bytes": "2000(DYNAMIC_DEFAULT_BROKER_CONFIG) [DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=2000]",
			"log.retention.ms":  retention + "(DYNAMIC_DEFAULT_BROKER_CONFIG) [DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=" + retention + "]",
		}
		if fmt.Sprint(got) != fmt.Sprint(wantDefaults) {
			return false, fmt.Sprintf("cluster defaults %v, want %v", got, wantDefaults)
		}
		return true, ""
	})
}

// describedConfigs renders configs as value(source) [synonyms].
func describedConfigs(cs []kadm.Config) map[string]string {
	out := map[string]string{}
	for _, c := range cs {
		var syns []string
		for _, s := range c.Synonyms {
			syns = append(syns, fmt.Sprintf("%s:%s=%s", s.Source, s.Key, derefOr(s.Value)))
		}
		out[c.Key] = fmt.Sprintf("%s(%s) [%s]", derefOr(c.Value), c.Source, strings.Join(syns, " "))
	}
	return out
}

func derefOr(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// checkTopicDescribed waits until every broker describes the topic's
// retention.ms and max.message.bytes as the dynamic cluster defaults.
func checkTopicDescribed(t *testing.T, c *testCluster, topic, retention string) {
	t.Helper()
	want := map[string]string{
		"retention.ms": retention + "(DYNAMIC_DEFAULT_BROKER_CONFIG) [DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=" + retention +
			" DEFAULT_CONFIG:log.retention.hours=168]",
		"max.message.bytes": "2000(DYNAMIC_DEFAULT_BROKER_CONFIG) [DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=2000 DEFAULT_CONFIG:message.max.bytes=1048588]",
	}
	waitFor(t, waitTimeout, "the topic reports the dynamic defaults", func() (bool, string) {
		for _, nd := range c.nodes {
			id := nd.id
			req := kmsg.NewPtrDescribeConfigsRequest()
			req.IncludeSynonyms = true
			res := kmsg.NewDescribeConfigsRequestResource()
			res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, topic
			req.Resources = append(req.Resources, res)
			kr, err := nd.request(req)
			if err != nil {
				return false, fmt.Sprintf("broker %d: %v", id, err)
			}
			resp := kr.(*kmsg.DescribeConfigsResponse)
			if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
				return false, fmt.Sprintf("broker %d: %+v", id, resp.Resources)
			}
			var cs []kadm.Config
			for _, rc := range resp.Resources[0].Configs {
				c := kadm.Config{Key: rc.Name, Value: rc.Value, Source: rc.Source}
				for _, s := range rc.ConfigSynonyms {
					c.Synonyms = append(c.Synonyms, kadm.ConfigSynonym{Key: s.Name, Value: s.Value, Source: s.Source})
				}
				cs = append(cs, c)
			}
			got := describedConfigs(cs)
			for k, v := range want {
				if got[k] != v {
					return false, fmt.Sprintf("broker %d: %s = %s, want %s", id, k, got[k], v)
				}
			}
		}
		return true, ""
	})
}

func produceValue(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, size int, key string) {
	t.Helper()
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: bytes.Repeat([]byte("v"), size)}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatalf("producing %d bytes: %v", size, err)
	}
}

// tryProduce produces a record of size random (incompressible) bytes.
func tryProduce(ctx context.Context, cl *kgo.Client, topic string, size int) error {
	v := make([]byte, size)
	rand.Read(v)
	r := &kgo.Record{Topic: topic, Value: v}
	return cl.ProduceSync(ctx, r).FirstErr()
}

// waitTooLarge checks that a 3000-byte record gets MESSAGE_TOO_LARGE
// (message.max.bytes=2000) and a small one is accepted.
func waitTooLarge(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) {
	t.Helper()
	waitFor(t, waitTimeout, "MESSAGE_TOO_LARGE for 3000 bytes", func() (bool, string) {
		err := tryProduce(ctx, cl, topic, 3000)
		return errors.Is(err, kerr.MessageTooLarge), fmt.Sprint(err)
	})
	if err := tryProduce(ctx, cl, topic, 100); err != nil {
		t.Fatalf("a small record: %v", err)
	}
}

// checkKcatTooLarge produces a 3000-byte message with kcat (librdkafka)
// and expects the broker's refusal.
func checkKcatTooLarge(t *testing.T, addr, topic string) {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Log("kcat not installed; its check skipped")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", addr, "-P", "-t", topic, "-p", "0", "-X", "acks=all", "-X", "message.send.max.retries=0")
	var line strings.Builder
	for range 120 { // 3120 random characters
		line.WriteString(rand.Text())
	}
	cmd.Stdin = strings.NewReader(line.String() + "\n")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "too large") {
		t.Errorf("kcat produced 3000 bytes without the broker's refusal:\n%s", out)
	}
}

// kafkaPythonConfigsScript (Debian's python3-kafka 2.0.2): the legacy
// AlterConfigs of the cluster default (a full replacement, with the same
// values), DescribeConfigs of broker 1 with synonyms, and a produce over
// message.max.bytes. argv: bootstrap, topic.
const kafkaPythonConfigsScript = `
import os, sys
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, ConfigResource, ConfigResourceType
from kafka.errors import MessageSizeTooLargeError
boot, topic = sys.argv[1], sys.argv[2]
adm = KafkaAdminClient(bootstrap_servers=boot)
r = adm.alter_configs([ConfigResource(ConfigResourceType.BROKER, "", configs={"message.max.bytes": "2000", "log.retention.ms": "3600000"})])
print("alter", [res[0] for res in r.resources])
for resp in adm.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], include_synonyms=True):
    for res in resp.resources:
        print("describe error", res[0])
        for e in res[4]:
            if e[0] == "message.max.bytes":
                print("entry", e[0], e[1], "source", e[3], "synonyms", [(s[0], s[1], s[2]) for s in e[5]])
p = KafkaProducer(bootstrap_servers=boot, acks="all", retries=0)
try:
    p.send(topic, os.urandom(3000)).get(timeout=30)
    print("accepted")
except MessageSizeTooLargeError:
    print("too large")
`

// checkKafkaPythonConfigs runs kafkaPythonConfigsScript, if kafka-python
// is installed.
func checkKafkaPythonConfigs(t *testing.T, addr, topic string) {
	t.Helper()
	py := debianPython()
	if exec.Command(py, "-c", "import kafka").Run() != nil {
		t.Log("kafka-python not installed (apt-get install python3-kafka); its check skipped")
		return
	}
	script := filepath.Join(t.TempDir(), "configs.py")
	if err := os.WriteFile(script, []byte(kafkaPythonConfigsScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, script, addr, topic).CombinedOutput()
	for _, want := range []string{
		"alter [0]\n",
		"describe error 0\n",
		"entry message.max.bytes 2000 source 3 synonyms [('message.max.bytes', '2000', 3), ('message.max.bytes', '1048588', 5)]\n",
		"too large\n",
	} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("kafka-python: %v; output lacks %q:\n%s", err, want, out)
			return
		}
	}
}

// checkConfigsCLI runs fjord configs describe against a node.
func checkConfigsCLI(t *testing.T, nd *clusterNode) {
	t.Helper()
	run := func(args ...string) string {
		cmd := exec.Command(fjordBin, append(append([]string{"configs"}, args...), "--bootstrap-server", nd.addr, "--timeout", "20s")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fjord configs %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := run("describe", "--broker-defaults")
	for _, want := range []string{"Default configs for brokers in the cluster are:\n",
		"  message.max.bytes=2000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=2000}\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("fjord configs describe --broker-defaults lacks %q:\n%s", want, out)
		}
	}
	out = run("describe", "--broker", "2")
	want := "Dynamic configs for broker 2 are:\n  follower.replication.throttled.rate=1048576 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:follower.replication.throttled.rate=1048576, DEFAULT_CONFIG:follower.replication.throttled.rate=9223372036854775807}\n"
	if out != want {
		t.Errorf("fjord configs describe --broker 2:\n%s\nwant:\n%s", out, want)
	}
	if out := run("alter", "--broker", "3", "--add-config", "leader.replication.throttled.rate=2097152"); out != "Completed updating config for broker 3.\n" {
		t.Errorf("fjord configs alter: %q", out)
	}
	if out := run("alter", "--broker", "3", "--delete-config", "leader.replication.throttled.rate"); out != "Completed updating config for broker 3.\n" {
		t.Errorf("fjord configs alter --delete-config: %q", out)
	}
}

// checkRefused: read-only, unknown and malformed broker configs get
// INVALID_REQUEST, as from Kafka.
func checkRefused(t *testing.T, ctx context.Context, adm *kadm.Client) {
	t.Helper()
	for _, kv := range [][2]string{{"log.retention.hours", "1"}, {"log.retention.msx", "1"}, {"message.max.bytes", "big"}, {"node.id", "4"}} {
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: kv[0], Value: kadm.StringPtr(kv[1])}})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(resps[0].Err, kerr.InvalidRequest) {
			t.Errorf("%s=%s: %v, want INVALID_REQUEST", kv[0], kv[1], resps[0].Err)
		}
	}
}
