package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func sampleRecords() []Record {
	return []Record{
		{Key: []byte("k1"), Value: []byte("v1")},
		{TimestampDelta: 5, Key: nil, Value: []byte("no key")},
		{TimestampDelta: 3, Key: []byte("tombstone"), Value: nil},
		{TimestampDelta: 9, Key: []byte{}, Value: []byte{}, Headers: []RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: "null", Value: nil},
			{Key: "", Value: []byte{}},
		}},
		{TimestampDelta: -2, Value: bytes.Repeat([]byte("big "), 10000)},
	}
}

// withIndexDeltas returns recs with OffsetDelta set to the index, as
// BuildBatch encodes them.
func withIndexDeltas(recs []Record) []Record {
	out := append([]Record{}, recs...)
	for i := range out {
		out[i].OffsetDelta = int32(i)
	}
	return out
}

func TestBuildBatchRoundTrip(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			recs := sampleRecords()
			b, err := BuildBatch(c.codec, 1_700_000_000_000, recs)
			if err != nil {
				t.Fatal(err)
			}
			h, err := Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			want := Header{BatchLength: int32(len(b) - LogOverhead), PartitionLeaderEpoch: -1, Magic: 2,
				CRC: h.CRC, Attributes: int16(c.codec), LastOffsetDelta: 4, BaseTimestamp: 1_700_000_000_000,
				MaxTimestamp: 1_700_000_000_009, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 5}
			if h != want || h.Size() != len(b) {
				t.Fatalf("header %+v\nwant   %+v", h, want)
			}
			if err := ValidateRecords(b); err != nil {
				t.Fatal(err)
			}
			got, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, withIndexDeltas(recs)) {
				t.Fatalf("records differ:\n%+v\n%+v", got, withIndexDeltas(recs))
			}
			if got[1].Key != nil || got[2].Value != nil || got[3].Key == nil || got[3].Headers[1].Value != nil {
				t.Fatal("null and empty not distinguished")
			}
		})
	}
	if _, err := BuildBatch(0, 0, nil); err == nil {
		t.Fatal("empty BuildBatch succeeded")
	}
}

