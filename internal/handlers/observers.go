package handlers

import (
	"slices"
	"sync"
	"time"
)

// observerExpiry is how long an observer that stopped fetching the
// metadata log is still listed by DescribeQuorum.
const observerExpiry = 5 * time.Minute

// Observers records the brokers that fetch the metadata log from this
// controller (their Fetch carries their node id as ReplicaID), for
// DescribeQuorum's Observers. Safe for concurrent use; the zero value is
// ready.
type Observers struct {
	mu   sync.Mutex
	seen map[int32]QuorumReplica
}

// record notes observer id's fetch from offset at now; it is caught up
// when it asks for the high watermark or beyond.
func (o *Observers) record(id int32, offset, highWatermark int64, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[int32]QuorumReplica{}
	}
	r, ok := o.seen[id]
	if !ok {
		r = QuorumReplica{NodeID: id, LastCaughtUpTimestamp: -1}
	}
	r.LogEndOffset, r.LastFetchTimestamp = offset, now.UnixMilli()
	if offset >= highWatermark {
		r.LastCaughtUpTimestamp = r.LastFetchTimestamp
	}
	o.seen[id] = r
}

// list returns the observers heard from within observerExpiry of now,
// except voters, by node id.
func (o *Observers) list(now time.Time, voters []QuorumReplica) []QuorumReplica {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []QuorumReplica
	for id, r := range o.seen {
		switch {
		case now.UnixMilli()-r.LastFetchTimestamp > observerExpiry.Milliseconds():
			delete(o.seen, id)
		case !slices.ContainsFunc(voters, func(v QuorumReplica) bool { return v.NodeID == id }):
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b QuorumReplica) int { return int(a.NodeID - b.NodeID) })
	return out
}
