package handlers

// Fetch (key 1), versions 4-12, for consumers (ReplicaID -1).
//
// Reads each partition from its fetch offset up to the high watermark,
// within the partition's and the request's MaxBytes; the first batch of
// the first partition with data is returned whole even when larger
// (KIP-74). When fewer than MinBytes are available the request waits up
// to MaxWaitMillis, woken when any requested partition's high watermark
// moves (no polling). CurrentLeaderEpoch (v9+) is checked
// (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH). Batches are served as
// stored.
//
// Followers (ReplicaID >= 0) read up to the log end; their fetch offsets
// tell the leader their progress (which moves the HW and the ISR), and a
// LastFetchedEpoch that diverges from the leader's epoch cache is answered
// with DivergingEpoch and no records (KIP-320). Long polls wake on log-end
// and HW movement.
//
// Authorization (as Kafka), decided once per request: a follower fetch
// needs CLUSTER_ACTION on the cluster, else every partition gets
// TOPIC_AUTHORIZATION_FAILED; a consumer needs READ on each topic, else its
// partitions get TOPIC_AUTHORIZATION_FAILED, before the topic is looked up
// (its existence is not revealed). Topic ids (v13+) are not served, so no
// name is ever resolved from an id.
//
// Not implemented yet: incremental fetch sessions (KIP-227; every response
// carries session id 0, so clients send full requests), topic ids (v13+),
// and read_committed (there are no transactions, so LSO == HW).

import (
	"context"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) fetch(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.FetchRequest)
	denied := h.fetchDenied(req, r)
	resp, size, parts := h.readAll(r, denied)
	if size >= int(r.MinBytes) || r.MaxWaitMillis <= 0 || hasError(resp) || len(parts) == 0 {
		return respond(req, resp)
	}
	ch := make(chan kmsg.Response, 1)
	go func() {
		ch <- h.longPoll(ctx, r, parts, denied)
	}()
	return server.Reply{Wait: ch}
}

// fetchDenied returns the topics the request may not read.
func (h *Handlers) fetchDenied(req *server.Request, r *kmsg.FetchRequest) map[string]bool {
	topics := namesOf(r.Topics, func(t kmsg.FetchRequestTopic) string { return t.Topic })
	if r.ReplicaID < 0 {
		return h.deniedTopics(req, metadata.ACLOpRead, topics)
	}
	if !h.authorizeCluster(req, metadata.ACLOpClusterAction) {
		return allTopics(topics)
	}
	return nil
}

// longPoll waits until MinBytes are available or MaxWaitMillis passes,
// re-reading whenever a watched partition's high watermark moves.
func (h *Handlers) longPoll(ctx context.Context, r *kmsg.FetchRequest, parts []*partition.Partition, denied map[string]bool) kmsg.Response {
	w := partition.NewWatcher()
	for _, p := range parts {
		p.Watch(w)
	}
	defer func() {
		for _, p := range parts {
			p.Unwatch(w)
		}
	}()
	timer := time.NewTimer(time.Duration(r.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	for {
		select {
		case <-w.C:
			resp, size, _ := h.readAll(r, denied)
			if size >= int(r.MinBytes) || hasError(resp) {
				return resp
			}
		case <-timer.C:
			resp, _, _ := h.readAll(r, denied)
			return resp
		case <-ctx.Done():
			return nil
		}
	}
}

// readAll reads every requested partition once and returns the response,
// the bytes it carries, and the partitions read (for watching). Partitions
// of denied topics get TOPIC_AUTHORIZATION_FAILED.
func (h *Handlers) readAll(r *kmsg.FetchRequest, denied map[string]bool) (*kmsg.FetchResponse, int, []*partition.Partition) {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(r.Version)
	budget := int(r.MaxBytes)
	if budget <= 0 {
		budget = 1 << 30
	}
	total := 0
	var parts []*partition.Partition
	img := h.d.Image()
	for _, t := range r.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			if denied[t.Topic] {
				rt.Partitions = append(rt.Partitions, fetchError(tp.Partition, kerr.TopicAuthorizationFailed))
				continue
			}
			out, p := h.readOne(r.ReplicaID, t.Topic, hasPartition(img, t.Topic, tp.Partition), tp, min(int(tp.PartitionMaxBytes), budget-total), total == 0)
			total += len(out.RecordBatches)
			if p != nil {
				parts = append(parts, p)
			}
			rt.Partitions = append(rt.Partitions, out)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, total, parts
}

// fetchError is a partition's answer carrying only an error.
func fetchError(idx int32, err *kerr.Error) kmsg.FetchResponseTopicPartition {
	out := kmsg.NewFetchResponseTopicPartition()
	out.Partition = idx
	out.HighWatermark, out.LastStableOffset, out.LogStartOffset = -1, -1, -1
	out.RecordBatches = []byte{}
	if err != nil {
		out.ErrorCode = err.Code
	}
	return out
}

func (h *Handlers) readOne(replica int32, topic string, known bool, tp kmsg.FetchRequestTopicPartition, maxBytes int, first bool) (kmsg.FetchResponseTopicPartition, *partition.Partition) {
	if !known {
		return fetchError(tp.Partition, kerr.UnknownTopicOrPartition), nil
	}
	p := h.d.Partitions.Partition(topic, tp.Partition)
	if p == nil {
		return fetchError(tp.Partition, kerr.NotLeaderForPartition), nil
	}
	out := fetchError(tp.Partition, nil)
	if replica >= 0 {
		readForFollower(&out, p, replica, tp, maxBytes)
		return out, p
	}
	res, err := p.Fetch(tp.FetchOffset, max(maxBytes, 0), first, tp.CurrentLeaderEpoch)
	out.HighWatermark, out.LastStableOffset, out.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
	out.ErrorCode = errorCode(err)
	if res.Records != nil {
		out.RecordBatches = res.Records
	}
	return out, p
}

// readForFollower serves a follower's fetch (ReplicaID >= 0): it reads up
// to the log end, records the follower's progress on the leader, and
// reports where the follower's log diverges (DivergingEpoch, v12).
func readForFollower(out *kmsg.FetchResponseTopicPartition, p *partition.Partition, replica int32, tp kmsg.FetchRequestTopicPartition, maxBytes int) {
	res, err := p.ReadForFollower(partition.FollowerFetch{
		ReplicaID: replica, FetchOffset: tp.FetchOffset, LogStartOffset: tp.LogStartOffset,
		CurrentEpoch: tp.CurrentLeaderEpoch, LastFetchedEpoch: tp.LastFetchedEpoch, MaxBytes: max(maxBytes, 0),
	})
	out.HighWatermark, out.LastStableOffset, out.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
	out.ErrorCode = errorCode(err)
	if res.Diverging != nil {
		out.DivergingEpoch.Epoch, out.DivergingEpoch.EndOffset = res.Diverging.Epoch, res.Diverging.EndOffset
	}
	if res.Records != nil {
		out.RecordBatches = res.Records
	}
}

// hasError reports whether any partition carries an error or a diverging
// epoch: the fetcher must hear about those at once.
func hasError(resp *kmsg.FetchResponse) bool {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 || p.DivergingEpoch.Epoch >= 0 {
				return true
			}
		}
	}
	return false
}
