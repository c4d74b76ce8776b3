package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// runFjordOn runs the fjord binary with args against nodes and returns
// its standard output; a failure fails the test.
func runFjordOn(t *testing.T, timeout time.Duration, nodes []*clusterNode, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args = append(args, "-b", strings.Join(grpAddrs(nodes), ","))
	cmd := exec.CommandContext(ctx, fjordBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("fjord %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	t.Logf("fjord %s (%v):\n%s", strings.Join(args[:min(3, len(args))], " "), time.Since(start).Round(time.Millisecond), tail(stdout.String(), 20))
	return stdout.String()
}

// topicShare checks that every broker of ids holds an even share (±1)
// of topic's replicas and leaders, and that the partitions are fully
// replicated.
func topicShare(topic string, rf int, ids ...int32) func(clusterView) string {
	return func(v clusterView) string {
		parts := v.topic(topic)
		replicas, leaders := map[int32]int{}, map[int32]int{}
		for p, pv := range parts {
			if len(pv.Replicas) != rf || len(pv.ISR) != rf || pv.Leader < 0 {
				return fmt.Sprintf("%s[%d]: replicas %v ISR %v leader %d", topic, p, pv.Replicas, pv.ISR, pv.Leader)
			}
			for _, r := range pv.Replicas {
				if !slices.Contains(ids, r) {
					return fmt.Sprintf("%s[%d]: replica on broker %d: %v", topic, p, r, pv.Replicas)
				}
				replicas[r]++
			}
			leaders[pv.Leader]++
		}
		n := len(ids)
		for _, id := range ids {
			wantR, wantL := float64(len(parts)*rf)/float64(n), float64(len(parts))/float64(n)
			if d := float64(replicas[id]) - wantR; d < -1.5 || d > 1.5 {
				return fmt.Sprintf("broker %d holds %d replicas, want about %.1f (%v)", id, replicas[id], wantR, replicas)
			}
			if d := float64(leaders[id]) - wantL; d < -1.5 || d > 1.5 {
				return fmt.Sprintf("broker %d leads %d partitions, want about %.1f (%v)", id, leaders[id], wantL, leaders)
			}
		}
		return ""
	}
}

// TestRebalanceAndDrain runs the operator tools under acks=all load: a
// 4th broker joins a 3-broker cluster, `fjord cluster rebalance --wait`
// gives it its share of replicas and leaders, `fjord broker drain 1
// --wait` moves everything off broker 1, which is stopped and
// unregistered; no acknowledged record is lost.
func TestRebalanceAndDrain(t *testing.T) {
	c := startCluster(t, 3, nil, "min.insync.replicas=2")
	waitAgreed(t, c.nodes, readyTimeout, "3 brokers", brokersAre(1, 2, 3))
	const topic = "spread"
	const parts = 30
	grpCreateTopic(t, c, topic, parts, 3)
	waitAgreed(t, c.nodes, waitTimeout, "full ISR", grpFullISR(topic, 3))
	load := startGrpLoad(t, c.nodes, topic, parts, 10*time.Millisecond)
	addBrokerOnly(t, c, 4)
	waitAgreed(t, c.nodes, readyTimeout, "4 brokers", brokersAre(1, 2, 3, 4))
	time.Sleep(500 * time.Millisecond)

	out := runFjordOn(t, 2*time.Minute, c.nodes, "cluster", "rebalance", "--wait", "--throttle", "50000000", "--max-in-flight", "10")
	if !strings.Contains(out, "Elected the preferred leaders") || !strings.Contains(out, "Clearing broker-level throttles") {
		t.Errorf("rebalance output lacks the election or the throttle clearing:\n%s", out)
	}
	waitAgreed(t, c.nodes, waitTimeout, "broker 4 holds its share", topicShare(topic, 3, 1, 2, 3, 4))
	if out := runFjordOn(t, time.Minute, c.nodes, "cluster", "rebalance", "--dry-run"); !strings.Contains(out, "Nothing to change.") {
		t.Errorf("a second rebalance still plans moves:\n%s", out)
	}

	runFjordOn(t, 2*time.Minute, c.nodes, "broker", "drain", "1", "--wait")
	rest := withoutNode(c.nodes, 1)
	waitAgreed(t, rest, waitTimeout, "nothing on broker 1", topicShare(topic, 3, 2, 3, 4))
	// The drain cordoned broker 1: a new topic gets no replica there.
	grpCreateTopic(t, c, "fresh", 9, 2)
	for p, pv := range waitAgreed(t, c.nodes, waitTimeout, "fresh", topicReady("fresh", 9)).topic("fresh") {
		if slices.Contains(pv.Replicas, 1) {
			t.Errorf("fresh[%d] placed on cordoned broker 1: %v", p, pv.Replicas)
		}
	}
	if ok, err := c.node(1).signal(syscall.SIGTERM, clStopTimeout); !ok {
		t.Fatalf("broker 1 did not stop after SIGTERM: %v", err)
	}
	waitAgreed(t, rest, 2*clSessionTimeout, "broker 1 gone", brokersAre(2, 3, 4))
	runFjordOn(t, time.Minute, rest, "broker", "unregister", "1")
	time.Sleep(time.Second) // more load on the final replica sets
	load.check(t, rest)
}

// TestReassignCLI runs fjord reassign generate, execute --throttle and
// verify against a cluster under load: the proposal moves the topic onto
// brokers 2, 3, 4, verify reports every partition completed and clears
// the throttles it set, and no acknowledged record is lost.
func TestReassignCLI(t *testing.T) {
	c := startCluster(t, 3, nil, "min.insync.replicas=2")
	waitAgreed(t, c.nodes, readyTimeout, "3 brokers", brokersAre(1, 2, 3))
	const topic = "relocated"
	grpCreateTopic(t, c, topic, 6, 3)
	addBrokerOnly(t, c, 4)
	waitAgreed(t, c.nodes, readyTimeout, "4 brokers", brokersAre(1, 2, 3, 4))
	load := startGrpLoad(t, c.nodes, topic, 6, 10*time.Millisecond)
	dir := t.TempDir()
	topicsFile := filepath.Join(dir, "topics.json")
	if err := os.WriteFile(topicsFile, []byte(`{"topics":[{"topic":"`+topic+`"}],"version":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runFjordOn(t, time.Minute, c.nodes, "reassign", "generate", "--topics-to-move-json-file", topicsFile, "--broker-list", "2,3,4")
	_, proposed, ok := strings.Cut(out, "Proposed partition reassignment configuration\n")
	if !ok {
		t.Fatalf("no proposal in:\n%s", out)
	}
	planFile := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(planFile, []byte(proposed), 0o644); err != nil {
		t.Fatal(err)
	}
	out = runFjordOn(t, time.Minute, c.nodes, "reassign", "execute", "--reassignment-json-file", planFile, "--throttle", "20000000")
	if !strings.Contains(out, "Successfully started partition reassignments for "+topic+"-0,") {
		t.Errorf("execute output:\n%s", out)
	}
	adm := grpAdmin(t, c.nodes)
	throttled := topicThrottles(t, adm, topic)
	if throttled["leader.replication.throttled.replicas"] == "" || throttled["follower.replication.throttled.replicas"] == "" {
		t.Errorf("execute --throttle set no throttled replicas: %v", throttled)
	}
	waitFor(t, 2*waitTimeout, "verify reports completion", func() (bool, string) {
		out := runFjordOn(t, time.Minute, c.nodes, "reassign", "verify", "--reassignment-json-file", planFile)
		return strings.Contains(out, "Clearing topic-level throttles on topic "+topic), out
	})
	if throttled := topicThrottles(t, adm, topic); len(throttled) > 0 {
		t.Errorf("verify left throttles: %v", throttled)
	}
	// The reassign tool elects no leaders (the controller's automatic
	// leader rebalance does, later): check the replicas only.
	waitAgreed(t, c.nodes, waitTimeout, "nothing on broker 1", func(v clusterView) string {
		for p, pv := range v.topic(topic) {
			if slices.Contains(pv.Replicas, 1) || len(pv.ISR) != 3 || pv.Leader < 0 {
				return fmt.Sprintf("%s[%d]: replicas %v ISR %v leader %d", topic, p, pv.Replicas, pv.ISR, pv.Leader)
			}
		}
		return ""
	})
	load.check(t, c.nodes)
}

// topicThrottles returns the non-empty throttled replica lists of topic.
func topicThrottles(t *testing.T, adm *kadm.Client, topic string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clReqTimeout)
	defer cancel()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rc := range rcs {
		for _, cfg := range rc.Configs {
			if strings.HasSuffix(cfg.Key, ".replication.throttled.replicas") && cfg.Value != nil && *cfg.Value != "" {
				out[cfg.Key] = *cfg.Value
			}
		}
	}
	return out
}
