package storage

import (
	"testing"
)

// benchBatch is ~16 KiB: 16 records of 1 KiB.
func benchBatch() []byte { return makeBatch(0, 16, 1024, 1_700_000_000_000) }

func BenchmarkAppend(b *testing.B) {
	l := openLog(b, b.TempDir(), Options{Config: DefaultConfig()})
	defer l.Close()
	batch := benchBatch()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.AppendAsLeader(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	l := openLog(b, b.TempDir(), Options{Config: DefaultConfig()})
	defer l.Close()
	batch := benchBatch()
	for range 512 { // 8 MiB
		if _, err := l.AppendAsLeader(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		ri, err := l.Read(off, 1<<20, leo, true)
		if err != nil || len(ri.Bytes) == 0 {
			b.Fatal(err)
		}
		off = (off + 16*64 + 5) % (leo - 16*64)
	}
}

func BenchmarkIndexLookup(b *testing.B) {
	x := newOffsetIndex(10 << 20)
	const n = 200_000
	for i := range n {
		x.append(int32(i*16+15), int64(i)*16_500)
	}
	b.ReportAllocs()
	rel := int32(0)
	for b.Loop() {
		x.lookup(rel)
		rel = (rel + 7919) % (n * 16)
	}
}
