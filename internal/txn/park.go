package txn

import (
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Parked adds. Kafka answers CONCURRENT_TRANSACTIONS to an
// AddPartitionsToTxn (or AddOffsetsToTxn) that meets a transition in
// flight: another add of the same transaction being written (clients
// such as franz-go add partitions from each broker connection at once),
// or the previous transaction's markers still being written after its
// EndTxn was answered. The client then backs off (franz-go: 20 ms) and
// retries, which costs every short transaction tens of milliseconds.
// Fjord parks such an add of the transaction's current producer (same
// producer id and epoch) instead, and serves it as soon as the
// transition completes, the adds parked meanwhile merged into one
// Ongoing record. An add parked longer than parkTimeout gets
// CONCURRENT_TRANSACTIONS, as in Kafka, and the client retries.

// parkTimeout bounds how long an add waits for a transition.
const parkTimeout = time.Second

// parkedAdd is an add waiting for its transaction's transition.
type parkedAdd struct {
	r        addReq
	done     func(o *out, code int16)
	deadline time.Time
}

// parkable reports whether r, refused CONCURRENT_TRANSACTIONS by
// checkAdd, may wait instead: it comes from the transaction's current
// producer.
func parkable(m *txnMeta, r addReq) bool {
	return m != nil && m.pid == r.pid && m.epoch == r.epoch
}

// blocked reports whether m has a transition in flight that an add must
// wait for.
func blocked(m *txnMeta) bool { return m.pending != nil || m.state.isPrepare() }

// unpark serves the parked adds of every transaction no longer blocked,
// each transaction's adds merged into one write.
func (c *Coordinator) unpark(o *out) {
	for _, id := range slices.Sorted(maps.Keys(c.parked)) {
		if m := c.txns[id]; m != nil && blocked(m) && parkable(m, c.parked[id][0].r) {
			continue
		}
		adds := c.parked[id]
		delete(c.parked, id)
		c.addMerged(o, adds)
	}
}

// expireParked answers CONCURRENT_TRANSACTIONS to the adds parked past
// their deadline.
func (c *Coordinator) expireParked(o *out) {
	for _, id := range slices.Sorted(maps.Keys(c.parked)) {
		kept := c.parked[id][:0]
		for _, a := range c.parked[id] {
			if c.now.Before(a.deadline) {
				kept = append(kept, a)
				continue
			}
			a.done(o, kerr.ConcurrentTransactions.Code)
		}
		if len(kept) == 0 {
			delete(c.parked, id)
		} else {
			c.parked[id] = kept
		}
	}
}

// unloadParked answers every parked add NOT_COORDINATOR.
func (c *Coordinator) unloadParked(o *out) {
	for _, id := range slices.Sorted(maps.Keys(c.parked)) {
		for _, a := range c.parked[id] {
			a.done(o, kerr.NotCoordinator.Code)
		}
	}
	c.parked = map[string][]parkedAdd{}
}
