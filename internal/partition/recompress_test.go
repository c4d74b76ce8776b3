package partition

import (
	"bytes"
	"testing"

	"github.com/fjordlog/fjord/internal/record"
)

// TestTopicCompressionRecompresses checks that a topic compression.type
// other than "producer" re-encodes producer batches with that codec,
// keeping offsets, keys, values and timestamps, and that "producer" keeps
// the batch as sent.
func TestTopicCompressionRecompresses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		recompress bool
		codec      int8
		want       int8
	}{
		{"zstd topic", true, record.CompressionZstd, record.CompressionZstd},
		{"gzip topic", true, record.CompressionGzip, record.CompressionGzip},
		{"producer", false, record.CompressionZstd, record.CompressionNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(1)
			cfg.Recompress, cfg.Compression = tc.recompress, tc.codec
			e := newEnv(t, 1, newClock(), cfg)
			e.lead(1, 0, []int32{1}, []int32{1})
			sent := e.batch(5)
			want, err := record.Records(sent)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.p.AppendAsLeader(sent, 1); err != nil {
				t.Fatal(err)
			}
			stored, err := e.p.ReadLocal(0, 1<<20, e.p.LogEndOffset())
			if err != nil {
				t.Fatal(err)
			}
			h, err := record.Validate(stored)
			if err != nil {
				t.Fatalf("stored batch invalid: %v", err)
			}
			got, err := record.Records(stored[:h.Size()])
			if err != nil {
				t.Fatal(err)
			}
			if h.Compression() != tc.want || h.BaseOffset != 0 || h.LastOffsetDelta != 4 || !sameRecords(got, want) {
				t.Errorf("stored codec %d (want %d), base %d, last delta %d, records equal %v",
					h.Compression(), tc.want, h.BaseOffset, h.LastOffsetDelta, sameRecords(got, want))
			}
		})
	}
}

func sameRecords(a, b []record.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) ||
			a[i].OffsetDelta != b[i].OffsetDelta || a[i].TimestampDelta != b[i].TimestampDelta {
			return false
		}
	}
	return true
}
