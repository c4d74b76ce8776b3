package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// producerSpec is one producing client of TestProduceConsumeAll: an acks
// level and a compression codec.
type producerSpec struct {
	acks      kgo.Acks
	acksName  string
	codec     kgo.CompressionCodec
	codecName string
	codecID   uint8 // the batch attribute the consumer must see
}

func producerSpecs() []producerSpec {
	acks := []struct {
		a    kgo.Acks
		name string
	}{{kgo.AllISRAcks(), "all"}, {kgo.LeaderAck(), "1"}, {kgo.NoAck(), "0"}}
	codecs := []struct {
		c    kgo.CompressionCodec
		name string
		id   uint8
	}{
		{kgo.GzipCompression(), "gzip", 1}, {kgo.SnappyCompression(), "snappy", 2},
		{kgo.Lz4Compression(), "lz4", 3}, {kgo.ZstdCompression(), "zstd", 4},
		{kgo.NoCompression(), "none", 0},
	}
	var out []producerSpec
	for _, a := range acks {
		for _, c := range codecs {
			out = append(out, producerSpec{a.a, a.name, c.c, c.name, c.id})
		}
	}
	return out
}

// sent is what the test produced for one record and, for acks=1/all,
// where the broker said it put it.
type sent struct {
	producer int
	seq      int
	rec      *kgo.Record // key, value, headers, timestamp, partition as produced
	acked    bool
	offset   int64
}

const (
	allTopic      = "acceptance"
	allPartitions = 6
	allRecords    = 100_000
	allPhases     = 5
	phaseSpanMs   = 10_000 // timestamps of phase k lie in [t0 + k*span, t0 + k*span + 1000)
)

