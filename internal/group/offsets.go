package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// staged is one partition of an OffsetCommit and its outcome so far.
type staged struct {
	tp    topicPartition
	value offset
	code  int16
	write bool // written to the log, answered when its batch completes
	index int  // the record's position in its batch, when written
}

// OffsetCommit handles OffsetCommit v0-v9. Valid commits are written and
// answered (and become visible to OffsetFetch) once their batch is durable.
// Generation -1 with an empty member id ("simple" consumers) may commit
// only while the group has no members.
func (c *Coordinator) OffsetCommit(now time.Time, id RequestID, req *kmsg.OffsetCommitRequest) Effects {
	o := c.begin(now)
	parts := c.stageCommit(req)
	g, code := c.commitGroup(req)
	for i := range parts {
		if code != 0 && parts[i].code == 0 {
			parts[i].code = code
		}
	}
	if code == 0 {
		c.writeCommit(o, g, parts)
	}
	if !slices.ContainsFunc(parts, func(s staged) bool { return s.write }) {
		o.reply(id, commitResponse(req, parts))
		return c.finish(o)
	}
	batch := o.batch
	o.done = append(o.done, func(o *out, code int16) {
		c.commitDone(g, batch, o.base, parts, code)
		o.reply(id, commitResponse(req, parts))
	})
	return c.finish(o)
}

// stageCommit turns the request into per-partition values.
func (c *Coordinator) stageCommit(req *kmsg.OffsetCommitRequest) []staged {
	nowMs := c.now.UnixMilli()
	expire := int64(-1)
	if req.RetentionTimeMillis >= 0 && req.Version >= 2 && req.Version <= 4 {
		expire = nowMs + req.RetentionTimeMillis
	}
	var parts []staged
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			s := staged{tp: topicPartition{t.Topic, p.Partition}}
			s.value = offset{offset: p.Offset, leaderEpoch: p.LeaderEpoch, commitMs: nowMs, expireMs: expire, logOffset: -1}
			if p.Metadata != nil {
				s.value.metadata = *p.Metadata
			}
			if req.Version == 1 && p.Timestamp != -1 {
				s.value.commitMs = p.Timestamp
			}
			if len(s.value.metadata) > c.cfg.MaxMetadataSize {
				s.code = kerr.OffsetMetadataTooLarge.Code
			}
			parts = append(parts, s)
		}
	}
	return parts
}

// commitGroup finds (or, for simple consumers, creates) the group and
// validates the committer (Kafka's validateOffsetCommit).
func (c *Coordinator) commitGroup(req *kmsg.OffsetCommitRequest) (*group, int16) {
	g := c.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			return nil, kerr.IllegalGeneration.Code
		}
		g = newGroup(req.Group)
		c.groups[req.Group] = g
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
			return g, code
		}
		if req.Generation != g.generation {
			return g, kerr.IllegalGeneration.Code
		}
	} else if g.state != stateEmpty {
		return g, kerr.UnknownMemberID.Code
	}
	switch g.state {
	case stateCompleting:
		return g, kerr.RebalanceInProgress.Code
	case stateStable, statePreparing:
		c.heartbeat(g.members[req.MemberID])
	}
	return g, 0
}

// writeCommit writes the valid partitions and marks them pending.
func (c *Coordinator) writeCommit(o *out, g *group, parts []staged) {
	for i := range parts {
		s := &parts[i]
		if s.code != 0 {
			continue
		}
		s.write, s.index = true, len(o.records)
		o.record(offsetKey(g.id, s.tp), offsetValue(s.value))
		g.pendingCommits[s.tp] = append(g.pendingCommits[s.tp], o.batch)
	}
}

// commitDone applies (or drops) the pending commits of batch, durable
// from log offset base when code is 0.
func (c *Coordinator) commitDone(g *group, batch BatchID, base int64, parts []staged, code int16) {
	for i := range parts {
		s := &parts[i]
		if !s.write {
			continue
		}
		live := g.dropPending(s.tp, batch) && c.groups[g.id] == g
		if code != 0 {
			s.code = appendErrorCode(code, true)
		} else if live {
			v := s.value
			v.logOffset = base + int64(s.index)
			g.offsets[s.tp] = v
		}
	}
}

// dropPending removes batch from tp's pending commits; false if it was
// already removed (the offset was deleted meanwhile).
func (g *group) dropPending(tp topicPartition, batch BatchID) bool {
	ids := g.pendingCommits[tp]
	i := slices.Index(ids, batch)
	if i < 0 {
		return false
	}
	ids = slices.Delete(ids, i, i+1)
	if len(ids) == 0 {
		delete(g.pendingCommits, tp)
	} else {
		g.pendingCommits[tp] = ids
	}
	return true
}

func commitResponse(req *kmsg.OffsetCommitRequest, parts []staged) *kmsg.OffsetCommitResponse {
	r := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, parts[i].code
			rt.Partitions = append(rt.Partitions, rp)
			i++
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}
