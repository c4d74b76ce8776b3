package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RecordHeader is one header of a record (a key/value pair). Key is never
// null on the wire; Value is nil when null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one decoded record of a v2 batch. Key, Value and header values
// alias the batch (or, for compressed batches, the decompressed buffer);
// copy them to keep them past the batch's lifetime.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte // nil when null
	Value          []byte // nil when null (a tombstone)
	Headers        []RecordHeader
}

// minRecordSize is the smallest encoded record: length, attributes,
// timestamp delta, offset delta, key length, value length and header count,
// one byte each.
const minRecordSize = 7

// Records validates the batch at the start of b (see Validate), decompresses
// its records if needed and decodes every one. Malformed records fail with
// an error wrapping ErrInvalid; it never panics and never allocates from a
// count larger than the bytes that could hold it.
func Records(b []byte) ([]Record, error) {
	h, err := Validate(b)
	if err != nil {
		return nil, err
	}
	body, err := Decompress(h.Compression(), b[HeaderSize:h.Size()])
	if err != nil {
		return nil, err
	}
	return decodeRecords(h, body)
}

// decodeRecords decodes h.NumRecords records from body, which they must
// fill exactly.
func decodeRecords(h Header, body []byte) ([]Record, error) {
	n := int(h.NumRecords)
	if n < 0 || n > len(body)/minRecordSize {
		return nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalid, n, len(body))
	}
	recs := make([]Record, n)
	r := recordReader{b: body}
	for i := range recs {
		if err := r.record(&recs[i]); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last of %d records", ErrInvalid, len(r.b), n)
	}
	return recs, nil
}

// errRecord is the error for any malformed field inside a record.
var errRecord = fmt.Errorf("%w: malformed record", ErrInvalid)

// recordReader reads record fields from b, consuming it.
type recordReader struct{ b []byte }

// record decodes one length-prefixed record into rec. The length must cover
// the record's fields exactly.
func (r *recordReader) record(rec *Record) error {
	size, err := r.varint()
	if err != nil {
		return err
	}
	if size < minRecordSize-1 || int64(size) > int64(len(r.b)) {
		return fmt.Errorf("%w: record length %d with %d bytes left", ErrInvalid, size, len(r.b))
	}
	inner := recordReader{b: r.b[:size]}
	r.b = r.b[size:]
	if err := inner.fields(rec); err != nil {
		return err
	}
	if len(inner.b) != 0 {
		return fmt.Errorf("%w: %d bytes left inside record", ErrInvalid, len(inner.b))
	}
	return nil
}

// fields decodes a record's fields after its length.
func (r *recordReader) fields(rec *Record) error {
	if len(r.b) < 1 {
		return errRecord
	}
	rec.Attributes = int8(r.b[0])
	r.b = r.b[1:]
	var err error
	if rec.TimestampDelta, err = r.varlong(); err != nil {
		return err
	}
	if rec.OffsetDelta, err = r.varint(); err != nil {
		return err
	}
	if rec.Key, err = r.nullableBytes(); err != nil {
		return err
	}
	if rec.Value, err = r.nullableBytes(); err != nil {
		return err
	}
	rec.Headers, err = r.headers()
	return err
}

// headers decodes a record's header count and headers.
func (r *recordReader) headers() ([]RecordHeader, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	// Each header takes at least two bytes (key and value lengths).
	if n < 0 || int64(n) > int64(len(r.b)/2) {
		return nil, fmt.Errorf("%w: %d headers with %d bytes left", ErrInvalid, n, len(r.b))
	}
	if n == 0 {
		return nil, nil
	}
	hs := make([]RecordHeader, n)
	for i := range hs {
		key, err := r.nullableBytes()
		if err != nil {
			return nil, err
		}
		if key == nil {
			return nil, fmt.Errorf("%w: null header key", ErrInvalid)
		}
		hs[i].Key = string(key)
		if hs[i].Value, err = r.nullableBytes(); err != nil {
			return nil, err
		}
	}
	return hs, nil
}

// nullableBytes reads a varint length (-1 for null) and that many bytes.
func (r *recordReader) nullableBytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return nil, nil
	}
	if n < -1 || int64(n) > int64(len(r.b)) {
		return nil, fmt.Errorf("%w: length %d with %d bytes left", ErrInvalid, n, len(r.b))
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// varint reads a zig-zag varint of at most 5 bytes that fits an int32.
func (r *recordReader) varint() (int32, error) {
	v, n := binary.Varint(r.b)
	if n <= 0 || n > 5 || v != int64(int32(v)) {
		return 0, errRecord
	}
	r.b = r.b[n:]
	return int32(v), nil
}

// varlong reads a zig-zag varint of at most 10 bytes.
func (r *recordReader) varlong() (int64, error) {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		return 0, errRecord
	}
	r.b = r.b[n:]
	return v, nil
}