// TestProduceConsumeAll produces 100,000 records with every acks level and
// compression codec concurrently into 6 partitions, then reads everything
// back and checks counts, contiguous offsets, order, content, the offsets
// the broker acknowledged, and ListOffsets (earliest, latest, by time).
//
// Production runs in phases; between phases the test waits until every
// record (acks=0 included) is in the log, so each phase occupies a known
// offset range per partition and its timestamps (all later than the
// previous phase's) make ListOffsets by timestamp exactly predictable.
func TestProduceConsumeAll(t *testing.T) {
	// Small segments: reads, indexes and timestamp lookups cross many
	// segment boundaries.
	n := startNode(t, "", "log.segment.bytes=131072")
	adm := n.admin()
	createTopic(t, adm, allTopic, allPartitions, nil)

	specs := producerSpecs()
	clients := make([]*kgo.Client, len(specs))
	for i, s := range specs {
		clients[i] = n.client(kgo.RequiredAcks(s.acks), kgo.ProducerBatchCompression(s.codec),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli()
	var (
		mu      sync.Mutex
		all     = map[string]*sent{}
		errs    []string
		total   int64
		phaseAt []map[int32]int64 // end offsets before phase k
	)
	for phase := range allPhases {
		ends := offsets(t, adm.ListEndOffsets, allTopic)
		phaseAt = append(phaseAt, ends)
		var wg sync.WaitGroup
		for i := range specs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				recs := producePhase(clients[i], i, phase, t0, specs[i], &mu, &errs)
				mu.Lock()
				for _, s := range recs {
					all[string(s.rec.Key)] = s
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("phase %d: %d produce errors, first: %s", phase, len(errs), errs[0])
		}
		total = int64(len(all))
		waitFor(t, waitTimeout, fmt.Sprintf("phase %d: all %d records (acks=0 included) in the log", phase, total), func() (bool, string) {
			ends, err := tryOffsets(adm.ListEndOffsets, allTopic)
			if err != nil {
				return false, err.Error()
			}
			var sum int64
			for _, e := range ends {
				sum += e
			}
			return sum == total, fmt.Sprintf("end offsets %v sum to %d", ends, sum)
		})
	}
	if total != allRecords {
		t.Fatalf("produced %d records, want %d", total, allRecords)
	}

	starts := offsets(t, adm.ListStartOffsets, allTopic)
	ends := offsets(t, adm.ListEndOffsets, allTopic)
	perPartition := map[int32]int64{}
	for _, s := range all {
		perPartition[s.rec.Partition]++
	}
	for p := range int32(allPartitions) {
		if starts[p] != 0 {
			t.Errorf("ListOffsets earliest of partition %d = %d, want 0", p, starts[p])
		}
		if ends[p] != perPartition[p] {
			t.Errorf("ListOffsets latest of partition %d = %d, want %d (records produced to it)", p, ends[p], perPartition[p])
		}
	}
	got := consumeRange(t, n, allTopic, starts, ends)
	for p := range int32(allPartitions) {
		checkPartition(t, p, got[p], all, perPartition[p], specs)
	}
	checkAllArrived(t, got, all)
	checkCodecsUsed(t, got, all, specs)
	checkListByTime(t, n, got, phaseAt, t0)
	checkSmallReads(t, n, got)
	if t.Failed() {
		return
	}

	// After an unclean restart (indexes rebuilt by recovery) and a clean
	// one (indexes loaded from their files) the same lookups and reads
	// give the same answers.
	for _, stop := range []struct {
		name string
		do   func()
	}{{"SIGKILL", n.kill9}, {"SIGTERM", n.stop}} {
		stop.do()
		n.restart()
		if s, e := offsets(t, adm.ListStartOffsets, allTopic), offsets(t, adm.ListEndOffsets, allTopic); !maps.Equal(s, starts) || !maps.Equal(e, ends) {
			t.Fatalf("after %s and restart: start offsets %v, end offsets %v; want %v, %v", stop.name, s, e, starts, ends)
		}
		checkListByTime(t, n, got, phaseAt, t0)
		checkSmallReads(t, n, got)
	}
}

// checkSmallReads reads short ranges of every partition — from the
// middle of a batch, across each segment boundary, the last records — with
// a consumer whose fetch limits (2 KiB) are smaller than most batches, and
// checks they match the full read (got).
func checkSmallReads(t *testing.T, n *node, got map[int32][]*kgo.Record) {
	t.Helper()
	type span struct{ from, to int64 }
	var spans []map[int32]span
	add := func(p int32, from, to int64) {
		from, to = max(from, 0), min(to, int64(len(got[p])))
		for _, m := range spans {
			if _, taken := m[p]; !taken {
				m[p] = span{from, to}
				return
			}
		}
		spans = append(spans, map[int32]span{p: {from, to}})
	}
	for p := range int32(allPartitions) {
		end := int64(len(got[p]))
		add(p, end/2+1, end/2+40)
		add(p, end-25, end)
		bases := segmentBases(t, n.partitionDir(allTopic, p))
		if len(bases) < 3 {
			t.Errorf("%s[%d]: only %d segments; the test means to cross segment boundaries", allTopic, p, len(bases))
		}
		for _, base := range bases[1:] {
			add(p, base-20, base+20)
		}
	}
	small := []kgo.Opt{kgo.FetchMaxBytes(2048), kgo.FetchMaxPartitionBytes(2048)}
	for _, m := range spans {
		from, to := map[int32]int64{}, map[int32]int64{}
		for p, s := range m {
			from[p], to[p] = s.from, s.to
		}
		read := consumeRange(t, n, allTopic, from, to, small...)
		for p, recs := range read {
			checkContiguous(t, allTopic, p, recs, from[p], to[p])
			for _, r := range recs {
				want := got[p][r.Offset]
				if !bytes.Equal(r.Key, want.Key) || !bytes.Equal(r.Value, want.Value) {
					t.Fatalf("%s[%d] offset %d: reading [%d, %d) gave key %q, the full read %q", allTopic, p, r.Offset, from[p], to[p], r.Key, want.Key)
				}
			}
		}
	}
}

// producePhase produces this client's share of one phase, spread over
// all partitions, waits for every promise, and returns what it sent.
// Produce errors are appended to errs.
func producePhase(cl *kgo.Client, producer, phase int, t0 int64, spec producerSpec, mu *sync.Mutex, errs *[]string) []*sent {
	per := allRecords / allPhases
	specsN := len(producerSpecs())
	count := per / specsN
	if producer < per%specsN {
		count++
	}
	rng := rand.New(rand.NewPCG(uint64(producer), uint64(phase)))
	out := make([]*sent, count)
	var wg sync.WaitGroup
	for j := range count {
		seq := phase*(per/specsN+1) + j
		s := &sent{producer: producer, seq: seq, rec: makeRecord(rng, producer, seq, phase, t0, spec)}
		out[j] = s
		wg.Add(1)
		cl.Produce(context.Background(), s.rec, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				*errs = append(*errs, fmt.Sprintf("producer %d (acks=%s, %s) key %s: %v", producer, spec.acksName, spec.codecName, r.Key, err))
				mu.Unlock()
				return
			}
			if spec.acksName != "0" {
				s.acked, s.offset = true, r.Offset
			}
		})
	}
	wg.Wait()
	return out
}

