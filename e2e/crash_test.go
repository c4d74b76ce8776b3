package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ack is one record the broker acknowledged with acks=all.
type ack struct {
	partition int32
	offset    int64
	value     []byte
}

// TestCrashKeepsAcknowledgedWrites stops the node while several clients
// produce with acks=all, restarts it on the same dir and port, and checks
// that every acknowledged record is readable at its offset, that offsets
// are contiguous from 0, and that producing continues at the high
// watermark. Rounds: SIGKILL, SIGKILL again (recovery over a log that
// already went through one, over many small segments), then SIGTERM
// (a clean shutdown with produce requests in flight, whose restart must
// skip recovery and still find everything).
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	const (
		topic      = "crash"
		partitions = 3
		minAcks    = 10000 // acknowledged records per round before the stop
	)
	n := startNode(t, "", "log.segment.bytes=32768")
	createTopic(t, n.admin(), topic, partitions, nil)
	var acks []ack
	for round, kill := range []bool{true, true, false} {
		stop, clean := n.kill9, "false"
		if !kill {
			stop, clean = n.stop, "true"
		}
		acks = append(acks, produceAndStop(t, n, topic, partitions, minAcks, stop)...)
		t.Logf("round %d: %d records acknowledged in all before stopping", round, len(acks))
		n.restart()
		if !strings.Contains(n.startLog(), "clean_shutdown="+clean) {
			t.Errorf("round %d: restart: storage did not log clean_shutdown=%s", round, clean)
		}
		checkAcked(t, n, topic, partitions, acks)
		if t.Failed() {
			return
		}
	}
}

// produceAndStop runs 4 acks=all producers on topic, stops the node with
// stop once at least minAcks records are acknowledged, and returns the
// acknowledged records once every producer has stopped.
func produceAndStop(t *testing.T, n *node, topic string, partitions, minAcks int, stop func()) []ack {
	t.Helper()
	const producers = 4
	var (
		mu    sync.Mutex
		acks  []ack
		acked atomic.Int64
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clients := make([]*kgo.Client, producers)
	for i := range producers {
		clients[i] = n.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(time.Millisecond), kgo.RecordDeliveryTimeout(5*time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			produceUntil(ctx, clients[i], topic, i, partitions, func(a ack) {
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
				acked.Add(1)
			})
		}()
	}
	waitFor(t, waitTimeout, fmt.Sprintf("%d acknowledged records", minAcks), func() (bool, string) {
		return acked.Load() >= int64(minAcks), fmt.Sprintf("%d acknowledged", acked.Load())
	})
	stop()
	cancel()
	for _, cl := range clients {
		cl.Close() // fails what is still buffered; no retry reaches the restarted node
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(acks)
}

// produceUntil produces records to topic (round robin over the
// partitions, at most 256 in flight) until ctx ends, reporting each
// acknowledged one. It returns once every promise has completed.
func produceUntil(ctx context.Context, cl *kgo.Client, topic string, producer, partitions int, onAck func(ack)) {
	run := time.Now().UnixNano()
	var inflight sync.WaitGroup
	sem := make(chan struct{}, 256)
	defer inflight.Wait()
	for seq := 0; ; seq++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		rec := &kgo.Record{
			Topic: topic, Partition: int32(seq % partitions),
			Value: fmt.Appendf(nil, "run %d producer %d seq %d %s", run, producer, seq, strings.Repeat("x", 48)),
		}
		inflight.Add(1)
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			defer inflight.Done()
			<-sem
			if err == nil {
				onAck(ack{r.Partition, r.Offset, r.Value})
			}
		})
	}
}

