package broker

// DescribeQuorum's view of the Raft quorum: quorum.State (raft indexes,
// times) in Kafka's terms. Metadata offsets are raft indexes, so the
// high watermark is the commit index + 1 and a member's log end offset
// its match index + 1.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/quorum"
	"github.com/twmb/franz-go/pkg/kerr"
)

// quorumDescriber implements handlers.Quorum and handlers.QuorumVoters
// over the Raft quorum.
type quorumDescriber struct {
	raft     *quorum.Raft
	listener string // the controller listener's name
}

func (q quorumDescriber) DescribeQuorum(ctx context.Context) (handlers.QuorumInfo, error) {
	s, err := q.raft.State(ctx)
	if err != nil {
		return handlers.QuorumInfo{}, err
	}
	return quorumInfo(s, q.listener), nil
}

func quorumInfo(s quorum.State, listener string) handlers.QuorumInfo {
	info := handlers.QuorumInfo{
		Leader: s.Leader, LeaderEpoch: int32(min(s.Term, math.MaxInt32)), Leading: s.Leading,
		HighWatermark: int64(s.Commit) + 1, Listener: listener, Endpoints: s.Addrs,
	}
	for _, p := range s.Voters {
		info.Voters = append(info.Voters, quorumReplica(p))
	}
	for _, p := range s.Learners {
		info.Observers = append(info.Observers, quorumReplica(p))
	}
	return info
}

func quorumReplica(p quorum.PeerState) handlers.QuorumReplica {
	r := handlers.QuorumReplica{NodeID: p.NodeID, LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1}
	if p.MatchKnown {
		r.LogEndOffset = int64(p.Match) + 1
	}
	r.LastFetchTimestamp = unixMilliOr(p.LastContact)
	r.LastCaughtUpTimestamp = unixMilliOr(p.LastCaughtUp)
	return r
}

// unixMilliOr is t in Unix milliseconds, -1 for the zero time.
func unixMilliOr(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

// AddVoter implements handlers.QuorumVoters.
func (q quorumDescriber) AddVoter(ctx context.Context, node int32, endpoint string) error {
	return voterErr(q.raft.AddVoter(ctx, node, endpoint))
}

// RemoveVoter implements handlers.QuorumVoters.
func (q quorumDescriber) RemoveVoter(ctx context.Context, node int32) error {
	return voterErr(q.raft.RemoveVoter(ctx, node))
}

// UpdateVoter implements handlers.QuorumVoters.
func (q quorumDescriber) UpdateVoter(ctx context.Context, node int32, endpoint string) error {
	return voterErr(q.raft.UpdateVoter(ctx, node, endpoint))
}

// voterErr wraps the quorum's error in the Kafka error handlers answer.
func voterErr(err error) error {
	var code *kerr.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, quorum.ErrNotLeader):
		code = kerr.NotLeaderForPartition
	case errors.Is(err, quorum.ErrDuplicateVoter):
		code = kerr.DuplicateVoter
	case errors.Is(err, quorum.ErrVoterNotFound):
		code = kerr.VoterNotFound
	case errors.Is(err, quorum.ErrReconfigInProgress), errors.Is(err, quorum.ErrNotCaughtUp),
		errors.Is(err, quorum.ErrProposalDropped), errors.Is(err, context.DeadlineExceeded):
		code = kerr.RequestTimedOut
	case errors.Is(err, quorum.ErrBadVoter):
		code = kerr.InvalidRequest
	default:
		return err
	}
	return fmt.Errorf("%w: %v", code, err)
}
