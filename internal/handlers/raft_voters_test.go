package handlers

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeVoters is a leading quorum that records voter changes.
type fakeVoters struct {
	fakeQuorum
	calls []string
	err   error
}

func (q *fakeVoters) AddVoter(_ context.Context, node int32, endpoint string) error {
	q.calls = append(q.calls, fmt.Sprintf("add %d@%s", node, endpoint))
	return q.err
}

func (q *fakeVoters) RemoveVoter(_ context.Context, node int32) error {
	q.calls = append(q.calls, fmt.Sprintf("remove %d", node))
	return q.err
}

func (q *fakeVoters) UpdateVoter(_ context.Context, node int32, endpoint string) error {
	q.calls = append(q.calls, fmt.Sprintf("update %d@%s", node, endpoint))
	return q.err
}

func addVoterReq(id int32, listeners ...kmsg.AddRaftVoterRequestListener) *kmsg.AddRaftVoterRequest {
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.SetVersion(1)
	req.VoterID, req.Listeners = id, listeners
	return req
}

func listener(name, host string, port uint16) kmsg.AddRaftVoterRequestListener {
	return kmsg.AddRaftVoterRequestListener{Name: name, Host: host, Port: port}
}

// AddRaftVoter passes the voter and its controller listener on, on both
// listeners, and answers the quorum's error with its code and message.
func TestAddRaftVoter(t *testing.T) {
	for _, ctrl := range []bool{false, true} {
		q := &fakeVoters{fakeQuorum: leaderQuorum()}
		h := quorumHandlers(t, q, ctrl)
		req := addVoterReq(4, listener("EXTERNAL", "h", 1), listener("CONTROLLER", "10.0.0.4", 9093))
		resp := serve(t, h, req).(*kmsg.AddRaftVoterResponse)
		if resp.ErrorCode != 0 || len(q.calls) != 1 || q.calls[0] != "add 4@10.0.0.4:9093" {
			t.Fatalf("ctrl=%v: %+v, calls %v", ctrl, resp, q.calls)
		}
		q.err = fmt.Errorf("%w: node 4", kerr.DuplicateVoter)
		resp = serve(t, h, req).(*kmsg.AddRaftVoterResponse)
		if resp.ErrorCode != kerr.DuplicateVoter.Code || resp.ErrorMessage == nil || *resp.ErrorMessage == "" {
			t.Fatalf("ctrl=%v: duplicate: %+v", ctrl, resp)
		}
	}
	q := &fakeVoters{fakeQuorum: leaderQuorum()}
	h := quorumHandlers(t, q, true)
	resp := serve(t, h, addVoterReq(4, listener("EXTERNAL", "h", 1))).(*kmsg.AddRaftVoterResponse)
	if resp.ErrorCode != kerr.InvalidRequest.Code || len(q.calls) != 0 {
		t.Fatalf("no controller listener: %+v, calls %v", resp, q.calls)
	}
	q.err = context.DeadlineExceeded
	resp = serve(t, h, addVoterReq(4, listener("CONTROLLER", "h", 1))).(*kmsg.AddRaftVoterResponse)
	if resp.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("timeout: %+v", resp)
	}
}

func TestRemoveRaftVoter(t *testing.T) {
	q := &fakeVoters{fakeQuorum: leaderQuorum()}
	h := quorumHandlers(t, q, false)
	req := kmsg.NewPtrRemoveRaftVoterRequest()
	req.VoterID = 3
	if resp := serve(t, h, req).(*kmsg.RemoveRaftVoterResponse); resp.ErrorCode != 0 || q.calls[0] != "remove 3" {
		t.Fatalf("%+v, calls %v", resp, q.calls)
	}
	q.err = fmt.Errorf("%w: node 3", kerr.VoterNotFound)
	if resp := serve(t, h, req).(*kmsg.RemoveRaftVoterResponse); resp.ErrorCode != kerr.VoterNotFound.Code {
		t.Fatalf("not found: %+v", resp)
	}
}

// A node without a quorum (a broker-only node serving locally) answers
// NOT_LEADER_OR_FOLLOWER.
func TestRaftVoterNoQuorum(t *testing.T) {
	h := quorumHandlers(t, nil, true)
	req := kmsg.NewPtrRemoveRaftVoterRequest()
	if resp := serve(t, h, req).(*kmsg.RemoveRaftVoterResponse); resp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("%+v", resp)
	}
}

func updateVoterReq(epoch int32) *kmsg.UpdateRaftVoterRequest {
	req := kmsg.NewPtrUpdateRaftVoterRequest()
	req.VoterID, req.CurrentLeaderEpoch = 1, epoch
	req.Listeners = []kmsg.UpdateRaftVoterRequestListener{{Name: "CONTROLLER", Host: "10.0.0.1", Port: 9193}}
	return req
}

// UpdateRaftVoter checks the leader epoch and names the leader.
func TestUpdateRaftVoter(t *testing.T) {
	q := &fakeVoters{fakeQuorum: leaderQuorum()} // leader 2 in epoch 7 at 127.0.0.1:9095
	h := quorumHandlers(t, q, true)
	for _, tc := range []struct {
		epoch int32
		want  *kerr.Error
	}{{-1, nil}, {7, nil}, {6, kerr.FencedLeaderEpoch}, {8, kerr.UnknownLeaderEpoch}} {
		resp := serve(t, h, updateVoterReq(tc.epoch)).(*kmsg.UpdateRaftVoterResponse)
		var want int16
		if tc.want != nil {
			want = tc.want.Code
		}
		cl := resp.CurrentLeader
		if resp.ErrorCode != want || cl.LeaderID != 2 || cl.LeaderEpoch != 7 || cl.Host != "127.0.0.1" || cl.Port != 9095 {
			t.Errorf("epoch %d: %+v", tc.epoch, resp)
		}
	}
	if len(q.calls) != 2 || q.calls[0] != "update 1@10.0.0.1:9193" {
		t.Errorf("calls %v", q.calls)
	}
	follower := &fakeVoters{fakeQuorum: leaderQuorum()}
	follower.info.Leading = false
	resp := serve(t, quorumHandlers(t, follower, true), updateVoterReq(-1)).(*kmsg.UpdateRaftVoterResponse)
	if resp.ErrorCode != kerr.NotLeaderForPartition.Code || resp.CurrentLeader.LeaderID != 2 || len(follower.calls) != 0 {
		t.Errorf("on a follower: %+v", resp)
	}
}

// Adding and removing voters needs ALTER on the cluster, updating one
// CLUSTER_ACTION.
func TestRaftVoterAuthz(t *testing.T) {
	for _, tc := range []authzCase{
		{name: "add raft voter/alter", need: acls(clusterGrant(opAlter)),
			req:  func() kmsg.Request { return addVoterReq(4, listener("CONTROLLER", "h", 1)) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.AddRaftVoterResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "remove raft voter/alter", ctrl: true, need: acls(clusterGrant(opAlter)),
			req:  func() kmsg.Request { return kmsg.NewPtrRemoveRaftVoterRequest() },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.RemoveRaftVoterResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
		{name: "update raft voter/cluster action", ctrl: true, need: acls(clusterGrant(opClusterAc)),
			req:  func() kmsg.Request { return updateVoterReq(-1) },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.UpdateRaftVoterResponse).ErrorCode },
			want: kerr.ClusterAuthorizationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) { runAuthzCase(t, tc) })
	}
}
