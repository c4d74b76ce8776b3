package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// reassignments lists the reassignments in progress of topic.
func reassignments(ctx context.Context, adm *kadm.Client, topic string) (kadm.ListPartitionReassignmentsResponses, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	return adm.ListPartitionReassignments(ctx, md.Topics.TopicsSet())
}

// waitReassigned waits until topic has no reassignment in progress and
// every partition has exactly the target replicas, all in the ISR.
func waitReassigned(t *testing.T, nodes []*clusterNode, adm *kadm.Client, topic string, target map[int32][]int32, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "reassignments of "+topic+" complete", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), clReqTimeout)
		defer cancel()
		l, err := reassignments(ctx, adm, topic)
		if err != nil {
			return false, err.Error()
		}
		if len(l) > 0 {
			return false, fmt.Sprintf("in progress: %+v", l.Sorted())
		}
		return true, ""
	})
	waitAgreed(t, nodes, timeout, "target replicas in the ISR", func(v clusterView) string {
		for p, want := range target {
			pv := v.topic(topic)[p]
			if !slices.Equal(pv.Replicas, want) || !slices.Equal(pv.ISR, sortedIDs(want)) || pv.Leader < 0 {
				return fmt.Sprintf("%s[%d]: replicas %v ISR %v leader %d, want %v", topic, p, pv.Replicas, pv.ISR, pv.Leader, want)
			}
		}
		return ""
	})
}

// replaceBroker returns replicas with from replaced by to.
func replaceBroker(replicas []int32, from, to int32) []int32 {
	out := slices.Clone(replicas)
	for i, r := range out {
		if r == from {
			out[i] = to
		}
	}
	return out
}

// TestReassignUnderLoad moves every replica of broker 1 to a new broker 4
// (leaders included) while an idempotent acks=all producer writes to
// every partition: the reassignments complete, broker 1 deletes its
// copies, and every acknowledged record is read back once, in order.
func TestReassignUnderLoad(t *testing.T) {
	c := startCluster(t, 3, nil, "min.insync.replicas=2")
	waitAgreed(t, c.nodes, readyTimeout, "3 brokers", brokersAre(1, 2, 3))
	const topic = "moving"
	grpCreateTopic(t, c, topic, 6, 3)
	addBrokerOnly(t, c, 4)
	waitAgreed(t, c.nodes, readyTimeout, "4 brokers", brokersAre(1, 2, 3, 4))
	load := startGrpLoad(t, c.nodes, topic, 6, 5*time.Millisecond)
	time.Sleep(time.Second)

	adm := grpAdmin(t, c.nodes)
	view := waitAgreed(t, c.nodes, waitTimeout, "full ISR", grpFullISR(topic, 3))
	req := kadm.AlterPartitionAssignmentsReq{}
	target := map[int32][]int32{}
	for p, pv := range view.topic(topic) {
		target[p] = replaceBroker(pv.Replicas, 1, 4)
		req.Assign(topic, p, target[p])
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			t.Fatalf("%s[%d]: %v %s", r.Topic, r.Partition, r.Err, r.ErrMessage)
		}
	}
	start := time.Now()
	waitReassigned(t, c.nodes, adm, topic, target, 2*waitTimeout)
	t.Logf("6 partitions reassigned under load in %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second) // more load on the new replica set
	load.check(t, c.nodes)
	waitFor(t, waitTimeout, "broker 1 deleted its copies", func() (bool, string) {
		for p := range int32(6) {
			dir := fmt.Sprintf("%s/%s-%d", c.node(1).dir, topic, p)
			if _, err := os.Stat(dir); err == nil {
				return false, dir + " still exists"
			}
		}
		return true, ""
	})
}

// TestReassignSurvivesKills starts a reassignment that cannot complete
// (the new replica's broker is paused), SIGKILLs the active controller
// and then the partition's leader, and checks that the reassignment is
// still listed by the new controller and completes once the new broker
// runs again, with no acknowledged record lost.
func TestReassignSurvivesKills(t *testing.T) {
	c := startCluster(t, 3, nil, "min.insync.replicas=2")
	waitAgreed(t, c.nodes, readyTimeout, "3 brokers", brokersAre(1, 2, 3))
	const topic = "survivor"
	grpCreateTopic(t, c, topic, 1, 3)
	nd4 := addBrokerOnly(t, c, 4)
	waitAgreed(t, c.nodes, readyTimeout, "4 brokers", brokersAre(1, 2, 3, 4))
	load := startGrpLoad(t, c.nodes, topic, 1, 5*time.Millisecond)
	adm := grpAdmin(t, c.nodes[:3]) // node 4 is paused for a while

	view := waitAgreed(t, c.nodes, waitTimeout, "full ISR", grpFullISR(topic, 3))
	leader := view.topic(topic)[0].Leader
	target := map[int32][]int32{0: replaceBroker(view.topic(topic)[0].Replicas, leader, 4)}
	nd4.pause()
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, target[0])
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := resps.Sorted()[0]; r.Err != nil {
		t.Fatalf("reassign: %v %s", r.Err, r.ErrMessage)
	}
	voters := c.nodes[:3]
	for _, victim := range []string{"controller", "leader"} {
		var id int32
		if victim == "controller" {
			id = waitController(t, voters, waitTimeout)
		} else {
			id = waitAgreed(t, voters, waitTimeout, "a leader", func(v clusterView) string {
				if v.topic(topic)[0].Leader < 0 {
					return "no leader"
				}
				return ""
			}).topic(topic)[0].Leader
		}
		t.Logf("SIGKILL of the %s, node %d", victim, id)
		c.node(id).kill9()
		restAdm := kadm.NewClient(grpClient(t, withoutNode(voters, id)))
		waitFor(t, 2*waitTimeout, "the reassignment listed after the kill", func() (bool, string) {
			cctx, ccancel := context.WithTimeout(context.Background(), clReqTimeout)
			defer ccancel()
			l, err := reassignments(cctx, restAdm, topic)
			if err != nil {
				return false, err.Error()
			}
			r, ok := l[topic][0]
			return ok && slices.Equal(r.AddingReplicas, []int32{4}), fmt.Sprintf("%+v", l.Sorted())
		})
		c.node(id).start()
		waitUnfenced(t, []*clusterNode{c.node(id)}, 2*waitTimeout)
	}
	nd4.resume()
	waitReassigned(t, c.nodes, adm, topic, target, 3*waitTimeout)
	load.check(t, c.nodes)
}