// kmsgBatch encodes recs the way franz-go does (kmsg.Record and
// kmsg.RecordBatch), with offset deltas as given, compressed by codec.
func kmsgBatch(t *testing.T, codec int8, baseOffset int64, recs []Record) []byte {
	var raw []byte
	for _, r := range recs {
		kr := kmsg.Record{Attributes: r.Attributes, TimestampDelta64: r.TimestampDelta, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		body := kr.AppendTo(nil)
		kr.Length = int32(len(body) - varintLen(body))
		raw = kr.AppendTo(raw[:len(raw):len(raw)])
	}
	comp, err := Compress(codec, nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	kb := kmsg.RecordBatch{FirstOffset: baseOffset, PartitionLeaderEpoch: 7, Magic: 2, Attributes: int16(codec),
		LastOffsetDelta: recs[len(recs)-1].OffsetDelta, FirstTimestamp: 1000, MaxTimestamp: 1100,
		ProducerID: 42, ProducerEpoch: 1, FirstSequence: 10, NumRecords: int32(len(recs)), Records: comp}
	kb.Length = int32(HeaderSize - LogOverhead + len(comp))
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

// varintLen is the size of the varint at the start of b.
func varintLen(b []byte) int {
	_, n := binary.Varint(b)
	return n
}

// Batches encoded by kmsg (as franz-go producers send them) decode, and
// ours decode with kmsg.
func TestCrossCheckKmsg(t *testing.T) {
	for _, c := range codecs {
		recs := withIndexDeltas(sampleRecords())
		b := kmsgBatch(t, c.codec, 500, recs)
		if err := ValidateRecords(b); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := Records(b)
		if err != nil || !reflect.DeepEqual(got, recs) {
			t.Fatalf("%s: %v\n%+v", c.name, err, got)
		}
	}

	ours, err := BuildBatch(CompressionNone, 1000, sampleRecords())
	if err != nil {
		t.Fatal(err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(ours); err != nil {
		t.Fatal(err)
	}
	if uint32(kb.CRC) != Checksum(ours) || kb.NumRecords != 5 || kb.ProducerID != -1 {
		t.Fatalf("kmsg sees %+v", kb)
	}
	rest := kb.Records
	for i, want := range withIndexDeltas(sampleRecords()) {
		var kr kmsg.Record
		n, _ := binary.Varint(rest)
		size := int(n) + varintLen(rest)
		if err := kr.ReadFrom(rest[:size]); err != nil {
			t.Fatal(err)
		}
		rest = rest[size:]
		if kr.OffsetDelta != int32(i) || kr.TimestampDelta64 != want.TimestampDelta || !bytes.Equal(kr.Key, want.Key) || !bytes.Equal(kr.Value, want.Value) || len(kr.Headers) != len(want.Headers) {
			t.Fatalf("record %d: kmsg sees %+v", i, kr)
		}
	}
}

// rawBatch wraps an uncompressed records section (already encoded) in a
// header with the given count and last offset delta, CRC set.
func rawBatch(records []byte, count, lastDelta int32) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	b = append(b, records...)
	putHeader(b, Header{BatchLength: int32(len(b) - LogOverhead), Magic: 2, LastOffsetDelta: lastDelta,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: count})
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

// recordBytes encodes one record whose fields after the length are given
// raw, with a correct length prefix.
func recordBytes(fields ...byte) []byte {
	return append(binary.AppendVarint(nil, int64(len(fields))), fields...)
}

func TestMalformedBatches(t *testing.T) {
	good, _ := BuildBatch(CompressionNone, 0, sampleRecords())
	zig := func(v int64) []byte { return binary.AppendVarint(nil, v) }
	minimal := recordBytes(0, 0, 0, 1, 1, 0) // attrs, ts, offset, null key, null value, 0 headers
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"corrupt CRC":      {flip(good, offCRC), ErrCorrupt},
		"corrupt record":   {flip(good, HeaderSize+3), ErrCorrupt},
		"truncated":        {good[:len(good)-1], ErrTruncated},
		"truncated header": {good[:HeaderSize-1], ErrTruncated},
		"bad magic":        {setByte(good, offMagic, 1), ErrInvalid},
		"negative count":   {rawBatch(minimal, -1, 0), ErrInvalid},
		"count too big":    {rawBatch(minimal, 2, 1), ErrInvalid},
		"count too small":  {rawBatch(append(append([]byte{}, minimal...), minimal...), 1, 0), ErrInvalid},
		"huge count":       {rawBatch(minimal, 1<<31-1, 0), ErrInvalid},
		"key length -2":    {rawBatch(recordBytes(0, 0, 0, 3, 1, 0), 1, 0), ErrInvalid},
		"key too long":     {rawBatch(recordBytes(0, 0, 0, 20, 1, 0), 1, 0), ErrInvalid},
		"negative headers": {rawBatch(recordBytes(0, 0, 0, 1, 1, 1), 1, 0), ErrInvalid},
		"huge headers":     {rawBatch(recordBytes(append([]byte{0, 0, 0, 1, 1}, zig(1<<30)...)...), 1, 0), ErrInvalid},
		"null header key":  {rawBatch(recordBytes(0, 0, 0, 1, 1, 2, 1, 1), 1, 0), ErrInvalid},
		"record too short": {rawBatch(append(zig(2), 0, 0, 0, 0, 0, 0, 0), 1, 0), ErrInvalid},
		"record too long":  {rawBatch(append(zig(100), 0, 0, 0, 1, 1, 0, 0), 1, 0), ErrInvalid},
		"negative length":  {rawBatch(append(zig(-5), 0, 0, 0, 1, 1, 0, 0), 1, 0), ErrInvalid},
		"bytes in record":  {rawBatch(recordBytes(0, 0, 0, 1, 1, 0, 9), 1, 0), ErrInvalid},
		"varint overflow":  {rawBatch(recordBytes(0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 1, 0), 1, 0), ErrInvalid},
		"unknown codec":    {setAttr(rawBatch(minimal, 1, 0), 6), ErrInvalid},
		"bad compressed":   {setAttr(rawBatch(minimal, 1, 0), CompressionGzip), ErrInvalid},
	}
	for name, c := range cases {
		_, err := Records(c.b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Records: %v, want %v", name, err, c.want)
		}
		if err := ValidateRecords(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: ValidateRecords: %v, want %v", name, err, c.want)
		}
	}
	if _, err := Records(rawBatch(minimal, 1, 0)); err != nil {
		t.Fatalf("minimal record: %v", err)
	}
}

func flip(b []byte, i int) []byte { return setByte(b, i, b[i]^0x40) }
func setByte(b []byte, i int, v byte) []byte {
	b = append([]byte{}, b...)
	b[i] = v
	return b
}

// setAttr sets the compression bits and recomputes the CRC.
func setAttr(b []byte, codec int8) []byte {
	b = append([]byte{}, b...)
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(codec))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

func TestValidateRecordsOffsetDeltas(t *testing.T) {
	rec := func(delta int32) Record { return Record{OffsetDelta: delta, Value: []byte("v")} }
	cases := map[string]struct {
		recs      []Record
		lastDelta int32
		ok        bool
	}{
		"consecutive":      {[]Record{rec(0), rec(1), rec(2)}, 2, true},
		"gaps":             {[]Record{rec(0), rec(3), rec(7)}, 7, true},
		"not from zero":    {[]Record{rec(1), rec(2)}, 2, false},
		"repeated":         {[]Record{rec(0), rec(1), rec(1)}, 1, false},
		"decreasing":       {[]Record{rec(0), rec(2), rec(1)}, 2, false},
		"last != header":   {[]Record{rec(0), rec(1)}, 5, false},
		"negative delta":   {[]Record{rec(-1), rec(0)}, 0, false},
		"header says less": {[]Record{rec(0), rec(1), rec(2)}, 1, false},
	}
	for name, c := range cases {
		var raw []byte
		for _, r := range c.recs {
			raw = appendRecord(raw, &r)
		}
		err := ValidateRecords(rawBatch(raw, int32(len(c.recs)), c.lastDelta))
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := ValidateRecords(rawBatch(nil, 0, 0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty batch: %v", err)
	}
}

func TestFirstOffsetAtOrAfterTimestamp(t *testing.T) {
	recs := []Record{{TimestampDelta: 0}, {TimestampDelta: 20}, {TimestampDelta: 10}, {TimestampDelta: 30}}
	for _, c := range codecs {
		b, _ := BuildBatch(c.codec, 1000, recs)
		SetBaseOffset(b, 100)
		for _, q := range []struct {
			ts, offset, timestamp int64
			ok                    bool
		}{
			{0, 100, 1000, true}, {1000, 100, 1000, true}, {1001, 101, 1020, true},
			{1015, 101, 1020, true}, {1021, 103, 1030, true}, {1030, 103, 1030, true}, {1031, 0, 0, false},
		} {
			off, ts, ok, err := FirstOffsetAtOrAfterTimestamp(b, q.ts)
			if err != nil || ok != q.ok || off != q.offset || ts != q.timestamp {
				t.Fatalf("%s ts %d: got %d %d %v %v", c.name, q.ts, off, ts, ok, err)
			}
		}
		SetLogAppendTime(b, 5000)
		if off, ts, ok, err := FirstOffsetAtOrAfterTimestamp(b, 4000); !ok || off != 100 || ts != 5000 || err != nil {
			t.Fatalf("%s log append time: %d %d %v %v", c.name, off, ts, ok, err)
		}
	}
	if _, _, _, err := FirstOffsetAtOrAfterTimestamp([]byte{1, 2}, 0); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short: %v", err)
	}
}

// FuzzValidate feeds arbitrary bytes to Validate and Records, and again
// with the length and CRC fixed up so decoding gets past the header: no
// panic, and every error wraps one of the package's sentinels.
func FuzzValidate(f *testing.F) {
	for _, c := range codecs {
		b, _ := BuildBatch(c.codec, 0, sampleRecords()[:4])
		f.Add(b)
	}
	f.Add(rawBatch(recordBytes(0, 0, 0, 1, 1, 0), 1, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("unexpected error %v", err)
			}
		}
		_, err := Validate(b)
		check(err)
		_, err = Records(b)
		check(err)
		if len(b) < HeaderSize {
			return
		}
		fixed := append([]byte{}, b...)
		fixed[offMagic] = 2
		binary.BigEndian.PutUint32(fixed[offBatchLength:], uint32(len(fixed)-LogOverhead))
		binary.BigEndian.PutUint32(fixed[offCRC:], Checksum(fixed))
		_, err = Records(fixed)
		check(err)
		check(ValidateRecords(fixed))
		_, _, _, err = FirstOffsetAtOrAfterTimestamp(fixed, 0)
		check(err)
	})
}

func BenchmarkRecords(b *testing.B) {
	recs := make([]Record, 500)
	for i := range recs {
		recs[i] = Record{Key: []byte("key"), Value: bytes.Repeat([]byte{'v'}, 100)}
	}
	for _, c := range codecs {
		batch, _ := BuildBatch(c.codec, 0, recs)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Records(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
