package handlers

// ListOffsets (key 2), versions 0-7.
//
// Timestamp -2 (earliest) answers the log start offset, -1 (latest) the
// high watermark, -3 (max timestamp, v7) the record with the largest
// timestamp, any other the first offset whose timestamp is at least the one
// asked (offset -1 when none), found through the time index.
// CurrentLeaderEpoch (v4+) is checked. A leader whose high watermark is
// still below the start of its leader epoch (just elected or restarted)
// answers latest and timestamp lookups with OFFSET_NOT_AVAILABLE
// (retriable) rather than a stale offset, as Kafka does (KIP-207). For
// replicas (ReplicaID >= 0) latest is the log end offset. IsolationLevel
// (v2+): for read_committed (1) latest is the last stable offset, and a
// timestamp lookup finds only offsets below it (below the high watermark
// for read_uncommitted, the log end offset for replicas), as Kafka.
//
// Version 0 (old tools, e.g. Burrow) answers a list of offsets instead:
// as Kafka's legacy lookup, the candidates are each segment's base offset
// (not below the log start offset) with the segment's time, plus the log
// end offset with the current time when the active segment holds data;
// latest starts from the last candidate, earliest from the first, a
// timestamp from the last candidate whose time is at most it, and at most
// MaxNumOffsets offsets are listed from there backwards, in descending
// order. For consumers (ReplicaID -1) offsets above the high watermark
// are replaced by the high watermark: latest with MaxNumOffsets 1 is
// [HW], earliest [log start]. A segment's time is its largest record
// timestamp (Kafka takes the file's modification time, which Fjord does
// not track); an empty segment takes its predecessor's. The leader
// answers (Kafka lets a debugging client, ReplicaID -2, ask a follower).
//
// Authorization (as Kafka, replicas included): DESCRIBE on each topic,
// else its partitions get TOPIC_AUTHORIZATION_FAILED before the topic is
// looked up.

import (
	"cmp"
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) listOffsets(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := kmsg.NewPtrListOffsetsResponse()
	img := h.d.Image()
	denied := h.deniedTopics(req, metadata.ACLOpDescribe,
		namesOf(r.Topics, func(t kmsg.ListOffsetsRequestTopic) string { return t.Topic }))
	for _, t := range r.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			if denied[t.Topic] {
				rt.Partitions = append(rt.Partitions, listOffsetsError(tp.Partition, kerr.TopicAuthorizationFailed))
				continue
			}
			known := hasPartition(img, t.Topic, tp.Partition)
			if r.Version == 0 {
				rt.Partitions = append(rt.Partitions, h.listLegacy(t.Topic, known, tp, r.ReplicaID == -1))
				continue
			}
			rt.Partitions = append(rt.Partitions, h.listOne(t.Topic, known, tp, listIsolation(r)))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}

// listOffsetsError is a partition's answer carrying only an error.
func listOffsetsError(idx int32, err *kerr.Error) kmsg.ListOffsetsResponseTopicPartition {
	out := kmsg.NewListOffsetsResponseTopicPartition()
	out.Partition = idx
	out.Offset, out.Timestamp, out.LeaderEpoch = -1, -1, -1
	if err != nil {
		out.ErrorCode = err.Code
	}
	return out
}

// listIsolation is the view of the log a ListOffsets request takes.
func listIsolation(r *kmsg.ListOffsetsRequest) partition.Isolation {
	switch {
	case r.ReplicaID >= 0:
		return partition.ReplicaView
	case r.Version >= 2 && r.IsolationLevel == 1:
		return partition.ReadCommitted
	}
	return partition.ReadUncommitted
}

