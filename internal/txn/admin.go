package txn

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions handles DescribeTransactions v0 for ids of this
// partition (the shell splits a request per coordinator, answers ids the
// caller may not describe and drops topics it may not describe). An empty
// id is INVALID_REQUEST, an unknown one TRANSACTIONAL_ID_NOT_FOUND. The
// partitions of a Prepare* transaction are those still waiting for a
// marker; the start time is -1 when no transaction ran yet.
func (c *Coordinator) DescribeTransactions(now time.Time, id RequestID, req *kmsg.DescribeTransactionsRequest) Effects {
	o := c.begin(now)
	r := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, tid := range req.TransactionalIDs {
		r.TransactionStates = append(r.TransactionStates, c.describe(tid))
	}
	o.reply(id, r)
	return c.finish(o)
}

func (c *Coordinator) describe(tid string) kmsg.DescribeTransactionsResponseTransactionState {
	s := kmsg.NewDescribeTransactionsResponseTransactionState()
	s.TransactionalID = tid
	m := c.txns[tid]
	switch {
	case tid == "":
		s.ErrorCode = kerr.InvalidRequest.Code
		return s
	case m == nil:
		s.ErrorCode = kerr.TransactionalIDNotFound.Code
		return s
	}
	s.State, s.TimeoutMillis, s.StartTimestamp = m.state.String(), m.timeoutMs, m.startMs
	s.ProducerID, s.ProducerEpoch = m.pid, m.epoch
	for _, vt := range valueTopics(m.sortedPartitions()) {
		dt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
		dt.Topic, dt.Partitions = vt.Topic, vt.Partitions
		s.Topics = append(s.Topics, dt)
	}
	return s
}

// ListTransactions lists this partition's transactions, ordered by id,
// that match every filter of req (Kafka's listTransactionStates):
// StateFilters by exact state name (a request with only unknown names
// matches nothing), ProducerIDFilters, and from v1 a DurationFilterMillis
// >= 0 keeping transactions whose start is more than that long ago
// (literally: a start of -1 passes). The shell merges the partitions'
// lists, fills UnknownStateFilters (KnownState), drops ids the caller may
// not describe, and caps the version at 1 (v2's TransactionalIdPattern
// is not applied).
func (c *Coordinator) ListTransactions(now time.Time, req *kmsg.ListTransactionsRequest) []kmsg.ListTransactionsResponseTransactionState {
	c.now = now
	var states []kmsg.ListTransactionsResponseTransactionState
	for _, m := range c.sortedTxns() {
		if !c.listed(m, req) {
			continue
		}
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = m.id, m.pid, m.state.String()
		states = append(states, s)
	}
	return states
}

func (c *Coordinator) listed(m *txnMeta, req *kmsg.ListTransactionsRequest) bool {
	switch {
	case len(req.StateFilters) > 0 && !slices.Contains(req.StateFilters, m.state.String()):
		return false
	case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, m.pid):
		return false
	case req.Version >= 1 && req.DurationFilterMillis >= 0 && c.nowMs()-m.startMs <= req.DurationFilterMillis:
		return false
	}
	return true
}

// KnownState reports whether name is one of Kafka's transaction state
// names (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
// CompleteAbort, Dead, PrepareEpochFence); ListTransactions echoes the
// others in UnknownStateFilters.
func KnownState(name string) bool { return slices.Contains(stateNames[:], name) }

// listResponse is a whole ListTransactions response for this partition.
func (c *Coordinator) listResponse(now time.Time, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	r := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	for _, f := range req.StateFilters {
		if !KnownState(f) {
			r.UnknownStateFilters = append(r.UnknownStateFilters, f)
		}
	}
	r.TransactionStates = c.ListTransactions(now, req)
	return r
}
