package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRestartKeepsTopicsAndConfigs creates topics with configs, alters
// configs (set and delete), adds partitions and deletes a topic, produces
// a little, stops the node cleanly (SIGTERM, exit status 0, clean-shutdown
// marker written), restarts it, and checks that metadata (cluster id,
// topics, ids, partitions, replicas), every topic config with its source,
// and the end offsets are unchanged, that the deleted topic stays deleted,
// and that the clean restart skipped recovery.
func TestRestartKeepsTopicsAndConfigs(t *testing.T) {
	n := startNode(t, "")
	adm := n.admin()
	createTopic(t, adm, "cfg-a", 3, map[string]*string{
		"retention.ms": ptr("3600000"), "segment.bytes": ptr("1048576"),
		"cleanup.policy": ptr("delete"), "max.message.bytes": ptr("2000000"),
	})
	createTopic(t, adm, "cfg-b", 2, map[string]*string{"compression.type": ptr("lz4"), "retention.ms": ptr("7200000")})
	createTopic(t, adm, "cfg-gone", 1, nil)
	alterConfig(t, adm, "cfg-b", "retention.bytes", "123456789")
	deleteConfig(t, adm, "cfg-b", "retention.ms")
	if resp, err := adm.UpdatePartitions(ctxT(t), 4, "cfg-b"); err != nil || resp["cfg-b"].Err != nil {
		t.Fatalf("add partitions to cfg-b: %v %v", err, resp["cfg-b"].Err)
	}
	if resp, err := adm.DeleteTopic(ctxT(t), "cfg-gone"); err != nil || resp.Err != nil {
		t.Fatalf("delete topic cfg-gone: %v %v", err, resp.Err)
	}
	topics := []string{"cfg-a", "cfg-b"}
	produceBatches(t, n, "cfg-a", "restart", 3, 5, 7)
	waitFor(t, waitTimeout, "cfg-gone's directory to be removed", func() (bool, string) {
		_, err := os.Stat(n.partitionDir("cfg-gone", 0))
		return os.IsNotExist(err), fmt.Sprintf("stat: %v", err)
	})

	wantDynamic := map[string]string{
		"cfg-a/retention.ms": "3600000", "cfg-a/segment.bytes": "1048576",
		"cfg-a/cleanup.policy": "delete", "cfg-a/max.message.bytes": "2000000",
		"cfg-b/compression.type": "lz4", "cfg-b/retention.bytes": "123456789",
	}
	before := describeState(t, n, topics)
	checkDynamic(t, "before restart", before.configs, wantDynamic)
	ends := map[string]map[int32]int64{}
	for _, topic := range topics {
		ends[topic] = offsets(t, adm.ListEndOffsets, topic)
	}

	// A clean restart, an unclean one, and a clean one after that (the
	// clean-shutdown marker must be written again after a recovery).
	for i, stop := range []string{"SIGTERM", "SIGKILL", "SIGTERM"} {
		clean := "true"
		if stop == "SIGKILL" {
			n.kill9()
			clean = "false"
		} else {
			n.stop()
			if _, err := os.Stat(filepath.Join(n.dir, ".kafka_cleanshutdown")); err != nil {
				t.Errorf("restart %d: no clean-shutdown marker after SIGTERM: %v", i, err)
			}
		}
		n.restart()
		if !strings.Contains(n.startLog(), "clean_shutdown="+clean) {
			t.Errorf("restart %d after %s: storage did not log clean_shutdown=%s", i, stop, clean)
		}
		after := describeState(t, n, topics)
		checkDynamic(t, fmt.Sprintf("after restart %d (%s)", i, stop), after.configs, wantDynamic)
		if after.metadata != before.metadata {
			t.Errorf("metadata changed across restart %d (%s):\nbefore:\n%s\nafter:\n%s", i, stop, before.metadata, after.metadata)
		}
		if diff := diffLines(before.configs, after.configs); diff != "" {
			t.Errorf("topic configs changed across restart %d (%s):\n%s", i, stop, diff)
		}
		for _, topic := range topics {
			if got := offsets(t, adm.ListEndOffsets, topic); !maps.Equal(got, ends[topic]) {
				t.Errorf("%s: end offsets %v after restart %d (%s), want %v", topic, got, i, stop, ends[topic])
			}
		}
		if _, err := os.Stat(n.partitionDir("cfg-gone", 0)); !os.IsNotExist(err) {
			t.Errorf("deleted topic's directory is back after restart %d: %v", i, err)
		}
		if t.Failed() {
			return
		}
	}
	checkProduceAtEnd(t, n, "cfg-a", 3, ends["cfg-a"])
	checkProduceAtEnd(t, n, "cfg-b", 4, ends["cfg-b"])
}

// state is what a restart must not change, rendered as sorted lines.
type state struct {
	metadata string
	configs  []string // "topic key=value source"
}