func (h *Handlers) listOne(topic string, known bool, tp kmsg.ListOffsetsRequestTopicPartition, iso partition.Isolation) kmsg.ListOffsetsResponseTopicPartition {
	if !known {
		return listOffsetsError(tp.Partition, kerr.UnknownTopicOrPartition)
	}
	p := h.d.Partitions.Partition(topic, tp.Partition)
	if p == nil {
		return listOffsetsError(tp.Partition, kerr.NotLeaderForPartition)
	}
	out := listOffsetsError(tp.Partition, nil)
	res, err := p.ListOffset(tp.Timestamp, tp.CurrentLeaderEpoch, iso)
	if err != nil {
		out.ErrorCode = errorCode(err)
		return out
	}
	out.Offset, out.Timestamp, out.LeaderEpoch = res.Offset, res.Timestamp, res.LeaderEpoch
	return out
}

// listLegacy answers one partition of a v0 request (see the header).
func (h *Handlers) listLegacy(topic string, known bool, tp kmsg.ListOffsetsRequestTopicPartition, fromConsumer bool) kmsg.ListOffsetsResponseTopicPartition {
	if !known {
		return listOffsetsError(tp.Partition, kerr.UnknownTopicOrPartition)
	}
	p := h.d.Partitions.Partition(topic, tp.Partition)
	if p == nil {
		return listOffsetsError(tp.Partition, kerr.NotLeaderForPartition)
	}
	out := listOffsetsError(tp.Partition, nil)
	// Earliest in the replicas' view checks leadership and the replica's
	// health without the wait for a new leader's high watermark, which
	// v0 clients would not understand (OFFSET_NOT_AVAILABLE).
	start, err := p.ListOffset(partition.Earliest, -1, partition.ReplicaView)
	if err != nil {
		out.ErrorCode = errorCode(err)
		return out
	}
	cands := legacyCandidates(p, start.Offset, h.d.Now().UnixMilli())
	offsets := legacyOffsetsBefore(cands, tp.Timestamp, tp.MaxNumOffsets)
	if fromConsumer {
		offsets = capAtHW(offsets, p.HighWatermark())
	}
	out.OldStyleOffsets = offsets
	return out
}

// offsetTime is a v0 candidate: an offset and the time it stands for.
type offsetTime struct{ offset, time int64 }

// legacyCandidates lists the v0 candidates of p, oldest first: each
// segment's base offset (at least logStart) with its largest timestamp
// (an empty segment: its predecessor's, -1 for the first), then the log
// end offset at nowMs when the last segment holds data.
func legacyCandidates(p *partition.Partition, logStart, nowMs int64) []offsetTime {
	segs := p.Log().Segments()
	out := make([]offsetTime, 0, len(segs)+1)
	prev := int64(-1)
	for _, s := range segs {
		t := prev
		if s.Size > 0 {
			t = s.MaxTimestamp
		}
		out = append(out, offsetTime{max(s.BaseOffset, logStart), t})
		prev = t
	}
	if len(segs) > 0 && segs[len(segs)-1].Size > 0 {
		out = append(out, offsetTime{max(segs[len(segs)-1].NextOffset, logStart), nowMs})
	}
	return out
}

// legacyOffsetsBefore picks from the candidates, as Kafka's v0 lookup:
// the starting candidate by ts (latest, earliest, or the last whose time
// is at most ts), then at most maxNum offsets backwards from it, in
// descending order.
func legacyOffsetsBefore(cands []offsetTime, ts int64, maxNum int32) []int64 {
	from := -1
	switch ts {
	case partition.Latest:
		from = len(cands) - 1
	case partition.Earliest:
		from = min(0, len(cands)-1)
	default:
		for i := len(cands) - 1; i >= 0; i-- {
			if cands[i].time <= ts {
				from = i
				break
			}
		}
	}
	out := []int64{}
	for i := from; i >= 0 && len(out) < int(maxNum); i-- {
		out = append(out, cands[i].offset)
	}
	slices.SortFunc(out, func(a, b int64) int { return cmp.Compare(b, a) })
	return out
}

// capAtHW replaces the offsets above the high watermark (a consumer may
// not read there) with the high watermark itself, keeping the order.
func capAtHW(offsets []int64, hw int64) []int64 {
	i := 0
	for i < len(offsets) && offsets[i] > hw {
		i++
	}
	if i == 0 {
		return offsets
	}
	return append([]int64{hw}, offsets[i:]...)
}
