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
//   - acks=1: answered after the local append (and, where flush.messages /
//     flush.ms ask for it, its fsync: the batches of one request are
//     fsynced in parallel and concurrent requests share fsyncs).
//   - acks=-1: refused with NOT_ENOUGH_REPLICAS before the append when the
//     ISR is below min.insync.replicas; otherwise answered once the high
//     watermark covers the batch (woken by HW movement, no polling), with
//     REQUEST_TIMED_OUT after TimeoutMillis, NOT_LEADER_OR_FOLLOWER if
//     leadership is lost meanwhile. Appended data is never rolled back.
//
// KIP-951 (v10+): a partition answering NOT_LEADER_OR_FOLLOWER carries
// CurrentLeader (leader id and epoch from the current metadata image), and
// the response's Brokers (NodeEndpoints) lists those leaders' endpoints on
// the listener the request came in on, as Metadata would name them
// (unfenced brokers only), so that clients move without a metadata round
// trip. Looking a partition up costs two map reads; each leader is listed
// once.
//
// Authorization (as Kafka): a request carrying transactional batches needs
// a transactional id and WRITE on it, else every partition gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; otherwise each topic needs WRITE,
// else its partitions get TOPIC_AUTHORIZATION_FAILED (before the topic is
// looked up, so its existence is not revealed).
//
// Transactional batches (KIP-98): see 00_produce_txn.go for the
// verification of KIP-890 part 1 and v12's add to the transaction
// (KIP-890 part 2); a partition keeps the transaction open
// (holding back the last stable offset) until the coordinator's marker.
//
// Client quotas (producer_byte_rate, request_percentage): the registry
// serves Produce through produceWithQuota (quotas.go), which sets
// ThrottleMillis.

import (
	"context"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pendingAck is a partition whose response waits: for its batch to be
// fsynced (syncTo >= 0: flush.messages / flush.ms) and, with acks=all,
// for the HW to pass it (hw).
type pendingAck struct {
	p      *partition.Partition
	out    *kmsg.ProduceResponseTopicPartition
	next   int64
	syncTo int64
	hw     bool
}

func (h *Handlers) produce(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(r.Version)
	badAcks := r.Acks != -1 && r.Acks != 0 && r.Acks != 1
	denied, deniedErr := h.produceDenied(req, r)
	var checks map[topicPartitionKey]txnCheck
	if len(denied) == 0 && !badAcks {
		checks = h.verifyTransactional(ctx, req, r)
	}
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
			p, res, err := h.appendOne(t.Topic, tp, r.Acks, out, checks)
			if err != nil {
				failed = true
				out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
				continue
			}
			if r.Acks == -1 || res.SyncTo >= 0 {
				pending = append(pending, pendingAck{p, out, res.LastOffset + 1, res.SyncTo, r.Acks == -1})
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return h.produceReply(ctx, req.Listener, r, resp, pending, failed)
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
// returns the partition and the append's result.
func (h *Handlers) appendOne(topic string, tp kmsg.ProduceRequestTopicPartition, acks int16, out *kmsg.ProduceResponseTopicPartition,
	checks map[topicPartitionKey]txnCheck) (*partition.Partition, partition.AppendResult, error) {
	if !hasPartition(h.d.Image(), topic, tp.Partition) {
		return nil, partition.AppendResult{}, kerr.UnknownTopicOrPartition
	}
	p := h.d.Partitions.Partition(topic, tp.Partition)
	if p == nil {
		return nil, partition.AppendResult{}, partition.ErrNotLeader
	}
	var res partition.AppendResult
	var err error
	if check, ok := checks[topicPartitionKey{topic, tp.Partition}]; ok {
		if check.err != nil {
			return p, res, check.err
		}
		res, err = p.AppendVerified(tp.Records, acks, check.guard)
	} else {
		res, err = p.AppendAsLeader(tp.Records, acks)
	}
	out.BaseOffset, out.LogAppendTime, out.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	return p, res, err
}

// produceReply answers at once, or later once the batches are fsynced
// (on a goroutine, started now) and, with acks=all, replicated (waited
// for by the connection's writer), so the connection reads its next
// requests meanwhile.
func (h *Handlers) produceReply(ctx context.Context, listener string, r *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, pending []pendingAck, failed bool) server.Reply {
	switch {
	case r.Acks == 0:
		syncAll(pending) // nobody hears of a failure but the log, which stops the replica
		return server.Reply{Close: failed}
	case len(pending) == 0:
		h.produceLeaderHints(listener, resp)
		return server.Reply{Response: resp}
	}
	deadline := time.Now().Add(time.Duration(r.TimeoutMillis) * time.Millisecond)
	finish := func() kmsg.Response {
		h.awaitAcks(ctx, deadline, pending)
		h.produceLeaderHints(listener, resp)
		return resp
	}
	if !needsSync(pending) {
		return server.Reply{Later: finish}
	}
	// The fsyncs start now, not when the writer gets here: those of the
	// requests pipelined behind this one overlap them (group commit).
	ch := make(chan kmsg.Response, 1)
	go func() {
		syncAll(pending)
		ch <- finish()
	}()
	return server.Reply{Wait: ch}
}

// needsSync reports whether a pending partition waits for an fsync.
func needsSync(pending []pendingAck) bool {
	for i := range pending {
		if pending[i].syncTo >= 0 {
			return true
		}
	}
	return false
}

// produceLeaderHints fills KIP-951's CurrentLeader and Brokers (v10+).
func (h *Handlers) produceLeaderHints(listener string, resp *kmsg.ProduceResponse) {
	if resp.Version < 10 {
		return
	}
	hints := newLeaderHints(h.d.Image(), listener)
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if needsLeaderHint(p.ErrorCode) {
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = hints.leader(t.Topic, p.Partition)
			}
		}
	}
	hints.endpoints(func(id int32, ep metadata.Endpoint, rack *string) {
		resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: id, Host: ep.Host, Port: ep.Port, Rack: rack})
	})
}

