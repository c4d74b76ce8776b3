package handlers

// Fetch (key 1), versions 4-16, for consumers (replica id -1).
//
// Reads each partition from its fetch offset up to the high watermark,
// within the partition's and the request's MaxBytes; the first batch of
// the first partition with data is returned whole even when larger
// (KIP-74). When fewer than MinBytes are available the request waits up
// to MaxWaitMillis, woken when any requested partition's high watermark
// moves (no polling). CurrentLeaderEpoch (v9+) is checked
// (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH). Batches are served as
// stored, sent from the segment files (server.FetchResponse).
//
// Versions: v13+ name topics by id (KIP-516), in the request and the
// response; an id the metadata image does not know gets UNKNOWN_TOPIC_ID
// on each of its partitions. v14 adds only an error Fjord never returns
// (OFFSET_MOVED_TO_TIERED_STORAGE). v15 (KIP-903) carries the replica id
// in ReplicaState; its ReplicaEpoch (the follower's broker epoch) is not
// checked, as when a follower sends -1 — the ISR rules check
// registrations against the metadata image. v16 (KIP-951): a partition
// answering NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH carries
// CurrentLeader (leader id and epoch from the current metadata image) and
// the response's Brokers (NodeEndpoints) lists those leaders' endpoints on
// the request's listener (see leaderHints in 00_produce.go).
//
// Followers (replica id >= 0) read up to the log end; their fetch offsets
// tell the leader their progress (which moves the HW and the ISR), and a
// LastFetchedEpoch that diverges from the leader's epoch cache is answered
// with DivergingEpoch and no records (KIP-320). Long polls wake on log-end
// and HW movement.
//
// Authorization (as Kafka), decided once per request: a follower fetch
// needs CLUSTER_ACTION on the cluster, else every partition gets
// TOPIC_AUTHORIZATION_FAILED; a consumer needs READ on each topic, else its
// partitions get TOPIC_AUTHORIZATION_FAILED, before the topic is looked up
// (its existence is not revealed). A topic id is resolved before READ is
// checked (an unknown id is UNKNOWN_TOPIC_ID): ids reveal no names.
//
// Incremental fetch sessions (KIP-227, v7+) are in 01_fetch_session.go;
// this file answers sessionless requests (SessionEpoch -1, or a full
// request the session cache has no slot for).
//
// IsolationLevel (v4+): read_uncommitted consumers read up to the high
// watermark; read_committed ones (1) up to the last stable offset, and
// each partition lists the aborted transactions among the batches returned
// (AbortedTransactions: null for read_uncommitted, a possibly empty list
// for read_committed), as Kafka. LastStableOffset is the partition's LSO.
// The long poll wakes when the high watermark moves, which is when the
// LSO moves too. Followers ignore the isolation level.
//
// Client quotas (consumer_byte_rate, request_percentage; not for
// followers): the registry serves Fetch through fetchWithQuota
// (quotas.go), which sets ThrottleMillis.

import (
	"context"
	"slices"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) fetch(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.FetchRequest)
	switch sr := h.sessions.resolve(r, h.d.Now()); {
	case sr.err != nil:
		return respond(req, sessionError(r, sr.err))
	case sr.s != nil:
		return h.fetchSession(ctx, req, r, sr)
	}
	denied := h.fetchDenied(req, r)
	resp, size, parts := h.readAll(req.Listener, r, denied)
	if size >= int(r.MinBytes) || r.MaxWaitMillis <= 0 || hasError(resp.FetchResponse) || len(parts) == 0 {
		return respond(req, resp)
	}
	deadline := time.Now().Add(time.Duration(r.MaxWaitMillis) * time.Millisecond)
	return server.Reply{Later: func() kmsg.Response {
		return h.longPoll(ctx, req.Listener, r, parts, denied, deadline)
	}}
}

// fetchReplica is the fetching replica's id: -1 for consumers.
func fetchReplica(r *kmsg.FetchRequest) int32 {
	if r.Version >= 15 {
		return r.ReplicaState.ID
	}
	return r.ReplicaID
}

// fetchTopicName is a requested topic's name: as given before v13, else
// the name of its id in img (false when img has no such id).
func fetchTopicName(img *metadata.Image, version int16, t *kmsg.FetchRequestTopic) (string, bool) {
	if version < 13 {
		return t.Topic, true
	}
	ti, ok := img.Topics[metadata.UUID(t.TopicID)]
	if !ok {
		return "", false
	}
	return ti.Name, true
}

// fetchDenial is what a Fetch may not read: everything (a follower fetch
// without CLUSTER_ACTION) or the named topics.
type fetchDenial struct {
	all    bool
	topics map[string]bool
}

