package txn

import (
	"time"
)

// timers schedules the two periodic scans.
type timers struct {
	abortAt    time.Time // next timeout scan; zero until started
	expireAt   time.Time // next expiry scan
	expireMore bool      // the last expiry scan filled its batch: continue at the next Tick
}

// start schedules both scans one interval after now, as Kafka's
// scheduler does after startup.
func (t *timers) start(now time.Time, cfg Config) {
	t.abortAt = now.Add(cfg.AbortCheckInterval)
	t.expireAt = now.Add(cfg.ExpirationCheckInterval)
	t.expireMore = false
}

// Tick runs what is due at now: Complete records to append again, every
// AbortCheckInterval the timeout scan (an Ongoing transaction older than
// its timeout, counted from its first partition, is fenced and aborted:
// epoch+1, and +2 under transaction.version 2), and every
// ExpirationCheckInterval the expiry of idle transactional ids.
func (c *Coordinator) Tick(now time.Time) Effects {
	o := c.begin(now)
	if c.timers.abortAt.IsZero() {
		c.timers.start(now, c.cfg)
	}
	c.retryCompletes(o)
	c.expireParked(o)
	if !now.Before(c.timers.abortAt) {
		c.timers.abortAt = now.Add(c.cfg.AbortCheckInterval)
		c.abortTimedOut(o)
	}
	if c.timers.expireMore || !now.Before(c.timers.expireAt) {
		if !c.timers.expireMore {
			c.timers.expireAt = now.Add(c.cfg.ExpirationCheckInterval)
		}
		c.expireIDs(o)
	}
	return c.finish(o)
}

// NextDeadline is the earliest time at which Tick has work to do; the zero
// Time means "tick now".
func (c *Coordinator) NextDeadline() time.Time {
	if c.timers.abortAt.IsZero() || c.timers.expireMore {
		return time.Time{}
	}
	next := earliest(c.timers.abortAt, c.timers.expireAt)
	for _, m := range c.retries {
		next = earliest(next, m.marker.retryAt)
	}
	for _, adds := range c.parked {
		next = earliest(next, adds[0].deadline)
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// abortTimedOut fences and aborts every Ongoing transaction without a
// pending transition whose start plus timeout is before now (Kafka's
// abortTimedOutTransactions). Nobody waits for the answer.
func (c *Coordinator) abortTimedOut(o *out) {
	nowMs := c.nowMs()
	for _, m := range c.sortedTxns() {
		if m.state == stateOngoing && m.pending == nil && m.startMs+int64(m.timeoutMs) < nowMs {
			c.fence(o, m, func(*out, int16, int64, int16) {})
		}
	}
}

// expireIDs writes a tombstone for every id idle (no write) for
// IDExpiration in Empty, CompleteCommit or CompleteAbort without a
// pending transition, while the batch stays within MaxBatchBytes. The id
// is pending Dead meanwhile and removed once the tombstone is durable.
func (c *Coordinator) expireIDs(o *out) {
	cutoff := c.nowMs() - c.cfg.IDExpiration.Milliseconds()
	c.timers.expireMore = false
	for _, m := range c.sortedTxns() {
		if m.pending != nil || !m.state.expirable() || m.updateMs > cutoff {
			continue
		}
		key := txnKey(m.id)
		if len(o.records) > 0 && o.bytes+len(key)+recordOverhead > c.cfg.MaxBatchBytes {
			c.timers.expireMore = true
			return
		}
		c.tombstone(o, m, key)
	}
}

// tombstone makes Dead m's pending transition and writes its tombstone.
// The id is removed only if the append succeeded and its epoch did not
// change; otherwise the pending state is cleared.
func (c *Coordinator) tombstone(o *out, m *txnMeta, key []byte) {
	t := m.transitTo(stateDead, m.updateMs)
	t.partitions = nil
	m.pending = &t
	o.record(key, nil, func(o *out, raw int16) {
		if c.txns[m.id] != m || m.pending != &t {
			return
		}
		if raw == 0 && m.epoch == t.epoch {
			delete(c.txns, m.id)
			return
		}
		m.pending = nil
	})
}
