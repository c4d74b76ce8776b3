// Package quota measures rates over sampled time windows and turns a rate
// above its bound into a throttle time, as Kafka's client quotas do
// (KIP-13, KIP-55, KIP-124: ClientQuotaManager over the metrics library's
// Rate and SampledStat).
//
// The package is pure: time is always passed in (no clock is read), and
// nothing here starts goroutines. Its users are the broker's client quota
// enforcement (produce and fetch byte rates, request time) and, later,
// replication throttles: each asks one question, "record n units at time
// t against bound b: how long must the caller hold back?", through
// Manager.Record (or Sensor.Record for one rate).
//
// A rate is measured like Kafka's: Config.Samples windows of
// Config.Window each; a window is complete once Window has passed since
// its first record, after which the oldest window is reused. The rate is
// the sum of the retained windows divided by the time they span, counted
// as at least Config.MinSpanWindows full windows so that a new sensor
// does not report a huge rate from its first record. When a record leaves
// the rate above the bound, the throttle time is the time it takes, at
// the bound, to absorb the excess: (rate - bound) / bound × window span.
// A TokenBucket (bucket.go) is KIP-599's measure of partition mutations.
package quota

import (
	"math"
	"time"
)

// Config is the sampling of a rate: Kafka's quota.window.num (Samples,
// default 11) and quota.window.size.seconds (Window, default 1s).
//
// MinSpanWindows is the least number of full windows a rate is taken
// over. Kafka uses Samples-1 (what 0 here means): a new or long idle
// client may then send Samples-1 windows' worth at once, and a window
// holding such a burst frees all of it when it expires, so a throttled
// client moves in bursts every Samples windows and its rate over 30 s
// strays 20% from the bound (measured with this package: 3.9 to 5.5
// MB/s under a 5 MB/s quota). DefaultConfig uses 1: the burst is one
// window's worth and the rate over any 30 s stays within 4% of the
// bound. Both take the same span once the oldest retained window is
// Samples-1 windows old; they differ in the bursts Kafka's minimum lets
// in and keeps echoing.
type Config struct {
	Samples        int
	Window         time.Duration
	MinSpanWindows int
}

// DefaultConfig is Kafka's default client quota sampling, 11 windows of
// one second, with a minimum span of one window (see Config).
func DefaultConfig() Config { return Config{Samples: 11, Window: time.Second, MinSpanWindows: 1} }

func (c Config) normalized() Config {
	if c.Samples < 2 {
		c.Samples = 2
	}
	if c.Window <= 0 {
		c.Window = time.Second
	}
	if c.MinSpanWindows <= 0 || c.MinSpanWindows > c.Samples-1 {
		c.MinSpanWindows = c.Samples - 1
	}
	return c
}

// sample is one window: its start and the sum recorded in it.
type sample struct {
	start  time.Time
	value  float64
	events int64
}

// Rate is a rate per second sampled over windows (Kafka's Rate over a
// SampledStat summing values). The zero Rate is not usable: use NewRate.
// A Rate is not safe for concurrent use; Sensor adds a lock.
type Rate struct {
	cfg     Config
	samples []sample
	current int
}

// NewRate returns an empty rate sampled as cfg says (Samples below 2 or a
// non-positive Window fall back to 2 and one second).
func NewRate(cfg Config) *Rate { return &Rate{cfg: cfg.normalized()} }

// Record adds v at now (v may be negative to take back an earlier
// record, as Kafka's unrecord does).
func (r *Rate) Record(v float64, now time.Time) {
	s := r.currentSample(now)
	if now.Sub(s.start) >= r.cfg.Window {
		s = r.advance(now)
	}
	s.value += v
	s.events++
}

func (r *Rate) currentSample(now time.Time) *sample {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: now})
	}
	return &r.samples[r.current]
}

// advance moves to the next window, reusing the oldest once all
// Samples exist.
func (r *Rate) advance(now time.Time) *sample {
	r.current = (r.current + 1) % r.cfg.Samples
	if r.current >= len(r.samples) {
		r.samples = append(r.samples, sample{start: now})
	} else {
		r.samples[r.current] = sample{start: now}
	}
	return &r.samples[r.current]
}

// purge resets the windows older than Samples × Window.
func (r *Rate) purge(now time.Time) {
	expire := time.Duration(r.cfg.Samples) * r.cfg.Window
	for i := range r.samples {
		if now.Sub(r.samples[i].start) >= expire {
			r.samples[i] = sample{start: now}
		}
	}
}

// Total is the sum recorded in the retained windows at now.
func (r *Rate) Total(now time.Time) float64 {
	r.purge(now)
	sum := 0.0
	for _, s := range r.samples {
		sum += s.value
	}
	return sum
}

// Span is the time the rate is measured over at now: from the start of
// the oldest retained window, but at least MinSpanWindows full windows
// plus the part of the window in progress (Kafka's Rate.windowSize).
func (r *Rate) Span(now time.Time) time.Duration {
	r.purge(now)
	oldest := now
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: now})
	}
	for _, s := range r.samples {
		if s.start.Before(oldest) {
			oldest = s.start
		}
	}
	elapsed := now.Sub(oldest)
	full := int(elapsed / r.cfg.Window)
	if minFull := r.cfg.MinSpanWindows; full < minFull {
		elapsed += time.Duration(minFull-full) * r.cfg.Window
	}
	return elapsed
}

// Measure is the rate per second at now.
func (r *Rate) Measure(now time.Time) float64 {
	total := r.Total(now)
	return total / r.Span(now).Seconds()
}

// ThrottleTime is the time to hold back a caller whose measured rate is
// value against bound, with the rate taken over span: zero when value is
// within the bound (or the bound is not positive or infinite), else the
// time in which the excess drains at the bound, rounded to the
// millisecond (Kafka's ClientQuotaManager.throttleTime).
func ThrottleTime(value, bound float64, span time.Duration) time.Duration {
	if !Limited(bound) || value <= bound {
		return 0
	}
	ms := (value - bound) / bound * float64(span.Milliseconds())
	if limit := float64(math.MaxInt64 / int64(time.Millisecond)); ms >= limit {
		return time.Duration(limit) * time.Millisecond
	}
	return time.Duration(math.Round(ms)) * time.Millisecond
}

// Limited reports whether bound is a real limit: positive and finite.
// Every other value means "no quota".
func Limited(bound float64) bool { return bound > 0 && !math.IsInf(bound, 1) && !math.IsNaN(bound) }
