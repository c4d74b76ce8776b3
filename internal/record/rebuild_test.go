package record

import (
	"errors"
	"reflect"
	"testing"
)

// templateHeader is a producer batch header as a log would hold it.
func templateHeader(codec int8) Header {
	return Header{
		BaseOffset: 1000, PartitionLeaderEpoch: 7, Magic: 2,
		Attributes:      int16(codec) | TimestampTypeBit | TransactionalBit,
		LastOffsetDelta: 9, BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_042,
		ProducerID: 4242, ProducerEpoch: 3, BaseSequence: 100,
	}
}

func TestRebuildBatchKeepsHeaderAndRecords(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			tmpl := templateHeader(c.codec)
			recs := []Record{
				{OffsetDelta: 2, TimestampDelta: 2, Key: []byte("k2"), Value: []byte("v2")},
				{OffsetDelta: 5, TimestampDelta: 40, Key: []byte("k5"), Value: nil, Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}},
				{OffsetDelta: 9, TimestampDelta: 42, Key: nil, Value: []byte("no key")},
			}
			b, err := RebuildBatch(tmpl, recs)
			if err != nil {
				t.Fatal(err)
			}
			h, err := Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			want := tmpl
			want.BatchLength, want.CRC, want.NumRecords = int32(len(b)-LogOverhead), h.CRC, 3
			if h != want || h.Size() != len(b) {
				t.Fatalf("header %+v\nwant   %+v", h, want)
			}
			got, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, recs) {
				t.Fatalf("records %+v\nwant    %+v", got, recs)
			}
		})
	}
}

func TestRebuildBatchEmpty(t *testing.T) {
	tmpl := templateHeader(CompressionZstd)
	b, err := RebuildBatch(tmpl, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != HeaderSize || h.NumRecords != 0 || h.Compression() != CompressionNone ||
		h.LastOffsetDelta != 9 || h.ProducerID != 4242 || h.BaseSequence != 100 || !h.IsTransactional() || !h.LogAppendTime() {
		t.Fatalf("empty batch header %+v (%d bytes)", h, len(b))
	}
	if recs, err := Records(b); err != nil || len(recs) != 0 {
		t.Fatalf("Records = %v, %v", recs, err)
	}
}

func TestRebuildBatchRejectsBadDeltas(t *testing.T) {
	for name, deltas := range map[string][]int32{
		"negative":   {-1},
		"past last":  {3, 10},
		"repeated":   {1, 1},
		"decreasing": {4, 2},
	} {
		recs := make([]Record, len(deltas))
		for i, d := range deltas {
			recs[i] = Record{OffsetDelta: d, Value: []byte("v")}
		}
		if _, err := RebuildBatch(templateHeader(CompressionNone), recs); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