// checkAcked reads the whole topic and checks that offsets are contiguous
// from 0, that every acknowledged record is at its offset, and that a new
// record lands at the high watermark in every partition.
func checkAcked(t *testing.T, n *node, topic string, partitions int, acks []ack) {
	t.Helper()
	adm := n.admin()
	starts := offsets(t, adm.ListStartOffsets, topic)
	ends := offsets(t, adm.ListEndOffsets, topic)
	for p := range int32(partitions) {
		if starts[p] != 0 {
			t.Errorf("%s[%d]: log start offset %d after restart, want 0", topic, p, starts[p])
		}
	}
	got := consumeRange(t, n, topic, starts, ends)
	for p := range int32(partitions) {
		checkContiguous(t, topic, p, got[p], 0, ends[p])
	}
	lost := 0
	for _, a := range acks {
		recs := got[a.partition]
		switch {
		case a.offset >= int64(len(recs)):
			t.Errorf("%s[%d]: acknowledged offset %d (%q) is past the end offset %d after the crash",
				topic, a.partition, a.offset, a.value, ends[a.partition])
		case !bytes.Equal(recs[a.offset].Value, a.value):
			t.Errorf("%s[%d] offset %d: value %q, but %q was acknowledged there",
				topic, a.partition, a.offset, recs[a.offset].Value, a.value)
		default:
			continue
		}
		if lost++; lost >= 10 {
			t.Fatalf("too many acknowledged records lost or changed")
		}
	}
	checkProduceAtEnd(t, n, topic, int32(partitions), ends)
}

// checkProduceAtEnd produces one record to each partition with acks=all
// and checks it lands at ends[p] (the high watermark before) and reads
// back.
func checkProduceAtEnd(t *testing.T, n *node, topic string, partitions int32, ends map[int32]int64) {
	t.Helper()
	cl := n.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	next := map[int32]int64{}
	for p := range partitions {
		value := fmt.Appendf(nil, "after restart %d", p)
		r, err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: topic, Partition: p, Value: value}).First()
		if err != nil {
			t.Fatalf("%s[%d]: produce after restart: %v", topic, p, err)
		}
		if r.Offset != ends[p] {
			t.Errorf("%s[%d]: produce after restart got offset %d, want the previous high watermark %d", topic, p, r.Offset, ends[p])
		}
		next[p] = ends[p] + 1
	}
	got := consumeRange(t, n, topic, ends, next)
	for p := range partitions {
		want := fmt.Sprintf("after restart %d", p)
		if len(got[p]) != 1 || string(got[p][0].Value) != want || got[p][0].Offset != ends[p] {
			t.Errorf("%s[%d]: reading offset %d after restart: got %v, want %q", topic, p, ends[p], got[p], want)
		}
	}
}

