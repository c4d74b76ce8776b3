// Package record understands Kafka's record batch v2 (magic 2): the 61-byte
// batch header, its CRC-32C, the two header fields a leader rewrites
// (baseOffset and partitionLeaderEpoch, both outside the CRC), the
// compression codecs, and record-level iteration for the few paths that need
// it (timestamp lookups, validation of compacted topics, tests).
//
// The hot produce and fetch paths only ever touch the header: batches are
// stored and served exactly as they travelled on the wire.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Byte offsets of the batch header fields (reference/kafka-replication.md §7).
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordsCount    = 57

	// HeaderSize is the size of a v2 batch header; records follow it.
	HeaderSize = 61
	// LogOverhead is the part of the header before and including batchLength:
	// a batch occupies LogOverhead + batchLength bytes.
	LogOverhead = 12
)

// Attribute bits.
const (
	CompressionMask   = 0x07
	TimestampTypeBit  = 0x08
	TransactionalBit  = 0x10
	ControlBit        = 0x20
	DeleteHorizonBit  = 0x40
	CompressionNone   = 0
	CompressionGzip   = 1
	CompressionSnappy = 2
	CompressionLZ4    = 3
	CompressionZstd   = 4
)

// Errors returned by validation. Callers map them to Kafka error codes:
// ErrCorrupt to CORRUPT_MESSAGE (2), ErrInvalid to INVALID_RECORD (87),
// ErrTruncated to CORRUPT_MESSAGE on produce and to "torn tail" in recovery.
var (
	ErrTruncated = errors.New("record: batch truncated")
	ErrCorrupt   = errors.New("record: batch CRC mismatch")
	ErrInvalid   = errors.New("record: invalid batch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded v2 batch header.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the number of bytes the whole batch occupies.
func (h Header) Size() int { return LogOverhead + int(h.BatchLength) }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression returns the codec id from the attributes.
func (h Header) Compression() int8 { return int8(h.Attributes & CompressionMask) }

// IsControl reports whether the batch holds control records.
func (h Header) IsControl() bool { return h.Attributes&ControlBit != 0 }

// IsTransactional reports whether the batch is part of a transaction.
func (h Header) IsTransactional() bool { return h.Attributes&TransactionalBit != 0 }

// LogAppendTime reports whether the timestamp type is LogAppendTime.
func (h Header) LogAppendTime() bool { return h.Attributes&TimestampTypeBit != 0 }

// ParseHeader decodes the header at the start of b. It checks only that the
// header is present and that the magic is 2; it does not check the CRC or
// that the whole batch is in b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrTruncated
	}
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offRecordsCount:])),
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d", ErrInvalid, h.Magic)
	}
	if h.BatchLength < HeaderSize-LogOverhead {
		return h, fmt.Errorf("%w: batch length %d", ErrInvalid, h.BatchLength)
	}
	return h, nil
}

// Validate checks one complete batch at the start of b: header, length
// within b, CRC-32C over [attributes, end), and sane counts. It returns the
// header; the batch is b[:h.Size()].
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() > len(b) {
		return h, ErrTruncated
	}
	if crc32.Checksum(b[offAttributes:h.Size()], castagnoli) != h.CRC {
		return h, ErrCorrupt
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, fmt.Errorf("%w: lastOffsetDelta %d, records %d", ErrInvalid, h.LastOffsetDelta, h.NumRecords)
	}
	// Each record takes at least 7 bytes (length, attributes, timestamp
	// delta, offset delta, key length, value length, header count).
	if int64(h.NumRecords)*7 > int64(h.Size()-HeaderSize) && h.Compression() == CompressionNone {
		return h, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalid, h.NumRecords, h.Size()-HeaderSize)
	}
	return h, nil
}

// SetBaseOffset rewrites the batch's baseOffset (outside the CRC).
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch rewrites the batch's partitionLeaderEpoch (outside the CRC).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime sets the timestamp type to LogAppendTime with the given
// time as maxTimestamp, and recomputes the CRC. b must be a whole batch.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | TimestampTypeBit
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// Checksum computes the CRC-32C a batch should carry. b must be a whole batch.
func Checksum(b []byte) uint32 {
	return crc32.Checksum(b[offAttributes:], castagnoli)
}
