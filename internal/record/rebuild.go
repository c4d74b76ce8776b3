package record

import (
	"encoding/binary"
	"fmt"
)

// RebuildBatch re-encodes recs as one v2 batch that takes its header from
// tmpl: base offset, partition leader epoch, attributes (compression codec,
// timestamp type, transactional and control bits), lastOffsetDelta, base
// and max timestamps, producer id, epoch and base sequence are kept as
// given; magic is 2 and batchLength, the records count and the CRC are
// computed. Records keep their OffsetDelta and TimestampDelta, so their
// offsets and timestamps do not change. It is what the log cleaner needs:
// a batch with some records removed, the rest unchanged.
//
// Offset deltas must increase strictly and stay within
// [0, tmpl.LastOffsetDelta], else the error wraps ErrInvalid. An empty recs
// yields an empty batch (no records) written uncompressed — the compression
// bits are cleared, since there is nothing to compress — which keeps the
// batch's offset range and producer fields, as Kafka's cleaner does for a
// producer's last batch.
func RebuildBatch(tmpl Header, recs []Record) ([]byte, error) {
	if err := checkDeltas(tmpl.LastOffsetDelta, recs); err != nil {
		return nil, err
	}
	var body []byte
	for i := range recs {
		body = appendRecord(body, &recs[i])
	}
	codec := tmpl.Compression()
	if len(recs) == 0 {
		codec = CompressionNone
		tmpl.Attributes &^= CompressionMask
	}
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	b, err := Compress(codec, b, body)
	if err != nil {
		return nil, err
	}
	tmpl.Magic = 2
	tmpl.BatchLength = int32(len(b) - LogOverhead)
	tmpl.NumRecords = int32(len(recs))
	putHeader(b, tmpl)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b, nil
}

// checkDeltas checks that the records' offset deltas increase strictly
// within [0, last].
func checkDeltas(last int32, recs []Record) error {
	prev := int32(-1)
	for i, r := range recs {
		if r.OffsetDelta <= prev || r.OffsetDelta > last {
			return fmt.Errorf("%w: record %d has offset delta %d (previous %d, last %d)", ErrInvalid, i, r.OffsetDelta, prev, last)
		}
		prev = r.OffsetDelta
	}
	return nil
}
