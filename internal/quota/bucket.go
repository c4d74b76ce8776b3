package quota

import (
	"math"
	"sync"
	"time"
)

// TokenBucket is KIP-599's token bucket, Kafka's measure for
// controller_mutation_rate: credits accrue at the bound per second up to
// a burst of Samples × Window × bound (a new bucket starts full); each
// mutation takes its count, and the balance may go negative. While it is
// negative the client is over its quota, for -balance / bound. It is safe
// for concurrent use.
type TokenBucket struct {
	mu       sync.Mutex
	cfg      Config
	tokens   float64
	last     time.Time
	started  bool
	lastUsed time.Time
}

// NewTokenBucket returns a full bucket whose burst is cfg.Samples ×
// cfg.Window of credits.
func NewTokenBucket(cfg Config) *TokenBucket { return &TokenBucket{cfg: cfg.normalized()} }

func (b *TokenBucket) refill(now time.Time, bound float64) {
	burst := bound * float64(b.cfg.Samples) * b.cfg.Window.Seconds()
	if !b.started {
		b.tokens, b.started = burst, true
	} else if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(burst, b.tokens+bound*elapsed.Seconds())
	}
	if now.After(b.last) {
		b.last = now
	}
	b.lastUsed = now
}

// throttle is how long the balance takes to come back to zero.
func (b *TokenBucket) throttle(bound float64) time.Duration {
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Round(-b.tokens/bound*1000)) * time.Millisecond
}

// Throttle is how long a client is over its quota at now (zero when it
// is not, or bound is not Limited).
func (b *TokenBucket) Throttle(now time.Time, bound float64) time.Duration {
	if !Limited(bound) {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now, bound)
	return b.throttle(bound)
}

// Record takes n credits at now and returns the throttle time after it.
func (b *TokenBucket) Record(n float64, now time.Time, bound float64) time.Duration {
	if !Limited(bound) {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now, bound)
	b.tokens -= n
	return b.throttle(bound)
}

// Bucket returns key's token bucket, creating it (full); buckets expire
// like sensors.
func (m *Manager) Bucket(key string, now time.Time) *TokenBucket {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= m.expiry/4 {
		m.sweep(now)
	}
	if m.buckets == nil {
		m.buckets = map[string]*TokenBucket{}
	}
	b := m.buckets[key]
	if b == nil {
		b = &TokenBucket{cfg: m.cfg, lastUsed: now}
		m.buckets[key] = b
	}
	return b
}
