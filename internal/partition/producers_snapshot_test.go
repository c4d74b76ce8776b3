package partition

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fjordlog/fjord/internal/storage"
)

func TestProducerSnapshotRoundTrip(t *testing.T) {
	ps := producers{}
	for id := int64(1); id <= 3; id++ {
		for seq := int32(0); seq < int32(id)*3; seq++ {
			ps.record(idempotentHeader(id, int16(id), seq, int64(seq)*10))
		}
	}
	b := ps.encode()
	got, err := decodeProducers(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		e.refused = nil
	}
	if !reflect.DeepEqual(got, ps) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, ps)
	}
	for i := range b { // any damaged byte is detected
		c := append([]byte(nil), b...)
		c[i] ^= 0x10
		if _, err := decodeProducers(c); err == nil {
			t.Fatalf("byte %d flipped: decoded", i)
		}
	}
	for n := range len(b) {
		if _, err := decodeProducers(b[:n]); err == nil {
			t.Fatalf("cut to %d bytes: decoded", n)
		}
	}
}

// A version-1 snapshot (before the last timestamps) still loads: its
// producers keep their batches, with timestamps unknown.
func TestProducerSnapshotVersion1(t *testing.T) {
	v1 := binary.BigEndian.AppendUint16(nil, 1)
	v1 = append(v1, 0, 0, 0, 0)                 // crc, below
	v1 = binary.BigEndian.AppendUint32(v1, 1)   // one producer
	v1 = binary.BigEndian.AppendUint64(v1, 7)   // id
	v1 = binary.BigEndian.AppendUint16(v1, 3)   // epoch
	v1 = append(v1, 1)                          // one batch
	v1 = binary.BigEndian.AppendUint32(v1, 10)  // first seq
	v1 = binary.BigEndian.AppendUint32(v1, 12)  // last seq
	v1 = binary.BigEndian.AppendUint64(v1, 100) // first offset
	v1 = binary.BigEndian.AppendUint64(v1, 102) // last offset
	binary.BigEndian.PutUint32(v1[2:], crc32.Checksum(v1[6:], crc32c))
	got, err := decodeProducers(v1)
	if err != nil {
		t.Fatal(err)
	}
	want := producers{7: {epoch: 3, batches: []producerBatch{{10, 12, 100, 102}}, lastTimestamp: unknownTimestamp, txnFirst: -1, coordEpoch: -1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("version 1:\n got %+v\nwant %+v", got[7], want[7])
	}
}

// A version-2 snapshot (before transactions) still loads: no open
// transactions, coordinator epochs unknown.
func TestProducerSnapshotVersion2(t *testing.T) {
	v2 := binary.BigEndian.AppendUint16(nil, 2)
	v2 = append(v2, 0, 0, 0, 0)                 // crc, below
	v2 = binary.BigEndian.AppendUint32(v2, 1)   // one producer
	v2 = binary.BigEndian.AppendUint64(v2, 7)   // id
	v2 = binary.BigEndian.AppendUint16(v2, 3)   // epoch
	v2 = binary.BigEndian.AppendUint64(v2, 55)  // last timestamp
	v2 = append(v2, 1)                          // one batch
	v2 = binary.BigEndian.AppendUint32(v2, 10)  // first seq
	v2 = binary.BigEndian.AppendUint32(v2, 12)  // last seq
	v2 = binary.BigEndian.AppendUint64(v2, 100) // first offset
	v2 = binary.BigEndian.AppendUint64(v2, 102) // last offset
	binary.BigEndian.PutUint32(v2[2:], crc32.Checksum(v2[6:], crc32c))
	got, err := decodeProducers(v2)
	if err != nil {
		t.Fatal(err)
	}
	want := producers{7: {epoch: 3, batches: []producerBatch{{10, 12, 100, 102}}, lastTimestamp: 55, txnFirst: -1, coordEpoch: -1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("version 2:\n got %+v\nwant %+v", got[7], want[7])
	}
}

// Version 3 carries the open transaction and the coordinator epoch, and
// producers without cached batches; two producers' transactions cannot
// start at one offset.
func TestProducerSnapshotTransactions(t *testing.T) {
	ps := producers{
		7: {epoch: 1, batches: []producerBatch{{0, 1, 4, 5}}, lastTimestamp: 9, txnFirst: 4, coordEpoch: 2},
		8: {epoch: 0, lastTimestamp: 10, txnFirst: 6, coordEpoch: -1},
		9: {epoch: 5, lastTimestamp: 11, txnFirst: -1, coordEpoch: 3},
	}
	got, err := decodeProducers(ps.encode())
	if err != nil || !reflect.DeepEqual(got, ps) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, ps)
	}
	if ts := newTxnState(got); !reflect.DeepEqual(ts.ongoing, map[int64]int64{4: 7, 6: 8}) {
		t.Fatalf("open transactions %v", ts.ongoing)
	}
	ps[8].txnFirst = 4
	if _, err := decodeProducers(ps.encode()); !errors.Is(err, errSnapshot) {
		t.Fatalf("two transactions at one offset: %v", err)
	}
}

