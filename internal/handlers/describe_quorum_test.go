package handlers

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakeQuorum struct {
	info QuorumInfo
	err  error
}

func (q fakeQuorum) DescribeQuorum(context.Context) (QuorumInfo, error) { return q.info, q.err }

func leaderQuorum() fakeQuorum {
	return fakeQuorum{info: QuorumInfo{
		Leader: 2, LeaderEpoch: 7, Leading: true, HighWatermark: 120,
		Voters: []QuorumReplica{
			{NodeID: 1, LogEndOffset: 110, LastFetchTimestamp: 1000, LastCaughtUpTimestamp: 900},
			{NodeID: 2, LogEndOffset: 120, LastFetchTimestamp: 1500, LastCaughtUpTimestamp: 1500},
			{NodeID: 3, LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1},
		},
		Listener:  "CONTROLLER",
		Endpoints: map[int32]string{1: "127.0.0.1:9093", 2: "127.0.0.1:9095", 3: "bad"},
	}}
}

func describeQuorumReq(v int16, topic string, parts ...int32) *kmsg.DescribeQuorumRequest {
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(v)
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = p
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// The leader answers with the epoch, high watermark, every voter's
// offsets and times and (v2) their controller listeners, on both
// listeners.
func TestDescribeQuorumLeader(t *testing.T) {
	for _, ctrl := range []bool{false, true} {
		h := quorumHandlers(t, leaderQuorum(), ctrl)
		resp := serve(t, h, describeQuorumReq(2, MetadataTopic, 0)).(*kmsg.DescribeQuorumResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("ctrl=%v: %+v", ctrl, resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LeaderID != 2 || p.LeaderEpoch != 7 || p.HighWatermark != 120 || len(p.Observers) != 0 {
			t.Fatalf("partition: %+v", p)
		}
		want := []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{
			{ReplicaID: 1, LogEndOffset: 110, LastFetchTimestamp: 1000, LastCaughtUpTimestamp: 900},
			{ReplicaID: 2, LogEndOffset: 120, LastFetchTimestamp: 1500, LastCaughtUpTimestamp: 1500},
			{ReplicaID: 3, LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1},
		}
		if len(p.CurrentVoters) != len(want) {
			t.Fatalf("voters: %+v", p.CurrentVoters)
		}
		for i, v := range p.CurrentVoters {
			if v.ReplicaID != want[i].ReplicaID || v.LogEndOffset != want[i].LogEndOffset ||
				v.LastFetchTimestamp != want[i].LastFetchTimestamp || v.LastCaughtUpTimestamp != want[i].LastCaughtUpTimestamp {
				t.Errorf("voter %d: %+v, want %+v", i, v, want[i])
			}
		}
		if len(resp.Nodes) != 2 || resp.Nodes[1].NodeID != 2 || len(resp.Nodes[1].Listeners) != 1 {
			t.Fatalf("nodes: %+v", resp.Nodes)
		}
		if l := resp.Nodes[1].Listeners[0]; l.Name != "CONTROLLER" || l.Host != "127.0.0.1" || l.Port != 9095 {
			t.Errorf("node 2's listener: %+v", l)
		}
	}
}

// Every version round-trips through the wire format (v0 without times).
func TestDescribeQuorumVersions(t *testing.T) {
	h := quorumHandlers(t, leaderQuorum(), true)
	for v := int16(0); v <= 2; v++ {
		resp := serve(t, h, describeQuorumReq(v, MetadataTopic, 0)).(*kmsg.DescribeQuorumResponse)
		dec := kmsg.NewPtrDescribeQuorumResponse()
		dec.SetVersion(v)
		if err := dec.ReadFrom(resp.AppendTo(nil)); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		voter := dec.Topics[0].Partitions[0].CurrentVoters[0]
		wantFetch := int64(1000)
		if v == 0 {
			wantFetch = -1 // absent before v1: the default
		}
		if voter.LogEndOffset != 110 || voter.LastFetchTimestamp != wantFetch || (v < 2) != (len(dec.Nodes) == 0) {
			t.Errorf("v%d: voter %+v, nodes %+v", v, voter, dec.Nodes)
		}
	}
}

// A controller that does not lead, a node without a controller and a
// failing quorum answer NOT_LEADER_OR_FOLLOWER with what they know; a
// partition other than __cluster_metadata-0 is UNKNOWN_TOPIC_OR_PARTITION.
func TestDescribeQuorumErrors(t *testing.T) {
	follower := fakeQuorum{info: QuorumInfo{Leader: 3, LeaderEpoch: 4, Voters: []QuorumReplica{{NodeID: 1}}}}
	for name, q := range map[string]Quorum{"follower": follower, "none": nil, "failing": fakeQuorum{err: errors.New("closed")}} {
		h := quorumHandlers(t, q, true)
		resp := serve(t, h, describeQuorumReq(2, MetadataTopic, 0)).(*kmsg.DescribeQuorumResponse)
		p := resp.Topics[0].Partitions[0]
		if resp.ErrorCode != 0 || p.ErrorCode != kerr.NotLeaderForPartition.Code || p.ErrorMessage == nil ||
			len(p.CurrentVoters) != 0 || len(resp.Nodes) != 0 {
			t.Errorf("%s: %+v %+v", name, resp, p)
		}
		if name == "follower" && (p.LeaderID != 3 || p.LeaderEpoch != 4) {
			t.Errorf("follower names leader %d epoch %d", p.LeaderID, p.LeaderEpoch)
		}
	}
	h := quorumHandlers(t, leaderQuorum(), true)
	for _, req := range []*kmsg.DescribeQuorumRequest{
		describeQuorumReq(2, "other", 0), describeQuorumReq(2, MetadataTopic, 1),
		describeQuorumReq(2, MetadataTopic, 0, 0), describeQuorumReq(2, MetadataTopic),
	} {
		resp := serve(t, h, req).(*kmsg.DescribeQuorumResponse)
		if resp.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(resp.Topics) != 0 {
			t.Errorf("%+v: %+v", req.Topics, resp)
		}
	}
}

// DESCRIBE on the cluster is required, on both listeners.
func TestDescribeQuorumAuthz(t *testing.T) {
	for _, ctrl := range []bool{false, true} {
		n := newAuthzNode(t, forPrincipal(alice, clusterGrant(metadata.ACLOpDescribe)))
		n.client.d.Quorum, n.ctrl.d.Quorum = leaderQuorum(), leaderQuorum()
		for p, want := range map[string]int16{bob: kerr.ClusterAuthorizationFailed.Code, alice: 0, admin: 0} {
			resp := n.call(t, p, ctrl, describeQuorumReq(1, MetadataTopic, 0)).(*kmsg.DescribeQuorumResponse)
			if resp.ErrorCode != want {
				t.Errorf("ctrl=%v %s: %s", ctrl, p, errName(resp.ErrorCode))
			}
		}
	}
}

func quorumHandlers(t *testing.T, q Quorum, ctrl bool) *Handlers {
	t.Helper()
	d := Deps{NodeID: 2, Controller: &fakeController{}, Quorum: q}
	if ctrl {
		return NewController(d)
	}
	return New(d)
}

// A broker fetching the metadata log with its node id is listed as an
// observer (caught up when it asked for the high watermark); voters are
// not, and an observer silent for five minutes is dropped.
func TestDescribeQuorumObservers(t *testing.T) {
	o := &Observers{}
	now := time.UnixMilli(1_700_000_000_000)
	o.record(4, 10, 12, now)
	o.record(5, 12, 12, now)
	o.record(1, 12, 12, now) // a voter
	got := o.list(now, []QuorumReplica{{NodeID: 1}})
	want := []QuorumReplica{
		{NodeID: 4, LogEndOffset: 10, LastFetchTimestamp: now.UnixMilli(), LastCaughtUpTimestamp: -1},
		{NodeID: 5, LogEndOffset: 12, LastFetchTimestamp: now.UnixMilli(), LastCaughtUpTimestamp: now.UnixMilli()},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("observers %+v, want %+v", got, want)
	}
	later := now.Add(observerExpiry + time.Second)
	o.record(5, 13, 13, later)
	if got := o.list(later, nil); len(got) != 1 || got[0].NodeID != 5 {
		t.Fatalf("after observer 4 went silent: %+v", got)
	}
}