// describeState reads the cluster metadata (all topics) and the configs
// of topics, with a new client (kgo caches metadata). Leader epochs are
// left out: a restart may bump them.
func describeState(t *testing.T, n *node, topics []string) state {
	t.Helper()
	adm := n.admin()
	md, err := adm.Metadata(ctxT(t))
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	var lines []string
	lines = append(lines, "cluster "+md.Cluster)
	for _, b := range md.Brokers {
		lines = append(lines, fmt.Sprintf("broker %d %s:%d", b.NodeID, b.Host, b.Port))
	}
	for _, td := range md.Topics {
		lines = append(lines, fmt.Sprintf("topic %s id %s internal=%v err=%v partitions=%d", td.Topic, td.ID, td.IsInternal, td.Err, len(td.Partitions)))
		for _, p := range td.Partitions.Sorted() {
			lines = append(lines, fmt.Sprintf("  %s[%d] leader %d replicas %v isr %v offline %v err %v",
				td.Topic, p.Partition, p.Leader, p.Replicas, p.ISR, p.OfflineReplicas, p.Err))
		}
	}
	slices.Sort(lines)
	rcs, err := adm.DescribeTopicConfigs(ctxT(t), topics...)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	var configs []string
	for _, rc := range rcs {
		if rc.Err != nil {
			t.Fatalf("describe configs of %s: %v", rc.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			configs = append(configs, fmt.Sprintf("%s %s=%s %s", rc.Name, c.Key, c.MaybeValue(), c.Source))
		}
	}
	slices.Sort(configs)
	return state{metadata: strings.Join(lines, "\n"), configs: configs}
}

// checkDynamic checks that the topic-level (DYNAMIC_TOPIC_CONFIG) configs
// are exactly want ("topic/key" -> value).
func checkDynamic(t *testing.T, when string, configs []string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, line := range configs {
		fields := strings.Fields(line)
		if len(fields) != 3 || fields[2] != "DYNAMIC_TOPIC_CONFIG" {
			continue
		}
		k, v, _ := strings.Cut(fields[1], "=")
		got[fields[0]+"/"+k] = v
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s: topic-level configs %v, want %v", when, got, want)
	}
}

// deleteConfig removes a topic-level config with IncrementalAlterConfigs.
func deleteConfig(t *testing.T, adm *kadm.Client, topic, key string) {
	t.Helper()
	resp, err := adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: key}}, topic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = resp.On(topic, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatalf("delete config %s of %s: %v", key, topic, err)
	}
}

// diffLines lists the lines only in a ("-") or only in b ("+"); both are
// sorted.
func diffLines(a, b []string) string {
	var out []string
	for _, l := range a {
		if _, found := slices.BinarySearch(b, l); !found {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if _, found := slices.BinarySearch(a, l); !found {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDeleteAndRecreateTopic deletes a topic and creates it again under
// the same name, three times — with an unclean restart between delete and
// create, with none, and with restarts (unclean, then clean) after
// producing — and checks that each incarnation has a new topic id, starts
// empty, and serves only its own records, before and after restarts.
func TestDeleteAndRecreateTopic(t *testing.T) {
	const topic = "phoenix"
	n := startNode(t, "")
	adm := n.admin()
	// auto.create.topics.enable defaults to true: a metadata request that
	// allows it creates a missing topic, answered (as Kafka) with
	// LEADER_NOT_AVAILABLE; the next request finds the topic.
	if code := topicMetadataCode(t, n, "auto-created", true); code != kerr.LeaderNotAvailable.Code {
		t.Errorf("metadata allowing auto-creation: error %v, want LEADER_NOT_AVAILABLE", kerr.ErrorForCode(code))
	}
	if code := topicMetadataCode(t, n, "auto-created", false); code != 0 {
		t.Errorf("metadata after auto-creation: error %v, want the topic created", kerr.ErrorForCode(code))
	}
	ids := map[kadm.TopicID]bool{}
	for round := range 3 {
		createTopic(t, adm, topic, 2, nil)
		md, err := n.admin().Metadata(ctxT(t), topic) // a new client: kgo caches metadata
		if err != nil || md.Topics[topic].Err != nil {
			t.Fatalf("round %d: metadata: %v %v", round, err, md.Topics[topic].Err)
		}
		if id := md.Topics[topic].ID; ids[id] {
			t.Errorf("round %d: recreated topic reuses id %s", round, id)
		} else {
			ids[id] = true
		}
		if ends := offsets(t, adm.ListEndOffsets, topic); ends[0] != 0 || ends[1] != 0 {
			t.Fatalf("round %d: recreated topic has end offsets %v, want empty", round, ends)
		}
		produced := produceBatches(t, n, topic, fmt.Sprintf("round %d", round), 2, 3, 5)
		switch round {
		case 1:
			n.kill9()
			n.restart()
		case 2:
			n.stop()
			n.restart()
		}
		got := consumeRange(t, n, topic, map[int32]int64{0: 0, 1: 0}, map[int32]int64{0: 15, 1: 15})
		for p, recs := range got {
			checkContiguous(t, topic, p, recs, 0, 15)
			for i, r := range recs {
				if want := produced[p][i].Value; !bytes.Equal(r.Value, want) {
					t.Fatalf("round %d: %s[%d] offset %d: %q, want %q", round, topic, p, r.Offset, r.Value, want)
				}
			}
		}
		if resp, err := adm.DeleteTopic(ctxT(t), topic); err != nil || resp.Err != nil {
			t.Fatalf("round %d: delete: %v %v", round, err, resp.Err)
		}
		// A metadata request that does not allow auto-creation (as
		// every kgo client sends by default) must not bring it back.
		if code := topicMetadataCode(t, n, topic, false); code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("round %d: metadata for the deleted topic (auto-creation not allowed): error %v, want UNKNOWN_TOPIC_OR_PARTITION",
				round, kerr.ErrorForCode(code))
		}
		if round == 0 {
			n.kill9()
			n.restart()
		}
	}
}

// topicMetadataCode sends a Metadata request for topic alone, allowing
// auto-creation or not, and returns the topic's error code.
func topicMetadataCode(t *testing.T, n *node, topic string, allowAuto bool) int16 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = allowAuto
	resp, err := req.RequestWith(ctxT(t), n.client())
	if err != nil {
		t.Fatalf("metadata for %s: %v", topic, err)
	}
	for _, rt := range resp.Topics {
		if rt.Topic != nil && *rt.Topic == topic {
			return rt.ErrorCode
		}
	}
	t.Fatalf("metadata for %s: topic missing from the response", topic)
	return 0
}
