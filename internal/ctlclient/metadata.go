package ctlclient

import (
	"context"
	"fmt"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// MetadataChunk is a piece of the committed metadata log fetched by an
// observer: either a snapshot or consecutive entries.
type MetadataChunk struct {
	Snapshot      []byte
	SnapshotIndex uint64
	Entries       []MetadataEntry
	// Leader is the active controller as the serving voter knows it.
	Leader int32
}

// MetadataEntry is one entry; Data is nil for Raft's own entries.
type MetadataEntry struct {
	Index uint64
	Data  []byte
}

// metadataTopic and snapshotHeader match the controller listener's
// metadata Fetch (handlers/01_fetch_metadata.go).
const (
	metadataTopic  = "__cluster_metadata"
	snapshotHeader = "fjord.snapshot"
)

// FetchMetadata long-polls the voter at addr for committed metadata
// entries from index from on; replicaID is the fetching node's id (the
// controller lists it as an observer).
func (c *Client) FetchMetadata(ctx context.Context, addr string, replicaID int32, from uint64, maxWaitMs int32) (MetadataChunk, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = replicaID, maxWaitMs, 1, 8<<20
	req.SessionEpoch = -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic = metadataTopic
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition, p.FetchOffset, p.PartitionMaxBytes = 0, int64(from), 8<<20
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := c.sendTo(ctx, addr, req)
	if err != nil {
		return MetadataChunk{}, err
	}
	return decodeMetadata(resp.(*kmsg.FetchResponse))
}

func decodeMetadata(resp *kmsg.FetchResponse) (MetadataChunk, error) {
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return MetadataChunk{}, fmt.Errorf("ctlclient: malformed metadata fetch response")
	}
	p := resp.Topics[0].Partitions[0]
	chunk := MetadataChunk{Leader: p.CurrentLeader.LeaderID}
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return chunk, err
	}
	if len(p.RecordBatches) == 0 {
		return chunk, nil
	}
	h, err := record.Validate(p.RecordBatches)
	if err != nil {
		return chunk, err
	}
	recs, err := record.Records(p.RecordBatches[:h.Size()])
	if err != nil {
		return chunk, err
	}
	for _, r := range recs {
		idx := uint64(h.BaseOffset) + uint64(r.OffsetDelta)
		if len(r.Headers) > 0 && r.Headers[0].Key == snapshotHeader {
			chunk.Snapshot, chunk.SnapshotIndex = r.Value, idx
			return chunk, nil
		}
		chunk.Entries = append(chunk.Entries, MetadataEntry{Index: idx, Data: r.Value})
	}
	return chunk, nil
}

// sendTo issues req to the node at addr.
func (c *Client) sendTo(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	cl, err := c.client(addr)
	if err != nil {
		return nil, err
	}
	brokers := cl.SeedBrokers()
	if len(brokers) == 0 {
		return nil, fmt.Errorf("ctlclient: no connection to %s", addr)
	}
	return brokers[0].Request(ctx, req)
}
