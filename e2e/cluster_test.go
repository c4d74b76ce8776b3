package e2e

// Process-level tests of a 3-node cluster (issue 3): every node runs as
// its own OS process with combined roles, configured only with Kafka
// property names. They check metadata only: partition data replication
// is not implemented yet, so followers hold empty logs and the ISR never
// grows back after a broker returns.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterBrokerFailover starts three nodes, creates a 12-partition
// RF=3 topic through a node that is not the active controller (so the
// request is forwarded), checks that every node serves the same metadata
// with leadership spread evenly, then SIGKILLs a broker that is not the
// controller and checks that within the session timeout plus 2 s its
// partitions have new leaders from the ISR with bumped epochs, it left
// every ISR and Metadata no longer lists it; restarted, it is back.
func TestClusterBrokerFailover(t *testing.T) {
	c := startCluster(t, 3, nil)
	all := c.nodes
	v := waitAgreed(t, all, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	checkAdvertised(t, c, v)
	ctrl := waitController(t, all, waitTimeout)
	via := withoutNode(all, ctrl)[0]

	const topic = "failover"
	if err := via.createTopics(12, 3, nil, topic); err != nil {
		t.Fatalf("CreateTopics through node %d (controller is %d): %v", via.id, ctrl, err)
	}
	// A forwarded change is answered once it is applied on the forwarding
	// node: its own Metadata shows the topic at once.
	if own, err := via.view(); err != nil || topicReady(topic, 12)(own) != "" {
		t.Errorf("node %d's Metadata right after its CreateTopics answer: %v %s", via.id, err, topicReady(topic, 12)(own))
	}
	before := waitAgreed(t, all, waitTimeout, "every node agrees on the new topic",
		allConds(brokersAre(1, 2, 3), topicReady(topic, 12)))
	checkPlacement(t, before, topic, 12, 3, []int32{1, 2, 3})

	// The victim leads partitions and is not the controller (looked up
	// again: the controller could have moved meanwhile).
	victim := withoutNode(all, waitController(t, all, waitTimeout))[0]
	if before.leaderCounts(topic)[victim.id] == 0 {
		t.Fatalf("node %d leads nothing", victim.id)
	}
	survivors := withoutNode(all, victim.id)
	killed := time.Now()
	victim.kill9()
	after := waitAgreed(t, survivors, clFailoverBound, fmt.Sprintf("failover of node %d's partitions", victim.id),
		func(v clusterView) string { return failedOver(before, v, victim.id, survivors) })
	took := time.Since(killed)
	t.Logf("failover: node %d's %d leaderships moved %v after SIGKILL (session timeout %v, bound %v)",
		victim.id, before.leaderCounts(topic)[victim.id], took.Round(time.Millisecond), clSessionTimeout, clFailoverBound)
	if took > clFailoverBound {
		t.Errorf("failover seen %v after SIGKILL, more than the bound %v", took, clFailoverBound)
	}
	if n := after.leaderCounts(topic)[victim.id]; n != 0 {
		t.Errorf("dead node %d still leads %d partitions", victim.id, n)
	}
	checkDescribeOffline(t, survivors[0].addr, victim.id)

	restarted := time.Now()
	victim.start()
	back := waitAgreed(t, all, readyTimeout, fmt.Sprintf("node %d back in every node's Metadata", victim.id),
		allConds(brokersAre(1, 2, 3), noOffline))
	t.Logf("node %d listed again %v after restart", victim.id, time.Since(restarted).Round(time.Millisecond))
	checkAdvertised(t, c, back)
	if msg := allLed(back, []int32{1, 2, 3}); msg != "" {
		t.Errorf("after node %d's restart: %s", victim.id, msg)
	}
	if dc, err := victim.describeCluster(); err != nil {
		t.Errorf("DescribeCluster on restarted node %d: %v", victim.id, err)
	} else if len(dc.Brokers) != 3 {
		t.Errorf("DescribeCluster on restarted node %d lists %d brokers, want 3", victim.id, len(dc.Brokers))
	}
}

// failedOver is the failover condition after broker dead dies: the
// survivors alone are listed; every partition dead led has another leader
// taken from its previous ISR, with a higher leader epoch; no other
// leader moved; dead is in no ISR and is reported offline wherever it
// is a replica; replica sets are unchanged.
func failedOver(before, v clusterView, dead int32, survivors []*clusterNode) string {
	if msg := brokersAre(nodeIDs(survivors)...)(v); msg != "" {
		return msg
	}
	for k, was := range before.Parts {
		p, ok := v.Parts[k]
		switch {
		case !ok:
			return fmt.Sprintf("%s missing", k)
		case !slices.Equal(p.Replicas, was.Replicas):
			return fmt.Sprintf("%s: replicas %v, were %v", k, p.Replicas, was.Replicas)
		case slices.Contains(p.ISR, dead):
			return fmt.Sprintf("%s: dead node %d still in ISR %v", k, dead, p.ISR)
		case slices.Contains(p.Replicas, dead) && !slices.Contains(p.Offline, dead):
			return fmt.Sprintf("%s: dead node %d not offline (offline replicas %v)", k, dead, p.Offline)
		case was.Leader != dead && p.Leader != was.Leader:
			return fmt.Sprintf("%s: leader moved from live node %d to %d", k, was.Leader, p.Leader)
		case was.Leader != dead:
		case p.Leader < 0 || p.Leader == dead || !slices.Contains(was.ISR, p.Leader):
			return fmt.Sprintf("%s: leader %d, want a survivor from the ISR %v", k, p.Leader, was.ISR)
		case p.Epoch <= was.Epoch:
			return fmt.Sprintf("%s: leader epoch %d, was %d", k, p.Epoch, was.Epoch)
		}
	}
	return ""
}

// noOffline is a waitAgreed condition: no partition has an offline replica.
func noOffline(v clusterView) string {
	for k, p := range v.Parts {
		if len(p.Offline) > 0 {
			return fmt.Sprintf("%s: offline replicas %v", k, p.Offline)
		}
	}
	return ""
}

// checkAdvertised checks that Metadata gives every broker its own
// PLAINTEXT address.
func checkAdvertised(t *testing.T, c *testCluster, v clusterView) {
	t.Helper()
	for _, id := range v.Brokers {
		if got, want := v.Addrs[id], c.node(id).addr; got != want {
			t.Errorf("Metadata lists broker %d at %s, want %s", id, got, want)
		}
	}
}

// checkPlacement checks a new topic: rf distinct replicas from brokers per
// partition, the ISR equal to the replicas, the first replica leading,
// and every broker leading the same number of partitions.
func checkPlacement(t *testing.T, v clusterView, topic string, partitions, rf int, brokers []int32) {
	t.Helper()
	for i, p := range v.topic(topic) {
		distinct := sortedIDs(p.Replicas)
		distinct = slices.Compact(distinct)
		switch {
		case len(p.Replicas) != rf || len(distinct) != rf:
			t.Errorf("%s[%d]: replicas %v, want %d distinct", topic, i, p.Replicas, rf)
		case slices.ContainsFunc(p.Replicas, func(r int32) bool { return !slices.Contains(brokers, r) }):
			t.Errorf("%s[%d]: replicas %v outside brokers %v", topic, i, p.Replicas, brokers)
		case !slices.Equal(p.ISR, sortedIDs(p.Replicas)):
			t.Errorf("%s[%d]: ISR %v, want all replicas %v", topic, i, p.ISR, p.Replicas)
		case p.Leader != p.Replicas[0]:
			t.Errorf("%s[%d]: leader %d, want the preferred replica %d", topic, i, p.Leader, p.Replicas[0])
		}
	}
	counts := v.leaderCounts(topic)
	for _, b := range brokers {
		if counts[b] != partitions/len(brokers) {
			t.Errorf("topic %s: leaders per broker %v, want %d each", topic, counts, partitions/len(brokers))
			break
		}
	}
}

// TestClusterControllerFailover SIGKILLs the active controller's node:
// another node becomes the active controller, creating topics through
// every surviving node works (forwarded, and through kadm), and once the
// new controller's session for the dead broker expires, the partitions it
// led move. Restarted, the old controller rejoins as a broker.
func TestClusterControllerFailover(t *testing.T) {
	c := startCluster(t, 3, nil)
	all := c.nodes
	waitAgreed(t, all, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	ctrl := waitController(t, all, waitTimeout)
	if err := withoutNode(all, ctrl)[0].createTopics(12, 3, nil, "before"); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	before := waitAgreed(t, all, waitTimeout, "every node agrees on the topic",
		allConds(brokersAre(1, 2, 3), topicReady("before", 12)))
	if before.leaderCounts("before")[ctrl] == 0 {
		t.Fatalf("controller node %d leads nothing", ctrl)
	}

	survivors := withoutNode(all, ctrl)
	killed := time.Now()
	c.node(ctrl).kill9()
	newCtrl := waitController(t, survivors, waitTimeout)
	elected := time.Since(killed)
	t.Logf("controller %d killed; node %d active %v later", ctrl, newCtrl, elected.Round(time.Millisecond))

	// RF 2: the dead broker may already be fenced, leaving two.
	for _, nd := range survivors {
		name := fmt.Sprintf("after-via-%d", nd.id)
		retryCreate(t, name, func() error { return nd.createTopics(4, 2, nil, name) })
		adm := kadm.NewClient(nd.cl)
		name = fmt.Sprintf("after-kadm-%d", nd.id)
		retryCreate(t, name, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := adm.CreateTopic(ctx, 4, 2, nil, name)
			if err == nil {
				err = r.Err
			}
			return err
		})
	}

	// The new controller starts every broker's session afresh when it
	// becomes active, so the dead one is fenced a session timeout later:
	// the bound runs from the election.
	after := waitAgreed(t, survivors, max(time.Until(killed.Add(elected+clFailoverBound)), pollInterval),
		fmt.Sprintf("failover of node %d's partitions", ctrl),
		allConds(brokersAre(nodeIDs(survivors)...), func(v clusterView) string {
			if msg := failedOver(before, v, ctrl, survivors); msg != "" {
				return msg
			}
			return allLed(v, nodeIDs(survivors))
		}))
	took := time.Since(killed)
	t.Logf("partitions of node %d moved %v after SIGKILL", ctrl, took.Round(time.Millisecond))
	if took > elected+clFailoverBound {
		t.Errorf("failover seen %v after SIGKILL, more than the election (%v) plus the bound %v", took, elected, clFailoverBound)
	}
	for _, nd := range survivors {
		for _, name := range []string{fmt.Sprintf("after-via-%d", nd.id), fmt.Sprintf("after-kadm-%d", nd.id)} {
			if msg := topicReady(name, 4)(after); msg != "" {
				t.Error(msg)
			}
		}
	}

	c.node(ctrl).start()
	waitAgreed(t, all, readyTimeout, fmt.Sprintf("node %d back", ctrl), brokersAre(1, 2, 3))
	waitController(t, all, waitTimeout)
}

// retryCreate retries create while the cluster settles on a new
// controller (NOT_CONTROLLER, timeouts, closed connections), failing the
// test after waitTimeout or on any other error.
func retryCreate(t *testing.T, topic string, create func() error) {
	t.Helper()
	waitFor(t, waitTimeout, "creating topic "+topic, func() (bool, string) {
		err := create()
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
			return true, ""
		case errors.Is(err, kerr.InvalidReplicationFactor), errors.Is(err, kerr.InvalidTopicException),
			errors.Is(err, kerr.InvalidConfig), errors.Is(err, kerr.InvalidPartitions):
			t.Fatalf("creating %s: %v", topic, err)
		}
		return false, err.Error()
	})
}