// makeRecord builds a record with a unique key, a ~100-byte value, one or
// two headers and an explicit timestamp inside the phase's time span.
func makeRecord(rng *rand.Rand, producer, seq, phase int, t0 int64, spec producerSpec) *kgo.Record {
	key := fmt.Sprintf("k-%02d-%06d", producer, seq)
	filler := make([]byte, 40+rng.IntN(40))
	for i := range filler {
		filler[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
	}
	value := fmt.Appendf(nil, "producer=%d acks=%s codec=%s seq=%d %s", producer, spec.acksName, spec.codecName, seq, filler)
	headers := []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", seq)}}
	if seq%2 == 0 {
		headers = append(headers, kgo.RecordHeader{Key: "trace-" + spec.codecName, Value: filler[:rng.IntN(len(filler))]})
	}
	ts := t0 + int64(phase)*phaseSpanMs + int64(rng.IntN(1000))
	return &kgo.Record{
		Topic: allTopic, Partition: int32(rng.IntN(allPartitions)),
		Key: []byte(key), Value: value, Headers: headers, Timestamp: time.UnixMilli(ts),
	}
}

// checkPartition checks one partition's records: contiguous offsets from
// 0, each record one the test produced to this partition, acknowledged
// records at exactly their acknowledged offset, each producer's records
// in the order it produced them, and the producer's compression codec.
func checkPartition(t *testing.T, p int32, recs []*kgo.Record, all map[string]*sent, want int64, specs []producerSpec) {
	t.Helper()
	checkContiguous(t, allTopic, p, recs, 0, want)
	lastSeq := map[int]int{}
	bad := 0
	for _, r := range recs {
		if msg := checkRecord(r, p, all, lastSeq, specs); msg != "" {
			t.Errorf("%s[%d] offset %d: %s", allTopic, p, r.Offset, msg)
			if bad++; bad >= 10 {
				t.Fatalf("%s[%d]: too many bad records", allTopic, p)
			}
		}
	}
}

func checkRecord(r *kgo.Record, p int32, all map[string]*sent, lastSeq map[int]int, specs []producerSpec) string {
	s, ok := all[string(r.Key)]
	if !ok {
		return fmt.Sprintf("unknown key %q", r.Key)
	}
	want := s.rec
	switch {
	case want.Partition != p:
		return fmt.Sprintf("key %s was produced to partition %d", r.Key, want.Partition)
	case s.acked && s.offset != r.Offset:
		return fmt.Sprintf("key %s was acknowledged at offset %d", r.Key, s.offset)
	case !bytes.Equal(r.Value, want.Value):
		return fmt.Sprintf("key %s: value %q, want %q", r.Key, r.Value, want.Value)
	case r.Timestamp.UnixMilli() != want.Timestamp.UnixMilli():
		return fmt.Sprintf("key %s: timestamp %d, want %d", r.Key, r.Timestamp.UnixMilli(), want.Timestamp.UnixMilli())
	case !sameHeaders(r.Headers, want.Headers):
		return fmt.Sprintf("key %s: headers %v, want %v", r.Key, r.Headers, want.Headers)
	case r.Attrs.CompressionType() != specs[s.producer].codecID && r.Attrs.CompressionType() != 0:
		// kgo sends a batch uncompressed when compressing does not
		// shrink it.
		return fmt.Sprintf("key %s: batch compression %d, want %d (%s) or 0", r.Key, r.Attrs.CompressionType(),
			specs[s.producer].codecID, specs[s.producer].codecName)
	}
	if last, ok := lastSeq[s.producer]; ok && s.seq <= last {
		return fmt.Sprintf("key %s (producer %d seq %d) after seq %d of the same producer: out of order", r.Key, s.producer, s.seq, last)
	}
	lastSeq[s.producer] = s.seq
	return ""
}

func sameHeaders(a, b []kgo.RecordHeader) bool {
	return slices.EqualFunc(a, b, func(x, y kgo.RecordHeader) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value)
	})
}

