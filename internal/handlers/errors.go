package handlers

import (
	"errors"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// codeTable maps internal sentinel errors to Kafka error codes.
var codeTable = []struct {
	err  error
	code *kerr.Error
}{
	{partition.ErrNotLeader, kerr.NotLeaderForPartition},
	{partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{partition.ErrNotEnoughReplicasLate, kerr.NotEnoughReplicasAfterAppend},
	{partition.ErrMessageTooLarge, kerr.MessageTooLarge},
	{partition.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{partition.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	{partition.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{partition.ErrOffsetNotAvailable, kerr.OffsetNotAvailable},
	{partition.ErrStorage, kerr.KafkaStorageError},
	{partition.ErrInvalidRecord, kerr.InvalidRecord},
	{partition.ErrTimeout, kerr.RequestTimedOut},
	{partition.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{partition.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{partition.ErrInvalidTxnState, kerr.InvalidTxnState},
	{partition.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	{record.ErrCorrupt, kerr.CorruptMessage},
	{record.ErrTruncated, kerr.CorruptMessage},
	{record.ErrInvalid, kerr.InvalidRecord},
}

// errorCode translates an error from a service into a Kafka error code:
// the one place where internal errors become protocol codes.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMessage returns a message for a response's ErrorMessage field.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