// ValidateRecords decodes every record of the batch at the start of b and
// checks what Kafka requires of a produced batch beyond its header: at
// least one record, exactly NumRecords of them filling the batch, and
// offset deltas increasing strictly from 0 to LastOffsetDelta. It is for
// the paths that need it (e.g. compressed produce when a topic's
// compression.type forces recompression), not the hot path.
func ValidateRecords(b []byte) error {
	recs, err := Records(b)
	if err != nil {
		return err
	}
	h, _ := ParseHeader(b) // valid: Records checked it
	if len(recs) == 0 {
		return fmt.Errorf("%w: batch has no records", ErrInvalid)
	}
	if recs[0].OffsetDelta != 0 {
		return fmt.Errorf("%w: first offset delta %d", ErrInvalid, recs[0].OffsetDelta)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].OffsetDelta <= recs[i-1].OffsetDelta {
			return fmt.Errorf("%w: offset delta %d after %d", ErrInvalid, recs[i].OffsetDelta, recs[i-1].OffsetDelta)
		}
	}
	if last := recs[len(recs)-1].OffsetDelta; last != h.LastOffsetDelta {
		return fmt.Errorf("%w: last offset delta %d, header says %d", ErrInvalid, last, h.LastOffsetDelta)
	}
	return nil
}

// FirstOffsetAtOrAfterTimestamp finds the first record of the batch at the
// start of b whose timestamp is at or after ts (ListOffsets by time). It
// returns that record's offset (baseOffset + offsetDelta) and timestamp;
// ok is false when no record qualifies. With LogAppendTime every record has
// the batch's maxTimestamp. A batch whose maxTimestamp is below ts is
// answered from the header without decoding records.
func FirstOffsetAtOrAfterTimestamp(b []byte, ts int64) (offset, timestamp int64, ok bool, err error) {
	h, err := ParseHeader(b)
	if err != nil {
		return 0, 0, false, err
	}
	if h.MaxTimestamp < ts {
		return 0, 0, false, nil
	}
	recs, err := Records(b)
	if err != nil {
		return 0, 0, false, err
	}
	for _, rec := range recs {
		t := h.BaseTimestamp + rec.TimestampDelta
		if h.LogAppendTime() {
			t = h.MaxTimestamp
		}
		if t >= ts {
			return h.BaseOffset + int64(rec.OffsetDelta), t, true, nil
		}
	}
	return 0, 0, false, nil
}

// errNoRecords is returned by BuildBatch for an empty record list.
var errNoRecords = errors.New("record: BuildBatch needs at least one record")

// BuildBatch encodes recs as one v2 batch compressed with codec, for tests
// and benchmarks: baseOffset 0, partitionLeaderEpoch -1, no producer
// (id -1, epoch -1, sequence -1), CreateTime timestamps. Each record's
// OffsetDelta is set to its index (the input's is ignored); timestamps are
// baseTimestamp + TimestampDelta, and maxTimestamp is the largest. The CRC
// is set; the result passes Validate and ValidateRecords.
func BuildBatch(codec int8, baseTimestamp int64, recs []Record) ([]byte, error) {
	if len(recs) == 0 {
		return nil, errNoRecords
	}
	var body []byte
	maxDelta := recs[0].TimestampDelta
	for i, rec := range recs {
		rec.OffsetDelta = int32(i)
		body = appendRecord(body, &rec)
		maxDelta = max(maxDelta, rec.TimestampDelta)
	}
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	b, err := Compress(codec, b, body)
	if err != nil {
		return nil, err
	}
	putHeader(b, Header{
		BatchLength:          int32(len(b) - LogOverhead),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(codec) & CompressionMask,
		LastOffsetDelta:      int32(len(recs) - 1),
		BaseTimestamp:        baseTimestamp,
		MaxTimestamp:         baseTimestamp + maxDelta,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
		NumRecords:           int32(len(recs)),
	})
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b, nil
}

// putHeader writes h into the first HeaderSize bytes of b (CRC included as
// given).
func putHeader(b []byte, h Header) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(h.BatchLength))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = byte(h.Magic)
	binary.BigEndian.PutUint32(b[offCRC:], h.CRC)
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(h.Attributes))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[offRecordsCount:], uint32(h.NumRecords))
}

// appendRecord appends one encoded record (length-prefixed) to b.
func appendRecord(b []byte, rec *Record) []byte {
	var tmp [64]byte
	body := appendRecordFields(tmp[:0], rec)
	b = binary.AppendVarint(b, int64(len(body)))
	return append(b, body...)
}

// appendRecordFields appends a record's fields after its length.
func appendRecordFields(b []byte, rec *Record) []byte {
	b = append(b, byte(rec.Attributes))
	b = binary.AppendVarint(b, rec.TimestampDelta)
	b = binary.AppendVarint(b, int64(rec.OffsetDelta))
	b = appendNullableBytes(b, rec.Key)
	b = appendNullableBytes(b, rec.Value)
	b = binary.AppendVarint(b, int64(len(rec.Headers)))
	for _, h := range rec.Headers {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendNullableBytes(b, h.Value)
	}
	return b
}

func appendNullableBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}
