package handlers

// Produce (key 0), versions 3-12 (record batch v2 only).
//
// Each partition's records must be exactly one v2 batch with a good CRC
// (CORRUPT_MESSAGE otherwise), base offset 0 and no control records
// (INVALID_RECORD), no larger than max.message.bytes (MESSAGE_TOO_LARGE).
// acks must be -1, 0 or 1 (INVALID_REQUIRED_ACKS). The leader appends the
// batch as it came, rewriting only its base offset and leader epoch.
//
//   - acks=0: no response; if any partition failed the connection is closed
//     so the producer notices.
//   - acks=1: answered after the local append.
//   - acks=-1: refused with NOT_ENOUGH_REPLICAS before the append when the
//     ISR is below min.insync.replicas; otherwise answered once the high
//     watermark covers the batch (woken by HW movement, no polling), with
//     REQUEST_TIMED_OUT after TimeoutMillis, NOT_LEADER_OR_FOLLOWER if
//     leadership is lost meanwhile. Appended data is never rolled back.
//
// Authorization (as Kafka): a request carrying transactional batches needs
// a transactional id and WRITE on it, else every partition gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; otherwise each topic needs WRITE,
// else its partitions get TOPIC_AUTHORIZATION_FAILED (before the topic is
// looked up, so its existence is not revealed).
//
// Not implemented yet: transactional producers.

import (
	"context"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pendingAck is a partition whose acks=all response waits for the HW.
type pendingAck struct {
	p    *partition.Partition
	out  *kmsg.ProduceResponseTopicPartition
	next int64
}

func (h *Handlers) produce(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(r.Version)
	badAcks := r.Acks != -1 && r.Acks != 0 && r.Acks != 1
	denied, deniedErr := h.produceDenied(req, r)
	var pending []pendingAck
	failed := false
	for _, t := range r.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(t.Partitions))
		for i, tp := range t.Partitions {
			out := &rt.Partitions[i]
			*out = kmsg.NewProduceResponseTopicPartition()
			out.Partition = tp.Partition
			if denied[t.Topic] {
				failed, out.ErrorCode = true, deniedErr.Code
				continue
			}
			if badAcks {
				out.ErrorCode = kerr.InvalidRequiredAcks.Code
				continue
			}
			p, next, err := h.appendOne(t.Topic, tp, r.Acks, out)
			if err != nil {
				failed = true
				out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
				continue
			}
			if r.Acks == -1 {
				pending = append(pending, pendingAck{p, out, next})
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return h.produceReply(ctx, r, resp, pending, failed)
}

// produceDenied returns the topics the request may not write to and the
// error their partitions get.
func (h *Handlers) produceDenied(req *server.Request, r *kmsg.ProduceRequest) (map[string]bool, *kerr.Error) {
	topics := namesOf(r.Topics, func(t kmsg.ProduceRequestTopic) string { return t.Topic })
	if hasTransactionalRecords(r) && (r.TransactionID == nil ||
		!h.authorize(req, metadata.ACLOpWrite, metadata.ACLResourceTransactionalID, *r.TransactionID)) {
		return allTopics(topics), kerr.TransactionalIDAuthorizationFailed
	}
	return h.deniedTopics(req, metadata.ACLOpWrite, topics), kerr.TopicAuthorizationFailed
}

// hasTransactionalRecords reports whether any partition's first batch is
// transactional (Kafka's RequestUtils.hasTransactionalRecords).
func hasTransactionalRecords(r *kmsg.ProduceRequest) bool {
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if h, err := record.ParseHeader(p.Records); err == nil && h.IsTransactional() {
				return true
			}
		}
	}
	return false
}

// appendOne appends one partition's batch, fills the offsets in out, and
// returns the partition and the offset after the batch.
func (h *Handlers) appendOne(topic string, tp kmsg.ProduceRequestTopicPartition, acks int16, out *kmsg.ProduceResponseTopicPartition) (*partition.Partition, int64, error) {
	if !hasPartition(h.d.Image(), topic, tp.Partition) {
		return nil, 0, kerr.UnknownTopicOrPartition
	}
	p := h.d.Partitions.Partition(topic, tp.Partition)
	if p == nil {
		return nil, 0, partition.ErrNotLeader
	}
	res, err := p.AppendAsLeader(tp.Records, acks)
	out.BaseOffset, out.LogAppendTime, out.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	return p, res.LastOffset + 1, err
}

func (h *Handlers) produceReply(ctx context.Context, r *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, pending []pendingAck, failed bool) server.Reply {
	switch {
	case r.Acks == 0:
		return server.Reply{Close: failed}
	case len(pending) == 0:
		return server.Reply{Response: resp}
	}
	ch := make(chan kmsg.Response, 1)
	go func() {
		h.awaitAcks(ctx, time.Duration(r.TimeoutMillis)*time.Millisecond, pending)
		ch <- resp
	}()
	return server.Reply{Wait: ch}
}

// awaitAcks waits, up to timeout overall, for every pending partition's
// high watermark to pass its batch, and records the outcome in each.
func (h *Handlers) awaitAcks(ctx context.Context, timeout time.Duration, pending []pendingAck) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, pa := range pending {
		if err := pa.p.WaitForHW(ctx, pa.next); err != nil {
			if ctx.Err() != nil {
				err = partition.ErrTimeout
			}
			pa.out.ErrorCode = errorCode(err)
		}
	}
}
