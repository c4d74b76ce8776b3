package coordinator

import (
	"context"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/txn"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Marker sending (Kafka's TransactionMarkerChannelManager, per
// transaction): a worker of the runner writes the transaction's marker
// to every partition, retrying those that fail retriably, and reports
// each partition's outcome to the coordinator, which writes
// CompleteCommit/CompleteAbort once all are done. The workers end with
// their runner: a new coordinator (after a leader change) resumes from
// the Prepare state it loads.

// markerBackoff bounds the wait between two rounds for the partitions
// still without a marker.
const (
	markerBackoffMin = 50 * time.Millisecond
	markerBackoffMax = time.Second
)

// markerOutcome classifies a partition's WriteTxnMarkers error code.
type markerOutcome int

const (
	markerDone  markerOutcome = iota // written (or moot): leaves the transaction's set
	markerRetry                      // try again on the partition's current leader
	markerStop                       // a newer producer epoch or coordinator: stop for this transaction
)

func classifyMarker(code int16) markerOutcome {
	switch code {
	case 0, kerr.UnsupportedForMessageFormat.Code, kerr.UnsupportedVersion.Code:
		return markerDone
	case kerr.InvalidProducerEpoch.Code, kerr.TransactionCoordinatorFenced.Code:
		return markerStop
	}
	return markerRetry
}

// sendMarkers starts the worker that writes mr's markers.
func (x *txnMachine) sendMarkers(r *runner, mr txn.MarkerRequest) {
	m := record.Marker{ProducerID: mr.ProducerID, ProducerEpoch: mr.ProducerEpoch, Commit: mr.Commit, CoordinatorEpoch: mr.CoordinatorEpoch}
	r.spawn(func(ctx context.Context) {
		pending, backoff := mr.Partitions, markerBackoffMin
		for len(pending) > 0 {
			codes := x.m.o.Markers(ctx, m, pending)
			if ctx.Err() != nil {
				return
			}
			pending = x.reportMarkers(ctx, r, mr, pending, codes)
			if len(pending) == 0 || !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, markerBackoffMax)
		}
	})
}

// reportMarkers reports the partitions whose outcome is final and
// returns the ones to retry.
func (x *txnMachine) reportMarkers(ctx context.Context, r *runner, mr txn.MarkerRequest, tps []txn.TopicPartition, codes []int16) []txn.TopicPartition {
	var retry []txn.TopicPartition
	for i, tp := range tps {
		code := codes[i]
		switch classifyMarker(code) {
		case markerRetry:
			retry = append(retry, tp)
			continue
		case markerDone:
			code = 0
		}
		r.post(ctx, func() {
			r.apply(x.effects(x.c.MarkerDone(r.now(), mr.TransactionalID, mr.ProducerID, mr.ProducerEpoch, tp, code)))
		})
	}
	if len(retry) > 0 {
		x.m.o.Logger.Debug("retrying transaction markers", "transactionalId", mr.TransactionalID, "partitions", len(retry), "firstCode", codes[0])
	}
	return retry
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
