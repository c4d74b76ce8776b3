package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Replacing a dead controller (KIP-853): in a 3-node cluster (each node
// broker and controller) node 3 is SIGKILLed and its disk wiped; node 4
// starts empty with node.id outside controller.quorum.voters (it joins),
// `fjord quorum add` makes it a voter and `fjord quorum remove` drops
// node 3. Topics are created before, between and after each step, and
// DescribeQuorum then lists voters {1, 2, 4} with node 4's endpoint. After
// every node is SIGKILLed and restarted, the membership is still
// {1, 2, 4} and the quorum commits.
func TestQuorumReplaceDeadVoter(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitAgreed(t, c.nodes, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	n1 := c.node(1)
	create := func(topic string) {
		t.Helper()
		retryCreate(t, topic, func() error { return n1.createTopics(1, 2, nil, topic) })
	}
	create("before")

	n3 := c.node(3)
	n3.kill9()
	if err := os.RemoveAll(n3.dir); err != nil {
		t.Fatal(err)
	}
	create("after-kill")

	n4 := addJoiningController(t, c, 4)
	create("joining")
	runQuorumVoters(t, n1, "add", "--controller-id", "4", "--controller-endpoint", n4.ctrlAddr)
	create("between")
	runQuorumVoters(t, n1, "remove", "--controller-id", "3")
	create("after")

	live := []*clusterNode{n1, c.node(2), n4}
	waitVoters(t, live, []int32{1, 2, 4}, n4)
	waitAgreed(t, live, waitTimeout, "node 4 is a broker too", brokersAre(1, 2, 4))

	for _, nd := range live {
		nd.kill9()
	}
	for _, nd := range live {
		nd.start()
	}
	waitVoters(t, live, []int32{1, 2, 4}, n4)
	create("restarted")
	waitAgreed(t, live, waitTimeout, "every topic on every node after the restart", func(v clusterView) string {
		for _, topic := range []string{"before", "after-kill", "joining", "between", "after", "restarted"} {
			if len(v.topic(topic)) != 1 {
				return "no topic " + topic
			}
		}
		return ""
	})
}

// addJoiningController starts node id as a controller (and broker) that
// is not among the cluster's controller.quorum.voters: it joins. It gets
// the cluster's bootstrap voters, as every node must (the cluster id is
// derived from them).
func addJoiningController(t *testing.T, c *testCluster, id int32) *clusterNode {
	t.Helper()
	var voters string
	for _, o := range c.nodes[0].overrides {
		if v, ok := strings.CutPrefix(o, "controller.quorum.voters="); ok {
			voters = v
		}
	}
	ports := freePorts(t, 2)
	nd := &clusterNode{t: t, id: id, dir: t.TempDir(), logs: t.TempDir(),
		addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		ctrlAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))}
	nd.overrides = []string{
		fmt.Sprintf("node.id=%d", id), "process.roles=broker,controller",
		fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", nd.addr, nd.ctrlAddr),
		"controller.listener.names=CONTROLLER",
		"controller.quorum.voters=" + voters, "log.dirs=" + nd.dir,
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

// runQuorumVoters runs `fjord quorum <args>` against nd.
func runQuorumVoters(t *testing.T, nd *clusterNode, args ...string) string {
	t.Helper()
	args = append(append([]string{"quorum"}, args...), "--bootstrap-server", nd.addr, "--timeout", "60s")
	out, err := exec.Command(fjordBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("fjord %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitVoters waits until DescribeQuorum through each node's client
// reports the quorum's voters as want, all caught up, with joined's
// controller endpoint among the response's nodes.
func waitVoters(t *testing.T, nodes []*clusterNode, want []int32, joined *clusterNode) {
	t.Helper()
	for _, nd := range nodes {
		waitFor(t, waitTimeout, fmt.Sprintf("node %d describes voters %v", nd.id, want), func() (bool, string) {
			resp, err := describeQuorumCtrl(nd)
			if err != nil {
				return false, err.Error()
			}
			p := resp.Topics[0].Partitions[0]
			var ids []int32
			for _, v := range p.CurrentVoters {
				ids = append(ids, v.ReplicaID)
				if v.LogEndOffset < p.HighWatermark {
					return false, fmt.Sprintf("voter %d at %d, hw %d", v.ReplicaID, v.LogEndOffset, p.HighWatermark)
				}
			}
			if !slices.Equal(ids, want) {
				return false, fmt.Sprintf("voters %v", ids)
			}
			for _, n := range resp.Nodes {
				if n.NodeID == joined.id && len(n.Listeners) == 1 &&
					net.JoinHostPort(n.Listeners[0].Host, strconv.Itoa(int(n.Listeners[0].Port))) == joined.ctrlAddr {
					return true, ""
				}
			}
			return false, fmt.Sprintf("no endpoint %s for node %d in %+v", joined.ctrlAddr, joined.id, resp.Nodes)
		})
	}
}

// describeQuorumCtrl sends DescribeQuorum v2 to nd's client listener,
// which answers for (or forwards to) the active controller.
func describeQuorumCtrl(nd *clusterNode) (*kmsg.DescribeQuorumResponse, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(2)
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, nd.cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("response %+v", resp)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
		return nil, err
	}
	return resp, nil
}

// Growing the quorum from 3 to 5 voters, then removing the active
// controller itself: it hands leadership over and stays an observer of
// the metadata log; metadata changes succeed throughout.
func TestQuorumGrowAndRemoveLeader(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitAgreed(t, c.nodes, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	n1 := c.node(1)
	create := func(via *clusterNode, topic string) {
		t.Helper()
		retryCreate(t, topic, func() error { return via.createTopics(1, 2, nil, topic) })
	}
	create(n1, "three")
	n4, n5 := addJoiningController(t, c, 4), addJoiningController(t, c, 5)
	runQuorumVoters(t, n1, "add", "--controller-id", "4", "--controller-endpoint", n4.ctrlAddr)
	runQuorumVoters(t, n1, "add", "--controller-id", "5", "--controller-endpoint", n5.ctrlAddr)
	create(n1, "five")
	waitVoters(t, c.nodes, []int32{1, 2, 3, 4, 5}, n5)

	old := waitController(t, c.nodes, waitTimeout)
	rest := withoutNode(c.nodes, old)
	runQuorumVoters(t, rest[0], "remove", "--controller-id", strconv.Itoa(int(old)))
	var want []int32
	for _, nd := range rest {
		want = append(want, nd.id)
	}
	waitVoters(t, rest, want, n5)
	waitFor(t, waitTimeout, fmt.Sprintf("node %d hands the leadership over", old), func() (bool, string) {
		ctrl := waitController(t, c.nodes, waitTimeout)
		return ctrl != old, fmt.Sprintf("controller %d", ctrl)
	})
	create(rest[0], "four")
	create(c.node(old), "via-the-removed-one")
	waitAgreed(t, c.nodes, waitTimeout, "the removed controller still follows the metadata", func(v clusterView) string {
		for _, topic := range []string{"three", "five", "four", "via-the-removed-one"} {
			if len(v.topic(topic)) != 1 {
				return "no topic " + topic
			}
		}
		return ""
	})
	resp, err := describeQuorumCtrl(rest[0])
	if err != nil {
		t.Fatal(err)
	}
	obs := resp.Topics[0].Partitions[0].Observers
	if !slices.ContainsFunc(obs, func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState) bool { return r.ReplicaID == old }) {
		t.Errorf("removed controller %d is not an observer: %+v", old, obs)
	}
}

// A broker-only node whose controller.quorum.voters lists only the
// bootstrap voters 1-3 keeps working after every one of them left the
// voters (now 4 and 5): it finds the new active controller's listener
// through the voters' DescribeQuorum, so its heartbeats and forwarded
// admin requests reach it.
func TestQuorumObserverFollowsNewVoters(t *testing.T) {
	c := startCluster(t, 3, nil)
	waitAgreed(t, c.nodes, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	obs := addBrokerOnly(t, c, 9)
	n4, n5 := addJoiningController(t, c, 4), addJoiningController(t, c, 5)
	runQuorumVoters(t, c.node(1), "add", "--controller-id", "4", "--controller-endpoint", n4.ctrlAddr)
	runQuorumVoters(t, c.node(1), "add", "--controller-id", "5", "--controller-endpoint", n5.ctrlAddr)
	for _, id := range []string{"1", "2", "3"} {
		runQuorumVoters(t, n4, "remove", "--controller-id", id)
	}
	waitVoters(t, []*clusterNode{n4, n5}, []int32{4, 5}, n5)
	time.Sleep(clSessionTimeout) // the observer must heartbeat the new controller to stay unfenced
	retryCreate(t, "via-observer", func() error { return obs.createTopics(1, 2, nil, "via-observer") })
	waitAgreed(t, c.nodes, waitTimeout, "the observer is an unfenced broker with the new topic",
		allConds(brokersAre(1, 2, 3, 4, 5, 9), func(v clusterView) string {
			if len(v.topic("via-observer")) != 1 {
				return "no topic via-observer"
			}
			return ""
		}))
}
