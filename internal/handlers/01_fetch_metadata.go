package handlers

// Fetch (key 1), version 12, on the controller listener: metadata log
// replication to observers.
//
// Broker-only nodes are not members of the Raft quorum; like Kafka's
// brokers they fetch the committed metadata log from a controller. The
// only topic served is "__cluster_metadata", partition 0. The response
// carries one record batch whose records are consecutive log entries
// (offset = entry index, value = entry data, null for Raft's own entries);
// when the requested offset was compacted away, it carries instead one
// record holding the latest snapshot, marked with a "fjord.snapshot"
// header, at the snapshot's index. HighWatermark is the next index to
// commit; CurrentLeader names the active controller. The request long
// polls up to MaxWaitMillis for new entries.
//
// A fetch carrying the observer's node id as ReplicaID is recorded for
// DescribeQuorum's Observers.
//
// Authorization (as Kafka's controller): CLUSTER_ACTION on the cluster,
// else CLUSTER_AUTHORIZATION_FAILED at the top level and on every
// requested partition, with no records.

import (
	"context"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// MetadataTopic is the metadata log's name on the wire.
const MetadataTopic = "__cluster_metadata"

// SnapshotHeader marks a record that holds a metadata snapshot.
const SnapshotHeader = "fjord.snapshot"

// MetadataLog is the committed metadata log as a controller serves it.
type MetadataLog interface {
	// ReadMetadata returns committed entries from index from on (at most
	// about maxBytes), waiting up to wait for one to exist, or the latest
	// snapshot when from was compacted away.
	ReadMetadata(ctx context.Context, from uint64, maxBytes int, wait time.Duration) (MetadataChunk, error)
	// Applied is the last committed and applied index.
	Applied() uint64
}

// MetadataChunk is a piece of the metadata log.
type MetadataChunk struct {
	Snapshot      []byte
	SnapshotIndex uint64
	Entries       []MetadataEntry
}

// MetadataEntry is one committed entry; Data is nil for Raft's own entries.
type MetadataEntry struct {
	Index uint64
	Data  []byte
}

func (h *Handlers) fetchMetadata(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.FetchRequest)
	if !h.authorizeCluster(req, metadata.ACLOpClusterAction) {
		return respond(req, fetchRefused(r, kerr.ClusterAuthorizationFailed))
	}
	from, ok := metadataFetchOffset(r)
	if !ok || h.d.MetadataLog == nil {
		return server.Reply{Close: true}
	}
	if r.ReplicaID >= 0 && h.d.Observers != nil {
		h.d.Observers.record(r.ReplicaID, int64(from), int64(h.d.MetadataLog.Applied())+1, h.d.Now())
	}
	ch := make(chan kmsg.Response, 1)
	go func() {
		ch <- h.readMetadata(ctx, r, from)
	}()
	return server.Reply{Wait: ch}
}

// fetchRefused is Kafka's error response to a whole Fetch (before v13):
// the error at the top level and on every requested partition.
func fetchRefused(r *kmsg.FetchRequest, err *kerr.Error) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.ErrorCode, resp.SessionID = err.Code, r.SessionID
	for _, t := range r.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, fetchError(p.Partition, err))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// metadataFetchOffset extracts the fetch offset of __cluster_metadata-0,
// the only partition a controller serves.
func metadataFetchOffset(r *kmsg.FetchRequest) (uint64, bool) {
	if len(r.Topics) != 1 || r.Topics[0].Topic != MetadataTopic || len(r.Topics[0].Partitions) != 1 {
		return 0, false
	}
	p := r.Topics[0].Partitions[0]
	return uint64(max(p.FetchOffset, 1)), p.Partition == 0
}

func (h *Handlers) readMetadata(ctx context.Context, r *kmsg.FetchRequest, from uint64) kmsg.Response {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(r.Version)
	t := kmsg.NewFetchResponseTopic()
	t.Topic = MetadataTopic
	p := kmsg.NewFetchResponseTopicPartition()
	chunk, err := h.d.MetadataLog.ReadMetadata(ctx, from, int(max(r.MaxBytes, 1<<20)), time.Duration(r.MaxWaitMillis)*time.Millisecond)
	if err == nil {
		p.RecordBatches, err = encodeMetadata(chunk)
	}
	p.ErrorCode = errorCode(err)
	if err != nil && p.ErrorCode == kerr.UnknownServerError.Code {
		p.ErrorCode = kerr.NotLeaderForPartition.Code // retriable: try another controller
	}
	p.HighWatermark = int64(h.d.MetadataLog.Applied()) + 1
	p.CurrentLeader.LeaderID = h.controllerID()
	t.Partitions = append(t.Partitions, p)
	resp.Topics = append(resp.Topics, t)
	return resp
}

// encodeMetadata turns a chunk into one record batch.
func encodeMetadata(c MetadataChunk) ([]byte, error) {
	if c.Snapshot != nil {
		b, err := record.BuildBatch(record.CompressionNone, 0, []record.Record{{
			Value: c.Snapshot, Headers: []record.RecordHeader{{Key: SnapshotHeader, Value: []byte("1")}},
		}})
		if err == nil {
			record.SetBaseOffset(b, int64(c.SnapshotIndex))
		}
		return b, err
	}
	if len(c.Entries) == 0 {
		return []byte{}, nil
	}
	recs := make([]record.Record, len(c.Entries))
	for i, e := range c.Entries {
		recs[i].Value = e.Data
	}
	b, err := record.BuildBatch(record.CompressionNone, 0, recs)
	if err == nil {
		record.SetBaseOffset(b, int64(c.Entries[0].Index))
	}
	return b, err
}
