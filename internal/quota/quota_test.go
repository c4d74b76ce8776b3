package quota

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestThrottleTime(t *testing.T) {
	for _, tc := range []struct {
		value, bound float64
		span         time.Duration
		want         time.Duration
	}{
		{100, 50, 2 * time.Second, 2 * time.Second}, // twice the bound over 2s: 2s more at the bound
		{100, 50, 3 * time.Second, 3 * time.Second},
		{18.2, 18.2, 10 * time.Second, 0},
		{16.5, 20.4, 10 * time.Second, 0},
		{75, 50, 10 * time.Second, 5 * time.Second},
		{100, 0, time.Second, 0},           // no bound
		{100, math.Inf(1), time.Second, 0}, // no bound
		{100, -1, time.Second, 0},          // no bound
	} {
		if got := ThrottleTime(tc.value, tc.bound, tc.span); got != tc.want {
			t.Errorf("ThrottleTime(%v, %v, %v) = %v, want %v", tc.value, tc.bound, tc.span, got, tc.want)
		}
	}
}

// TestRateSpan follows Kafka's windowSize: at least Samples-1 full windows.
func TestRateSpan(t *testing.T) {
	r := NewRate(Config{Samples: 11, Window: time.Second})
	r.Record(1, at(0))
	for _, tc := range []struct {
		now  int64
		want time.Duration
	}{
		{0, 10 * time.Second},
		{500, 10*time.Second + 500*time.Millisecond},
		{9_999, 10*time.Second + 999*time.Millisecond},
		{10_000, 10 * time.Second}, // ten full windows elapsed
		{10_500, 10500 * time.Millisecond},
	} {
		if got := r.Span(at(tc.now)); got != tc.want {
			t.Errorf("Span at %dms = %v, want %v", tc.now, got, tc.want)
		}
	}
}

// TestRateScripted records a scripted sequence and checks the measured
// rate after each step.
func TestRateScripted(t *testing.T) {
	r := NewRate(Config{Samples: 3, Window: time.Second})
	steps := []struct {
		at       int64
		record   float64
		wantRate float64
	}{
		{0, 100, 50},      // 100 over the minimum span of 2 windows
		{500, 100, 80},    // 200 / 2.5s
		{1_000, 100, 150}, // new window; 300 / (1 full window, counted as 2)
		{2_000, 100, 200}, // 400 / 2s
		// The window of 0 (200) expired at 3000 and is reused: 100 (1000),
		// 100 (2000), 100 (3000) over 2s.
		{3_000, 100, 150},
	}
	for i, s := range steps {
		r.Record(s.record, at(s.at))
		if got := r.Measure(at(s.at)); math.Abs(got-s.wantRate) > 1e-9 {
			t.Errorf("step %d: rate %v, want %v", i, got, s.wantRate)
		}
	}
	// Everything expires after Samples × Window without records.
	if got := r.Total(at(6_000)); got != 0 {
		t.Errorf("total after expiry = %v, want 0", got)
	}
}

// simulate runs a client that sends req bytes per request as fast as
// allowed for 120 s (a 2 ms round trip, then the throttle time) and
// returns the bytes sent by each 100 ms.
func simulate(cfg Config, bound, req float64) []float64 {
	s := NewSensor(cfg)
	now, sent := t0, 0.0
	var cum []float64
	for now.Before(t0.Add(120 * time.Second)) {
		d := s.Record(req, now, bound)
		sent += req
		for len(cum) <= int(now.Sub(t0)/(100*time.Millisecond)) {
			cum = append(cum, sent)
		}
		now = now.Add(2*time.Millisecond + d)
	}
	return cum
}

// spread is the lowest and highest rate over any 30 s from start on.
func spread(cum []float64, start int) (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	for i := start; i+300 < len(cum); i += 5 {
		r := (cum[i+300] - cum[i]) / 30
		lo, hi = min(lo, r), max(hi, r)
	}
	return lo, hi
}

// TestSensorHoldsRate: a client sending flat out is held within 10% of
// its bound over any 30 s, the first included; with Kafka's minimum span
// (MinSpanWindows 0: Samples-1 windows) it moves in bursts and strays
// further (see Config).
func TestSensorHoldsRate(t *testing.T) {
	const bound = 5 << 20
	for _, req := range []float64{1 << 20, 256 << 10, 16 << 10} {
		lo, hi := spread(simulate(DefaultConfig(), bound, req), 0)
		if lo < 0.9*bound || hi > 1.1*bound {
			t.Errorf("%.0f-byte requests: rate over 30 s from %.0f to %.0f, want within 10%% of %d", req, lo, hi, bound)
		}
	}
	kafka := DefaultConfig()
	kafka.MinSpanWindows = 0
	lo, hi := spread(simulate(kafka, bound, 1<<20), 150)
	if lo > 0.9*bound && hi < 1.1*bound {
		t.Errorf("Kafka's span: rate over 30 s from %.0f to %.0f; the bursts Config describes are gone", lo, hi)
	}
}