// allLed is a condition: every partition has a leader among live.
func allLed(v clusterView, live []int32) string {
	for k, p := range v.Parts {
		if !slices.Contains(live, p.Leader) {
			return fmt.Sprintf("%s: leader %d not among live brokers %v", k, p.Leader, live)
		}
	}
	return ""
}

// TestClusterRestartAll stops every node with SIGTERM and starts them all
// again: topics (ids, partitions, replicas), their configs, and records of
// a single-replica topic survive, and all three brokers are back.
func TestClusterRestartAll(t *testing.T) {
	c := startCluster(t, 3, nil)
	all := c.nodes
	waitAgreed(t, all, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	if err := c.node(1).createTopics(6, 3, map[string]string{"retention.ms": "3600000"}, "durable"); err != nil {
		t.Fatal(err)
	}
	if err := c.node(2).createTopics(3, 1, nil, "single"); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(c.node(3).cl)
	alterTopicConfig(t, adm, "durable", "max.message.bytes", "65536")
	before := waitAgreed(t, all, waitTimeout, "topics everywhere",
		allConds(topicReady("durable", 6), topicReady("single", 3)))
	ids := topicIDs(t, c.node(1))
	wantConfigs := map[string]string{"retention.ms": "3600000", "max.message.bytes": "65536"}
	checkTopicConfigs(t, adm, "durable", wantConfigs)
	ends := produceSingle(t, c, "single", 60)

	var wg sync.WaitGroup
	took := make([]time.Duration, len(all))
	for i, nd := range all {
		nd.checkAlive()
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			ok, err := nd.signal(syscall.SIGTERM, clStopTimeout)
			took[i] = time.Since(start)
			if !ok || err != nil {
				t.Errorf("node %d after SIGTERM: exited %v, %v", nd.id, ok, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("SIGTERM to exit: %v", took)
	if t.Failed() {
		t.FailNow()
	}
	for _, nd := range all {
		nd.start()
	}
	after := waitAgreed(t, all, readyTimeout, "all brokers and topics back",
		allConds(brokersAre(1, 2, 3), topicReady("durable", 6), topicReady("single", 3)))
	for k, p := range before.Parts {
		if q := after.Parts[k]; !slices.Equal(p.Replicas, q.Replicas) {
			t.Errorf("%s: replicas %v after restart, were %v", k, q.Replicas, p.Replicas)
		}
	}
	if got := topicIDs(t, c.node(1)); !maps.Equal(got, ids) {
		t.Errorf("topic ids after restart %v, were %v", got, ids)
	}
	checkTopicConfigs(t, kadm.NewClient(c.node(2).cl), "durable", wantConfigs)
	waitFor(t, waitTimeout, "end offsets of single after restart", func() (bool, string) {
		got, err := tryOffsets(kadm.NewClient(c.node(1).cl).ListEndOffsets, "single")
		if err != nil {
			return false, err.Error()
		}
		return maps.Equal(got, ends), fmt.Sprintf("end offsets %v, want %v", got, ends)
	})
}

// topicIDs returns every topic's id as nd's Metadata reports it.
func topicIDs(t *testing.T, nd *clusterNode) map[string][16]byte {
	t.Helper()
	resp, err := nd.metadata()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][16]byte{}
	for _, tp := range resp.Topics {
		if tp.Topic != nil {
			out[*tp.Topic] = tp.TopicID
		}
	}
	return out
}

// alterTopicConfig sets one topic config with IncrementalAlterConfigs.
func alterTopicConfig(t *testing.T, adm *kadm.Client, topic, key, value string) {
	t.Helper()
	resp, err := adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Name: key, Value: kadm.StringPtr(value)}}, topic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		r, err = resp.On(topic, nil)
		if err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatalf("alter %s of %s: %v", key, topic, err)
	}
}

