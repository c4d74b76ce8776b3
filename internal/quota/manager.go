package quota

import (
	"sync"
	"time"
)

// Sensor is one rate with its own lock: safe for concurrent use.
type Sensor struct {
	mu       sync.Mutex
	rate     *Rate
	lastUsed time.Time
	// throttled accumulates the throttle times handed out (for metrics).
	throttled time.Duration
}

// NewSensor returns an empty sensor sampled as cfg says.
func NewSensor(cfg Config) *Sensor { return &Sensor{rate: NewRate(cfg)} }

// Record adds n at now and returns how long the caller must hold back so
// that the rate comes back to bound: zero while the rate, this record
// included, is within bound (Kafka records first and then checks, so the
// record that crosses the bound is the one throttled). A bound that is
// not Limited records without throttling.
func (s *Sensor) Record(n float64, now time.Time, bound float64) time.Duration {
	return s.RecordBounded(n, now, bound, 0)
}

// RecordBounded is Record with the throttle time capped at maxThrottle
// (none if not positive), as Kafka bounds request-time throttles at one
// window (QuotaUtils.boundedThrottleTime).
func (s *Sensor) RecordBounded(n float64, now time.Time, bound float64, maxThrottle time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastUsed = now
	s.rate.Record(n, now)
	if !Limited(bound) {
		return 0
	}
	d := ThrottleTime(s.rate.Measure(now), bound, s.rate.Span(now))
	if maxThrottle > 0 {
		d = min(d, maxThrottle)
	}
	s.throttled += d
	return d
}

// Unrecord takes back n recorded earlier (Kafka's unrecordQuotaSensor).
func (s *Sensor) Unrecord(n float64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate.Record(-n, now)
}

// Exceeded reports whether the rate at now is above bound, without
// recording anything (for callers that check before they act, as Kafka's
// replication throttles do).
func (s *Sensor) Exceeded(now time.Time, bound float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Limited(bound) && s.rate.Measure(now) > bound
}

// Measure is the rate per second at now.
func (s *Sensor) Measure(now time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.Measure(now)
}

// ThrottledTotal is the sum of the throttle times Record returned.
func (s *Sensor) ThrottledTotal() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// DefaultInactiveExpiry is how long a Manager keeps a sensor nobody
// records on (Kafka's client sensors expire after an hour).
const DefaultInactiveExpiry = time.Hour

// Manager holds one sensor (and, for KIP-599 quotas, one token bucket)
// per key (a user and client-id pair for client quotas, a quota type for
// replication throttles), created on first use and dropped after the
// expiry without records. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	expiry time.Duration

	mu        sync.Mutex
	sensors   map[string]*Sensor
	buckets   map[string]*TokenBucket // bucket.go
	lastSweep time.Time
}

// NewManager returns a manager whose sensors are sampled as cfg says and
// expire after expiry without records (DefaultInactiveExpiry if not
// positive).
func NewManager(cfg Config, expiry time.Duration) *Manager {
	if expiry <= 0 {
		expiry = DefaultInactiveExpiry
	}
	return &Manager{cfg: cfg.normalized(), expiry: expiry, sensors: map[string]*Sensor{}}
}

// Record records n at now on key's sensor against bound and returns the
// throttle time (see Sensor.Record).
func (m *Manager) Record(key string, n float64, now time.Time, bound float64) time.Duration {
	return m.Sensor(key, now).Record(n, now, bound)
}

// RecordBounded is Record with the throttle capped at maxThrottle (see
// Sensor.RecordBounded).
func (m *Manager) RecordBounded(key string, n float64, now time.Time, bound float64, maxThrottle time.Duration) time.Duration {
	return m.Sensor(key, now).RecordBounded(n, now, bound, maxThrottle)
}

// Sensor returns key's sensor, creating it. Sensors unused for longer than
// the expiry are dropped, checked at most once per expiry/4.
func (m *Manager) Sensor(key string, now time.Time) *Sensor {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= m.expiry/4 {
		m.sweep(now)
	}
	s := m.sensors[key]
	if s == nil {
		s = &Sensor{rate: NewRate(m.cfg), lastUsed: now}
		m.sensors[key] = s
	}
	return s
}

// sweep drops idle sensors. Lock order: Manager.mu, then Sensor.mu.
func (m *Manager) sweep(now time.Time) {
	m.lastSweep = now
	for k, s := range m.sensors {
		s.mu.Lock()
		idle := now.Sub(s.lastUsed)
		s.mu.Unlock()
		if idle >= m.expiry {
			delete(m.sensors, k)
		}
	}
	for k, b := range m.buckets {
		b.mu.Lock()
		idle := now.Sub(b.lastUsed)
		b.mu.Unlock()
		if idle >= m.expiry {
			delete(m.buckets, k)
		}
	}
}

// Each calls f for every sensor, in no order, holding the manager's lock
// (f must not call back into the manager).
func (m *Manager) Each(f func(key string, s *Sensor)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.sensors {
		f(k, s)
	}
}
