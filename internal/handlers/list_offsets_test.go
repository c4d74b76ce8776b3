package handlers

import (
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// legacyNode is leadersNode with one batch per segment: local-0 holds
// offsets 0, 1, 2 with timestamps 1000, 2000, 3000, each in its own
// segment; the clock stands at now. With isr [1] the high watermark
// follows the log end; with [1, 2] it stays at 0.
func legacyNode(t *testing.T, now time.Time, isr ...int32) *Handlers {
	t.Helper()
	discard := slog.New(slog.DiscardHandler)
	cfg := storage.DefaultConfig()
	cfg.SegmentBytes = 14 // every batch rolls a new segment
	l, err := storage.Open(filepath.Join(t.TempDir(), "local-0"), storage.Options{Config: cfg, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := partition.New(partition.Options{Topic: "local", TopicID: localID, LocalID: 1, Log: l, Logger: discard,
		Config: partition.Config{MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, ReplicaLagTimeMax: time.Minute, Storage: cfg}})
	p.SetState(partition.State{Leader: 1, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: isr})
	for _, ts := range []int64{1000, 2000, 3000} {
		b, err := record.BuildBatch(record.CompressionNone, ts, []record.Record{{Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AppendAsLeader(b, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.Segments()); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	img := leadersImage(t)
	return New(Deps{NodeID: 1, Image: func() *metadata.Image { return img }, Partitions: onePartition{"local", p},
		Logger: discard, Now: func() time.Time { return now }})
}

// listV0 is a v0 ListOffsets of one partition.
func listV0(replica int32, topic string, idx int32, ts int64, maxNum int32) *kmsg.ListOffsetsRequest {
	r := versioned(kmsg.NewPtrListOffsetsRequest(), 0)
	r.ReplicaID = replica
	tp := kmsg.NewListOffsetsRequestTopicPartition()
	tp.Partition, tp.Timestamp, tp.MaxNumOffsets = idx, ts, maxNum
	r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{tp}}}
	return r
}

// ListOffsets v0 answers Kafka's legacy offset lists: segment base
// offsets and the end offset, descending, at most MaxNumOffsets.
func TestListOffsetsV0(t *testing.T) {
	now := time.UnixMilli(10_000)
	h := legacyNode(t, now, 1)
	if !h.Supported(int16(kmsg.ListOffsets), 0) {
		t.Fatal("v0 not advertised")
	}
	for _, tc := range []struct {
		name   string
		ts     int64
		maxNum int32
		want   []int64
	}{
		{"latest", partition.Latest, 1, []int64{3}},
		{"latest, many", partition.Latest, 10, []int64{3, 2, 1, 0}},
		{"latest, two", partition.Latest, 2, []int64{3, 2}},
		{"earliest", partition.Earliest, 1, []int64{0}},
		{"earliest, many", partition.Earliest, 10, []int64{0}},
		{"before every segment", 999, 10, []int64{}},
		{"at the first segment's time", 1000, 10, []int64{0}},
		{"between segments", 2500, 10, []int64{1, 0}},
		{"between segments, one", 2500, 1, []int64{1}},
		{"after the last record", 9_999, 10, []int64{2, 1, 0}},
		{"at now", 10_000, 10, []int64{3, 2, 1, 0}},
		{"none asked", partition.Latest, 0, []int64{}},
	} {
		got := serve(t, h, listV0(-1, "local", 0, tc.ts, tc.maxNum)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if got.ErrorCode != 0 || !slices.Equal(got.OldStyleOffsets, tc.want) {
			t.Errorf("%s: error %d offsets %v, want %v", tc.name, got.ErrorCode, got.OldStyleOffsets, tc.want)
		}
	}
}

// v0 errors: an unknown partition, and a partition led elsewhere.
func TestListOffsetsV0Errors(t *testing.T) {
	h := legacyNode(t, time.UnixMilli(10_000), 1)
	for _, tc := range []struct {
		topic string
		idx   int32
		want  *kerr.Error
	}{{"nope", 0, kerr.UnknownTopicOrPartition}, {"local", 7, kerr.UnknownTopicOrPartition}, {"moved", 0, kerr.NotLeaderForPartition}} {
		got := serve(t, h, listV0(-1, tc.topic, tc.idx, partition.Latest, 1)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if got.ErrorCode != tc.want.Code || len(got.OldStyleOffsets) != 0 {
			t.Errorf("%s-%d: error %d offsets %v, want %s", tc.topic, tc.idx, got.ErrorCode, got.OldStyleOffsets, tc.want.Message)
		}
	}
}

// A consumer never gets offsets above the high watermark: they become
// the high watermark; replicas see them.
func TestListOffsetsV0HighWatermark(t *testing.T) {
	h := legacyNode(t, time.UnixMilli(10_000), 1, 2)
	for _, tc := range []struct {
		replica int32
		maxNum  int32
		want    []int64
	}{{-1, 1, []int64{0}}, {-1, 3, []int64{0}}, {-2, 1, []int64{3}}, {2, 3, []int64{3, 2, 1}}} {
		got := serve(t, h, listV0(tc.replica, "local", 0, partition.Latest, tc.maxNum)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if got.ErrorCode != 0 || !slices.Equal(got.OldStyleOffsets, tc.want) {
			t.Errorf("replica %d, max %d: error %d offsets %v, want %v", tc.replica, tc.maxNum, got.ErrorCode, got.OldStyleOffsets, tc.want)
		}
	}
}

func TestCapAtHW(t *testing.T) {
	for _, tc := range []struct {
		in   []int64
		hw   int64
		want []int64
	}{
		{[]int64{9, 5, 0}, 9, []int64{9, 5, 0}},
		{[]int64{9, 5, 0}, 7, []int64{7, 5, 0}},
		{[]int64{9, 8, 5, 0}, 7, []int64{7, 5, 0}},
		{[]int64{9, 8}, 3, []int64{3}},
		{[]int64{}, 3, []int64{}},
	} {
		if got := capAtHW(slices.Clone(tc.in), tc.hw); !slices.Equal(got, tc.want) {
			t.Errorf("capAtHW(%v, %d) = %v, want %v", tc.in, tc.hw, got, tc.want)
		}
	}
}

// An empty active segment adds no end-offset candidate and takes its
// predecessor's time.
func TestLegacyOffsetsBeforeEmptyTail(t *testing.T) {
	cands := []offsetTime{{0, 1000}, {5, 2000}, {9, 2000}} // 9: an empty active segment
	if got := legacyOffsetsBefore(cands, partition.Latest, 1); !slices.Equal(got, []int64{9}) {
		t.Errorf("latest: %v", got)
	}
	if got := legacyOffsetsBefore(cands, 1500, 5); !slices.Equal(got, []int64{0}) {
		t.Errorf("1500: %v", got)
	}
	if got := legacyOffsetsBefore(cands, 2000, 5); !slices.Equal(got, []int64{9, 5, 0}) {
		t.Errorf("2000: %v", got)
	}
}
