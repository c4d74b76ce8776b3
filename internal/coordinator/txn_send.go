package coordinator

import (
	"context"
	"sync"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Leader names a partition's leader in the current metadata: ok is false
// when the partition does not exist, the leader -1 when it has none.
type Leader func(topic string, partition int32) (leader int32, ok bool)

// Requester sends a request to a broker's inter-broker listener.
type Requester func(ctx context.Context, broker int32, req kmsg.Request) (kmsg.Response, error)

// NewMarkerSender returns the MarkerSender that writes markers with one
// WriteTxnMarkers (v1) request per leader, the leaders' requests sent
// concurrently. A partition that no longer exists answers 0 (nothing to
// mark); one without a leader NOT_LEADER_OR_FOLLOWER; a request that
// fails as a whole NETWORK_EXCEPTION for each of its partitions.
func NewMarkerSender(leader Leader, request Requester) MarkerSender {
	return func(ctx context.Context, m record.Marker, tps []txn.TopicPartition) []int16 {
		codes := make([]int16, len(tps))
		byLeader := map[int32][]int{}
		for i, tp := range tps {
			id, ok := leader(tp.Topic, tp.Partition)
			switch {
			case !ok:
				codes[i] = 0
			case id < 0:
				codes[i] = kerr.NotLeaderForPartition.Code
			default:
				byLeader[id] = append(byLeader[id], i)
			}
		}
		var wg sync.WaitGroup
		for id, idx := range byLeader {
			wg.Go(func() { sendMarkersTo(ctx, request, id, m, tps, idx, codes) })
		}
		wg.Wait()
		return codes
	}
}

// sendMarkersTo sends the marker for tps[idx...] to broker and fills
// their codes.
func sendMarkersTo(ctx context.Context, request Requester, broker int32, m record.Marker, tps []txn.TopicPartition, idx []int, codes []int16) {
	for _, i := range idx {
		codes[i] = kerr.NetworkException.Code
	}
	resp, err := request(ctx, broker, markersRequest(m, tps, idx))
	if err != nil {
		return
	}
	got := map[txn.TopicPartition]int16{}
	for _, rm := range resp.(*kmsg.WriteTxnMarkersResponse).Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				got[txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.ErrorCode
			}
		}
	}
	for _, i := range idx {
		if code, ok := got[tps[i]]; ok {
			codes[i] = code
		}
	}
}

// markersRequest is the WriteTxnMarkers request of m for tps[idx...].
func markersRequest(m record.Marker, tps []txn.TopicPartition, idx []int) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(1)
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	at := map[string]int{}
	for _, i := range idx {
		tp := tps[i]
		j, ok := at[tp.Topic]
		if !ok {
			j = len(mk.Topics)
			at[tp.Topic] = j
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			mk.Topics = append(mk.Topics, t)
		}
		mk.Topics[j].Partitions = append(mk.Topics[j].Partitions, tp.Partition)
	}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{mk}
	return req
}
