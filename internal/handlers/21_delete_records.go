package handlers

// DeleteRecords (key 21), versions 0-2 (KIP-107; kafka-delete-records,
// kadm's DeleteRecords).
//
// For each partition the leader raises its log start offset to the
// requested offset (-1: the high watermark); records below it are no
// longer readable (OFFSET_OUT_OF_RANGE) and ListOffsets earliest answers
// it. The new start is persisted (log-start-offset-checkpoint) before the
// segments wholly below it are deleted. An offset above the high
// watermark is OFFSET_OUT_OF_RANGE; one at or below the log start changes
// nothing. Followers learn the new start from their fetch responses. As
// Kafka's DelayedDeleteRecords, the answer waits (up to TimeoutMillis,
// then REQUEST_TIMED_OUT) until the low watermark — the smallest log start
// over the leader and its followers on live brokers, as their fetches
// report it — reaches the requested offset, and carries it as
// LowWatermark.
//
// Errors per partition: UNKNOWN_TOPIC_OR_PARTITION (no such partition),
// NOT_LEADER_OR_FOLLOWER (this node does not lead it, or stopped leading
// while waiting), POLICY_VIOLATION (cleanup.policy without "delete"),
// INVALID_TOPIC_EXCEPTION (internal topics, as Kafka), KAFKA_STORAGE_ERROR.
//
// Authorization (as Kafka): DELETE on each topic, else its partitions get
// TOPIC_AUTHORIZATION_FAILED before the topic is looked up.

import (
	"context"
	"errors"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pendingDelete is a partition whose low watermark the response waits for.
type pendingDelete struct {
	p      *partition.Partition
	target int64
	out    *kmsg.DeleteRecordsResponseTopicPartition
}

func (h *Handlers) deleteRecords(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := kmsg.NewPtrDeleteRecordsResponse()
	resp.SetVersion(r.Version)
	img := h.d.Image()
	denied := h.deniedTopics(req, metadata.ACLOpDelete,
		namesOf(r.Topics, func(t kmsg.DeleteRecordsRequestTopic) string { return t.Topic }))
	var pending []pendingDelete
	for i, t := range r.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(t.Partitions))
		for j, tp := range t.Partitions {
			rt.Partitions[j] = kmsg.NewDeleteRecordsResponseTopicPartition()
			rt.Partitions[j].Partition = tp.Partition
		}
		resp.Topics = append(resp.Topics, rt)
		for j, tp := range t.Partitions {
			out := &resp.Topics[i].Partitions[j]
			if p, target := h.deleteOne(img, t.Topic, tp, denied[t.Topic], out); p != nil {
				pending = append(pending, pendingDelete{p, target, out})
			}
		}
	}
	if len(pending) == 0 {
		return server.Reply{Response: resp}
	}
	deadline := time.Now().Add(time.Duration(r.TimeoutMillis) * time.Millisecond)
	return server.Reply{Later: func() kmsg.Response {
		awaitLowWatermarks(ctx, deadline, pending)
		return resp
	}}
}

// deleteOne moves one partition's log start, filling out; it returns the
// partition and the offset its low watermark must reach, or nil when out
// is final (an error).
func (h *Handlers) deleteOne(img *metadata.Image, topic string, tp kmsg.DeleteRecordsRequestTopicPartition, denied bool, out *kmsg.DeleteRecordsResponseTopicPartition) (*partition.Partition, int64) {
	out.LowWatermark = -1
	fail := func(err *kerr.Error) (*partition.Partition, int64) {
		out.ErrorCode = err.Code
		return nil, 0
	}
	switch {
	case denied:
		return fail(kerr.TopicAuthorizationFailed)
	case !hasPartition(img, topic, tp.Partition):
		return fail(kerr.UnknownTopicOrPartition)
	case isInternalTopic(topic):
		return fail(kerr.InvalidTopicException)
	}
	p := h.d.Partitions.Partition(topic, tp.Partition)
	if p == nil {
		return fail(kerr.NotLeaderForPartition)
	}
	target, err := p.DeleteRecords(tp.Offset)
	if err != nil {
		out.ErrorCode = deleteRecordsCode(err)
		return nil, 0
	}
	return p, target
}

// deleteRecordsCode is errorCode with the one error only this API returns.
func deleteRecordsCode(err error) int16 {
	if errors.Is(err, partition.ErrPolicyViolation) {
		return kerr.PolicyViolation.Code
	}
	return errorCode(err)
}

// awaitLowWatermarks waits, until the deadline, for each partition's low
// watermark to reach its target, and records the outcome: the low
// watermark, REQUEST_TIMED_OUT (with the low watermark then), or the
// partition's error (leadership lost: NOT_LEADER_OR_FOLLOWER).
func awaitLowWatermarks(ctx context.Context, deadline time.Time, pending []pendingDelete) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, pd := range pending {
		low, err := pd.p.WaitForLowWatermark(ctx, pd.target)
		switch {
		case err == nil:
			pd.out.LowWatermark = low
		case ctx.Err() != nil:
			pd.out.LowWatermark, pd.out.ErrorCode = low, kerr.RequestTimedOut.Code
		default:
			pd.out.ErrorCode = errorCode(err)
		}
	}
}
