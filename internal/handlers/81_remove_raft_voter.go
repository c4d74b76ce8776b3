package handlers

// RemoveRaftVoter (key 81), version 0, on the controller listener and the
// client listeners (KIP-853).
//
// Removes a controller from the metadata quorum's voters (a dead one, to
// be replaced, or one being retired). A controller the leader still hears
// from stays an observer (a Raft learner: it goes on receiving the
// metadata log, as a removed Kafka controller goes on fetching it, so a
// node that is also a broker keeps its metadata current); one it has not
// heard from in two election timeouts leaves the quorum, as does an
// observer removed again (or a learner left by an AddRaftVoter that did
// not finish). The answer comes once the change is committed. The leader
// may remove itself: it then hands leadership to the most up-to-date
// remaining voter, as Kafka's leader resigns.
//
// Routing as AddRaftVoter (forwarded from nodes whose controller is not
// active; NOT_LEADER_OR_FOLLOWER from a controller that does not lead).
// Errors: VOTER_NOT_FOUND (not a member, or the last voter),
// REQUEST_TIMED_OUT (leader too new to tell whether the voter is alive,
// change in progress, not committed in time), INCONSISTENT_CLUSTER_ID. Authorization: ALTER on the cluster,
// else CLUSTER_AUTHORIZATION_FAILED. VoterDirectoryID is ignored.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) removeRaftVoter(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.RemoveRaftVoterRequest)
	resp := kmsg.NewPtrRemoveRaftVoterResponse()
	qv, err := h.voterChange(req, r.ClusterID, metadata.ACLOpAlter)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, defaultVoterTimeout)
		defer cancel()
		err = qv.RemoveVoter(ctx, r.VoterID)
	}
	resp.ErrorCode, resp.ErrorMessage = voterError(err)
	return respond(req, resp)
}