// checkTopicConfigs checks that topic's dynamic configs are exactly want.
func checkTopicConfigs(t *testing.T, adm *kadm.Client, topic string, want map[string]string) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctxT(t), topic)
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	got := map[string]string{}
	for _, cf := range rc.Configs {
		if cf.Source == kmsg.ConfigSourceDynamicTopicConfig {
			got[cf.Key] = cf.MaybeValue()
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("topic %s configs %v, want %v", topic, got, want)
	}
}

// produceSingle produces n records round-robin to topic (RF 1: its high
// watermark moves without replication) with acks=all and returns the end
// offsets.
func produceSingle(t *testing.T, c *testCluster, topic string, n int) map[int32]int64 {
	t.Helper()
	var seeds []string
	for _, nd := range c.nodes {
		seeds = append(seeds, nd.addr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	ends, err := tryOffsets(kadm.NewClient(cl).ListEndOffsets, topic)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, e := range ends {
		sum += e
	}
	if sum != int64(n) {
		t.Fatalf("end offsets of %s %v sum to %d, want %d", topic, ends, sum, n)
	}
	return ends
}

// TestDevCluster runs `fjord dev` on free ports: it prints its bootstrap
// list once up, kcat -L lists its three brokers, `fjord cluster describe`
// describes it, and SIGINT stops it within a few seconds with status 0 and
// every node's log dir closed cleanly.
func TestDevCluster(t *testing.T) {
	port, dataDir := devPorts(t), t.TempDir()
	started := time.Now()
	dev := startDev(t, port, dataDir)
	t.Logf("fjord dev up in %v", time.Since(started).Round(time.Millisecond))
	bootstrap := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", port, port+1, port+2)
	if !strings.Contains(dev.output(), "Bootstrap: "+bootstrap) {
		t.Errorf("fjord dev announced no bootstrap %s:\n%s", bootstrap, tail(dev.output(), 20))
	}
	if kcat, err := exec.LookPath("kcat"); err != nil {
		t.Log("kcat not installed: skipping the kcat -L check")
	} else {
		checkDevKcat(t, kcat, port)
	}
	checkDevDescribe(t, bootstrap, port)
	dev.interrupt(t, 10*time.Second)
	for id := 1; id <= 3; id++ {
		marker := filepath.Join(dataDir, fmt.Sprintf("node-%d", id), ".kafka_cleanshutdown")
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("node %d was not shut down cleanly: %v", id, err)
		}
	}
}

// devPorts returns a port P such that the ports `fjord dev --port P`
// uses — Kafka on P..P+2, controllers on P+10000..P+10002, metrics on
// P+20000..P+20002 — were free a moment ago. All of them lie below the
// usual ephemeral range (32768+), so the kernel is unlikely to hand them
// to other sockets meanwhile.
func devPorts(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := 10000 + rand.IntN(2700)
		var ports []int
		for _, base := range []int{p, p + 10000, p + 20000} {
			ports = append(ports, base, base+1, base+2)
		}
		if portsFree(ports...) {
			return p
		}
	}
	t.Fatal("no free port range for fjord dev")
	return 0
}

