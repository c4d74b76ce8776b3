package replication

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// outcome is what one partition's fetch result means for its next fetch.
type outcome int

const (
	again   outcome = iota // fetch again in the next round
	backOff                // wait Backoff first
	stop                   // wait for a new assignment
	soon                   // the leader is about to be ready: wait leaderNotReadyWait, doubling up to Backoff
)

// leaderNotReadyWait is the wait after a leader answered that it does not
// lead our epoch yet (it has not applied the metadata that made it leader:
// nodes apply an entry milliseconds apart). Backing off the whole
// replica.fetch.backoff.ms there would hold the high watermark of every
// moved partition, and so acks=all writes, for a second after a failover.
const leaderNotReadyWait = 25 * time.Millisecond

// ListOffsets timestamps: a replica asking for "latest" gets the leader's
// log end offset.
const (
	latestTimestamp   = -1
	earliestTimestamp = -2
)

// handleResponse applies each partition of a Fetch response, in order,
// before the next request is sent.
// A partition answered has its cached fetch state re-read before the
// next request (its log or the leader's view of it changed): it is
// queued stale, so the next round looks at it and not at the others.
func (f *fetcher) handleResponse(resp *kmsg.FetchResponse) {
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			tp := TopicPartition{t.Topic, rp.Partition}
			in, ok := f.ready[tp]
			if !ok || in.p == nil || !f.m.current(in.a) {
				continue // not asked for, or reassigned meanwhile
			}
			f.markStale(in)
			f.m.settle(in.a, f.handlePartition(*in, rp))
		}
	}
}

// handlePartition applies one partition's result.
func (f *fetcher) handlePartition(in inflight, rp *kmsg.FetchResponseTopicPartition) outcome {
	err := kerr.ErrorForCode(rp.ErrorCode)
	switch {
	case err == nil && rp.DivergingEpoch.Epoch >= 0:
		return f.truncate(in, rp.DivergingEpoch)
	case err == nil:
		return f.append(in, rp)
	case err == kerr.OffsetOutOfRange:
		return f.outOfRange(in)
	case err == kerr.FencedLeaderEpoch:
		f.plog(in).Info("leader refused our fetch; waiting for new metadata", "err", err, "leaderEpoch", in.a.epoch)
		return stop
	case err == kerr.NotLeaderForPartition || err == kerr.UnknownLeaderEpoch || err == kerr.UnknownTopicOrPartition:
		// The leader has not applied the metadata that made it leader yet.
		f.plog(in).Debug("leader not ready for our epoch; retrying soon", "err", err, "leaderEpoch", in.a.epoch)
		return soon
	default:
		f.plog(in).Warn("partition fetch failed; backing off", "err", err, "backoff", f.o.Backoff)
		return backOff
	}
}

// append appends the fetched batches and takes the leader's HW and log
// start offset. A trailing partial batch is left for the next fetch.
func (f *fetcher) append(in inflight, rp *kmsg.FetchResponseTopicPartition) outcome {
	batches := wholeBatches(rp.RecordBatches)
	if len(batches) == 0 && len(rp.RecordBatches) > 0 {
		f.plog(in).Warn("leader returned no whole batch; backing off", "bytes", len(rp.RecordBatches), "fetchOffset", in.st.FetchOffset)
		return backOff
	}
	if f.o.Throttle != nil {
		f.o.Throttle.Fetched(in.a.tp.Topic, in.a.tp.Partition, len(batches))
	}
	return f.result(in, "append", in.p.AppendFromLeader(in.a.epoch, batches, rp.HighWatermark, rp.LogStartOffset))
}

// truncate cuts our divergent suffix as the leader's DivergingEpoch says;
// the next round fetches again at once.
func (f *fetcher) truncate(in inflight, d kmsg.FetchResponseTopicPartitionDivergingEpoch) outcome {
	to, err := in.p.TruncateOnDivergence(in.a.epoch, partition.Diverging{Epoch: d.Epoch, EndOffset: d.EndOffset})
	if err != nil {
		return f.result(in, "truncate on divergence", err)
	}
	f.plog(in).Info("truncated divergent log", "divergingEpoch", d.Epoch, "leaderEndOffset", d.EndOffset,
		"from", in.st.FetchOffset, "to", to)
	if to >= in.st.FetchOffset {
		f.plog(in).Warn("divergence truncation made no progress; backing off", "offset", to)
		return backOff
	}
	return again
}

