package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestHistIndexContiguous(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<22; us++ {
		i := histIndex(us)
		if i != prev && i != prev+1 {
			t.Fatalf("histIndex(%d) = %d after %d: not contiguous", us, i, prev)
		}
		prev = i
	}
	if top := histIndex(math.MaxUint64); top != histBuckets-1 {
		t.Errorf("clamped index %d, want %d", top, histBuckets-1)
	}
}

func TestHistValueWithinBucket(t *testing.T) {
	for _, us := range []uint64{0, 1, 511, 512, 513, 1000, 123456, 99_999_999, 1 << 39} {
		v := histValue(histIndex(us))
		if rel := math.Abs(v-float64(us)) / math.Max(float64(us), 1); rel > 1.0/histSub {
			t.Errorf("value %d maps to %v (rel err %.4f)", us, v, rel)
		}
	}
}

func TestLatencyHistSummary(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 1000; i++ { // 1..1000 ms
		h.record(time.Duration(i) * time.Millisecond)
	}
	s := h.summary()
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > want*0.005+0.001 {
			t.Errorf("%s = %v, want ~%v", name, got, want)
		}
	}
	near("avg", s.Avg, 500.5)
	near("p50", s.P50, 500)
	near("p95", s.P95, 950)
	near("p99", s.P99, 990)
	near("p999", s.P999, 999)
	near("max", s.Max, 1000)
}

func TestLatencyHistEmptyAndConcurrent(t *testing.T) {
	var h latencyHist
	if s := h.summary(); s != (latencySummary{}) {
		t.Errorf("empty summary %+v", s)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				h.record(250 * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if n := h.n.Load(); n != 8000 {
		t.Errorf("count %d", n)
	}
	if p := h.quantileMs(0.999); p != 0.25 {
		t.Errorf("p999 %v, want 0.25 (exact below %dµs)", p, 2*histSub)
	}
}

func TestWindowTake(t *testing.T) {
	var w window
	w.record(2*time.Millisecond, 100)
	w.record(4*time.Millisecond, 100)
	n, b, sum, mx := w.take()
	if n != 2 || b != 200 || sum != 6000 || mx != 4000 {
		t.Errorf("take = %d %d %d %d", n, b, sum, mx)
	}
	if n, _, _, _ := w.take(); n != 0 {
		t.Errorf("window not reset")
	}
	want := "2 records sent, 1.0 records/sec (0.00 MB/sec), 3.0 ms avg latency, 4.0 ms max latency."
	if got := progressLine(2, 200, 6000, 4000, 2*time.Second); got != want {
		t.Errorf("progress line %q", got)
	}
}

func TestProduceResultOutput(t *testing.T) {
	lat := latencySummary{Avg: 1.5, P50: 1, P95: 2, P99: 3, P999: 4, Max: 5.25}
	r := newProduceResult(1000, 0, 2*mib, 2*time.Second, lat)
	var buf bytes.Buffer
	if err := writeResult(&buf, produceSummaryLine(r), r, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	wantHuman := "1000 records sent, 500.0 records/sec (1.00 MB/sec), 1.50 ms avg latency, 5.25 ms max latency, " +
		"1.00 ms 50th, 2.00 ms 95th, 3.00 ms 99th, 4.00 ms 99.9th."
	if lines[0] != wantHuman {
		t.Errorf("human line:\n got %q\nwant %q", lines[0], wantHuman)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &got); err != nil {
		t.Fatal(err)
	}
	if got["kind"] != "produce" || got["records"] != 1000.0 || got["bytes"] != float64(2*mib) ||
		got["seconds"] != 2.0 || got["records_per_sec"] != 500.0 || got["mb_per_sec"] != 1.0 {
		t.Errorf("json %v", got)
	}
	l, _ := got["latency_ms"].(map[string]any)
	for k, v := range map[string]float64{"avg": 1.5, "p50": 1, "p99": 3, "p999": 4, "max": 5.25} {
		if l[k] != v {
			t.Errorf("latency_ms.%s = %v, want %v", k, l[k], v)
		}
	}
}

func TestConsumeResultJSONOnly(t *testing.T) {
	r := newConsumeResult(10, mib, 500*time.Millisecond)
	var buf bytes.Buffer
	if err := writeResult(&buf, consumeSummaryLine(r), r, true); err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"consume","records":10,"bytes":1048576,"seconds":0.5,"records_per_sec":20,"mb_per_sec":2}` + "\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	if got := consumeSummaryLine(r); got != "10 records consumed, 20.0 records/sec (2.00 MB/sec), 1.00 MB in 0.50 sec." {
		t.Errorf("human line %q", got)
	}
	if rps, mbps := rates(5, 5, 0); rps != 0 || mbps != 0 {
		t.Errorf("zero duration rates %v %v", rps, mbps)
	}
}

func TestMakePayloads(t *testing.T) {
	for _, size := range []int{0, 1, 100, 4 << 20} {
		ps := makePayloads(size)
		if len(ps) == 0 || len(ps)*size > 16<<20+size {
			t.Errorf("size %d: %d payloads", size, len(ps))
		}
		for _, p := range ps {
			if len(p) != size {
				t.Fatalf("size %d: payload of %d bytes", size, len(p))
			}
		}
	}
}

func TestBenchBufferedRecords(t *testing.T) {
	tests := []struct {
		records    int64
		size, prod int
		want       int
	}{
		{100, 100, 1, 101},
		{10_000_000, 100, 1, 500_000},
		{10_000_000, 1 << 20, 1, 10_000},
		{10_000_000, 4096, 4, 65_536},
	}
	for _, tt := range tests {
		o := benchProduceOpts{records: tt.records, recordSize: tt.size, producers: tt.prod}
		if got := benchBufferedRecords(o); got != tt.want {
			t.Errorf("benchBufferedRecords(%+v) = %d, want %d", o, got, tt.want)
		}
	}
}

func TestValidateBenchProduce(t *testing.T) {
	good := benchProduceOpts{topic: "t", records: 1, recordSize: 1, producers: 1, batchBytes: 1}
	if err := validateBenchProduce(good); err != nil {
		t.Errorf("good opts: %v", err)
	}
	for _, mut := range []func(*benchProduceOpts){
		func(o *benchProduceOpts) { o.topic = "" },
		func(o *benchProduceOpts) { o.records = 0 },
		func(o *benchProduceOpts) { o.recordSize = -1 },
		func(o *benchProduceOpts) { o.producers = 0 },
		func(o *benchProduceOpts) { o.batchBytes = 0 },
	} {
		o := good
		mut(&o)
		if err := validateBenchProduce(o); err == nil {
			t.Errorf("%+v: want error", o)
		}
	}
}

func TestNonEmptyPartitions(t *testing.T) {
	lo := func(p int32, off int64) kadm.ListedOffset {
		return kadm.ListedOffset{Topic: "t", Partition: p, Offset: off}
	}
	starts := kadm.ListedOffsets{"t": {0: lo(0, 0), 1: lo(1, 5), 2: lo(2, 0)}}
	ends := kadm.ListedOffsets{"t": {0: lo(0, 10), 1: lo(1, 5), 2: lo(2, 1)}}
	got, err := nonEmptyPartitions(starts, ends, "t")
	if err != nil || len(got) != 2 || got[0] != 10 || got[2] != 1 {
		t.Errorf("got %v, %v", got, err)
	}
	missing := kadm.ListedOffsets{"t": {-1: {Topic: "t", Partition: -1, Err: kerr.UnknownTopicOrPartition}}}
	if _, err := nonEmptyPartitions(missing, missing, "t"); err == nil {
		t.Errorf("want error for unknown topic")
	}
}
