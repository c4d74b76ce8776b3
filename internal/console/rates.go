package console

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// rateSample is one sampler tick: the sum of the end offsets of every
// non-internal partition (-1 when unknown) and, per metrics URL that
// answered, the counters the charts use.
type rateSample struct {
	At       time.Time // when the counters were scraped
	EndAt    time.Time // when the end offsets were listed (the snapshot's time)
	EndSum   int64
	Counters map[string]map[string]float64 // url -> counter -> value
}

// counterDefs are the /metrics counters charted when present: Fjord's
// request-time histogram counts, and Kafka's BrokerTopicMetrics as the
// Prometheus JMX exporter names them.
var counterDefs = []struct {
	key, name string
	labels    map[string]string
}{
	{"produce_requests", "kafka_network_requestmetrics_totaltimems_count", map[string]string{"request": "Produce"}},
	{"fetch_requests", "kafka_network_requestmetrics_totaltimems_count", map[string]string{"request": "Fetch"}},
	{"messages_in", "kafka_server_brokertopicmetrics_messagesin_total", nil},
	{"bytes_in", "kafka_server_brokertopicmetrics_bytesin_total", nil},
	{"bytes_out", "kafka_server_brokertopicmetrics_bytesout_total", nil},
}

// rateRing keeps the last few samples; it is the console's only memory
// beyond the snapshot cache. Safe for concurrent use.
type rateRing struct {
	mu      sync.Mutex
	cap     int
	samples []rateSample
}

func newRateRing(n int) *rateRing { return &rateRing{cap: n} }

func (r *rateRing) add(s rateSample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == r.cap {
		r.samples = append(r.samples[:0], r.samples[1:]...)
	}
	r.samples = append(r.samples, s)
}

func (r *rateRing) all() []rateSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rateSample(nil), r.samples...)
}

// ratePoint is a per-second rate over the interval ending At.
type ratePoint struct {
	At     time.Time
	PerSec float64
}

// endOffsetRates returns the records/s appended between samples, from
// end-offset deltas over the snapshots' own times; two samples of one
// snapshot make no point. A negative delta (a deleted topic) counts as 0.
func endOffsetRates(ss []rateSample) []ratePoint {
	var out []ratePoint
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		dt := b.EndAt.Sub(a.EndAt).Seconds()
		if a.EndSum < 0 || b.EndSum < 0 || dt <= 0 {
			continue
		}
		out = append(out, ratePoint{At: b.EndAt, PerSec: float64(max(0, b.EndSum-a.EndSum)) / dt})
	}
	return out
}

// counterRates returns the per-second rate of counter key summed over the
// metrics URLs present in both samples of each interval; an interval
// where no URL had it is left out, and a counter that went backwards (a
// restarted node) counts as 0 for that node.
func counterRates(ss []rateSample, key string) []ratePoint {
	var out []ratePoint
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		dt := b.At.Sub(a.At).Seconds()
		sum, seen := 0.0, false
		for url, cb := range b.Counters {
			va, okA := a.Counters[url][key]
			vb, okB := cb[key]
			if okA && okB {
				sum += max(0, vb-va)
				seen = true
			}
		}
		if seen && dt > 0 {
			out = append(out, ratePoint{At: b.At, PerSec: sum / dt})
		}
	}
	return out
}

// viewedRecently is how long after a page view the background loop keeps
// the snapshot fresh.
const viewedRecently = 15 * time.Second

// sample runs until ctx ends: every TTL it rebuilds the snapshot if a
// page was viewed recently, and every interval it records a rate sample.
func (s *Server) sample(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(min(s.snaps.ttl, interval))
	defer t.Stop()
	var last time.Time
	for {
		if time.Since(time.Unix(0, s.lastView.Load())) < viewedRecently {
			s.snaps.refresh(s.build)
		}
		if time.Since(last) >= interval-interval/10 {
			last = time.Now()
			s.rates.add(s.takeSample(ctx))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) takeSample(ctx context.Context) rateSample {
	smp := rateSample{At: time.Now(), EndSum: -1}
	var wg sync.WaitGroup
	wg.Go(func() { smp.Counters = s.scrapeAll(ctx) })
	if snap, err := s.snaps.get(s.snaps.ttl, s.build); err == nil {
		smp.EndSum, smp.EndAt = snap.endSum(), snap.at
	}
	wg.Wait()
	return smp
}

// endSum adds the end offsets of the non-internal topics; -1 if the
// snapshot has none.
func (sn *snapshot) endSum() int64 {
	if len(sn.end) == 0 && len(sn.meta.Topics) > 0 {
		return -1
	}
	var sum int64
	for topic, ps := range sn.end {
		if strings.HasPrefix(topic, "__") {
			continue
		}
		for _, o := range ps {
			if o.Err == nil {
				sum += o.Offset
			}
		}
	}
	return sum
}

// scrapeAll reads every metrics URL in parallel, each bounded by a second;
// the ones that fail are left out.
func (s *Server) scrapeAll(ctx context.Context) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range s.opts.MetricsURLs {
		wg.Go(func() {
			if c, ok := scrape(ctx, u); ok {
				mu.Lock()
				out[u] = c
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// scrape fetches one /metrics page and picks the counters of counterDefs.
func scrape(ctx context.Context, url string) (map[string]float64, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false
	}
	samples := parsePromText(limitReader(resp.Body, 16<<20))
	out := map[string]float64{}
	for _, d := range counterDefs {
		if v, ok := sumMetric(samples, d.name, d.labels); ok {
			out[d.key] = v
		}
	}
	return out, true
}

// lagHistory keeps, per consumer group, the total lag seen at the last
// few renders of its page (a cache for the page's small chart).
type lagHistory struct {
	mu      sync.Mutex
	groups  int
	points  int
	history map[string][]ratePoint
	touched map[string]time.Time
}

func newLagHistory(groups, points int) *lagHistory {
	return &lagHistory{groups: groups, points: points, history: map[string][]ratePoint{}, touched: map[string]time.Time{}}
}

// record adds the group's total lag (at most one point a second) and
// returns its history. The least recently touched group is forgotten
// when the map is full.
func (h *lagHistory) record(group string, at time.Time, lag int64) []ratePoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.history[group]; !ok && len(h.history) >= h.groups {
		h.evictOldest()
	}
	ps := h.history[group]
	if n := len(ps); n == 0 || at.Sub(ps[n-1].At) >= time.Second {
		ps = append(ps, ratePoint{At: at, PerSec: float64(lag)})
		if len(ps) > h.points {
			ps = ps[len(ps)-h.points:]
		}
	}
	h.history[group], h.touched[group] = ps, at
	return append([]ratePoint(nil), ps...)
}

func (h *lagHistory) evictOldest() {
	var oldest string
	var t time.Time
	for g, at := range h.touched {
		if oldest == "" || at.Before(t) {
			oldest, t = g, at
		}
	}
	delete(h.history, oldest)
	delete(h.touched, oldest)
}
