package partition

import (
	"errors"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/record"
)

// idempotentHeader is the header of producer id's one-record batch at
// sequence seq, appended at offset.
func idempotentHeader(id int64, epoch int16, seq int32, offset int64) record.Header {
	return record.Header{Magic: 2, BaseOffset: offset, ProducerID: id, ProducerEpoch: epoch, BaseSequence: seq}
}

// idempotentBatch is producer 7's one-record batch at sequence seq.
func idempotentBatch(t *testing.T, seq int32) []byte {
	t.Helper()
	h := record.Header{Magic: 2, BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000,
		ProducerID: 7, ProducerEpoch: 0, BaseSequence: seq}
	b, err := record.RebuildBatch(h, []record.Record{{Value: []byte{byte(seq)}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A batch pipelined behind one refused for a too small ISR, and checked
// after the ISR grew back, skips the refused batch's sequence. It gets the
// refusal's retriable error, not OUT_OF_ORDER_SEQUENCE_NUMBER (which makes
// franz-go bump its producer epoch and re-send written but unacknowledged
// batches: duplicates); once the refused batch is appended, the next
// follows in order.
func TestGapBehindRetriableRefusal(t *testing.T) {
	e := newEnv(t, 1, newClock(), testConfig(2))
	e.lead(1, 0, []int32{1, 2}, []int32{1, 2})
	if _, err := e.p.AppendAsLeader(idempotentBatch(t, 0), -1); err != nil {
		t.Fatal(err)
	}
	e.lead(1, 1, []int32{1, 2}, []int32{1}) // the ISR shrinks
	if _, err := e.p.AppendAsLeader(idempotentBatch(t, 1), -1); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("seq 1 with the ISR below min: %v", err)
	}
	e.lead(1, 2, []int32{1, 2}, []int32{1, 2}) // and grows back
	if _, err := e.p.AppendAsLeader(idempotentBatch(t, 2), -1); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("seq 2 behind the refused seq 1: %v, want the refusal's retriable error", err)
	}
	for _, seq := range []int32{1, 2} {
		if _, err := e.p.AppendAsLeader(idempotentBatch(t, seq), -1); err != nil {
			t.Fatalf("seq %d retried in order: %v", seq, err)
		}
	}
	if _, err := e.p.AppendAsLeader(idempotentBatch(t, 5), -1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("a real gap: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
}

// producer.id.expiration.ms: a producer whose last batch is that old loses
// its dedup state (its batches are then accepted as a new producer's);
// a newer one keeps it, and so does one whose timestamp is unknown (a
// version-1 snapshot's) until a full period after expire first saw it.
func TestProducerExpiry(t *testing.T) {
	ps := producers{}
	old, recent := idempotentHeader(1, 0, 0, 0), idempotentHeader(2, 0, 0, 1)
	old.MaxTimestamp, recent.MaxTimestamp = 1_000, 5_000
	ps.record(old)
	ps.record(recent)
	ps[3] = &producerEntry{batches: []producerBatch{{0, 0, 2, 2}}, lastTimestamp: unknownTimestamp, txnFirst: -1, coordEpoch: -1}
	if n := ps.expire(7_000, 5_000); n != 1 || ps[1] != nil || ps[2] == nil || ps[3] == nil {
		t.Fatalf("expire at 7000: dropped %d, left %v", n, ps)
	}
	retry := old // producer 1's retry is no longer a duplicate
	if dup, err := ps.check(retry, fromClient); dup != nil || err != nil {
		t.Fatalf("expired producer's retry: duplicate %v, err %v", dup, err)
	}
	if n := ps.expire(11_999, 5_000); n != 1 || ps[2] != nil || ps[3] == nil {
		t.Fatalf("expire at 11999: dropped %d, left %v", n, ps)
	}
	if n := ps.expire(12_000, 5_000); n != 1 || len(ps) != 0 {
		t.Fatalf("expire at 12000: dropped %d, left %v", n, ps)
	}
}

// The broker's expiry pass drops an idle producer's state on a replica:
// after producer.id.expiration.ms its retried batch is appended again.
func TestExpireProducersOnPartition(t *testing.T) {
	cfg := testConfig(1)
	cfg.ProducerIDExpiration = time.Hour
	e := newEnv(t, 1, newClock(), cfg)
	e.lead(1, 1, []int32{1}, []int32{1})
	first, err := e.p.AppendAsLeader(idempotentBatch(t, 0), -1)
	if err != nil {
		t.Fatal(err)
	}
	batchTime := time.UnixMilli(1_700_000_000_000)
	if n := e.p.ExpireProducers(batchTime.Add(time.Hour - time.Millisecond)); n != 0 {
		t.Fatalf("expired %d producers before an hour", n)
	}
	if again, err := e.p.AppendAsLeader(idempotentBatch(t, 0), -1); err != nil || again.BaseOffset != first.BaseOffset {
		t.Fatalf("retry within the hour: offset %d (first %d), %v", again.BaseOffset, first.BaseOffset, err)
	}
	if n := e.p.ExpireProducers(batchTime.Add(time.Hour)); n != 1 {
		t.Fatalf("expired %d producers after an hour, want 1", n)
	}
	if again, err := e.p.AppendAsLeader(idempotentBatch(t, 0), -1); err != nil || again.BaseOffset == first.BaseOffset {
		t.Fatalf("retry after expiry: offset %d (first %d), %v", again.BaseOffset, first.BaseOffset, err)
	}
}