func TestSensorUnlimited(t *testing.T) {
	s := NewSensor(DefaultConfig())
	for i := range 100 {
		if d := s.Record(1<<30, at(int64(i)), 0); d != 0 {
			t.Fatalf("throttled %v without a bound", d)
		}
	}
	if s.Exceeded(at(100), 0) {
		t.Fatal("exceeded without a bound")
	}
	if !s.Exceeded(at(100), 1) {
		t.Fatal("not exceeded at a bound of 1 B/s")
	}
	if d := s.RecordBounded(1, at(100), 1, 250*time.Millisecond); d != 250*time.Millisecond {
		t.Fatalf("bounded throttle %v, want 250ms", d)
	}
	s.Unrecord(100*(1<<30)+1, at(100))
	if got := s.Measure(at(100)); got != 0 {
		t.Fatalf("rate after unrecord = %v", got)
	}
}

func TestManagerExpiry(t *testing.T) {
	m := NewManager(DefaultConfig(), time.Minute)
	m.Record("a", 1, at(0), 0)
	m.Record("b", 1, at(50_000), 0)
	m.Sensor("b", at(70_000)) // sweeps: a idle for 70s
	var keys []string
	m.Each(func(k string, _ *Sensor) { keys = append(keys, k) })
	if len(keys) != 1 || keys[0] != "b" {
		t.Fatalf("sensors after expiry: %v, want [b]", keys)
	}
}

func TestResolvePrecedence(t *testing.T) {
	all := map[Entity]float64{}
	for i, e := range levels("alice", "app") {
		all[e] = float64(i + 1)
	}
	for level := 1; level <= 8; level++ {
		cfg := map[Entity]float64{}
		for e, v := range all {
			if int(v) >= level {
				cfg[e] = v
			}
		}
		m := Resolve("alice", "app", func(e Entity) (float64, bool) { v, ok := cfg[e]; return v, ok })
		if !m.Found || m.Bound != float64(level) {
			t.Fatalf("with levels %d.. configured: got %+v, want level %d", level, m, level)
		}
	}
	tags := map[int][2]string{1: {"alice", "app"}, 2: {"alice", "app"}, 3: {"alice", ""}, 4: {"alice", "app"},
		5: {"alice", "app"}, 6: {"alice", ""}, 7: {"", "app"}, 8: {"", "app"}}
	for level, want := range tags {
		only := levels("alice", "app")[level-1]
		m := Resolve("alice", "app", func(e Entity) (float64, bool) { return 1, e == only })
		if got := [2]string{m.UserTag, m.ClientTag}; got != want {
			t.Errorf("level %d: tags %q, want %q", level, got, want)
		}
	}
	m := Resolve("alice", "app", func(Entity) (float64, bool) { return 0, false })
	if m.Found || m.Bound != 0 || m.ClientTag != "app" || m.UserTag != "" {
		t.Fatalf("no quota: %+v", m)
	}
}

func TestTokenBucket(t *testing.T) {
	b := NewTokenBucket(Config{Samples: 10, Window: time.Second})
	const bound = 2 // mutations per second: a burst of 20
	if d := b.Record(15, at(0), bound); d != 0 {
		t.Fatalf("15 of a 20 burst throttled %v", d)
	}
	if d := b.Record(10, at(0), bound); d != 2500*time.Millisecond {
		t.Fatalf("5 over at 2/s: throttle %v, want 2.5s", d)
	}
	if d := b.Throttle(at(1000), bound); d != 1500*time.Millisecond {
		t.Fatalf("after 1s: %v, want 1.5s", d)
	}
	if d := b.Throttle(at(60_000), bound); d != 0 {
		t.Fatalf("after a minute: %v", d)
	}
	if d := b.Record(21, at(60_000), bound); d != 500*time.Millisecond {
		t.Fatalf("refilled to the burst only: throttle %v, want 0.5s", d)
	}
	if d := b.Record(1e9, at(60_000), 0); d != 0 {
		t.Fatalf("no bound: throttle %v", d)
	}
	m := NewManager(DefaultConfig(), time.Minute)
	if m.Bucket("k", at(0)) != m.Bucket("k", at(1)) {
		t.Fatal("Bucket does not keep its buckets")
	}
}
