package handlers

// UpdateRaftVoter (key 82), version 0, on the controller listener only
// (KIP-853).
//
// Records a voter's new controller endpoint: the request's listener named
// like the controller listener (INVALID_REQUEST if none). In Kafka a
// voter sends it to the leader when its listeners changed; Fjord's
// controllers do not send it themselves yet, an operator's tool may.
//
// CurrentLeaderEpoch, when not -1, must be the leader's epoch (the Raft
// term): older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH. A
// controller that does not lead answers NOT_LEADER_OR_FOLLOWER; every
// answer names the leader it knows in CurrentLeader (id, epoch and its
// controller listener). VOTER_NOT_FOUND for a node that is not a member.
// Authorization: CLUSTER_ACTION on the cluster (it is a controller's
// request), else CLUSTER_AUTHORIZATION_FAILED. Directory ids and the
// kraft.version range are ignored.

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) updateRaftVoter(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.UpdateRaftVoterRequest)
	resp := kmsg.NewPtrUpdateRaftVoterResponse()
	qv, err := h.voterChange(req, r.ClusterID, metadata.ACLOpClusterAction)
	if err == nil {
		err = h.checkVoterEpoch(ctx, r.CurrentLeaderEpoch, &resp.CurrentLeader)
	}
	var endpoint string
	if err == nil {
		ls := make([]voterListener, 0, len(r.Listeners))
		for _, l := range r.Listeners {
			ls = append(ls, voterListener{l.Name, l.Host, l.Port})
		}
		endpoint, err = h.voterEndpoint(ls)
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, defaultVoterTimeout)
		defer cancel()
		err = qv.UpdateVoter(ctx, r.VoterID, endpoint)
	}
	resp.ErrorCode, _ = voterError(err)
	return respond(req, resp)
}

// checkVoterEpoch fills cur with the leader this node knows and checks
// epoch (-1: any) against the leader's.
func (h *Handlers) checkVoterEpoch(ctx context.Context, epoch int32, cur *kmsg.UpdateRaftVoterResponseCurrentLeader) error {
	info, err := h.d.Quorum.DescribeQuorum(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", kerr.NotLeaderForPartition, err)
	}
	cur.LeaderID, cur.LeaderEpoch = info.Leader, info.LeaderEpoch
	if host, port, err := net.SplitHostPort(info.Endpoints[info.Leader]); err == nil {
		p, _ := strconv.Atoi(port)
		cur.Host, cur.Port = host, int32(p)
	}
	switch {
	case epoch != -1 && epoch < info.LeaderEpoch:
		return kerr.FencedLeaderEpoch
	case epoch != -1 && epoch > info.LeaderEpoch:
		return kerr.UnknownLeaderEpoch
	case !info.Leading:
		return fmt.Errorf("%w: this controller is not the quorum leader", kerr.NotLeaderForPartition)
	}
	return nil
}
