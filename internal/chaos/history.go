package chaos

import (
	"fmt"
	"sync"
	"time"
)

// Outcome is how an operation ended.
type Outcome string

// Outcomes, as Jepsen names them.
const (
	OK   Outcome = "ok"   // it happened
	Fail Outcome = "fail" // it definitely did not happen
	Info Outcome = "info" // it may or may not have happened
)

// Op kinds.
const (
	KindSend   = "send"
	KindPoll   = "poll"
	KindCommit = "commit"
	KindFault  = "fault"
	KindHeal   = "heal"

	KindLeader    = "leader"    // a node's view of a partition's leader changed (Observer)
	KindCommitted = "committed" // the group's committed offset read back changed (Observer)
)

// Read is one record a poll returned.
type Read struct {
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
	Value     string `json:"v"`
}

// Op is one entry of the history: a send of one record, a poll of one
// fetch, a group offset commit, a fault event, or an observation of a
// leader or committed offset (Observer). Times are milliseconds
// since the start of the run.
type Op struct {
	Kind    string  `json:"kind"`
	Client  string  `json:"client,omitempty"`  // e.g. "p3" (producer) or "c1" (consumer)
	Session int     `json:"session,omitempty"` // consumer: bumped on (re)assignment
	Outcome Outcome `json:"outcome,omitempty"`
	Err     string  `json:"err,omitempty"`
	Start   int64   `json:"start"`
	End     int64   `json:"end,omitempty"`

	Partition int32  `json:"p"`                // send, commit
	Seq       int64  `json:"seq"`              // send: per client and partition
	Value     string `json:"v,omitempty"`      // send
	Offset    int64  `json:"o"`                // send: assigned offset (ok only); commit, committed: offset
	Leader    int32  `json:"leader,omitempty"` // leader: the leader the node Target names
	Epoch     int32  `json:"epoch,omitempty"`  // leader: its leader epoch

	Reads []Read `json:"reads,omitempty"` // poll
	Drain bool   `json:"drain,omitempty"` // poll by the final drain

	Fault  string `json:"fault,omitempty"`  // fault, heal: the fault's name
	Target string `json:"target,omitempty"` // fault: what it hit
	// Violation is an invariant a fault or heal saw broken (see Violation).
	Violation string `json:"violation,omitempty"`
}

// History records ops concurrently.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewHistory starts an empty history whose clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now returns the history's clock: milliseconds since its start.
func (h *History) Now() int64 { return time.Since(h.start).Milliseconds() }

// Add appends op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns a copy of the ops so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Count returns how many ops so far satisfy pred, without copying them;
// pred runs under the history's lock and must not call it.
func (h *History) Count(pred func(*Op) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for i := range h.ops {
		if pred(&h.ops[i]) {
			n++
		}
	}
	return n
}

// EncodeValue is the value of a producer's seq-th record: unique per
// producer incarnation, so every value of a run is unique.
func EncodeValue(client string, seq int64) string { return fmt.Sprintf("%s-%d", client, seq) }