// TestCorruptTailIsCutOff damages the active segment of a partition while
// the node is down after an unclean stop (SIGKILL, or SIGTERM with the
// clean-shutdown marker removed and the recovery points set back to 0) —
// a flipped byte in the last batch, a
// flipped byte in a middle batch, or a torn last batch — restarts it, and
// checks that the log is cut at the damaged batch (the end offset is its
// base offset and the file ends where it began), every earlier record
// reads back intact, the other partition is untouched, and new records
// take the freed offsets (so the damaged bytes are never served).
func TestCorruptTailIsCutOff(t *testing.T) {
	cases := []struct {
		name   string
		kill   bool // SIGKILL, else SIGTERM and remove the marker
		middle bool // damage a middle batch, else the last
		torn   bool // cut the batch short, else flip its last byte
	}{
		{name: "sigkill-flip-last", kill: true},
		{name: "sigterm-without-marker-flip-last"},
		{name: "sigkill-flip-middle", kill: true, middle: true},
		{name: "sigkill-torn-last", kill: true, torn: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const topic = "tail"
			n := startNode(t, "")
			createTopic(t, n.admin(), topic, 2, nil)
			produced := produceBatches(t, n, topic, "tail", 2, 20, 10)
			if tc.kill {
				n.kill9()
			} else {
				n.stop()
				marker := filepath.Join(n.dir, ".kafka_cleanshutdown")
				if err := os.Remove(marker); err != nil {
					t.Fatalf("clean shutdown left no marker to remove: %v", err)
				}
				// A shutdown cut short before its checkpoints and marker:
				// the recovery points on disk are older (here 0). What
				// lies below a recovery point was fsynced and is not
				// re-checked, so the damage must lie above it.
				zeroRecoveryPoints(t, n.dir)
			}
			seg := activeSegment(t, n.partitionDir(topic, 0))
			all := batches(t, seg)
			last := all[len(all)-1]
			if end := last.base + int64(last.records); end != int64(len(produced[0])) {
				t.Fatalf("%s: last batch [%d, %d) does not end at the %d records produced", seg, last.base, end, len(produced[0]))
			}
			bad := last
			if tc.middle {
				bad = all[len(all)/2]
			}
			if tc.torn {
				if err := os.Truncate(seg, bad.pos+bad.size/2); err != nil {
					t.Fatal(err)
				}
			} else {
				flipByte(t, seg, bad.pos+bad.size-1)
			}

			n.restart()
			adm := n.admin()
			ends := offsets(t, adm.ListEndOffsets, topic)
			if ends[0] != bad.base {
				t.Fatalf("%s[0]: end offset %d after restart, want %d (the damaged batch's base offset)", topic, ends[0], bad.base)
			}
			if want := int64(len(produced[1])); ends[1] != want {
				t.Errorf("%s[1]: end offset %d after restart, want %d (untouched partition)", topic, ends[1], want)
			}
			if fi, err := os.Stat(seg); err != nil || fi.Size() != bad.pos {
				t.Errorf("%s: after recovery the segment has %v bytes (err %v), want it cut at %d", seg, fi.Size(), err, bad.pos)
			}
			got := consumeRange(t, n, topic, map[int32]int64{0: 0, 1: 0}, ends)
			for p := range int32(2) {
				checkContiguous(t, topic, p, got[p], 0, ends[p])
				for i, r := range got[p] {
					if want := produced[p][i]; !bytes.Equal(r.Value, want.Value) || !bytes.Equal(r.Key, want.Key) {
						t.Fatalf("%s[%d] offset %d: read %q=%q, want %q=%q", topic, p, r.Offset, r.Key, r.Value, want.Key, want.Value)
					}
				}
			}
			checkProduceAtEnd(t, n, topic, 2, ends)
		})
	}
}

// produceBatches produces batches batches of size records to each of
// partitions partitions, one synchronous produce per batch, values tagged
// with tag, and returns the records per partition in offset order
// (checking the offsets are 0, 1, ...).
func produceBatches(t *testing.T, n *node, topic, tag string, partitions int32, batches, size int) map[int32][]*kgo.Record {
	t.Helper()
	cl := n.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	out := map[int32][]*kgo.Record{}
	for b := range batches {
		var recs []*kgo.Record
		for p := range partitions {
			for i := range size {
				recs = append(recs, &kgo.Record{
					Topic: topic, Partition: p,
					Key:   fmt.Appendf(nil, "k%d-%d-%d", p, b, i),
					Value: fmt.Appendf(nil, "%s value %d-%d-%d %s", tag, p, b, i, strings.Repeat("v", 50)),
				})
			}
		}
		if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
			t.Fatalf("produce batch %d: %v", b, err)
		}
		for _, r := range recs {
			out[r.Partition] = append(out[r.Partition], r)
		}
	}
	for p, recs := range out {
		slices.SortFunc(recs, func(a, b *kgo.Record) int { return int(a.Offset - b.Offset) })
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("%s[%d]: produced record %d got offset %d", topic, p, i, r.Offset)
			}
		}
	}
	return out
}

// activeSegment returns the path of the .log file with the highest base
// offset in dir.
func activeSegment(t *testing.T, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no .log files in %s (%v)", dir, err)
	}
	slices.Sort(logs) // 20-digit zero-padded base offsets sort as numbers
	return logs[len(logs)-1]
}

// batchPos is where a record batch lies in a segment file.
type batchPos struct {
	pos, size int64 // byte position and total size (12-byte prefix included)
	base      int64
	records   int32
}

