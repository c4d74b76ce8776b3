package broker

// DescribeQuorum's view of the Raft quorum: quorum.State (raft indexes,
// times) in Kafka's terms. Metadata offsets are raft indexes, so the
// high watermark is the commit index + 1 and a member's log end offset
// its match index + 1.

import (
	"context"
	"math"
	"time"

	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/quorum"
)

// quorumDescriber implements handlers.Quorum over the Raft quorum.
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
