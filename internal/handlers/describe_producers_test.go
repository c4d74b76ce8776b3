package handlers

import (
	"testing"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers lists the leader's idempotent producers with their
// last sequence and timestamp; a partition led elsewhere is
// NOT_LEADER_OR_FOLLOWER and an unknown one UNKNOWN_TOPIC_OR_PARTITION.
func TestDescribeProducers(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	for seq := int32(0); seq < 6; seq += 3 { // producer 42, epoch 3: sequences 0-2, 3-5
		hdr := record.Header{Magic: 2, BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000 + int64(seq),
			ProducerID: 42, ProducerEpoch: 3, BaseSequence: seq, LastOffsetDelta: 2}
		b, err := record.RebuildBatch(hdr, []record.Record{{Value: []byte("a")}, {OffsetDelta: 1, Value: []byte("b")}, {OffsetDelta: 2, Value: []byte("c")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AppendAsLeader(b, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.AppendAsLeader(oneRecord(t), 1); err != nil { // not idempotent: not listed
		t.Fatal(err)
	}
	req := kmsg.NewPtrDescribeProducersRequest()
	req.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "local", Partitions: []int32{0, 9}}, {Topic: "moved", Partitions: []int32{0}}}
	resp := serve(t, h, req).(*kmsg.DescribeProducersResponse)
	local := resp.Topics[0].Partitions
	if local[0].ErrorCode != 0 || len(local[0].ActiveProducers) != 1 {
		t.Fatalf("local-0: %s, %+v", kerr.ErrorForCode(local[0].ErrorCode), local[0].ActiveProducers)
	}
	ap := local[0].ActiveProducers[0]
	if ap.ProducerID != 42 || ap.ProducerEpoch != 3 || ap.LastSequence != 5 || ap.LastTimestamp != 1_700_000_000_003 ||
		ap.CoordinatorEpoch != -1 || ap.CurrentTxnStartOffset != -1 {
		t.Fatalf("producer: %+v", ap)
	}
	if code := local[1].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("local-9: %v", kerr.ErrorForCode(code))
	}
	if code := resp.Topics[1].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Errorf("moved-0 (led by 2): %v", kerr.ErrorForCode(code))
	}
}
