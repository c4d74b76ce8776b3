package console

import (
	"strings"
	"testing"
	"time"
)

const promSample1 = `# HELP kafka_network_requestmetrics_totaltimems Request total time in milliseconds, by API.
# TYPE kafka_network_requestmetrics_totaltimems histogram
kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le="0.1"} 3
kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le="+Inf"} 42
kafka_network_requestmetrics_totaltimems_sum{request="Produce"} 12.5
kafka_network_requestmetrics_totaltimems_count{request="Produce"} 42
kafka_network_requestmetrics_totaltimems_bucket{request="Fetch",le="+Inf"} 1e3
kafka_network_requestmetrics_totaltimems_sum{request="Fetch"} 100
kafka_network_requestmetrics_totaltimems_count{request="Fetch"} 1e3
# TYPE kafka_server_replicamanager_leadercount gauge
kafka_server_replicamanager_leadercount 7
weird_metric{path="a\"b\\c",x="y"} 2 1700000000000
`

func TestParsePromText(t *testing.T) {
	ss := parsePromText(strings.NewReader(promSample1))
	if v, ok := sumMetric(ss, "kafka_network_requestmetrics_totaltimems_count", map[string]string{"request": "Fetch"}); !ok || v != 1000 {
		t.Errorf("Fetch count = %v, %v", v, ok)
	}
	if v, ok := sumMetric(ss, "kafka_network_requestmetrics_totaltimems_count", nil); !ok || v != 1042 {
		t.Errorf("all counts = %v, %v", v, ok)
	}
	if v, ok := sumMetric(ss, "kafka_server_replicamanager_leadercount", nil); !ok || v != 7 {
		t.Errorf("leadercount = %v, %v", v, ok)
	}
	if v, ok := sumMetric(ss, "weird_metric", map[string]string{"path": `a"b\c`, "x": "y"}); !ok || v != 2 {
		t.Errorf("escaped labels: %v, %v in %+v", v, ok, ss)
	}
	if _, ok := sumMetric(ss, "missing", nil); ok {
		t.Errorf("a missing metric was found")
	}
	// An exposition the parser refuses gives nothing, not a guess.
	if ss := parsePromText(strings.NewReader("broken_line{a=\"b\"\n")); len(ss) != 0 {
		t.Errorf("broken exposition parsed: %+v", ss)
	}
}

func TestRates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ss := []rateSample{
		{At: t0, EndAt: t0, EndSum: 100, Counters: map[string]map[string]float64{"a": {"fetch_requests": 10}, "b": {"fetch_requests": 50}}},
		{At: t0.Add(2 * time.Second), EndAt: t0.Add(2 * time.Second), EndSum: 300, Counters: map[string]map[string]float64{"a": {"fetch_requests": 30}, "b": {"fetch_requests": 70}}},
		// b restarted (its counter went back) and a is unreachable; the
		// last sample reused the third's snapshot.
		{At: t0.Add(4 * time.Second), EndAt: t0.Add(4 * time.Second), EndSum: 250, Counters: map[string]map[string]float64{"b": {"fetch_requests": 4}}},
		{At: t0.Add(6 * time.Second), EndAt: t0.Add(4 * time.Second), EndSum: 250, Counters: map[string]map[string]float64{"b": {"fetch_requests": 14}}},
	}
	end := endOffsetRates(ss)
	if len(end) != 2 || end[0].PerSec != 100 || end[1].PerSec != 0 {
		t.Errorf("endOffsetRates = %+v", end)
	}
	fetch := counterRates(ss, "fetch_requests")
	if len(fetch) != 3 || fetch[0].PerSec != 20 || fetch[1].PerSec != 0 || fetch[2].PerSec != 5 {
		t.Errorf("counterRates = %+v", fetch)
	}
	if got := counterRates(ss, "bytes_in"); len(got) != 0 {
		t.Errorf("a counter no node has gave %+v", got)
	}
}

func TestRateRingKeepsTheLast(t *testing.T) {
	r := newRateRing(3)
	for i := range 5 {
		r.add(rateSample{EndSum: int64(i)})
	}
	got := r.all()
	if len(got) != 3 || got[0].EndSum != 2 || got[2].EndSum != 4 {
		t.Errorf("ring = %+v", got)
	}
}

func TestLagHistory(t *testing.T) {
	h := newLagHistory(2, 3)
	t0 := time.Unix(1000, 0)
	h.record("a", t0, 10)
	h.record("a", t0.Add(500*time.Millisecond), 11) // within a second: dropped
	for i := 1; i <= 4; i++ {
		h.record("a", t0.Add(time.Duration(i)*time.Second), int64(10+i))
	}
	got := h.record("a", t0.Add(4*time.Second), 99)
	if len(got) != 3 || got[0].PerSec != 12 || got[2].PerSec != 14 {
		t.Errorf("history of a = %+v", got)
	}
	h.record("b", t0.Add(5*time.Second), 1)
	h.record("c", t0.Add(6*time.Second), 1) // evicts a, the least recently touched
	if _, ok := h.history["a"]; ok || len(h.history) != 2 {
		t.Errorf("after a third group: %v", h.history)
	}
}