// dirBytes is the size of the files in dir (0 if it does not exist).
func dirBytes(dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".log") {
			n += fi.Size()
		}
	}
	return n
}

// TestReassignThrottled moves 96 MB of replicas to a new broker with
// Kafka's replication throttles at 10 MB/s (both rates on every broker,
// the leaders' and the new follower's replicas listed, as
// kafka-reassign-partitions --throttle sets them) and measures the copy
// rate on the new broker's disk past the first seconds: it must stay
// within 10% of the throttle.
func TestReassignThrottled(t *testing.T) {
	const (
		topic = "heavy"
		parts = 4
		rate  = 10 << 20
		total = 96 << 20
	)
	c := startCluster(t, 3, nil, "min.insync.replicas=2")
	waitAgreed(t, c.nodes, readyTimeout, "3 brokers", brokersAre(1, 2, 3))
	grpCreateTopic(t, c, topic, parts, 3)
	addBrokerOnly(t, c, 4)
	waitAgreed(t, c.nodes, readyTimeout, "4 brokers", brokersAre(1, 2, 3, 4))
	pr := grpProducer(t, c.nodes, kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedBytes(64<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitTimeout)
	defer cancel()
	val := make([]byte, 64<<10)
	for i := range total / len(val) {
		val[i%len(val)]++ // distinct values; uncompressed anyway
		pr.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: slices.Clone(val)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := pr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	adm := grpAdmin(t, c.nodes)
	rateStr, star := strconv.Itoa(rate), "*"
	var follower []string
	for p := range parts {
		follower = append(follower, fmt.Sprintf("%d:4", p))
	}
	fl := strings.Join(follower, ",")
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Name: "leader.replication.throttled.rate", Value: &rateStr},
		{Name: "follower.replication.throttled.rate", Value: &rateStr},
	}, 1, 2, 3, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Name: "leader.replication.throttled.replicas", Value: &star},
		{Name: "follower.replication.throttled.replicas", Value: &fl},
	}, topic); err != nil {
		t.Fatal(err)
	}
	view := waitAgreed(t, c.nodes, waitTimeout, "full ISR", grpFullISR(topic, 3))
	req := kadm.AlterPartitionAssignmentsReq{}
	target := map[int32][]int32{}
	for p, pv := range view.topic(topic) {
		target[p] = replaceBroker(pv.Replicas, 1, 4)
		req.Assign(topic, p, target[p])
	}
	if _, err := adm.AlterPartitionAssignments(ctx, req); err != nil {
		t.Fatal(err)
	}
	// Sample the new replicas' size until they hold everything.
	type sample struct {
		at    time.Time
		bytes int64
	}
	var samples []sample
	start := time.Now()
	for {
		var n int64
		for p := range parts {
			n += dirBytes(fmt.Sprintf("%s/%s-%d", c.node(4).dir, topic, p))
		}
		samples = append(samples, sample{time.Now(), n})
		if n >= total || time.Since(start) > 3*time.Duration(total/rate)*time.Second {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	waitReassigned(t, c.nodes, adm, topic, target, 2*waitTimeout)
	// The steady rate: from a quarter to the end of the copy (the first
	// window's burst excluded).
	var from sample
	for _, s := range samples {
		if s.bytes >= total/4 {
			from = s
			break
		}
	}
	last := samples[len(samples)-1]
	got := float64(last.bytes-from.bytes) / last.at.Sub(from.at).Seconds()
	t.Logf("copied %d MB in %v; steady rate %.2f MB/s under a %d MB/s throttle (%.1f%%)",
		last.bytes>>20, last.at.Sub(start).Round(time.Millisecond), got/(1<<20), rate>>20, 100*(got-rate)/rate)
	if got < 0.9*rate || got > 1.1*rate {
		t.Errorf("replication rate %.2f MB/s is not within 10%% of the %d MB/s throttle", got/(1<<20), rate>>20)
	}
}