// checkCodecsUsed checks that every producer's codec really was used for
// some of its batches, so the test did not silently run uncompressed.
func checkCodecsUsed(t *testing.T, got map[int32][]*kgo.Record, all map[string]*sent, specs []producerSpec) {
	t.Helper()
	compressed := make([]int, len(specs))
	for _, recs := range got {
		for _, r := range recs {
			if s, ok := all[string(r.Key)]; ok && r.Attrs.CompressionType() != 0 {
				compressed[s.producer]++
			}
		}
	}
	for i, s := range specs {
		if s.codecID != 0 && compressed[i] == 0 {
			t.Errorf("producer %d (acks=%s, %s): no record arrived in a %s batch", i, s.acksName, s.codecName, s.codecName)
		}
	}
}

// checkAllArrived checks that every produced key, acks=0 included, was
// read exactly once.
func checkAllArrived(t *testing.T, got map[int32][]*kgo.Record, all map[string]*sent) {
	t.Helper()
	seen := make(map[string]int, len(all))
	for _, recs := range got {
		for _, r := range recs {
			seen[string(r.Key)]++
		}
	}
	var missing, dup []string
	for k := range all {
		switch seen[k] {
		case 0:
			missing = append(missing, k)
		case 1:
		default:
			dup = append(dup, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(dup)
	if len(missing) > 0 {
		t.Errorf("%d produced records never read back, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	if len(dup) > 0 {
		t.Errorf("%d records read more than once, e.g. %v", len(dup), dup[:min(5, len(dup))])
	}
}

// checkListByTime checks ListOffsets by timestamp at the start of the
// middle phases (the first offset of that phase in each partition, which
// is also the first record in the log with a timestamp >= the target, and
// that record's timestamp), and past the last record (the end offset).
func checkListByTime(t *testing.T, n *node, got map[int32][]*kgo.Record, phaseAt []map[int32]int64, t0 int64) {
	t.Helper()
	adm := n.admin()
	for _, phase := range []int{1, 2, 3, allPhases} {
		ts := t0 + int64(phase)*phaseSpanMs
		listed := listAfterMilli(t, adm, ts)
		for p := range int32(allPartitions) {
			recs := got[p]
			want := firstAtOrAfter(recs, ts)
			if phase < allPhases && want != phaseAt[phase][p] {
				t.Fatalf("test bug: partition %d phase %d starts at %d but the first record with ts >= %d is at %d",
					p, phase, phaseAt[phase][p], ts, want)
			}
			o := listed[p]
			if o.Offset != want {
				t.Errorf("ListOffsets(timestamp t0+%dms) of partition %d = %d, want %d", ts-t0, p, o.Offset, want)
			} else if want < int64(len(recs)) && o.Timestamp != recs[want].Timestamp.UnixMilli() {
				t.Errorf("ListOffsets(timestamp t0+%dms) of partition %d: timestamp %d, want %d (the record's)",
					ts-t0, p, o.Timestamp, recs[want].Timestamp.UnixMilli())
			}
		}
	}
}

func listAfterMilli(t *testing.T, adm *kadm.Client, ts int64) map[int32]kadm.ListedOffset {
	t.Helper()
	listed, err := adm.ListOffsetsAfterMilli(ctxT(t), ts, allTopic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("ListOffsets by timestamp %d: %v", ts, err)
	}
	out := map[int32]kadm.ListedOffset{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o })
	return out
}

func firstAtOrAfter(recs []*kgo.Record, ts int64) int64 {
	for _, r := range recs {
		if r.Timestamp.UnixMilli() >= ts {
			return r.Offset
		}
	}
	return int64(len(recs))
}
