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

	KindTxnSend = "txn-send" // one record of a transaction (Workload.transact)
	KindTxn     = "txn"      // a transaction's end: ok committed, fail aborted, info indefinite

	KindLeader    = "leader"    // a node's view of a partition's leader changed (Observer)
	KindCommitted = "committed" // the group's committed offset read back changed (Observer)
)

// Read is one record a poll returned: a data record, or a transaction
// marker (a control record, Control "commit" or "abort", no value).
type Read struct {
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
	Value     string `json:"v"`
	Control   string `json:"ctl,omitempty"`
}

// Op is one entry of the history: a send of one record, a poll of one
// fetch, a group offset commit, a transactional record or a transaction's
// end, a fault event, or an observation of a leader or committed offset
// (Observer). Times are milliseconds since the start of the run.
type Op struct {
	Kind    string  `json:"kind"`
	Client  string  `json:"client,omitempty"`  // e.g. "p3" (producer) or "c1" (consumer)
	Session int     `json:"session,omitempty"` // consumer: bumped on (re)assignment
	Outcome Outcome `json:"outcome,omitempty"`
	Err     string  `json:"err,omitempty"`
	Start   int64   `json:"start"`
	End     int64   `json:"end,omitempty"`

	Partition int32  `json:"p"`                 // send, commit, txn-send
	Seq       int64  `json:"seq"`               // send: per client and partition; txn-send, txn: the transaction's number
	Value     string `json:"v,omitempty"`       // send, txn-send
	Offset    int64  `json:"o"`                 // send, txn-send: assigned offset (ok only); commit, committed: offset
	Records   int    `json:"records,omitempty"` // txn: how many records the transaction holds
	Leader    int32  `json:"leader,omitempty"`  // leader: the leader the node Target names
	Epoch     int32  `json:"epoch,omitempty"`   // leader: its leader epoch

	Reads []Read `json:"reads,omitempty"` // poll
	Drain bool   `json:"drain,omitempty"` // poll by the final drain
	// ReadCommitted says a poll read with isolation level read_committed
	// (aborted records filtered out, nothing at or past the last stable
	// offset); other polls read uncommitted.
	ReadCommitted bool `json:"rc,omitempty"`

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