// outOfRange handles OFFSET_OUT_OF_RANGE: truncate to the leader's log
// end if we are ahead of it, restart at its log start if we are behind
// that; otherwise the condition was transient and we back off.
func (f *fetcher) outOfRange(in inflight) outcome {
	ours := in.st.FetchOffset
	leaderEnd, err := f.listOffset(in, latestTimestamp)
	if err != nil {
		return f.listFailed(in, err)
	}
	if ours > leaderEnd {
		f.plog(in).Warn("ahead of the leader's log end; truncating", "leo", ours, "leaderLeo", leaderEnd)
		return f.result(in, "truncate to leader end", in.p.TruncateTo(in.a.epoch, leaderEnd))
	}
	leaderStart, err := f.listOffset(in, earliestTimestamp)
	if err != nil {
		return f.listFailed(in, err)
	}
	if ours < leaderStart {
		f.plog(in).Warn("behind the leader's log start; restarting there", "leo", ours, "leaderLogStart", leaderStart)
		return f.result(in, "reset to leader log start", in.p.ResetTo(in.a.epoch, leaderStart))
	}
	f.plog(in).Info("offset out of range but within the leader's log; backing off", "leo", ours,
		"leaderLogStart", leaderStart, "leaderLeo", leaderEnd)
	return backOff
}

func (f *fetcher) listFailed(in inflight, err error) outcome {
	if f.ctx.Err() == nil {
		f.plog(in).Warn("cannot list the leader's offsets; backing off", "err", err)
	}
	return backOff
}

// listOffset asks the leader, as replica NodeID, for the offset at ts.
func (f *fetcher) listOffset(in inflight, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID, req.IsolationLevel = f.o.NodeID, 0
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = in.a.tp.Topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Partition, p.CurrentLeaderEpoch, p.Timestamp = in.a.tp.Partition, in.a.epoch, ts
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := f.roundTrip(f.ctx, req, req.MaxVersion(), 0)
	if err != nil {
		return 0, err
	}
	return listedOffset(resp.(*kmsg.ListOffsetsResponse), in.a.tp)
}

// listedOffset finds tp's answer in a ListOffsets response.
func listedOffset(resp *kmsg.ListOffsetsResponse, tp TopicPartition) (int64, error) {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic == tp.Topic && p.Partition == tp.Partition {
				return p.Offset, kerr.ErrorForCode(p.ErrorCode)
			}
		}
	}
	return 0, fmt.Errorf("replication: ListOffsets response lacks %s-%d", tp.Topic, tp.Partition)
}

// result maps a partition call's error to an outcome: a stale epoch is
// ignored (a newer assignment will come), a storage failure stops the
// partition, anything else (a batch that does not fit) is retried after
// Backoff.
func (f *fetcher) result(in inflight, op string, err error) outcome {
	switch {
	case err == nil, errors.Is(err, partition.ErrStaleEpoch):
		return again
	case errors.Is(err, partition.ErrStorage):
		f.plog(in).Error("replica failed; stopped fetching it", "op", op, "err", err)
		return stop
	default:
		f.plog(in).Warn("follower "+op+" failed; backing off", "err", err, "backoff", f.o.Backoff)
		return backOff
	}
}

func (f *fetcher) plog(in inflight) *slog.Logger {
	return f.log.With("topic", in.a.tp.Topic, "partition", in.a.tp.Partition)
}

// wholeBatches returns the prefix of b made of whole batches (by their
// length fields; the storage layer validates them). A leader may end a
// response with a partial batch.
func wholeBatches(b []byte) []byte {
	n := 0
	for n < len(b) {
		h, err := record.ParseHeader(b[n:])
		if err != nil || h.Size() > len(b)-n {
			break
		}
		n += h.Size()
	}
	return b[:n]
}
