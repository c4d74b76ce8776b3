package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerOnlyNodeObservesMetadata starts three combined nodes and a
// fourth with process.roles=broker: it is no voter, yet it follows the
// metadata log, registers, is listed in Metadata, forwards admin requests,
// and hosts replicas like any broker.
func TestBrokerOnlyNodeObservesMetadata(t *testing.T) {
	c := startCluster(t, 3, nil)
	nd := addBrokerOnly(t, c, 4)
	waitAgreed(t, c.nodes, 30*time.Second, "4 brokers listed", brokersAre(1, 2, 3, 4))
	waitFor(t, 30*time.Second, "DescribeQuorum lists node 4 as an observer", func() (bool, string) {
		p, err := describeQuorumVia(c.nodes[0], false)
		if err != nil {
			return false, err.Error()
		}
		for _, o := range p.Observers {
			if o.ReplicaID == 4 && o.LogEndOffset > 0 && o.LastFetchTimestamp > 0 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("observers %+v", p.Observers)
	})
	if err := nd.createTopics(8, 3, nil, "observed"); err != nil {
		t.Fatalf("create through the broker-only node: %v", err)
	}
	view := waitAgreed(t, c.nodes, 30*time.Second, "topic everywhere", topicReady("observed", 8))
	hosts := 0
	for _, p := range view.topic("observed") {
		for _, r := range p.Replicas {
			if r == 4 {
				hosts++
			}
		}
	}
	if hosts == 0 {
		t.Fatalf("the broker-only node holds no replica of an RF=3 topic on 4 brokers")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nd.addr), kgo.DisableIdempotentWrite(),
		kgo.ConsumeTopics("observed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 50 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "observed", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	got := 0
	for got < 50 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 50: %v", got, err)
		}
		got += fs.NumRecords()
	}
}

// addBrokerOnly starts node id as a broker-only observer of c's voters.
func addBrokerOnly(t *testing.T, c *testCluster, id int32) *clusterNode {
	t.Helper()
	voters := make([]string, len(c.nodes))
	for i, v := range c.nodes {
		voters[i] = fmt.Sprintf("%d@%s", v.id, v.ctrlAddr)
	}
	port := freePorts(t, 1)[0]
	nd := &clusterNode{t: t, id: id, dir: t.TempDir(), logs: t.TempDir(), addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	nd.overrides = []string{
		fmt.Sprintf("node.id=%d", id), "process.roles=broker",
		"listeners=PLAINTEXT://" + nd.addr, "controller.listener.names=CONTROLLER",
		"controller.quorum.voters=" + strings.Join(voters, ","), "log.dirs=" + nd.dir,
		fmt.Sprintf("broker.session.timeout.ms=%d", clSessionTimeout.Milliseconds()),
		fmt.Sprintf("broker.heartbeat.interval.ms=%d", clHeartbeatInterval.Milliseconds()),
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nd.addr), kgo.DialTimeout(time.Second), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	nd.cl = cl
	c.nodes = append(c.nodes, nd)
	nd.start()
	return nd
}
