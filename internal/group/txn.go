package group

import (
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactional offset commits (KIP-98, reference
// docs/transactions-reference.md §5), as Kafka's new group coordinator:
//
//   - TxnOffsetCommit writes ordinary offset commit records in one
//     transactional batch of the request's producer. Once durable they
//     are the producer's pending offsets (group.txnOffsets), invisible to
//     OffsetFetch, until the transaction's marker.
//   - CompleteTxn writes that marker (WriteTxnMarkers for this
//     partition). Once it is durable, COMMIT makes each pending offset of
//     the producer committed if its record comes after the record of the
//     offset committed now (so a later plain commit wins); ABORT drops
//     them.
//   - Replaying the log does the same (LoadBatch): a transactional
//     batch's records become its producer's pending offsets, a marker
//     decides them.
//
// Completions come in log order, so when a marker is durable every
// pending offset of its producer comes from a record before it; a
// TxnOffsetCommit still being appended lies after it and stays pending
// (it counts in group.txnWrites and pendingCommits, not txnOffsets).
// While a partition has pending offsets, OffsetFetch with RequireStable
// answers UNSTABLE_OFFSET_COMMIT for it and offset expiry skips it; while
// a group has any, it cannot be deleted. A durable tombstone of a
// partition (OffsetDelete) drops the pending offsets of every producer
// written before it, as in Kafka's replay.

// TxnOffsetCommit handles TxnOffsetCommit v0-v5 (the shell has checked
// ACLs, topics and the transaction's state). A group that does not exist
// is created as an empty "simple" group when the generation is negative
// (ILLEGAL_GENERATION otherwise); a member id or generation, when given,
// must be current, in any group state. Oversized metadata gets
// OFFSET_METADATA_TOO_LARGE per partition, a negative producer id
// INVALID_PRODUCER_ID_MAPPING. The valid offsets are written in one
// transactional batch and answered once it is durable.
func (c *Coordinator) TxnOffsetCommit(now time.Time, id RequestID, req *kmsg.TxnOffsetCommitRequest) Effects {
	o := c.begin(now)
	parts := c.stageTxnCommit(req)
	g, code := c.txnCommitGroup(req)
	for i := range parts {
		if code != 0 && parts[i].code == 0 {
			parts[i].code = code
		}
	}
	if code == 0 {
		c.writeTxnCommit(o, g, req, parts)
	}
	if !o.writes() {
		o.reply(id, txnCommitResponse(req, parts))
		return c.finish(o)
	}
	batch, pid := o.batch, req.ProducerID
	g.txnWrites++
	o.done = append(o.done, func(o *out, code int16) {
		c.txnCommitDone(g, pid, batch, o.base, parts, code)
		o.reply(id, txnCommitResponse(req, parts))
	})
	return c.finish(o)
}

// stageTxnCommit turns the request into per-partition values.
func (c *Coordinator) stageTxnCommit(req *kmsg.TxnOffsetCommitRequest) []staged {
	nowMs := c.now.UnixMilli()
	var parts []staged
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			s := staged{tp: topicPartition{t.Topic, p.Partition}}
			s.value = offset{offset: p.Offset, leaderEpoch: p.LeaderEpoch, commitMs: nowMs, expireMs: -1, logOffset: -1}
			if p.Metadata != nil {
				s.value.metadata = *p.Metadata
			}
			if len(s.value.metadata) > c.cfg.MaxMetadataSize {
				s.code = kerr.OffsetMetadataTooLarge.Code
			}
			parts = append(parts, s)
		}
	}
	return parts
}

// txnCommitGroup finds (or creates) the group and validates the
// committer as Kafka does for a transactional commit: unlike OffsetCommit,
// a commit without member id may go to a group with members, and one
// during CompletingRebalance is accepted.
func (c *Coordinator) txnCommitGroup(req *kmsg.TxnOffsetCommitRequest) (*group, int16) {
	if req.ProducerID < 0 {
		return nil, kerr.InvalidProducerIDMapping.Code
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			return nil, kerr.IllegalGeneration.Code
		}
		g = newGroup(req.Group)
		c.groups[req.Group] = g
	}
	if req.Generation < 0 && g.state == stateEmpty {
		return g, 0
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
			return g, code
		}
		if req.Generation != g.generation {
			return g, kerr.IllegalGeneration.Code
		}
	}
	return g, 0
}

