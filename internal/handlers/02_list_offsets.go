package handlers

// ListOffsets (key 2), versions 1-7.
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
// Authorization (as Kafka, replicas included): DESCRIBE on each topic,
// else its partitions get TOPIC_AUTHORIZATION_FAILED before the topic is
// looked up.

import (
	"context"

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
			rt.Partitions = append(rt.Partitions, h.listOne(t.Topic, hasPartition(img, t.Topic, tp.Partition), tp, listIsolation(r)))
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
