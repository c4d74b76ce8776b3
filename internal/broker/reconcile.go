package broker

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/replication"
	"github.com/fjordlog/fjord/internal/storage"
)

// reconcile is called on the metadata reconciler goroutine with a new
// image and the delta (possibly several entries' merged) since the last
// one reconciled, before the image is published: a client that sees a
// topic in Metadata can produce to it.
func (b *Broker) reconcile(img *metadata.Image, delta *metadata.Delta) {
	b.applyDynamicConfig(img) // dynconfig.go
	for id, t := range delta.DeletedTopics {
		b.deleteTopic(id, t)
	}
	b.reconcilePartitions(img, delta.ChangedPartitions)
	for key := range delta.ChangedConfigs {
		if key.Type == metadata.ResourceTopic {
			b.reconfigure(img, key.Name)
		}
	}
}

// reconcileWorkers bounds how many partitions are reconciled at once: a
// leadership change writes (and fsyncs) the partition's epoch checkpoint,
// so a failover that moves hundreds of leaderships to this node goes as
// fast as the disk takes concurrent syncs, not one after the other.
const reconcileWorkers = 8

// reconcilePartitions reconciles the changed partitions, several at once
// (each partition is reconciled once, by one worker).
func (b *Broker) reconcilePartitions(img *metadata.Image, changed map[metadata.UUID]map[int32]bool) {
	type item struct {
		t *metadata.TopicImage
		p int32
	}
	work := make(chan item)
	var wg sync.WaitGroup
	for range reconcileWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				b.reconcilePartition(img, it.t, it.p)
			}
		}()
	}
	for id, parts := range changed {
		t := img.Topics[id]
		if t == nil { // created and deleted again within a merged delta
			continue
		}
		for p := range parts {
			work <- item{t, p}
		}
	}
	close(work)
	wg.Wait()
}

// reconcilePartition creates or updates the local replica of one partition
// when this node is among its replicas, and removes it when it is not.
func (b *Broker) reconcilePartition(img *metadata.Image, t *metadata.TopicImage, idx int32) {
	tp := storage.TopicPartition{Topic: t.Name, Partition: idx}
	st := t.Partitions[idx]
	if !slices.Contains(st.Replicas, b.nodeID) {
		b.removeReplica(tp)
		return
	}
	if st.Leader == b.nodeID && !b.registeredIn(img) {
		// The image still names an earlier incarnation of this node as
		// leader (replayed at startup). Leading on that word could serve a
		// log that lost its unflushed tail; wait until the controller has
		// registered this incarnation, which moves or confirms leadership
		// with a new leader epoch.
		st.Leader = -1
	}
	p := b.Partition(t.Name, idx)
	if p == nil {
		var err error
		if p, err = b.createReplica(img, t, tp); err != nil {
			b.logger.Error("cannot open replica; partition offline here", "topic", t.Name, "partition", idx, "err", err)
			return
		}
	}
	p.SetState(partition.State{
		Leader: st.Leader, LeaderEpoch: st.LeaderEpoch, PartitionEpoch: st.PartitionEpoch,
		Replicas: st.Replicas, ISR: st.ISR,
	})
	b.assignFetcher(tp, st)
	switch t.Name {
	case handlers.OffsetsTopic:
		b.groups.OnPartition(idx, p, st.Leader, st.LeaderEpoch)
	case handlers.TransactionTopic:
		b.txns.OnPartition(idx, p, st.Leader, st.LeaderEpoch)
	}
}

// registeredIn reports whether img holds this process's own, unfenced
// registration.
func (b *Broker) registeredIn(img *metadata.Image) bool {
	br, ok := img.Brokers[b.nodeID]
	return ok && !br.Fenced && br.Incarnation == b.incarnation.String()
}

// assignFetcher makes this node fetch the partition from its leader when
// it follows, and stop fetching when it leads or there is no leader.
func (b *Broker) assignFetcher(tp storage.TopicPartition, st metadata.PartitionImage) {
	rtp := replication.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
	if st.Leader < 0 || st.Leader == b.nodeID {
		b.fetchers.Remove(rtp)
		return
	}
	b.fetchers.Assign(rtp, st.Leader, st.LeaderEpoch)
}