func portsFree(ports ...int) bool {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		lns = append(lns, ln)
	}
	return true
}

// checkDevKcat checks that kcat -L lists the dev cluster's three brokers
// at their ports.
func checkDevKcat(t *testing.T, kcat string, port int) {
	t.Helper()
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
	}
	outStr := runKcat(t, kcat, nil, "-b", fmt.Sprintf("127.0.0.1:%d", port), "-L", "-J")
	if err := json.Unmarshal([]byte(outStr), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, outStr)
	}
	var got []string
	for _, b := range md.Brokers {
		got = append(got, fmt.Sprintf("%d@%s", b.ID, strings.TrimSuffix(b.Name, fmt.Sprintf("/%d", b.ID))))
	}
	slices.Sort(got)
	want := []string{
		fmt.Sprintf("1@127.0.0.1:%d", port), fmt.Sprintf("2@127.0.0.1:%d", port+1), fmt.Sprintf("3@127.0.0.1:%d", port+2),
	}
	if !slices.Equal(got, want) {
		t.Errorf("kcat -L lists brokers %v, want %v", got, want)
	}
}

// checkDevDescribe runs `fjord cluster describe` against the dev cluster
// and checks its cluster id, controller and broker lines.
func checkDevDescribe(t *testing.T, bootstrap string, port int) {
	t.Helper()
	out, fields, brokers := runClusterDescribe(t, bootstrap)
	if fields["Cluster ID"] == "" || fields["Cluster ID"] == "-" {
		t.Errorf("cluster describe: no cluster id:\n%s", out)
	}
	if c, err := strconv.Atoi(fields["Controller"]); err != nil || c < 1 || c > 3 {
		t.Errorf("cluster describe: controller %q, want 1-3:\n%s", fields["Controller"], out)
	}
	if len(brokers) != 3 {
		t.Fatalf("cluster describe lists %d brokers, want 3:\n%s", len(brokers), out)
	}
	for i, line := range brokers {
		prefix := fmt.Sprintf("%d\t127.0.0.1:%d\track=-\tleaders=", i+1, port+i)
		if !strings.HasPrefix(line, prefix) {
			t.Errorf("cluster describe broker line %q, want prefix %q", line, prefix)
		}
	}
}

