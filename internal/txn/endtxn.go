package txn

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// endReq is one EndTxn: tv is the client's transaction version (2 for
// EndTxn v5+, else 0).
type endReq struct {
	id     string
	pid    int64
	epoch  int16
	commit bool
	tv     int16
}

// endAnswer answers an end: an error code, or 0 with the producer id and
// epoch the client uses next.
type endAnswer func(o *out, code int16, pid int64, epoch int16)

// EndTxn handles EndTxn v0-v5 (reference §6). v0-v4 follow transaction
// version 0/1: the epoch must be the current one and a retry of a
// finished end is answered NONE. v5+ follow TV2: every end bumps the
// epoch (a new producer id once it is exhausted), a retry carries the
// epoch before the bump, and Empty or a finished transaction may be
// aborted again. The answer waits for the Prepare record; the markers
// follow. v5 answers carry the producer id and epoch the client uses next
// (the Complete state's). PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
// before v2.
func (c *Coordinator) EndTxn(now time.Time, id RequestID, req *kmsg.EndTxnRequest) Effects {
	o := c.begin(now)
	r := endReq{id: req.TransactionalID, pid: req.ProducerID, epoch: req.ProducerEpoch, commit: req.Commit}
	if req.Version > 4 {
		r.tv = 2
	}
	c.endTxn(o, r, func(o *out, code int16, pid int64, epoch int16) {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = downgradeFenced(code, req.Version < 2)
		if code == 0 {
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
		}
		o.reply(id, resp)
	})
	return c.finish(o)
}

func (c *Coordinator) endTxn(o *out, r endReq, answer endAnswer) {
	m := c.txns[r.id]
	code := int16(0)
	switch {
	case r.id == "":
		code = kerr.InvalidRequest.Code
	case m == nil || m.epoch == noProducerEpoch:
		code = kerr.InvalidProducerIDMapping.Code
	case m.pending != nil: // first, as Kafka 4.x: the TV2 overflow window
		code = kerr.ConcurrentTransactions.Code
	}
	retry := false
	if code == 0 {
		retry, code = m.checkEnd(r)
	}
	if code != 0 {
		answer(o, code, noProducerID, noProducerEpoch)
		return
	}
	c.endByState(o, m, r, retry, answer)
}

// checkEnd validates the producer id and epoch. Under TV2 (the stored
// transition's client version) a retry carries the epoch before the bump
// (retryOnEpochBump) or, after an overflow, the previous producer id with
// epoch 32766 (retryOnOverflow); retry reports either.
func (m *txnMeta) checkEnd(r endReq) (retry bool, code int16) {
	tv2 := m.clientTV >= 2
	overflow := tv2 && m.prevPID == r.pid && r.epoch == maxEpoch-1 && m.epoch == 0
	bump := tv2 && int32(m.epoch) == int32(r.epoch)+1
	if m.pid != r.pid && !overflow {
		return false, kerr.InvalidProducerIDMapping.Code
	}
	var ok bool
	switch {
	case !tv2:
		ok = r.epoch == m.epoch
	case m.state.isPrepare():
		ok = bump
	case m.state.isComplete():
		ok = bump || overflow || r.epoch == m.epoch
	default:
		ok = r.epoch == m.epoch
	}
	if !ok {
		return false, kerr.ProducerFenced.Code
	}
	return bump || overflow, 0
}

func (c *Coordinator) endByState(o *out, m *txnMeta, r endReq, retry bool, answer endAnswer) {
	switch {
	case m.state == stateOngoing:
		c.prepareEnd(o, m, r, false, answer)
	case m.state == stateEmpty && r.tv >= 2 && !r.commit:
		c.prepareEnd(o, m, r, true, answer)
	case m.state.isComplete():
		c.endFinished(o, m, r, retry, answer)
	case m.state.isPrepare() && r.commit == (m.state == statePrepareCommit):
		answer(o, kerr.ConcurrentTransactions.Code, noProducerID, noProducerEpoch)
	default:
		answer(o, kerr.InvalidTxnState.Code, noProducerID, noProducerEpoch)
	}
}

// endFinished handles an end on a CompleteCommit/CompleteAbort
// transaction: a retry of the same result is NONE with the current
// producer id and epoch; under TV2 an abort with the current epoch aborts
// again (an empty transaction).
func (c *Coordinator) endFinished(o *out, m *txnMeta, r endReq, retry bool, answer endAnswer) {
	same := r.commit == (m.state == stateCompleteCommit)
	switch {
	case same && (r.tv < 2 || retry):
		answer(o, 0, m.pid, m.epoch)
	case r.tv >= 2 && !retry && !r.commit:
		c.prepareEnd(o, m, r, true, answer)
	default:
		answer(o, kerr.InvalidTxnState.Code, noProducerID, noProducerEpoch)
	}
}

// prepareEnd writes PrepareCommit/PrepareAbort for a client's end. Under
// TV2 the epoch is bumped (not past 32767) and an exhausted epoch gets
// the producer id Complete switches to. noPartitions: a TV2 abort of a
// transaction that added nothing, which starts now.
func (c *Coordinator) prepareEnd(o *out, m *txnMeta, r endReq, noPartitions bool, answer endAnswer) {
	state := statePrepareAbort
	if r.commit {
		state = statePrepareCommit
	}
	t := m.transitTo(state, c.nowMs())
	t.clientTV = r.tv
	if r.tv >= 2 {
		if exhausted(m.epoch) {
			pid, code := c.newProducerID()
			if code != 0 {
				answer(o, code, noProducerID, noProducerEpoch)
				return
			}
			t.nextPID = pid
		}
		t.epoch, t.lastEpoch = bumped(m.epoch), m.epoch
	}
	if noPartitions {
		t.startMs = c.nowMs()
	}
	c.writePrepare(o, m, t, false, answer)
}

// fence is the coordinator's own abort of an Ongoing transaction
// (InitProducerId on it, or its timeout): the epoch is bumped in memory
// at once (not again after a failed fence, so it is never returned to
// anyone), then PrepareAbort is written with the cluster's transaction
// version, which under TV2 bumps once more.
func (c *Coordinator) fence(o *out, m *txnMeta, answer endAnswer) {
	if !m.failedFence {
		m.epoch = bumped(m.epoch)
	}
	m.lastEpoch = noProducerEpoch
	t := m.transitTo(statePrepareAbort, c.nowMs())
	t.clientTV = c.cfg.TransactionVersion
	if t.clientTV >= 2 {
		t.epoch, t.lastEpoch = bumped(m.epoch), m.epoch
	}
	c.writePrepare(o, m, t, true, answer)
}

// writePrepare writes Prepare transition t. Once it is durable the client
// is answered (the decision is final) and the markers go out; a failed
// fence is remembered.
func (c *Coordinator) writePrepare(o *out, m *txnMeta, t transit, fenced bool, answer endAnswer) {
	code := c.write(o, m, t, func(o *out, code int16) {
		if code != 0 {
			m.failedFence = m.failedFence || fenced
			answer(o, code, noProducerID, noProducerEpoch)
			return
		}
		m.failedFence = false
		next := c.beginComplete(o, m)
		answer(o, 0, next.pid, next.epoch)
	})
	if code != 0 {
		answer(o, code, noProducerID, noProducerEpoch)
	}
}