func (b *Broker) createReplica(img *metadata.Image, t *metadata.TopicImage, tp storage.TopicPartition) (*partition.Partition, error) {
	pc := b.partitionConfig(img, t.Name)
	log, err := b.logs.Load(tp, t.ID, pc.Storage)
	if err != nil {
		return nil, err
	}
	p := partition.New(partition.Options{
		Topic: t.Name, TopicID: t.ID, Index: tp.Partition, LocalID: b.nodeID, Log: log,
		HW: b.logs.HighWatermark(tp), Config: pc, Now: b.now, Logger: b.logger,
		AlterISR: b.sendAlter, Eligible: b.eligible,
	})
	b.parts.Store(tp, p)
	return p, nil
}

func (b *Broker) removeReplica(tp storage.TopicPartition) {
	v, ok := b.parts.LoadAndDelete(tp)
	if !ok {
		return
	}
	b.fetchers.Remove(replication.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
	switch tp.Topic {
	case handlers.OffsetsTopic:
		b.groups.OnPartition(tp.Partition, nil, -1, -1)
	case handlers.TransactionTopic:
		b.txns.OnPartition(tp.Partition, nil, -1, -1)
	}
	v.(*partition.Partition).SetState(partition.State{Leader: -1, LeaderEpoch: -1})
	if err := b.logs.Remove(tp); err != nil {
		b.logger.Error("cannot delete replica log", "topic", tp.Topic, "partition", tp.Partition, "err", err)
	}
}

func (b *Broker) deleteTopic(_ metadata.UUID, t *metadata.TopicImage) {
	for i := range t.Partitions {
		b.removeReplica(storage.TopicPartition{Topic: t.Name, Partition: int32(i)})
	}
	b.logger.Info("deleted topic", "topic", t.Name)
}

// reconfigure applies a topic's new effective config to its local replicas.
func (b *Broker) reconfigure(img *metadata.Image, topic string) {
	t, ok := img.Topic(topic)
	if !ok {
		return
	}
	pc := b.partitionConfig(img, topic)
	for i := range t.Partitions {
		if p := b.Partition(topic, int32(i)); p != nil {
			p.SetConfig(pc)
		}
	}
}

// partitionConfig extracts what the data path needs from a topic's
// effective config.
func (b *Broker) partitionConfig(img *metadata.Image, topic string) partition.Config {
	t := config.NewTopic(img.TopicConfig(topic), b.cfg)
	return partition.Config{
		ReplicaLagTimeMax:    time.Duration(b.cfg.Int("replica.lag.time.max.ms")) * time.Millisecond,
		ProducerIDExpiration: time.Duration(b.cfg.Int("producer.id.expiration.ms")) * time.Millisecond,
		Recompress:           t.String("compression.type") != "producer",
		Compression:          codecOf(t.String("compression.type")),
		MinInsyncReplicas:    int(t.Int("min.insync.replicas")),
		MaxMessageBytes:      int(t.Int("max.message.bytes")),
		LogAppendTime:        t.String("message.timestamp.type") == "LogAppendTime",
		Storage: storage.Config{
			Compact:                cleanupHas(t, "compact"),
			Delete:                 cleanupHas(t, "delete"),
			DeleteRetentionMs:      t.Int("delete.retention.ms"),
			MinCompactionLagMs:     t.Int("min.compaction.lag.ms"),
			MinCleanableDirtyRatio: t.Float("min.cleanable.dirty.ratio"),
			SegmentBytes:           t.Int("segment.bytes"),
			SegmentMs:              t.Int("segment.ms"),
			RetentionMs:            t.Int("retention.ms"),
			RetentionBytes:         t.Int("retention.bytes"),
			IndexIntervalBytes:     t.Int("index.interval.bytes"),
			SegmentIndexBytes:      t.Int("segment.index.bytes"),
			FlushMessages:          t.Int("flush.messages"),
			FlushMs:                t.Int("flush.ms"),
		},
	}
}

// cleanupHas reports whether the topic's cleanup.policy lists policy.
func cleanupHas(t config.Topic, policy string) bool {
	for _, p := range strings.Split(t.String("cleanup.policy"), ",") {
		if strings.TrimSpace(p) == policy {
			return true
		}
	}
	return false
}

// codecOf maps compression.type to a codec id (uncompressed for
// "producer", which never recompresses).
func codecOf(name string) int8 {
	switch name {
	case "uncompressed":
		return record.CompressionNone
	case "gzip":
		return record.CompressionGzip
	case "snappy":
		return record.CompressionSnappy
	case "lz4":
		return record.CompressionLZ4
	case "zstd":
		return record.CompressionZstd
	}
	return record.CompressionNone
}
