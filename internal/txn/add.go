package txn

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetsTopic is the group coordinator's topic; AddOffsetsToTxn adds the
// group's partition of it to the transaction.
const offsetsTopic = "__consumer_offsets"

// addReq adds partitions to one transaction; tv is the client's
// transaction version (0 for v0-v3 and AddOffsetsToTxn, 2 for the
// brokers' v4+ adds made for Produce v12 / TxnOffsetCommit v5).
type addReq struct {
	id    string
	pid   int64
	epoch int16
	tps   []TopicPartition
	tv    int16
}

// AddPartitionsToTxn handles AddPartitionsToTxn v0-v5 (reference §4).
// v0-v3 come from clients: one transaction, one error code copied to
// every partition (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2).
// v4+ come from partition leaders, many transactions per request: a
// VerifyOnly transaction is answered per partition (NONE if it is in the
// transaction, else TRANSACTION_ABORTABLE) without a write; the others
// are added like a client's. The shell passes only this partition's
// transactions and only the partitions that passed authorization and
// existence checks. The response is sent once every transaction of the
// request is done; adding nothing new writes nothing.
func (c *Coordinator) AddPartitionsToTxn(now time.Time, id RequestID, req *kmsg.AddPartitionsToTxnRequest) Effects {
	o := c.begin(now)
	if req.Version >= 4 {
		c.addBatch(o, id, req)
		return c.finish(o)
	}
	var tps []TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tps = append(tps, TopicPartition{t.Topic, p})
		}
	}
	r := addReq{id: req.TransactionalID, pid: req.ProducerID, epoch: req.ProducerEpoch, tps: tps}
	c.addPartitions(o, r, func(o *out, code int16) {
		o.reply(id, addResponseV3(req, downgradeFenced(code, req.Version < 2)))
	})
	return c.finish(o)
}

func addResponseV3(req *kmsg.AddPartitionsToTxnRequest, code int16) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// addBatch handles the v4+ form; the reply waits for every transaction.
func (c *Coordinator) addBatch(o *out, id RequestID, req *kmsg.AddPartitionsToTxnRequest) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	resp.Transactions = make([]kmsg.AddPartitionsToTxnResponseTransaction, len(req.Transactions))
	left := len(req.Transactions)
	if left == 0 {
		o.reply(id, resp)
		return
	}
	done := func(o *out) {
		if left--; left == 0 {
			o.reply(id, resp)
		}
	}
	for i := range req.Transactions {
		tx := &req.Transactions[i]
		if tx.VerifyOnly {
			resp.Transactions[i] = txnResult(tx, c.verify(tx))
			done(o)
			continue
		}
		r := addReq{id: tx.TransactionalID, pid: tx.ProducerID, epoch: tx.ProducerEpoch, tps: txnPartitions(tx), tv: 2}
		c.addPartitions(o, r, func(o *out, code int16) {
			resp.Transactions[i] = txnResult(tx, func(TopicPartition) int16 { return code })
			done(o)
		})
	}
}

func txnPartitions(tx *kmsg.AddPartitionsToTxnRequestTransaction) []TopicPartition {
	var tps []TopicPartition
	for _, t := range tx.Topics {
		for _, p := range t.Partitions {
			tps = append(tps, TopicPartition{t.Topic, p})
		}
	}
	return tps
}

// txnResult is one transaction's v4+ result, code per partition.
func txnResult(tx *kmsg.AddPartitionsToTxnRequestTransaction, code func(TopicPartition) int16) kmsg.AddPartitionsToTxnResponseTransaction {
	rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
	rtx.TransactionalID = tx.TransactionalID
	for _, t := range tx.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			rp.Partition, rp.ErrorCode = p, code(TopicPartition{t.Topic, p})
			rt.Partitions = append(rt.Partitions, rp)
		}
		rtx.Topics = append(rtx.Topics, rt)
	}
	return rtx
}

// verify is KIP-890 part 1's check of a partition leader (Kafka's
// handleVerifyPartitionsInTransaction): no write, pending transitions
// ignored; each partition is NONE if it is in the transaction, else
// TRANSACTION_ABORTABLE, unless the transaction as a whole fails.
func (c *Coordinator) verify(tx *kmsg.AddPartitionsToTxnRequestTransaction) func(TopicPartition) int16 {
	m := c.txns[tx.TransactionalID]
	code := int16(0)
	switch {
	case tx.TransactionalID == "":
		code = kerr.InvalidRequest.Code
	case m == nil || m.pid != tx.ProducerID:
		code = kerr.InvalidProducerIDMapping.Code
	case m.epoch != tx.ProducerEpoch:
		code = kerr.ProducerFenced.Code
	case m.state.isPrepare():
		code = kerr.ConcurrentTransactions.Code
	}
	return func(tp TopicPartition) int16 {
		if code != 0 {
			return code
		}
		if _, ok := m.partitions[tp]; ok {
			return 0
		}
		return kerr.TransactionAbortable.Code
	}
}

