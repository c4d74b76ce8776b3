package handlers

// WriteTxnMarkers (key 27), version 1 (v0 was removed in Kafka 4.0).
//
// Sent by transaction coordinators to partition leaders: for each marker,
// every listed partition led here gets one control batch (COMMIT or
// ABORT, the producer's id and epoch, the coordinator epoch), appended
// with acks=all semantics and answered once the high watermark passes it
// or after request.timeout.ms-like bound (REQUEST_TIMED_OUT, retried by
// the coordinator). A marker with an older producer epoch than the
// partition has seen gets INVALID_PRODUCER_EPOCH, an older coordinator
// epoch TRANSACTION_COORDINATOR_FENCED. Partitions of __consumer_offsets
// go to the group coordinator, which writes the marker itself and
// commits or drops the transaction's pending offsets. Unknown partitions
// get UNKNOWN_TOPIC_OR_PARTITION, those led elsewhere
// NOT_LEADER_OR_FOLLOWER.
//
// Authorization (as Kafka): ALTER or CLUSTER_ACTION on the cluster (ALTER
// lets `fjord transactions abort` end a hanging transaction), else every
// partition gets CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// markerTimeout bounds the wait for one marker's replication (Kafka's
// request.timeout.ms default).
const markerTimeout = 30 * time.Second

func (h *Handlers) writeTxnMarkers(ctx context.Context, req *server.Request) server.Reply {
	r := cloneRequest(req.Body).(*kmsg.WriteTxnMarkersRequest)
	allowed := h.authorizeCluster(req, metadata.ACLOpAlter) || h.authorizeCluster(req, metadata.ACLOpClusterAction)
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrWriteTxnMarkersResponse()
		resp.SetVersion(r.Version)
		var wg sync.WaitGroup
		for _, m := range r.Markers {
			resp.Markers = append(resp.Markers, h.markerResults(ctx, &wg, m, allowed))
		}
		wg.Wait()
		return resp
	})
}

// markerResults starts writing one marker to each of its partitions (in
// wg) and returns the result skeleton the writers fill.
func (h *Handlers) markerResults(ctx context.Context, wg *sync.WaitGroup, m kmsg.WriteTxnMarkersRequestMarker, allowed bool) kmsg.WriteTxnMarkersResponseMarker {
	marker := record.Marker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed, CoordinatorEpoch: m.CoordinatorEpoch}
	out := kmsg.NewWriteTxnMarkersResponseMarker()
	out.ProducerID = m.ProducerID
	out.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
	for i, t := range m.Topics {
		rt := &out.Topics[i]
		*rt = kmsg.NewWriteTxnMarkersResponseMarkerTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(t.Partitions))
		for j, idx := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
			rp.Partition = idx
			if !allowed {
				rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				continue
			}
			wg.Go(func() { rp.ErrorCode = h.writeMarker(ctx, t.Topic, idx, marker) })
		}
	}
	return out
}

// writeMarker writes m to one partition and waits until it is durable.
func (h *Handlers) writeMarker(ctx context.Context, topic string, idx int32, m record.Marker) int16 {
	ctx, cancel := context.WithTimeout(ctx, markerTimeout)
	defer cancel()
	switch {
	case !hasPartition(h.d.Image(), topic, idx):
		return kerr.UnknownTopicOrPartition.Code
	case topic == OffsetsTopic:
		return h.groupMarker(ctx, idx, m)
	}
	p := h.d.Partitions.Partition(topic, idx)
	if p == nil {
		return kerr.NotLeaderForPartition.Code
	}
	res, err := p.AppendMarker(m)
	if err == nil && res.SyncTo >= 0 {
		err = p.Sync(res.SyncTo)
	}
	if err == nil {
		err = p.WaitForHW(ctx, res.LastOffset+1)
	}
	if err != nil && ctx.Err() != nil {
		return kerr.RequestTimedOut.Code
	}
	return errorCode(err)
}

// groupMarker hands a marker for a __consumer_offsets partition to its
// group coordinator; coordinator errors become NOT_LEADER_OR_FOLLOWER so
// that the transaction coordinator retries (as Kafka).
func (h *Handlers) groupMarker(ctx context.Context, idx int32, m record.Marker) int16 {
	if h.d.Groups == nil {
		return kerr.NotLeaderForPartition.Code
	}
	code, err := h.d.Groups.CompleteTxn(ctx, idx, m)
	switch {
	case err != nil && ctx.Err() != nil:
		return kerr.RequestTimedOut.Code
	case err != nil:
		return kerr.NotLeaderForPartition.Code
	}
	return code
}