// batches walks the batch headers of a segment file (8-byte base offset,
// 4-byte length of the rest) and returns its batches, which must fill the
// file exactly.
func batches(t *testing.T, path string) []batchPos {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []batchPos
	for pos := int64(0); pos < int64(len(data)); {
		if int64(len(data))-pos < 61 {
			t.Fatalf("%s: %d trailing bytes at position %d, too short for a batch", path, int64(len(data))-pos, pos)
		}
		base := int64(binary.BigEndian.Uint64(data[pos:]))
		size := 12 + int64(binary.BigEndian.Uint32(data[pos+8:]))
		if size < 61 || pos+size > int64(len(data)) {
			t.Fatalf("%s: batch at position %d has bad length %d (file size %d)", path, pos, size, len(data))
		}
		out = append(out, batchPos{pos: pos, size: size, base: base, records: int32(binary.BigEndian.Uint32(data[pos+57:]))})
		pos += size
	}
	if len(out) < 3 {
		t.Fatalf("%s holds %d batches, want at least 3", path, len(out))
	}
	return out
}

// flipByte inverts the byte at pos of the file at path.
func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

// TestCrashDuringRetention SIGKILLs the node while clients produce with
// acks=all into a topic whose tiny segments retention deletes as fast as
// they roll, then checks after each restart that the log start offset
// lies in the first remaining segment, that offsets are contiguous from
// it to the end, that every acknowledged record not yet deleted is at its
// offset, and that producing continues at the end.
func TestCrashDuringRetention(t *testing.T) {
	const (
		topic      = "crash-retention"
		partitions = 3
	)
	n := startNode(t, "", "log.segment.bytes=16384", "log.retention.check.interval.ms=50")
	adm := n.admin()
	createTopic(t, adm, topic, partitions, map[string]*string{"retention.ms": ptr("300")})
	var acks []ack
	for round := range 3 {
		acks = append(acks, produceAndStop(t, n, topic, partitions, 8000, n.kill9)...)
		n.restart()
		// Freeze retention so the offsets below stay put while checked.
		alterConfig(t, adm, topic, "retention.ms", "-1")
		starts := offsets(t, adm.ListStartOffsets, topic)
		ends := offsets(t, adm.ListEndOffsets, topic)
		t.Logf("round %d: log start offsets %v, end offsets %v", round, starts, ends)
		got := consumeRange(t, n, topic, starts, ends)
		for p := range int32(partitions) {
			checkContiguous(t, topic, p, got[p], starts[p], ends[p])
			bases := append(segmentBases(t, n.partitionDir(topic, p)), ends[p]+1)
			if starts[p] < bases[0] || starts[p] >= max(bases[1], bases[0]+1) {
				t.Errorf("%s[%d]: log start offset %d outside the first segment (bases %v)", topic, p, starts[p], bases[:len(bases)-1])
			}
		}
		for _, a := range acks {
			recs, start := got[a.partition], starts[a.partition]
			switch {
			case a.offset >= ends[a.partition]:
				t.Fatalf("%s[%d]: acknowledged offset %d is past the end offset %d", topic, a.partition, a.offset, ends[a.partition])
			case a.offset >= start && !bytes.Equal(recs[a.offset-start].Value, a.value):
				t.Fatalf("%s[%d] offset %d: value %q, but %q was acknowledged there", topic, a.partition, a.offset, recs[a.offset-start].Value, a.value)
			}
		}
		checkProduceAtEnd(t, n, topic, partitions, ends)
		alterConfig(t, adm, topic, "retention.ms", "300")
	}
}

// zeroRecoveryPoints rewrites the recovery-point checkpoint of the log
// dir with every partition's recovery point at 0.
func zeroRecoveryPoints(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "recovery-point-offset-checkpoint")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := 2; i < len(lines); i++ {
		f := strings.Fields(lines[i])
		if len(f) != 3 {
			t.Fatalf("%s line %d: %q", path, i+1, lines[i])
		}
		lines[i] = f[0] + " " + f[1] + " 0"
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
