package coordinator

import "sync"

// runnerSet holds the runners of one internal topic's partitions on this
// broker: at most one current runner per partition, and the newest one
// (running or stopping) that a successor must wait for.
type runnerSet struct {
	mu   sync.Mutex
	cur  map[int32]*runner
	last map[int32]*runner
}

func newRunnerSet() *runnerSet {
	return &runnerSet{cur: map[int32]*runner{}, last: map[int32]*runner{}}
}

// onPartition stops the current runner of idx unless this broker still
// leads it in the same epoch, and starts one (with newRunner, given its
// predecessor) when it leads and has none. Called in metadata order.
//
// A partition has one runner at a time: a new one answers as loading
// until its predecessor has stopped (its last command done), and only
// then reads the log. A runner appends and counts its appends durable
// only while the replica leads in the epoch it was started for
// (partition.AppendInEpoch), so a runner of an earlier leadership can
// neither write nor acknowledge in a later one.
func (s *runnerSet) onPartition(idx int32, lead bool, epoch int32, newRunner func(prev *runner) *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur[idx]
	if cur != nil && (!lead || cur.epoch != epoch) {
		cur.stop()
		delete(s.cur, idx)
		cur = nil
	}
	if lead && cur == nil {
		r := newRunner(s.last[idx])
		s.cur[idx], s.last[idx] = r, r
		go r.run()
	}
}

// get returns the current runner of idx, nil if none.
func (s *runnerSet) get(idx int32) *runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur[idx]
}

// all returns the current runners.
func (s *runnerSet) all() []*runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*runner, 0, len(s.cur))
	for _, r := range s.cur {
		out = append(out, r)
	}
	return out
}

// stopAll stops every runner (shutdown) and waits until each has
// stopped, its workers included.
func (s *runnerSet) stopAll() {
	s.mu.Lock()
	for idx, r := range s.cur {
		r.stop()
		delete(s.cur, idx)
	}
	last := make([]*runner, 0, len(s.last))
	for _, r := range s.last {
		last = append(last, r)
	}
	s.mu.Unlock()
	for _, r := range last {
		<-r.stopped
	}
}
