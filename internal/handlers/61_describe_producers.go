package handlers

// DescribeProducers (key 61), version 0 (KIP-664; kafka-transactions
// describe-producers).
//
// For each requested partition the replica (leader or follower, as in
// Kafka) lists the idempotent and
// transactional producers whose state it keeps: id, epoch, last sequence
// (-1 when none), the max timestamp of their last batch or marker, the
// coordinator epoch of their last transaction marker (-1 when none) and
// the first offset of their open transaction (CurrentTxnStartOffset, -1
// when none; kafka-transactions find-hanging and abort use it).
// A partition this node holds no replica of is NOT_LEADER_OR_FOLLOWER, an
// unknown one UNKNOWN_TOPIC_OR_PARTITION.
//
// Authorization (as Kafka): READ on each topic, else its partitions get
// TOPIC_AUTHORIZATION_FAILED before the topic is looked up.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeProducers(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeProducersRequest)
	resp := kmsg.NewPtrDescribeProducersResponse()
	img := h.d.Image()
	denied := h.deniedTopics(req, metadata.ACLOpRead,
		namesOf(r.Topics, func(t kmsg.DescribeProducersRequestTopic) string { return t.Topic }))
	for _, t := range r.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		for _, idx := range t.Partitions {
			rt.Partitions = append(rt.Partitions, h.producersOf(img, t.Topic, idx, denied[t.Topic]))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}

// producersOf answers one partition.
func (h *Handlers) producersOf(img *metadata.Image, topic string, idx int32, denied bool) kmsg.DescribeProducersResponseTopicPartition {
	out := kmsg.NewDescribeProducersResponseTopicPartition()
	out.Partition = idx
	if denied {
		out.ErrorCode = kerr.TopicAuthorizationFailed.Code
		return out
	}
	if !hasPartition(img, topic, idx) {
		out.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return out
	}
	p := h.d.Partitions.Partition(topic, idx)
	if p == nil {
		out.ErrorCode = kerr.NotLeaderForPartition.Code
		return out
	}
	active, err := p.ActiveProducers()
	if err != nil {
		out.ErrorCode = errorCode(err)
		return out
	}
	for _, a := range active {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch, ap.LastSequence, ap.LastTimestamp = a.ID, int32(a.Epoch), a.LastSequence, a.LastTimestamp
		ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = a.CoordinatorEpoch, a.CurrentTxnStartOffset
		out.ActiveProducers = append(out.ActiveProducers, ap)
	}
	return out
}
