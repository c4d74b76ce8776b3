package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// expireOffsets writes tombstones for expired offsets and removes groups
// left Empty without offsets (Kafka's cleanupGroupMetadata). Failed
// tombstones are not retried: the next check after a reload expires them
// again.
func (c *Coordinator) expireOffsets(o *out) {
	nowMs := c.now.UnixMilli()
	for _, g := range c.sortedGroups() {
		for _, tp := range g.expiredOffsets(nowMs, c.cfg.OffsetsRetention.Milliseconds()) {
			delete(g.offsets, tp)
			o.record(offsetKey(g.id, tp), nil)
		}
		if g.blank() {
			c.dropGroup(o, g)
		}
	}
}

// dropGroup removes g and writes its group tombstone.
func (c *Coordinator) dropGroup(o *out, g *group) {
	delete(c.groups, g.id)
	g.state = stateDead
	o.record(groupKey(g.id), nil)
}

// expiredOffsets applies Kafka's retention rules (KIP-211): an Empty group
// loses offsets a retention period after it became Empty; a Stable consumer
// group loses offsets of topics it no longer subscribes to; a group without
// protocol (simple consumers) loses each offset a retention period after
// its commit. Offsets with an explicit expiry (OffsetCommit v2-v4) expire
// then. Partitions with pending commits, plain or transactional, never
// expire.
func (g *group) expiredOffsets(nowMs, retentionMs int64) []topicPartition {
	base, skip, ok := g.retentionBase()
	if !ok {
		return nil
	}
	var expired []topicPartition
	for _, tp := range g.sortedOffsets() {
		v := g.offsets[tp]
		if skip[tp.topic] || g.unstable(tp) {
			continue
		}
		if v.expireMs >= 0 && nowMs >= v.expireMs || v.expireMs < 0 && nowMs-base(v) >= retentionMs {
			expired = append(expired, tp)
		}
	}
	return expired
}

// retentionBase returns when each offset's retention starts, the topics
// exempt from expiry, and whether the group's offsets can expire at all.
func (g *group) retentionBase() (func(offset) int64, map[string]bool, bool) {
	byCommit := func(v offset) int64 { return v.commitMs }
	switch {
	case g.protocolType != nil && g.state == stateEmpty:
		if g.stateTime.IsZero() {
			return byCommit, nil, true
		}
		t := g.stateTime.UnixMilli()
		return func(offset) int64 { return t }, nil, true
	case g.isConsumer() && g.state == stateStable:
		subs, ok := g.subscribedTopics()
		return byCommit, subs, ok
	case g.protocolType == nil:
		return byCommit, nil, true
	}
	return nil, nil, false
}

// OffsetDelete handles OffsetDelete v0. Allowed for Empty groups, and for
// consumer groups on topics none of the members subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise); other non-empty groups get
// NON_EMPTY_GROUP. The partitions' tombstones apply once durable, as in
// Kafka (whose reads see durable state only): to whatever was written
// before them, committed or pending, plain or transactional. Answered
// then.
func (c *Coordinator) OffsetDelete(now time.Time, id RequestID, req *kmsg.OffsetDeleteRequest) Effects {
	o := c.begin(now)
	r := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g := c.groups[req.Group]
	switch {
	case g == nil:
		r.ErrorCode = kerr.GroupIDNotFound.Code
	case g.state != stateEmpty && !g.isConsumer():
		r.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if r.ErrorCode != 0 {
		o.reply(id, r)
		return c.finish(o)
	}
	removed := c.deleteOffsets(o, g, req, r)
	if len(removed) == 0 {
		o.reply(id, r)
		return c.finish(o)
	}
	o.done = append(o.done, func(o *out, code int16) {
		if code != 0 {
			setDeleteCodes(r, appendErrorCode(code, false))
		} else {
			g.tombstoned(removed, o.base)
		}
		o.reply(id, r)
	})
	return c.finish(o)
}

// deleteOffsets writes tombstones for the eligible partitions, fills r and
// returns each tombstone's position in the batch.
func (c *Coordinator) deleteOffsets(o *out, g *group, req *kmsg.OffsetDeleteRequest, r *kmsg.OffsetDeleteResponse) map[topicPartition]int {
	subs, _ := g.subscribedTopics()
	removed := map[topicPartition]int{}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			tp := topicPartition{t.Topic, p.Partition}
			_, dup := removed[tp]
			if g.state != stateEmpty && subs[t.Topic] {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if !dup && g.hasOffset(tp) {
				removed[tp] = len(o.records)
				o.record(offsetKey(g.id, tp), nil)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return removed
}

// hasOffset reports whether tp has an offset, committed or pending.
func (g *group) hasOffset(tp topicPartition) bool {
	_, committed := g.offsets[tp]
	return committed || g.unstable(tp)
}

// tombstoned applies durable tombstones (at log offset base plus their
// position) to the offsets written before them: the committed ones and
// the open transactions' ones. Commits written after them stay.
func (g *group) tombstoned(removed map[topicPartition]int, base int64) {
	for tp, i := range removed {
		at := base + int64(i)
		if v, ok := g.offsets[tp]; ok && v.logOffset < at {
			delete(g.offsets, tp)
		}
		g.dropTxnOffsets(tp, at)
	}
}

func setDeleteCodes(r *kmsg.OffsetDeleteResponse, code int16) {
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			if p := &r.Topics[i].Partitions[j]; p.ErrorCode == 0 {
				p.ErrorCode = code
			}
		}
	}
}
