package handlers

// OffsetForLeaderEpoch (key 23), versions 2-4.
//
// For each partition, the leader answers the end offset of the requested
// leader epoch from its epoch cache (KIP-101/279): the largest epoch not
// above it and where it ends (the log end offset for the latest epoch),
// or -1/-1 when unknown. CurrentLeaderEpoch is checked
// (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH). Followers (ReplicaID >= 0)
// and consumers are answered alike, by the leader only.

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetForLeaderEpoch(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	img := h.d.Image()
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			out := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			out.Partition, out.LeaderEpoch, out.EndOffset = tp.Partition, -1, -1
			p := h.d.Partitions.Partition(t.Topic, tp.Partition)
			switch {
			case !hasPartition(img, t.Topic, tp.Partition):
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p == nil:
				out.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				e, end, err := p.EndOffsetForEpoch(tp.LeaderEpoch, tp.CurrentLeaderEpoch)
				out.LeaderEpoch, out.EndOffset, out.ErrorCode = e, end, errorCode(err)
			}
			rt.Partitions = append(rt.Partitions, out)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return respond(req, resp)
}