// writeTxnCommit writes the valid partitions as the producer's
// transactional batch and marks them pending.
func (c *Coordinator) writeTxnCommit(o *out, g *group, req *kmsg.TxnOffsetCommitRequest, parts []staged) {
	for i := range parts {
		s := &parts[i]
		if s.code != 0 {
			continue
		}
		s.write, s.index = true, len(o.records)
		o.record(offsetKey(g.id, s.tp), offsetValue(s.value))
		g.pendingCommits[s.tp] = append(g.pendingCommits[s.tp], o.batch)
	}
	if o.writes() {
		o.producer = &Producer{ID: req.ProducerID, Epoch: req.ProducerEpoch}
	}
}

// txnCommitDone makes the durable records of batch (from log offset
// base) the producer's pending offsets, unless a tombstone removed them
// meanwhile, or sets the partitions' error codes.
func (c *Coordinator) txnCommitDone(g *group, pid int64, batch BatchID, base int64, parts []staged, code int16) {
	g.txnWrites--
	for i := range parts {
		s := &parts[i]
		if !s.write {
			continue
		}
		live := g.dropPending(s.tp, batch)
		if code != 0 {
			s.code = appendErrorCode(code, false)
		} else if live {
			v := s.value
			v.logOffset = base + int64(s.index)
			c.addTxnOffset(g, pid, s.tp, v)
		}
	}
}

func txnCommitResponse(req *kmsg.TxnOffsetCommitRequest, parts []staged) *kmsg.TxnOffsetCommitResponse {
	r := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, parts[i].code
			rt.Partitions = append(rt.Partitions, rp)
			i++
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// CompleteTxn writes the transaction marker m to this coordinator's
// partition (WriteTxnMarkers for it): the Append is a control batch.
// Once it is durable, m decides the producer's pending offsets and the
// request id gets a Reply with a nil Response and Code 0. If the marker
// cannot be written the Code is the partition's error for the
// transaction coordinator, where the group coordinator's own
// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and
// COORDINATOR_LOAD_IN_PROGRESS become NOT_LEADER_OR_FOLLOWER (retriable
// for the TC), as in Kafka.
func (c *Coordinator) CompleteTxn(now time.Time, id RequestID, m record.Marker) Effects {
	o := c.begin(now)
	o.marker = &m
	o.done = append(o.done, func(o *out, code int16) {
		if code == 0 {
			c.endTxn(m.ProducerID, m.Commit)
		}
		o.replies = append(o.replies, Reply{ID: id, Code: markerErrorCode(code)})
	})
	return c.finish(o)
}

// markerErrorCode maps an append error of a marker to the code the
// transaction coordinator expects.
func markerErrorCode(code int16) int16 {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code:
		return kerr.NotLeaderForPartition.Code
	}
	return code
}

// endTxn applies a durable marker of producer pid to every group holding
// its pending offsets.
func (c *Coordinator) endTxn(pid int64, commit bool) {
	for id := range c.txnGroups[pid] {
		if g := c.groups[id]; g != nil {
			g.endTxn(pid, commit)
		}
	}
	delete(c.txnGroups, pid)
}

// endTxn commits or drops pid's pending offsets. A committed one replaces
// the partition's committed offset only if its record is the later one.
func (g *group) endTxn(pid int64, commit bool) {
	for tp, v := range g.txnOffsets[pid] {
		if cur, ok := g.offsets[tp]; commit && (!ok || v.logOffset > cur.logOffset) {
			g.offsets[tp] = v
		}
	}
	delete(g.txnOffsets, pid)
}

// addTxnOffset makes v, from a durable record, pid's pending offset of tp
// in g (replacing an earlier one of the same transaction).
func (c *Coordinator) addTxnOffset(g *group, pid int64, tp topicPartition, v offset) {
	if g.txnOffsets[pid] == nil {
		g.txnOffsets[pid] = map[topicPartition]offset{}
	}
	g.txnOffsets[pid][tp] = v
	if c.txnGroups[pid] == nil {
		c.txnGroups[pid] = map[string]bool{}
	}
	c.txnGroups[pid][g.id] = true
}

// hasTxnOffset reports whether an open transaction has a pending offset
// of tp.
func (g *group) hasTxnOffset(tp topicPartition) bool {
	for _, offs := range g.txnOffsets {
		if _, ok := offs[tp]; ok {
			return true
		}
	}
	return false
}

// dropTxnOffsets forgets the open transactions' pending offsets of tp
// written before log offset at (a tombstone for tp at that offset).
func (g *group) dropTxnOffsets(tp topicPartition, at int64) {
	for pid, offs := range g.txnOffsets {
		if v, ok := offs[tp]; ok && v.logOffset < at {
			delete(offs, tp)
		}
		if len(offs) == 0 {
			delete(g.txnOffsets, pid)
		}
	}
}

// openTxn reports whether a transaction has offsets pending in g or
// being written to it.
func (g *group) openTxn() bool {
	return len(g.txnOffsets) > 0 || g.txnWrites > 0
}
