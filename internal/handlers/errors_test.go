package handlers

import (
	"errors"
	"fmt"
	"testing"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Every error a service returns maps to its Kafka code, bare or wrapped
// with context the way the services wrap them.
func TestErrorCode(t *testing.T) {
	cases := []struct {
		err  error
		want *kerr.Error
	}{
		{partition.ErrNotLeader, kerr.NotLeaderForPartition},
		{partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
		{partition.ErrNotEnoughReplicasLate, kerr.NotEnoughReplicasAfterAppend},
		{partition.ErrMessageTooLarge, kerr.MessageTooLarge},
		{partition.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
		{partition.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
		{partition.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{partition.ErrStorage, kerr.KafkaStorageError},
		{partition.ErrInvalidRecord, kerr.InvalidRecord},
		{partition.ErrTimeout, kerr.RequestTimedOut},
		{partition.ErrInvalidTxnState, kerr.InvalidTxnState},
		{partition.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced},
		{record.ErrCorrupt, kerr.CorruptMessage},
		{record.ErrTruncated, kerr.CorruptMessage},
		{record.ErrInvalid, kerr.InvalidRecord},
		{kerr.InvalidTopicException, kerr.InvalidTopicException},
		{kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
		{errors.New("something else"), kerr.UnknownServerError},
	}
	for _, tc := range cases {
		if got := errorCode(tc.err); got != tc.want.Code {
			t.Errorf("errorCode(%v) = %d, want %d", tc.err, got, tc.want.Code)
		}
		wrapped := fmt.Errorf("%w: with context", tc.err)
		if got := errorCode(wrapped); got != tc.want.Code {
			t.Errorf("errorCode(%v) = %d, want %d", wrapped, got, tc.want.Code)
		}
		if msg := errorMessage(tc.err); msg == nil || *msg != tc.err.Error() {
			t.Errorf("errorMessage(%v) = %v", tc.err, msg)
		}
	}
	if got := errorCode(nil); got != 0 {
		t.Errorf("errorCode(nil) = %d", got)
	}
	if errorMessage(nil) != nil {
		t.Error("errorMessage(nil) is not nil")
	}
	// A kerr wrapped by a partition error keeps the kerr's code.
	if got := errorCode(fmt.Errorf("%w: %w", partition.ErrStorage, kerr.NotController)); got != kerr.NotController.Code {
		t.Errorf("kerr under a sentinel: %d", got)
	}
}

// Every sentinel in the table maps to a specific code (none falls through
// to UNKNOWN_SERVER_ERROR), so adding one without a code is caught.
func TestCodeTableComplete(t *testing.T) {
	for _, e := range codeTable {
		if e.code == nil || e.code.Code == kerr.UnknownServerError.Code || e.code.Code == 0 {
			t.Errorf("%v maps to %v", e.err, e.code)
		}
		if got := errorCode(e.err); got != e.code.Code {
			t.Errorf("errorCode(%v) = %d, want %d (shadowed by an earlier entry?)", e.err, got, e.code.Code)
		}
	}
}