// fetchDenied decides the request's authorization.
func (h *Handlers) fetchDenied(req *server.Request, r *kmsg.FetchRequest) fetchDenial {
	if fetchReplica(r) >= 0 {
		return fetchDenial{all: !h.authorizeCluster(req, metadata.ACLOpClusterAction)}
	}
	img := h.d.Image()
	names := func(yield func(string) bool) {
		for i := range r.Topics {
			if n, ok := fetchTopicName(img, r.Version, &r.Topics[i]); ok && !yield(n) {
				return
			}
		}
	}
	return fetchDenial{topics: h.deniedTopics(req, metadata.ACLOpRead, names)}
}

// beforeLongPollWatch is a test hook: it runs between a fetch's first read
// and the registration of its long poll's watcher.
var beforeLongPollWatch = func() {}

// longPoll waits until MinBytes are available or the deadline passes,
// re-reading whenever a watched partition's high watermark moves.
func (h *Handlers) longPoll(ctx context.Context, listener string, r *kmsg.FetchRequest, parts []*partition.Partition, denied fetchDenial, deadline time.Time) kmsg.Response {
	w := partition.NewWatcher()
	beforeLongPollWatch()
	for _, p := range parts {
		p.Watch(w)
	}
	defer func() {
		for _, p := range parts {
			p.Unwatch(w)
		}
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	// Read once more now that the watcher is registered: an append
	// between the first read and the registration woke nobody, and an
	// acks=all producer waiting on this follower would append nothing
	// more until the long poll timed out.
	if resp, size, _ := h.readAll(listener, r, denied); size >= int(r.MinBytes) || hasError(resp.FetchResponse) {
		return resp
	}
	for {
		select {
		case <-w.C:
			resp, size, _ := h.readAll(listener, r, denied)
			if size >= int(r.MinBytes) || hasError(resp.FetchResponse) {
				return resp
			}
		case <-timer.C:
			resp, _, _ := h.readAll(listener, r, denied)
			return resp
		case <-ctx.Done():
			return nil
		}
	}
}

// readAll reads every requested partition once and returns the response,
// the bytes it carries, and the partitions read (for watching). The
// records stay in their files (server.FetchResponse): a read costs no copy,
// so a long poll's re-reads are cheap.
func (h *Handlers) readAll(listener string, r *kmsg.FetchRequest, denied fetchDenial) (*server.FetchResponse, int, []*partition.Partition) {
	resp := &server.FetchResponse{FetchResponse: kmsg.NewPtrFetchResponse()}
	resp.SetVersion(r.Version)
	budget := int(r.MaxBytes)
	if budget <= 0 {
		budget = 1 << 30
	}
	total := 0
	var parts []*partition.Partition
	img := h.d.Image()
	hints := fetchLeaderHints(img, listener, r.Version)
	for i := range r.Topics {
		t := &r.Topics[i]
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		name, known := fetchTopicName(img, r.Version, t)
		for _, tp := range t.Partitions {
			if err := fetchTopicError(denied, name, known); err != nil {
				rt.Partitions = append(rt.Partitions, fetchError(tp.Partition, err))
				continue
			}
			out, rec, p := h.readOne(fetchReader{fetchReplica(r), readCommitted(r)}, name, hasPartition(img, name, tp.Partition), tp, min(int(tp.PartitionMaxBytes), budget-total), total == 0)
			if rec.Len > 0 {
				resp.Files = append(resp.Files, server.PartitionFile{Topic: len(resp.Topics), Partition: len(rt.Partitions), FileRecords: rec})
				total += rec.Len
			}
			if p != nil {
				parts = append(parts, p)
			}
			hints.fetchPartition(name, &out)
			rt.Partitions = append(rt.Partitions, out)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	hints.fetchBrokers(resp.FetchResponse)
	return resp, total, parts
}

// fetchTopicError is the error of every partition of a requested topic
// before it is read, or nil: TOPIC_AUTHORIZATION_FAILED for a follower
// without CLUSTER_ACTION, UNKNOWN_TOPIC_ID for an unknown id, then
// TOPIC_AUTHORIZATION_FAILED for a topic the consumer may not read.
func fetchTopicError(denied fetchDenial, name string, known bool) *kerr.Error {
	switch {
	case denied.all:
		return kerr.TopicAuthorizationFailed
	case !known:
		return kerr.UnknownTopicID
	case denied.topics[name]:
		return kerr.TopicAuthorizationFailed
	}
	return nil
}

// fetchLeaderHints returns the KIP-951 hints of a Fetch response, nil
// before v16.
func fetchLeaderHints(img *metadata.Image, listener string, version int16) *leaderHints {
	if version < 16 {
		return nil
	}
	return newLeaderHints(img, listener)
}

// fetchPartition fills a partition's CurrentLeader when it answers
// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH.
func (l *leaderHints) fetchPartition(topic string, out *kmsg.FetchResponseTopicPartition) {
	if l != nil && needsLeaderHint(out.ErrorCode) {
		out.CurrentLeader.LeaderID, out.CurrentLeader.LeaderEpoch = l.leader(topic, out.Partition)
	}
}

// fetchBrokers lists the hinted leaders' endpoints in resp.Brokers.
func (l *leaderHints) fetchBrokers(resp *kmsg.FetchResponse) {
	if l == nil {
		return
	}
	l.endpoints(func(id int32, ep metadata.Endpoint, rack *string) {
		resp.Brokers = append(resp.Brokers, kmsg.FetchResponseBroker{NodeID: id, Host: ep.Host, Port: ep.Port, Rack: rack})
	})
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

// fetchReader is who reads: a replica id (-1 for consumers) and, for a
// consumer, whether it reads committed records only.
type fetchReader struct {
	replica       int32
	readCommitted bool
}

// readCommitted reports whether a Fetch asks for read_committed (v4+).
func readCommitted(r *kmsg.FetchRequest) bool {
	return r.Version >= 4 && r.IsolationLevel == 1
}

// readOne reads one partition: its answer without records, and where its
// records are.
func (h *Handlers) readOne(by fetchReader, topic string, known bool, tp kmsg.FetchRequestTopicPartition, maxBytes int, first bool) (kmsg.FetchResponseTopicPartition, server.FileRecords, *partition.Partition) {
	if !known {
		return fetchError(tp.Partition, kerr.UnknownTopicOrPartition), server.FileRecords{}, nil
	}
	p := h.d.Partitions.Partition(topic, tp.Partition)
	if p == nil {
		return fetchError(tp.Partition, kerr.NotLeaderForPartition), server.FileRecords{}, nil
	}
	out := fetchError(tp.Partition, nil)
	if by.replica >= 0 {
		hold := h.holdFollower(topic, p, by.replica, tp.Partition)
		rec := readForFollower(&out, p, by.replica, tp, maxBytes, hold)
		if h.d.Throttle != nil && rec.Len > 0 {
			h.d.Throttle.Sent(topic, tp.Partition, int(rec.Len))
		}
		return out, rec, p
	}
	res, err := p.Fetch(tp.FetchOffset, max(maxBytes, 0), first, tp.CurrentLeaderEpoch, by.readCommitted)
	out.HighWatermark, out.LastStableOffset, out.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
	out.ErrorCode = errorCode(err)
	if err == nil {
		out.AbortedTransactions = abortedTransactions(res)
	}
	return out, server.FileRecords{File: res.Records.File, Pos: res.Records.Pos, Len: res.Records.Size, Data: res.Records.Data}, p
}

// abortedTransactions is a partition's AbortedTransactions: nil (null on
// the wire) for a read_uncommitted read, else the list, possibly empty.
func abortedTransactions(res partition.FetchResult) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	if res.AbortedTxns == nil {
		return nil
	}
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(res.AbortedTxns))
	for i, t := range res.AbortedTxns {
		out[i] = kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		out[i].ProducerID, out[i].FirstOffset = t.ProducerID, t.FirstOffset
	}
	return out
}

// readForFollower serves a follower's fetch (ReplicaID >= 0): it reads up
// to the log end, records the follower's progress on the leader, and
// reports where the follower's log diverges (DivergingEpoch, v12).
// A held (throttled) partition answers without records.
func readForFollower(out *kmsg.FetchResponseTopicPartition, p *partition.Partition, replica int32, tp kmsg.FetchRequestTopicPartition, maxBytes int, hold bool) server.FileRecords {
	res, err := p.ReadForFollower(partition.FollowerFetch{
		ReplicaID: replica, FetchOffset: tp.FetchOffset, LogStartOffset: tp.LogStartOffset,
		CurrentEpoch: tp.CurrentLeaderEpoch, LastFetchedEpoch: tp.LastFetchedEpoch, MaxBytes: max(maxBytes, 0),
		Throttled: hold,
	})
	out.HighWatermark, out.LastStableOffset, out.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
	out.ErrorCode = errorCode(err)
	if res.Diverging != nil {
		out.DivergingEpoch.Epoch, out.DivergingEpoch.EndOffset = res.Diverging.Epoch, res.Diverging.EndOffset
	}
	return server.FileRecords{File: res.Records.File, Pos: res.Records.Pos, Len: res.Records.Size, Data: res.Records.Data}
}

// holdFollower reports whether the replication throttle holds back a
// follower's fetch of the partition (Kafka's shouldLeaderThrottle: only
// replicas outside the ISR are held).
func (h *Handlers) holdFollower(topic string, p *partition.Partition, replica, idx int32) bool {
	if h.d.Throttle == nil || !h.d.Throttle.Active() {
		return false
	}
	isr, _ := p.ISRState()
	return h.d.Throttle.Hold(topic, idx, replica, slices.Contains(isr, replica))
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
