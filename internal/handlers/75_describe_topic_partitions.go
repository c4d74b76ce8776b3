package handlers

// DescribeTopicPartitions (key 75), version 0 (KIP-966): topics and their
// partitions, paged, with the eligible leader replicas.
//
// Topics are the named ones, or every topic when the list is empty, in
// name order, from the request's Cursor (topic name and first partition)
// on. A response carries at most ResponsePartitionLimit partitions
// (capped at Kafka's max.request.partition.size.limit default, 2000; at
// least 1); when more remain, NextCursor names the topic and partition to
// ask for next. Per partition: leader (-1 unless the leader is registered
// with an endpoint on the request's listener), leader epoch, replicas,
// ISR, EligibleLeaderReplicas, LastKnownElr (KIP-966's last known leader,
// see metadata.PartitionImage) and offline replicas (unregistered, fenced,
// or without the request's listener). A named topic that does not exist
// gets UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an invalid
// name). A Cursor whose topic the named list lacks, or whose partition is
// negative, fails the request: INVALID_REQUEST on every named topic.
//
// Authorization (as Kafka): DESCRIBE on each topic. Listing every topic
// leaves out those without it; a named topic without it gets
// TOPIC_AUTHORIZATION_FAILED with no id or partitions, whether or not it
// exists, after the described topics. TopicAuthorizedOperations is
// always filled for the described topics (the request has no flag for
// it; Kafka fills it too).

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxPartitionsPerDescribe is Kafka's max.request.partition.size.limit
// default: the most partitions one DescribeTopicPartitions answer holds.
const maxPartitionsPerDescribe = 2000

func (h *Handlers) describeTopicPartitions(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeTopicPartitionsRequest)
	if !validDescribeCursor(r) {
		return respond(req, describeTopicPartitionsRefused(r, kerr.InvalidRequest))
	}
	img := h.d.Image()
	named := len(r.Topics) > 0
	resp := kmsg.NewPtrDescribeTopicPartitionsResponse()
	var denied []kmsg.DescribeTopicPartitionsResponseTopic
	page := newDescribePage(r)
	for _, name := range describeCandidates(img, r) {
		if !h.authorizeTopic(req, metadata.ACLOpDescribe, name) {
			if named {
				denied = append(denied, describeTopicDenied(name))
			}
			continue
		}
		t, ok := page.describe(img, req.Listener, name, named)
		if ok {
			t.AuthorizedOperations = h.authorizedOperations(req, metadata.ACLResourceTopic, name)
			resp.Topics = append(resp.Topics, t)
		}
		if page.next != nil {
			break
		}
	}
	resp.NextCursor = page.next
	resp.Topics = append(resp.Topics, denied...)
	return respond(req, resp)
}

// validDescribeCursor checks the request's cursor as Kafka does: a
// non-negative partition, and a topic among the named ones (if any).
func validDescribeCursor(r *kmsg.DescribeTopicPartitionsRequest) bool {
	if r.Cursor == nil {
		return true
	}
	if r.Cursor.Partition < 0 {
		return false
	}
	return len(r.Topics) == 0 || slices.ContainsFunc(r.Topics, func(t kmsg.DescribeTopicPartitionsRequestTopic) bool {
		return t.Topic == r.Cursor.Topic
	})
}

// describeTopicPartitionsRefused answers the error on every named topic.
func describeTopicPartitionsRefused(r *kmsg.DescribeTopicPartitionsRequest, err *kerr.Error) *kmsg.DescribeTopicPartitionsResponse {
	resp := kmsg.NewPtrDescribeTopicPartitionsResponse()
	for _, t := range r.Topics {
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic, rt.ErrorCode = &t.Topic, err.Code
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// describeCandidates returns the topic names to describe, sorted, each
// once, from the cursor's topic on: the named ones, or every topic.
func describeCandidates(img *metadata.Image, r *kmsg.DescribeTopicPartitionsRequest) []string {
	var names []string
	if len(r.Topics) == 0 {
		names = img.TopicNames()
	} else {
		for _, t := range r.Topics {
			names = append(names, t.Topic)
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}
	if r.Cursor != nil {
		from, _ := slices.BinarySearch(names, r.Cursor.Topic)
		names = names[from:]
	}
	return names
}

// describeTopicDenied is a named topic's answer without DESCRIBE: no id,
// no partitions.
func describeTopicDenied(name string) kmsg.DescribeTopicPartitionsResponseTopic {
	t := kmsg.NewDescribeTopicPartitionsResponseTopic()
	t.Topic, t.ErrorCode = &name, kerr.TopicAuthorizationFailed.Code
	return t
}

// describePage tracks one response's partition budget and where the next
// page starts.
type describePage struct {
	cursor    *kmsg.DescribeTopicPartitionsRequestCursor
	remaining int
	next      *kmsg.DescribeTopicPartitionsResponseNextCursor
}

func newDescribePage(r *kmsg.DescribeTopicPartitionsRequest) *describePage {
	limit := max(min(int(r.ResponsePartitionLimit), maxPartitionsPerDescribe), 1)
	return &describePage{cursor: r.Cursor, remaining: limit}
}

// describe answers one authorized topic within the budget, or sets next
// when the page is full. ok is false when the topic is left out: the page
// was full, or the topic does not exist and was not named.
func (pg *describePage) describe(img *metadata.Image, listener, name string, named bool) (kmsg.DescribeTopicPartitionsResponseTopic, bool) {
	t := kmsg.NewDescribeTopicPartitionsResponseTopic()
	t.Topic, t.IsInternal = &name, name == "__consumer_offsets"
	if pg.remaining == 0 {
		pg.next = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name}
		return t, false
	}
	ti, ok := img.Topic(name)
	if !ok {
		t.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if controller.ValidateTopicName(name) != nil {
			t.ErrorCode = kerr.InvalidTopicException.Code
		}
		return t, named
	}
	t.TopicID = ti.ID
	start := int32(0)
	if pg.cursor != nil && pg.cursor.Topic == name {
		start = pg.cursor.Partition
	}
	end := min(len(ti.Partitions), int(start)+pg.remaining)
	for i := int(start); i < end; i++ {
		t.Partitions = append(t.Partitions, describePartition(img, listener, int32(i), ti.Partitions[i]))
	}
	pg.remaining -= len(t.Partitions)
	if end < len(ti.Partitions) {
		pg.next = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: int32(end)}
	}
	return t, true
}

// describePartition is one partition's answer.
func describePartition(img *metadata.Image, listener string, idx int32, p metadata.PartitionImage) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	out := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
	out.Partition, out.LeaderID, out.LeaderEpoch = idx, -1, p.LeaderEpoch
	if b, ok := img.Brokers[p.Leader]; ok {
		if _, ok := b.Endpoint(listener); ok {
			out.LeaderID = p.Leader
		}
	}
	out.Replicas, out.ISR = nonNil(p.Replicas), nonNil(p.ISR)
	out.EligibleLeaderReplicas, out.LastKnownELR = nonNil(p.ELR), nonNil(p.LastKnownELR)
	out.OfflineReplicas = []int32{}
	for _, r := range p.Replicas {
		if b, ok := img.Brokers[r]; !ok || b.Fenced {
			out.OfflineReplicas = append(out.OfflineReplicas, r)
		} else if _, ok := b.Endpoint(listener); !ok {
			out.OfflineReplicas = append(out.OfflineReplicas, r)
		}
	}
	return out
}

// nonNil copies a broker id list, empty rather than nil: Kafka sends
// empty ELR lists, and null would read as "not supported" (N/A).
func nonNil(ids []int32) []int32 {
	return append([]int32{}, ids...)
}