// runClusterDescribe runs `fjord cluster describe` and returns its
// output, its "Key: value" header lines and its broker lines (trimmed).
func runClusterDescribe(t *testing.T, bootstrap string) (string, map[string]string, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, fjordBin, "cluster", "describe", "-b", bootstrap)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fjord cluster describe: %v\n%s", err, stderr.String())
	}
	fields := map[string]string{}
	var brokers []string
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "  ") {
			brokers = append(brokers, strings.TrimSpace(line))
			continue
		}
		k, v, _ := strings.Cut(line, ": ")
		fields[k] = v
	}
	return stdout.String(), fields, brokers
}

// checkDescribeOffline checks that `fjord cluster describe` shows the
// dead broker as offline, leading nothing but still holding its replicas.
func checkDescribeOffline(t *testing.T, bootstrap string, dead int32) {
	t.Helper()
	out, _, brokers := runClusterDescribe(t, bootstrap)
	prefix := fmt.Sprintf("%d\t-\track=-\tleaders=0\treplicas=", dead)
	for _, line := range brokers {
		if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, "\toffline") && !strings.Contains(line, "replicas=0") {
			return
		}
	}
	t.Errorf("cluster describe does not show broker %d offline with its replicas:\n%s", dead, out)
}

// TestClusterRefusesForeignClusterID starts three voters of which node 3
// is configured with another cluster.id: nodes 1 and 2 form the quorum,
// refuse node 3's quorum traffic (INCONSISTENT_CLUSTER_ID), and node 3
// never appears in their Metadata.
func TestClusterRefusesForeignClusterID(t *testing.T) {
	c := startCluster(t, 3, func(id int32) []string {
		if id == 3 {
			return []string{"cluster.id=NotTheClusterIDxxxxxxx"}
		}
		return nil
	})
	members := c.nodes[:2]
	var seen []int32
	observe := func(v clusterView) string {
		for _, id := range v.Brokers {
			if !slices.Contains(seen, id) {
				seen = append(seen, id)
			}
		}
		return ""
	}
	v := waitAgreed(t, members, readyTimeout, "nodes 1 and 2 list each other",
		allConds(observe, brokersAre(1, 2)))
	if v.ClusterID == "NotTheClusterIDxxxxxxx" {
		t.Fatalf("the cluster took node 3's cluster id")
	}
	// Positive evidence that node 3 tried and was refused, then a last
	// look at the metadata.
	waitFor(t, waitTimeout, "nodes 1 or 2 to refuse node 3's quorum traffic", func() (bool, string) {
		for _, nd := range members {
			nd.checkAlive()
			observeView(nd, observe)
			if strings.Contains(nd.output(1), "INCONSISTENT_CLUSTER_ID") {
				return true, ""
			}
		}
		return false, "no INCONSISTENT_CLUSTER_ID in their logs"
	})
	checkForeignRegistration(t, c.node(waitController(t, members, waitTimeout)), c.node(3))
	waitAgreed(t, members, waitTimeout, "nodes 1 and 2 agree", allConds(observe, brokersAre(1, 2)))
	if slices.Contains(seen, 3) {
		t.Errorf("node 3, of another cluster, appeared in Metadata (brokers seen: %v)", seen)
	}
	if v3, err := c.node(3).view(); err == nil && slices.Contains(v3.Brokers, 1) {
		t.Errorf("node 3 serves the cluster's metadata: brokers %v", v3.Brokers)
	}
}

func observeView(nd *clusterNode, observe func(clusterView) string) {
	if v, err := nd.view(); err == nil {
		observe(v)
	}
}

// checkForeignRegistration sends the active controller a
// BrokerRegistration for foreign's node id with another cluster id, as
// foreign would if it knew the controller, and expects
// INCONSISTENT_CLUSTER_ID.
func checkForeignRegistration(t *testing.T, ctrl, foreign *clusterNode) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ctrl.ctrlAddr), kgo.DialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID = foreign.id, "NotTheClusterIDxxxxxxx"
	req.IncarnationID[0] = 1
	host, port, _ := net.SplitHostPort(foreign.addr)
	p, _ := strconv.Atoi(port)
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", host, uint16(p)
	req.Listeners = append(req.Listeners, l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatalf("BrokerRegistration to controller %d: %v", ctrl.id, err)
	}
	if code := resp.(*kmsg.BrokerRegistrationResponse).ErrorCode; code != kerr.InconsistentClusterID.Code {
		t.Errorf("BrokerRegistration with a foreign cluster id: error %v, want INCONSISTENT_CLUSTER_ID", kerr.ErrorForCode(code))
	}
}
