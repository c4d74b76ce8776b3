package txn

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// initAnswer answers an InitProducerId: the producer id and epoch to use,
// or an error code (with -1/-1).
type initAnswer func(o *out, pid int64, epoch int16, code int16)

// InitProducerID handles InitProducerId v0-v5 (reference §3). A known id
// gets its epoch bumped (KIP-360: a request carrying its current pid and
// epoch continues after an error; a retry of a bump that succeeded gets
// the same answer), or a new producer id with epoch 0 once the epoch is
// exhausted; an unknown id gets a new producer id with epoch 0. The answer
// waits for the Empty record. An Ongoing transaction is fenced and
// aborted first and the request answered CONCURRENT_TRANSACTIONS once the
// PrepareAbort is durable: the client retries. A null id (which the shell
// normally handles) just gets a new producer id with epoch 0.
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v4.
func (c *Coordinator) InitProducerID(now time.Time, id RequestID, req *kmsg.InitProducerIDRequest) Effects {
	o := c.begin(now)
	c.initProducerID(o, req, func(o *out, pid int64, epoch int16, code int16) {
		o.reply(id, initResponse(req, pid, epoch, code))
	})
	return c.finish(o)
}

func initResponse(req *kmsg.InitProducerIDRequest, pid int64, epoch int16, code int16) *kmsg.InitProducerIDResponse {
	r := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	r.ProducerID, r.ProducerEpoch = pid, epoch
	if code != 0 {
		r.ProducerID, r.ProducerEpoch = noProducerID, noProducerEpoch
	}
	r.ErrorCode = downgradeFenced(code, req.Version < 4)
	return r
}

// downgradeFenced turns PRODUCER_FENCED into INVALID_PRODUCER_EPOCH for
// request versions that predate it.
func downgradeFenced(code int16, old bool) int16 {
	if old && code == kerr.ProducerFenced.Code {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

func (c *Coordinator) initProducerID(o *out, req *kmsg.InitProducerIDRequest, answer initAnswer) {
	if code := c.checkInit(req); code != 0 {
		answer(o, noProducerID, noProducerEpoch, code)
		return
	}
	if req.TransactionalID == nil {
		pid, code := c.newProducerID()
		answer(o, pid, 0, code)
		return
	}
	m, code := c.initMeta(*req.TransactionalID, req.TransactionTimeoutMillis)
	if code == 0 {
		code = m.checkInitPID(req)
	}
	if code != 0 {
		answer(o, noProducerID, noProducerEpoch, code)
		return
	}
	if m.state == stateOngoing {
		c.fence(o, m, func(o *out, code int16, _ int64, _ int16) {
			answer(o, noProducerID, noProducerEpoch, orCode(code, kerr.ConcurrentTransactions.Code))
		})
		return
	}
	c.initEmpty(o, m, req, answer)
}

// checkInit applies the request checks that need no state, in Kafka's
// order: pid and epoch both set or both -1, a non-empty id, a timeout in
// (0, MaxTimeout].
func (c *Coordinator) checkInit(req *kmsg.InitProducerIDRequest) int16 {
	if (req.ProducerID == noProducerID) != (req.ProducerEpoch == noProducerEpoch) {
		return kerr.InvalidRequest.Code
	}
	if req.TransactionalID == nil {
		return 0
	}
	if *req.TransactionalID == "" {
		return kerr.InvalidRequest.Code
	}
	if t := req.TransactionTimeoutMillis; t <= 0 || int64(t) > c.cfg.MaxTimeout.Milliseconds() {
		return kerr.InvalidTransactionTimeout.Code
	}
	return 0
}

// initMeta returns id's metadata, creating it (Empty, epoch -1, a new
// producer id) for an unknown id, as Kafka does before the first write.
func (c *Coordinator) initMeta(id string, timeoutMs int32) (*txnMeta, int16) {
	if m := c.txns[id]; m != nil {
		return m, 0
	}
	pid, code := c.newProducerID()
	if code != 0 {
		return nil, code
	}
	m := newMeta(id, pid, timeoutMs, c.nowMs())
	c.txns[id] = m
	return m, 0
}

// checkInitPID applies the checks on an existing id: no pending
// transition, the KIP-360 producer id check, no Prepare* state.
func (m *txnMeta) checkInitPID(req *kmsg.InitProducerIDRequest) int16 {
	if m.pending != nil {
		return kerr.ConcurrentTransactions.Code
	}
	if req.ProducerID != noProducerID && !m.validInitPID(req.ProducerID, req.ProducerEpoch) {
		return kerr.ProducerFenced.Code
	}
	if m.state.isPrepare() {
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}

// validInitPID is KIP-360's producer id check: the metadata was just
// created (epoch -1), the pid is current, or it is the previous pid with
// an exhausted epoch (a retry after a rotation).
func (m *txnMeta) validInitPID(pid int64, epoch int16) bool {
	return m.epoch == noProducerEpoch || pid == m.pid || pid == m.prevPID && exhausted(epoch)
}

// initEmpty writes the Empty state of an InitProducerId on an Empty or
// Complete* id: a new producer id when the epoch is exhausted, else a
// bump, and answers once it is durable.
func (c *Coordinator) initEmpty(o *out, m *txnMeta, req *kmsg.InitProducerIDRequest, answer initAnswer) {
	expected := req.ProducerID != noProducerID
	t := m.transitTo(stateEmpty, c.nowMs())
	if exhausted(m.epoch) && (!expected || req.ProducerEpoch == m.epoch) {
		pid, code := c.newProducerID()
		if code != 0 {
			answer(o, noProducerID, noProducerEpoch, code)
			return
		}
		t.pid, t.epoch, t.lastEpoch = pid, 0, noProducerEpoch
		if expected {
			t.lastEpoch = m.epoch
		}
	} else {
		var code int16
		if t.epoch, t.lastEpoch, code = m.initEpoch(expected, req.ProducerEpoch); code != 0 {
			answer(o, noProducerID, noProducerEpoch, code)
			return
		}
	}
	t.timeoutMs, t.partitions, t.startMs, t.clientTV = req.TransactionTimeoutMillis, nil, -1, 0
	code := c.write(o, m, t, func(o *out, code int16) { answer(o, t.pid, t.epoch, code) })
	if code != 0 {
		answer(o, noProducerID, noProducerEpoch, code)
	}
}

// initEpoch is the epoch and last epoch of a bump (Kafka's
// prepareIncrementProducerEpoch). An exhausted epoch reaches here only
// when the request's epoch is not the current one: then only a retry of
// the bump that produced it is answered (Kafka fails the request with an
// internal error).
func (m *txnMeta) initEpoch(expected bool, reqEpoch int16) (epoch, last, code int16) {
	switch {
	case exhausted(m.epoch) && reqEpoch == m.lastEpoch:
		return m.epoch, m.lastEpoch, 0
	case exhausted(m.epoch):
		return 0, 0, kerr.ProducerFenced.Code
	case !expected:
		return m.epoch + 1, noProducerEpoch, 0
	case m.epoch == noProducerEpoch || reqEpoch == m.epoch:
		return m.epoch + 1, m.epoch, 0
	case reqEpoch == m.lastEpoch:
		return m.epoch, m.lastEpoch, 0
	}
	return 0, 0, kerr.ProducerFenced.Code
}

// orCode is code, or success when code is 0.
func orCode(code, success int16) int16 {
	if code == 0 {
		return success
	}
	return code
}
