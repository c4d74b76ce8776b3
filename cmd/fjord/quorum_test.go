package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func quorumReplica(id int32, leo, fetch, caughtUp int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, leo, fetch, caughtUp
	return r
}

// A quorum of three led by 2: voter 1 caught up, voter 3 behind (and
// unreachable since), one observer.
func testQuorumResponse() *kmsg.DescribeQuorumResponse {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = 2, 5, 1042
	p.CurrentVoters = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{
		quorumReplica(1, 1042, 1_700_000_009_900, 1_700_000_009_900),
		quorumReplica(2, 1042, 1_700_000_010_000, 1_700_000_010_000),
		quorumReplica(3, 1000, 1_700_000_004_000, 1_700_000_003_000),
	}
	p.Observers = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{quorumReplica(4, 1040, 1_700_000_009_950, 1_700_000_009_000)}
	p.Observers[0].ReplicaDirectoryID = [16]byte{1, 2, 3}
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic, t.Partitions = metadataTopic, []kmsg.DescribeQuorumResponseTopicPartition{p}
	resp.Topics = []kmsg.DescribeQuorumResponseTopic{t}
	for id, port := range map[int32]uint16{1: 9093, 2: 9095, 3: 9097} {
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = id
		n.Listeners = []kmsg.DescribeQuorumResponseNodeListener{{Name: "CONTROLLER", Host: "127.0.0.1", Port: port}}
		resp.Nodes = append(resp.Nodes, n)
	}
	return resp
}

func TestQuorumDescribeStatusOutput(t *testing.T) {
	var buf bytes.Buffer
	writeQuorumStatus(&buf, "abc123", testQuorumResponse())
	checkGolden(t, "quorum_describe_status.golden", buf.Bytes())
}

func TestQuorumDescribeReplicationOutput(t *testing.T) {
	var buf bytes.Buffer
	writeQuorumReplication(&buf, testQuorumResponse())
	checkGolden(t, "quorum_describe_replication.golden", buf.Bytes())
}

// With every follower caught up and times unknown (a new leader), the
// lags are 0 and -1.
func TestQuorumMaxLagCaughtUp(t *testing.T) {
	resp := testQuorumResponse()
	p := &resp.Topics[0].Partitions[0]
	p.CurrentVoters = p.CurrentVoters[:2]
	p.CurrentVoters[0].LastCaughtUpTimestamp = -1
	p.Observers = nil
	lag, ms := newQuorumView(resp).maxLag()
	if lag != 0 || ms != -1 {
		t.Errorf("lag %d, %d ms", lag, ms)
	}
}

func TestQuorumDescribeRegistered(t *testing.T) {
	cmd, rest, err := rootCmd.Find([]string{"quorum", "describe"})
	if err != nil || len(rest) != 0 || cmd.Name() != "describe" || cmd.Parent().Name() != "quorum" {
		t.Fatalf("fjord quorum describe not registered: %v %v %v", cmd, rest, err)
	}
	for _, f := range []string{"status", "replication"} {
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("no --%s", f)
		}
	}
	if err := cmd.RunE(cmd, nil); err == nil {
		t.Error("describe without --status or --replication ran")
	}
}

func TestQuorumAddOutput(t *testing.T) {
	req, err := addVoterRequest(4, "CONTROLLER", "127.0.0.1:9099")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	writeVoterAdded(&buf, req)
	checkGolden(t, "quorum_add.golden", buf.Bytes())
	for _, bad := range []string{"nohost", ":9093", "h:0", "h:99999"} {
		if _, err := addVoterRequest(4, "CONTROLLER", bad); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
}

func TestQuorumRemoveOutput(t *testing.T) {
	req := kmsg.NewPtrRemoveRaftVoterRequest()
	req.VoterID = 3
	var buf bytes.Buffer
	writeVoterRemoved(&buf, req)
	checkGolden(t, "quorum_remove.golden", buf.Bytes())
}

func TestQuorumAddRemoveRegistered(t *testing.T) {
	for _, args := range [][]string{{"quorum", "add"}, {"quorum", "add-controller"}, {"quorum", "remove"}, {"quorum", "remove-controller"}} {
		cmd, rest, err := rootCmd.Find(args)
		if err != nil || len(rest) != 0 || cmd.Parent().Name() != "quorum" || cmd.Flags().Lookup("controller-id") == nil {
			t.Errorf("%v: %v %v %v", args, cmd, rest, err)
		}
	}
}

// Voter changes are retried while the leadership moves or a change is in
// progress, not after a definite refusal.
func TestRetryVoterChange(t *testing.T) {
	codes := []int16{kerr.NotLeaderForPartition.Code, kerr.RequestTimedOut.Code, 0}
	calls := 0
	err := retryVoterChange(context.Background(), func(context.Context) (int16, *string, error) {
		calls++
		return codes[calls-1], nil, nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("retried: %v after %d calls", err, calls)
	}
	calls = 0
	msg := "node 3"
	err = retryVoterChange(context.Background(), func(context.Context) (int16, *string, error) {
		calls++
		return kerr.VoterNotFound.Code, &msg, nil
	})
	if !errors.Is(err, kerr.VoterNotFound) || calls != 1 {
		t.Fatalf("definite error: %v after %d calls", err, calls)
	}
}