// FuzzDecodeProducerSnapshot: any bytes decode to a state or an error;
// a state encodes back to the same bytes.
func FuzzDecodeProducerSnapshot(f *testing.F) {
	ps := producers{}
	ps.record(idempotentHeader(7, 1, 0, 0))
	ps.record(idempotentHeader(9, 0, 5, 3))
	f.Add(ps.encode())
	f.Add(producers{}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeProducers(b)
		if err != nil || binary.BigEndian.Uint16(b) != snapshotVersion {
			return
		}
		if again := got.encode(); string(again) != string(b) {
			t.Fatalf("decoded state encodes differently")
		}
	})
}

// The dedup state of a producer that went quiet survives a crash however
// much was written after it: the replica loads the newest snapshot and
// replays only what follows. Without the snapshots, a scan bounded as
// producerRebuildBytes is loses it (the control).
func TestProducerStateSurvivesCrash(t *testing.T) {
	old := producerRebuildBytes
	producerRebuildBytes = 1024
	t.Cleanup(func() { producerRebuildBytes = old })
	cfg := testConfig(1)
	cfg.Storage.SegmentBytes = 4096
	e := newEnv(t, 1, newClock(), cfg)
	e.lead(1, 0, []int32{1}, []int32{1})
	first, err := e.p.AppendAsLeader(idempotentBatch(t, 0), -1)
	if err != nil {
		t.Fatal(err)
	}
	e.produceBatches(300) // several rolls, each saving a snapshot
	if ok, err := e.p.FlushTail(1); !ok || err != nil {
		t.Fatalf("FlushTail: %v %v", ok, err)
	}
	e.produceBatches(5)
	snaps := e.log.Snapshots()
	if len(snaps) < 3 {
		t.Fatalf("snapshots %v, want several", snaps)
	}
	if last := snaps[len(snaps)-1]; last != e.log.LogEndOffset()-5 {
		t.Fatalf("newest snapshot at %d, want FlushTail's at %d", last, e.log.LogEndOffset()-5)
	}

	retry := func(t *testing.T, p *Partition) AppendResult {
		t.Helper()
		p.SetState(State{Leader: 1, LeaderEpoch: 2, Replicas: []int32{1}, ISR: []int32{1}})
		res, err := p.AppendAsLeader(idempotentBatch(t, 0), -1)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	p := reopen(t, e.log.Dir(), cfg) // a crash: not closed, recovered from 0
	if res := retry(t, p); res.BaseOffset != first.BaseOffset {
		t.Fatalf("retried batch went to %d, want its first offset %d (deduplicated)", res.BaseOffset, first.BaseOffset)
	}
	if _, err := p.AppendAsLeader(idempotentBatch(t, 2), -1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("a gap after the restart: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER (the last sequence is known)", err)
	}

	for _, s := range p.Log().Snapshots() {
		must(t, os.Remove(filepath.Join(p.Log().Dir(), storage.SnapshotFileName(s))))
	}
	p2 := reopen(t, e.log.Dir(), cfg)
	if res := retry(t, p2); res.BaseOffset == first.BaseOffset {
		t.Fatal("without snapshots the bounded scan still found the producer: the test proves nothing")
	}
}

// A follower saves snapshots at the segment bases it rolls to, with the
// state as of each base; reloaded, its state equals the leader's.
func TestFollowerSnapshotsAtRolls(t *testing.T) {
	clk := newClock()
	cfg := testConfig(1)
	cfg.Storage.SegmentBytes = 4096
	l, f := newEnv(t, 1, clk, cfg), newEnv(t, 2, clk, cfg)
	l.lead(1, 0, []int32{1, 2}, []int32{1, 2})
	f.follow(1, 1, 0, []int32{1, 2}, []int32{1, 2})
	for seq := range int32(40) {
		if _, err := l.p.AppendAsLeader(idempotentBatch(t, seq), 1); err != nil {
			t.Fatal(err)
		}
		l.produceBatches(3)
	}
	catchUp(t, l, f)
	bases := map[int64]bool{}
	for _, s := range f.log.Segments() {
		bases[s.BaseOffset] = true
	}
	snaps := f.log.Snapshots()
	if len(snaps) < 2 {
		t.Fatalf("follower snapshots %v", snaps)
	}
	for _, s := range snaps {
		if !bases[s] {
			t.Fatalf("follower snapshot at %d, not a segment base %v", s, bases)
		}
	}
	fp := reopen(t, f.log.Dir(), cfg)
	lp := reopen(t, l.log.Dir(), cfg)
	if string(fp.producers.encode()) != string(lp.producers.encode()) {
		t.Fatal("reloaded follower state differs from the leader's")
	}
}

// reopen opens the log in dir again (recovering it from offset 0, as
// after a crash) and wraps it in a new partition.
func reopen(t *testing.T, dir string, cfg Config) *Partition {
	t.Helper()
	l, err := storage.Open(dir, storage.Options{Config: cfg.Storage, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return New(Options{Topic: "t", LocalID: 1, Log: l, Config: cfg, Logger: discard})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
