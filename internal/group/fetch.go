package group

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchTopic is one topic of an OffsetFetch, request or answer.
type fetchTopic struct {
	topic string
	parts []fetchPart
}

type fetchPart struct {
	partition int32
	offset    int64
	epoch     int32
	metadata  string
	code      int16
}

// OffsetFetch handles OffsetFetch v0-v9, including batched groups (v8+).
// Unknown groups and partitions answer offset -1; RequireStable answers
// UNSTABLE_OFFSET_COMMIT for partitions with a commit not yet durable or
// an open transaction's offset.
func (c *Coordinator) OffsetFetch(now time.Time, id RequestID, req *kmsg.OffsetFetchRequest) Effects {
	o := c.begin(now)
	r := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			r.Groups = append(r.Groups, c.fetchGroup(rg, req.RequireStable))
		}
	} else {
		var topics []fetchTopic
		if req.Topics != nil {
			topics = []fetchTopic{}
		}
		for _, t := range req.Topics {
			topics = append(topics, requestedTopic(t.Topic, t.Partitions))
		}
		r.Topics = oldFetchTopics(c.fetch(req.Group, topics, req.RequireStable))
	}
	o.reply(id, r)
	return c.finish(o)
}

func requestedTopic(topic string, partitions []int32) fetchTopic {
	ft := fetchTopic{topic: topic}
	for _, p := range partitions {
		ft.parts = append(ft.parts, fetchPart{partition: p})
	}
	return ft
}

func (c *Coordinator) fetchGroup(rg kmsg.OffsetFetchRequestGroup, stable bool) kmsg.OffsetFetchResponseGroup {
	var topics []fetchTopic
	if rg.Topics != nil {
		topics = []fetchTopic{}
	}
	for _, t := range rg.Topics {
		topics = append(topics, requestedTopic(t.Topic, t.Partitions))
	}
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = rg.Group
	for _, ft := range c.fetch(rg.Group, topics, stable) {
		t := kmsg.NewOffsetFetchResponseGroupTopic()
		t.Topic = ft.topic
		for _, fp := range ft.parts {
			p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.ErrorCode = fp.partition, fp.offset, fp.epoch, fp.code
			p.Metadata = &fp.metadata
			t.Partitions = append(t.Partitions, p)
		}
		out.Topics = append(out.Topics, t)
	}
	return out
}

func oldFetchTopics(fts []fetchTopic) []kmsg.OffsetFetchResponseTopic {
	var ts []kmsg.OffsetFetchResponseTopic
	for _, ft := range fts {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = ft.topic
		for _, fp := range ft.parts {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.ErrorCode = fp.partition, fp.offset, fp.epoch, fp.code
			p.Metadata = &fp.metadata
			t.Partitions = append(t.Partitions, p)
		}
		ts = append(ts, t)
	}
	return ts
}

// fetch answers topics (nil: every committed offset) for groupID.
func (c *Coordinator) fetch(groupID string, topics []fetchTopic, stable bool) []fetchTopic {
	g := c.groups[groupID]
	if topics == nil {
		if g == nil {
			return nil
		}
		topics = g.committedTopics()
	}
	for i := range topics {
		for j := range topics[i].parts {
			fp := &topics[i].parts[j]
			*fp = g.lookup(topicPartition{topics[i].topic, fp.partition}, stable)
		}
	}
	return topics
}

// lookup answers one partition; g may be nil.
func (g *group) lookup(tp topicPartition, stable bool) fetchPart {
	fp := fetchPart{partition: tp.partition, offset: -1, epoch: -1}
	if g == nil {
		return fp
	}
	if stable && g.unstable(tp) {
		fp.code = kerr.UnstableOffsetCommit.Code
		return fp
	}
	if v, ok := g.offsets[tp]; ok {
		fp.offset, fp.epoch, fp.metadata = v.offset, v.leaderEpoch, v.metadata
	}
	return fp
}

// committedTopics lists every committed partition, sorted.
func (g *group) committedTopics() []fetchTopic {
	var topics []fetchTopic
	for _, tp := range g.sortedOffsets() {
		if n := len(topics); n == 0 || topics[n-1].topic != tp.topic {
			topics = append(topics, fetchTopic{topic: tp.topic})
		}
		last := &topics[len(topics)-1]
		last.parts = append(last.parts, fetchPart{partition: tp.partition})
	}
	return topics
}

func (g *group) sortedOffsets() []topicPartition {
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, cmpTP)
	return tps
}

func cmpTP(a, b topicPartition) int {
	if c := strings.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return cmp.Compare(a.partition, b.partition)
}
