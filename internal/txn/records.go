package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/fjordlog/fjord/internal/metadata"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record formats of __transaction_state: Kafka's TransactionLogKey v0 and
// TransactionLogValue v0 (transaction.version 0) or v1 (flexible, with the
// PreviousProducerId, NextProducerId and ClientTransactionVersion tags),
// encoded by kmsg.TxnMetadataKey and kmsg.TxnMetadataValue.
const (
	keyVersion = 0
	// recordOverhead is a generous per-record framing estimate inside a
	// v2 batch (length, attributes, deltas, key/value lengths, headers).
	recordOverhead = 24
)

// ErrBadRecord is returned by Load for a record that does not decode.
var ErrBadRecord = errors.New("txn: malformed __transaction_state record")

func txnKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version, k.TransactionalID = keyVersion, id
	return k.AppendTo(nil)
}

// txnValue encodes transition t with the value version the cluster's
// transaction.version selects. Empty has null partitions (Kafka's
// layout); every other state a list, empty in Complete*.
func (c *Coordinator) txnValue(t *transit) []byte {
	v := kmsg.NewTxnMetadataValue()
	if c.cfg.TransactionVersion >= 1 {
		v.Version = 1
	}
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = t.pid, t.epoch, t.timeoutMs
	v.State = kmsg.TransactionState(t.state)
	v.LastUpdateTimestamp, v.StartTimestamp = t.updateMs, t.startMs
	v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion = t.prevPID, t.nextPID, t.clientTV
	if t.state != stateEmpty {
		v.Topics = valueTopics(t.partitions)
	}
	return v.AppendTo(nil)
}

// valueTopics groups sorted partitions by topic; never nil.
func valueTopics(tps []TopicPartition) []kmsg.TxnMetadataValueTopic {
	topics := []kmsg.TxnMetadataValueTopic{}
	for _, tp := range tps {
		if n := len(topics); n == 0 || topics[n-1].Topic != tp.Topic {
			topics = append(topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic, Partitions: []int32{}})
		}
		last := &topics[len(topics)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	}
	return topics
}

// Load replays one __transaction_state record (nil value: tombstone) while
// becoming coordinator; call it for every record in offset order, then
// Loaded. The last value per id wins and a tombstone deletes the id.
// Unknown key versions are skipped; malformed records (including unknown
// value versions and states that are never written) return ErrBadRecord
// and change nothing.
func (c *Coordinator) Load(now time.Time, key, value []byte) error {
	c.now = now
	if len(key) < 2 {
		return fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(key))
	}
	if int16(binary.BigEndian.Uint16(key)) != keyVersion {
		return nil
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return fmt.Errorf("%w: key: %v", ErrBadRecord, err)
	}
	if value == nil {
		delete(c.txns, k.TransactionalID)
		return nil
	}
	m, err := decodeValue(k.TransactionalID, value)
	if err != nil {
		return err
	}
	c.txns[m.id] = m
	return nil
}

// decodeValue rebuilds an id's metadata from its value; lastEpoch is not
// persisted and reads as -1.
func decodeValue(id string, value []byte) (*txnMeta, error) {
	if len(value) < 2 {
		return nil, fmt.Errorf("%w: value of %d bytes", ErrBadRecord, len(value))
	}
	if version := int16(binary.BigEndian.Uint16(value)); version < 0 || version > 1 {
		return nil, fmt.Errorf("%w: value version %d", ErrBadRecord, version)
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("%w: value: %v", ErrBadRecord, err)
	}
	state := txnState(v.State)
	if state < stateEmpty || state > stateCompleteAbort {
		return nil, fmt.Errorf("%w: transaction state %d", ErrBadRecord, v.State)
	}
	m := newMeta(id, v.ProducerID, v.TimeoutMillis, v.LastUpdateTimestamp)
	m.prevPID, m.nextPID, m.epoch, m.state = v.PreviousProducerID, v.NextProducerID, v.ProducerEpoch, state
	m.startMs, m.clientTV = v.StartTimestamp, v.ClientTransactionVersion
	if state != stateEmpty {
		for _, t := range v.Topics {
			for _, p := range t.Partitions {
				m.partitions[TopicPartition{t.Topic, p}] = struct{}{}
			}
		}
	}
	return m, nil
}

// PartitionFor is the __transaction_state partition of transactionalID:
// Kafka's Utils.abs(transactionalId.hashCode()) % numPartitions, where
// hashCode is Java's String.hashCode over UTF-16 code units and
// abs(MinInt32) is 0. The same function places a group on
// __consumer_offsets (AddOffsetsToTxn). A count below 1 gives 0.
func PartitionFor(transactionalID string, numPartitions int32) int32 {
	return metadata.CoordinatorPartition(transactionalID, numPartitions)
}
