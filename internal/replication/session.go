package replication

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// session is a fetcher's side of its incremental fetch session with the
// leader (KIP-227), owned by the fetcher's goroutine. The first request is
// full (SessionEpoch 0) and opens it; each later one lists only the
// partitions whose fetch state changed since the leader last saw it, and
// ForgottenTopics for those no longer fetched, while the leader answers
// only partitions with news. A failed request makes the next one full
// again on the same id (the leader closes it and opens a new one); a
// session error drops the id.
type session struct {
	id    int32
	epoch int32 // the next request's; 0: full
	sent  map[TopicPartition]sentState
	// the request in flight: its states and forgotten partitions
	inFlight  map[TopicPartition]sentState
	forgotten []TopicPartition
}

// sentState is the fetch state of a partition as its leader holds it.
type sentState struct {
	offset, logStart int64
	epoch, last      int32
}

func stateOf(in *inflight) sentState {
	return sentState{in.st.FetchOffset, in.st.LogStartOffset, in.a.epoch, in.st.LastFetchedEpoch}
}

// fill sets req's session fields and adds the partitions it must carry,
// with add: all of parts when the request is full; else those whose state
// differs from the session's. Only the partitions in changed (re-read
// this round) can differ, unless the set of parts changed (reshaped),
// which also makes the partitions the session has beyond parts
// forgotten.
func (s *session) fill(req *kmsg.FetchRequest, parts, changed []*inflight, reshaped bool, add func(*inflight)) {
	req.SessionID, req.SessionEpoch = s.id, s.epoch
	if s.inFlight == nil {
		s.inFlight = map[TopicPartition]sentState{}
	}
	clear(s.inFlight) // answered copies it into sent; reused, not reallocated, each round
	s.forgotten = nil
	candidates := changed
	if s.epoch == 0 || reshaped {
		candidates = parts
	}
	for _, in := range candidates {
		if in.p == nil {
			continue
		}
		st := stateOf(in)
		if old, ok := s.sent[in.a.tp]; s.epoch == 0 || !ok || old != st {
			s.inFlight[in.a.tp] = st
			add(in)
		}
	}
	if s.epoch != 0 && reshaped {
		s.forget(req, parts)
	}
}

// forget adds the session's partitions that are not in parts to req's
// ForgottenTopics.
func (s *session) forget(req *kmsg.FetchRequest, parts []*inflight) {
	fetching := make(map[TopicPartition]bool, len(parts))
	for _, in := range parts {
		fetching[in.a.tp] = true
	}
	for tp := range s.sent {
		if !fetching[tp] {
			s.forgotten = append(s.forgotten, tp)
			req.ForgottenTopics = append(req.ForgottenTopics, kmsg.FetchRequestForgottenTopic{Topic: tp.Topic, Partitions: []int32{tp.Partition}})
		}
	}
}

// answered records a successful response to the request in flight.
func (s *session) answered(resp *kmsg.FetchResponse) {
	if s.epoch == 0 {
		s.sent = map[TopicPartition]sentState{}
		s.id = resp.SessionID
		if s.id != 0 {
			s.epoch = 1
		}
	} else {
		s.epoch = nextEpoch(s.epoch)
	}
	if s.id == 0 {
		s.sent = nil
		return
	}
	for tp, st := range s.inFlight {
		s.sent[tp] = st
	}
	for _, tp := range s.forgotten {
		delete(s.sent, tp)
	}
}

// failed makes the next request full: the request in flight may or may
// not have reached the leader's session.
func (s *session) failed() { s.epoch, s.sent = 0, nil }

// refused handles a top-level session error; it reports false for other
// errors.
func (s *session) refused(err error) bool {
	if !errors.Is(err, kerr.FetchSessionIDNotFound) && !errors.Is(err, kerr.InvalidFetchSessionEpoch) &&
		!errors.Is(err, kerr.FetchSessionTopicIDError) {
		return false
	}
	s.id, s.epoch, s.sent = 0, 0, nil
	return true
}

// nextEpoch follows e, wrapping to 1 (0 and -1 are reserved).
func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}