// AddOffsetsToTxn handles AddOffsetsToTxn v0-v4 (reference §5): it adds
// the group's __consumer_offsets partition to the transaction exactly as
// AddPartitionsToTxn would (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
// before v2).
func (c *Coordinator) AddOffsetsToTxn(now time.Time, id RequestID, req *kmsg.AddOffsetsToTxnRequest) Effects {
	o := c.begin(now)
	tp := TopicPartition{offsetsTopic, PartitionFor(req.Group, c.cfg.OffsetsPartitions)}
	r := addReq{id: req.TransactionalID, pid: req.ProducerID, epoch: req.ProducerEpoch, tps: []TopicPartition{tp}}
	c.addPartitions(o, r, func(o *out, code int16) {
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = downgradeFenced(code, req.Version < 2)
		o.reply(id, resp)
	})
	return c.finish(o)
}

// addPartitions adds r's partitions to its transaction (Kafka's
// handleAddPartitionsToTransaction) and calls done with the result: at
// once when nothing is written, else when the Ongoing record completes;
// an add that meets a transition of its own producer waits for it
// (park.go).
func (c *Coordinator) addPartitions(o *out, r addReq, done func(o *out, code int16)) {
	c.addMerged(o, []parkedAdd{{r: r, done: done}})
}

// addMerged serves adds of one transaction: each is checked; those that
// pass are written as one Ongoing transition holding all their
// partitions, and answered when it completes.
func (c *Coordinator) addMerged(o *out, adds []parkedAdd) {
	m := c.txns[adds[0].r.id]
	var ok []parkedAdd
	var tps []TopicPartition
	tv := int16(0)
	for _, a := range adds {
		code := checkAdd(m, a.r)
		switch {
		case code == kerr.ConcurrentTransactions.Code && parkable(m, a.r):
			if a.deadline.IsZero() {
				a.deadline = c.now.Add(parkTimeout)
			}
			c.parked[a.r.id] = append(c.parked[a.r.id], a)
		case code != 0:
			a.done(o, code)
		default:
			ok = append(ok, a)
			tps = append(tps, a.r.tps...)
			tv = max(tv, a.r.tv)
		}
	}
	if len(ok) == 0 {
		return
	}
	if m.state == stateOngoing && m.hasAll(tps) {
		for _, a := range ok {
			a.done(o, 0)
		}
		return
	}
	c.writeAdd(o, m, tps, tv, ok)
}

// writeAdd writes m's transition to Ongoing with tps added and answers
// adds when it completes.
func (c *Coordinator) writeAdd(o *out, m *txnMeta, tps []TopicPartition, tv int16, adds []parkedAdd) {
	t := m.transitTo(stateOngoing, c.nowMs())
	t.partitions = append(t.partitions, tps...)
	sortPartitions(t.partitions)
	t.partitions = slices.Compact(t.partitions)
	if m.state != stateOngoing {
		t.startMs = c.nowMs()
	}
	t.clientTV = tv
	done := func(o *out, code int16) {
		for _, a := range adds {
			a.done(o, code)
		}
	}
	if code := c.write(o, m, t, done); code != 0 {
		done(o, code)
	}
}

// checkAdd applies AddPartitionsToTxn's checks in order. The pending
// check comes before the producer id, as in Kafka 4.x: a TV2 client may
// already use the producer id of a Complete transition still pending.
func checkAdd(m *txnMeta, r addReq) int16 {
	switch {
	case r.id == "":
		return kerr.InvalidRequest.Code
	case m == nil || m.epoch == noProducerEpoch: // epoch -1: no InitProducerId answered yet
		return kerr.InvalidProducerIDMapping.Code
	case m.pending != nil:
		return kerr.ConcurrentTransactions.Code
	case m.pid != r.pid:
		return kerr.InvalidProducerIDMapping.Code
	case m.epoch != r.epoch:
		return kerr.ProducerFenced.Code
	case m.state.isPrepare():
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}

func (m *txnMeta) hasAll(tps []TopicPartition) bool {
	for _, tp := range tps {
		if _, ok := m.partitions[tp]; !ok {
			return false
		}
	}
	return true
}
