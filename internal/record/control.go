package record

import (
	"encoding/binary"
	"fmt"
)

// Control records (Kafka's EndTransactionMarker): a control batch is
// transactional, has the control bit set, no compression, base sequence
// -1 and exactly one record whose key is `int16 version, int16 type` and,
// for the ABORT (0) and COMMIT (1) types, whose value is `int16 version,
// int32 coordinatorEpoch`.

// Control record types (ControlRecordType.java).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// Marker is a transaction marker: the end of one producer's transaction in
// one partition.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// BuildControlBatch returns a control batch holding m at timestamp ts
// (ms): baseOffset 0 and partitionLeaderEpoch -1 for the appender to set.
func BuildControlBatch(m Marker, ts int64) []byte {
	typ := ControlAbort
	if m.Commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(typ))
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(m.CoordinatorEpoch))
	body := appendRecord(nil, &Record{Key: key, Value: value})
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	b = append(b, body...)
	putHeader(b, Header{
		BatchLength:          int32(len(b) - LogOverhead),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           TransactionalBit | ControlBit,
		BaseTimestamp:        ts,
		MaxTimestamp:         ts,
		ProducerID:           m.ProducerID,
		ProducerEpoch:        m.ProducerEpoch,
		BaseSequence:         -1,
		NumRecords:           1,
	})
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

// ParseMarker decodes the transaction marker of the control batch at the
// start of b (validated by the caller). ok is false for a control batch
// of another type (LEADER_CHANGE, snapshot header...), which carries no
// marker; an error wraps ErrInvalid.
func ParseMarker(b []byte) (m Marker, ok bool, err error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Marker{}, false, err
	}
	if !h.IsControl() || h.Size() > len(b) || h.Size() < HeaderSize {
		return Marker{}, false, fmt.Errorf("%w: not a whole control batch", ErrInvalid)
	}
	recs, err := decodeRecords(h, b[HeaderSize:h.Size()])
	if err != nil {
		return Marker{}, false, err
	}
	if len(recs) != 1 || len(recs[0].Key) < 4 {
		return Marker{}, false, fmt.Errorf("%w: control batch without a control record", ErrInvalid)
	}
	typ := int16(binary.BigEndian.Uint16(recs[0].Key[2:]))
	if typ != ControlAbort && typ != ControlCommit {
		return Marker{}, false, nil
	}
	if len(recs[0].Value) < 6 {
		return Marker{}, false, fmt.Errorf("%w: transaction marker value too short", ErrInvalid)
	}
	return Marker{
		ProducerID:       h.ProducerID,
		ProducerEpoch:    h.ProducerEpoch,
		Commit:           typ == ControlCommit,
		CoordinatorEpoch: int32(binary.BigEndian.Uint32(recs[0].Value[2:])),
	}, true, nil
}

// SetProducer makes the batch at the start of b one of producer (id,
// epoch) starting at sequence seq, transactional if txn, and recomputes
// its CRC. Coordinators use it to write transactional offset commits.
func SetProducer(b []byte, id int64, epoch int16, seq int32, txn bool) {
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(id))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(seq))
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	if txn {
		attrs |= TransactionalBit
	} else {
		attrs &^= TransactionalBit
	}
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
}