// syncAll fsyncs the pending partitions' batches that must be, each log
// on its own goroutine so that their fsyncs overlap (and a log's share
// one with concurrent requests: Partition.Sync), and records failures.
func syncAll(pending []pendingAck) {
	var wg sync.WaitGroup
	for i := range pending {
		pa := &pending[i]
		if pa.syncTo < 0 {
			continue
		}
		wg.Go(func() {
			if err := pa.p.Sync(pa.syncTo); err != nil {
				pa.out.ErrorCode, pa.out.ErrorMessage = errorCode(err), errorMessage(err)
				pa.hw = false
			}
		})
	}
	wg.Wait()
}

// awaitAcks waits, until the deadline, for the high watermark of every
// pending acks=all partition (not failed already) to pass its batch, and
// records the outcome in each.
func (h *Handlers) awaitAcks(ctx context.Context, deadline time.Time, pending []pendingAck) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, pa := range pending {
		if !pa.hw {
			continue
		}
		if err := pa.p.WaitForHW(ctx, pa.next); err != nil {
			if ctx.Err() != nil {
				err = partition.ErrTimeout
			}
			pa.out.ErrorCode = errorCode(err)
		}
	}
}

// leaderHints gathers KIP-951's leader discovery hints of one response
// (Produce v10+, Fetch v16+) from one metadata image: each partition's
// current leader and epoch, and the endpoints of those leaders on the
// request's listener. Each lookup is O(1); each leader is listed once.
type leaderHints struct {
	img      *metadata.Image
	listener string
	leaders  []int32 // in first-seen order
	seen     map[int32]bool
}

func newLeaderHints(img *metadata.Image, listener string) *leaderHints {
	return &leaderHints{img: img, listener: listener, seen: map[int32]bool{}}
}

// needsLeaderHint reports whether a partition error tells the client its
// leader moved (Kafka fills the hints for these two).
func needsLeaderHint(code int16) bool {
	return code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code
}

// leader returns the partition's current leader and leader epoch (-1, -1
// when the image lacks the partition) and notes the leader for endpoints.
func (l *leaderHints) leader(topic string, idx int32) (id, epoch int32) {
	t, ok := l.img.Topic(topic)
	if !ok || idx < 0 || int(idx) >= len(t.Partitions) {
		return -1, -1
	}
	p := t.Partitions[idx]
	if p.Leader >= 0 && !l.seen[p.Leader] {
		l.seen[p.Leader] = true
		l.leaders = append(l.leaders, p.Leader)
	}
	return p.Leader, p.LeaderEpoch
}

// endpoints calls add with each noted leader that is registered, unfenced
// and listening on the listener (as Metadata lists brokers), with its rack
// (nil when unset).
func (l *leaderHints) endpoints(add func(id int32, ep metadata.Endpoint, rack *string)) {
	for _, id := range l.leaders {
		b, ok := l.img.Brokers[id]
		if !ok || b.Fenced {
			continue
		}
		ep, ok := b.Endpoint(l.listener)
		if !ok {
			continue
		}
		var rack *string
		if b.Rack != "" {
			r := b.Rack
			rack = &r
		}
		add(id, ep, rack)
	}
}
