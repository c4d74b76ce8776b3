package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeQuorum on a 3-node cluster names the active controller as the
// quorum leader with all three voters caught up, whichever node is asked
// (the others forward it) and through a client that routes it to the
// controller itself; `fjord quorum describe` prints it. After a SIGKILL
// of the leader, the new leader is reported, in a later epoch, with the
// dead voter falling behind.
func TestDescribeQuorum(t *testing.T) {
	c := startCluster(t, 3, nil)
	all := c.nodes
	waitAgreed(t, all, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	ctrl := waitController(t, all, waitTimeout)

	var first *kmsg.DescribeQuorumResponseTopicPartition
	for _, nd := range all {
		waitFor(t, waitTimeout, fmt.Sprintf("node %d describes a caught-up quorum led by %d", nd.id, ctrl), func() (bool, string) {
			p, err := describeQuorumVia(nd, true)
			if err != nil {
				return false, err.Error()
			}
			first = p
			return quorumIs(p, ctrl, nil)
		})
	}
	routed, err := describeQuorumVia(all[0], false) // kgo sends it to the controller
	if err != nil {
		t.Fatalf("DescribeQuorum through the client's routing: %v", err)
	}
	if ok, why := quorumIs(routed, ctrl, nil); !ok {
		t.Fatalf("routed: %s", why)
	}
	for _, v := range first.CurrentVoters {
		if v.LastFetchTimestamp <= 0 || v.LastCaughtUpTimestamp <= 0 {
			t.Errorf("voter %d without times: %+v", v.ReplicaID, v)
		}
	}
	out := runQuorumCLI(t, all[0], "--status")
	if !strings.Contains(out, fmt.Sprintf("LeaderId:               %d\n", ctrl)) || strings.Count(out, `"id": `) != 3 {
		t.Errorf("quorum describe --status:\n%s", out)
	}
	out = runQuorumCLI(t, all[0], "--replication")
	if strings.Count(out, "Follower") != 2 || strings.Count(out, "Leader") != 1 {
		t.Errorf("quorum describe --replication:\n%s", out)
	}

	survivors := withoutNode(all, ctrl)
	c.node(ctrl).kill9()
	newCtrl := waitController(t, survivors, waitTimeout)
	retryCreate(t, "after", func() error { return survivors[0].createTopics(1, 2, nil, "after") })
	for _, nd := range survivors {
		waitFor(t, waitTimeout, fmt.Sprintf("node %d describes the quorum led by %d", nd.id, newCtrl), func() (bool, string) {
			p, err := describeQuorumVia(nd, true)
			if err != nil {
				return false, err.Error()
			}
			if p.LeaderEpoch <= first.LeaderEpoch {
				return false, fmt.Sprintf("epoch %d, before the kill %d", p.LeaderEpoch, first.LeaderEpoch)
			}
			dead := ctrl
			return quorumIs(p, newCtrl, &dead)
		})
	}
	out = runQuorumCLI(t, survivors[0], "--status")
	if !strings.Contains(out, fmt.Sprintf("LeaderId:               %d\n", newCtrl)) {
		t.Errorf("quorum describe --status after the kill:\n%s", out)
	}
}

// quorumIs checks p: led by leader, three voters, each caught up to the
// high watermark except dead, which must be behind it.
func quorumIs(p *kmsg.DescribeQuorumResponseTopicPartition, leader int32, dead *int32) (bool, string) {
	if p.LeaderID != leader || len(p.CurrentVoters) != 3 || p.HighWatermark <= 1 {
		return false, fmt.Sprintf("leader %d, hw %d, voters %+v", p.LeaderID, p.HighWatermark, p.CurrentVoters)
	}
	for i, v := range p.CurrentVoters {
		switch {
		case v.ReplicaID != int32(i+1):
			return false, fmt.Sprintf("voters %+v", p.CurrentVoters)
		case dead != nil && v.ReplicaID == *dead:
			if v.LogEndOffset >= p.HighWatermark {
				return false, fmt.Sprintf("dead voter %d at %d, hw %d", v.ReplicaID, v.LogEndOffset, p.HighWatermark)
			}
		case v.LogEndOffset < p.HighWatermark:
			return false, fmt.Sprintf("voter %d at %d, hw %d", v.ReplicaID, v.LogEndOffset, p.HighWatermark)
		}
	}
	return true, ""
}

// describeQuorumVia sends DescribeQuorum to nd itself (direct) or
// through nd's client, which routes it to the controller.
func describeQuorumVia(nd *clusterNode, direct bool) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	var resp kmsg.Response
	var err error
	if direct {
		resp, err = nd.request(req)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err = nd.cl.Request(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.DescribeQuorumResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return nil, err
	}
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("response %+v", r)
	}
	p := &r.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, err
	}
	if r.Version >= 2 && len(r.Nodes) != len(p.CurrentVoters) {
		return nil, fmt.Errorf("nodes %+v", r.Nodes)
	}
	return p, nil
}

func runQuorumCLI(t *testing.T, nd *clusterNode, flag string) string {
	t.Helper()
	cmd := exec.Command(fjordBin, "quorum", "describe", flag, "--bootstrap-server", nd.addr, "--timeout", "20s")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fjord quorum describe %s: %v\n%s", flag, err, out)
	}
	return string(out)
}
