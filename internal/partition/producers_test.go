package partition

import (
	"errors"
	"testing"

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
