package broker

import (
	"math"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/quota"
)

// Replication throttles, as Kafka's ReplicationQuotaManager: a broker
// throttles, as a leader, the replicas of the partitions listed for it in
// a topic's leader.replication.throttled.replicas ("partition:broker"
// pairs, or "*") to leader.replication.throttled.rate bytes per second,
// and, as a follower, those listed in follower.replication.throttled.replicas
// to follower.replication.throttled.rate. Bytes of listed partitions are
// measured over Kafka's sampled windows (11 of 1 s); while the rate is
// above the bound, listed replicas outside the ISR get no data (the
// leader answers them without records, the follower leaves them out of
// its fetches), so a reassignment's catching-up replicas cannot starve
// clients or in-sync followers. Both rates are dynamic broker configs and
// the lists topic configs: both are read at use time.

// throttle is one side (leader or follower) of the replication quota.
type throttle struct {
	node   int32
	list   string                // the topic config naming the replicas
	rate   func() (int64, int64) // the leader and follower rates
	leader bool                  // which of the two rates applies
	img    func() *metadata.Image
	now    func() time.Time
	sensor *quota.Sensor

	mu     sync.Mutex
	parsed map[string]config.ThrottledReplicas // raw list value -> parsed
}

func newThrottle(b *Broker, leader bool) *throttle {
	t := &throttle{node: b.nodeID, rate: b.cfg.ThrottledRates, leader: leader,
		img: func() *metadata.Image { return b.meta.Image() }, now: b.now,
		sensor: quota.NewSensor(quota.DefaultConfig()), parsed: map[string]config.ThrottledReplicas{}}
	t.list = "follower.replication.throttled.replicas"
	if leader {
		t.list = "leader.replication.throttled.replicas"
	}
	return t
}

// bound is the side's rate in bytes per second (+Inf when unthrottled).
func (t *throttle) bound() float64 {
	l, f := t.rate()
	r := f
	if t.leader {
		r = l
	}
	if r == math.MaxInt64 {
		return math.Inf(1)
	}
	return float64(r)
}

// listed reports whether this broker's replica of the partition is in the
// topic's throttled list.
func (t *throttle) listed(topic string, p int32) bool {
	raw := t.img().TopicConfig(topic)[t.list]
	if raw == "" {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tr, ok := t.parsed[raw]
	if !ok {
		tr, _ = config.ParseThrottledReplicas(raw) // validated when set
		if len(t.parsed) > 1024 {
			clear(t.parsed)
		}
		t.parsed[raw] = tr
	}
	return tr.Has(p, t.node)
}

// Active reports whether the side's throttled bytes are above its rate
// now: only then is any replica held back.
func (t *throttle) Active() bool {
	b := t.bound()
	return quota.Limited(b) && t.sensor.Exceeded(t.now(), b)
}

// hold reports whether a replica of the partition outside the ISR is held
// back now (Kafka's shouldLeaderThrottle / shouldFollowerThrottle).
func (t *throttle) hold(topic string, p int32, inSync bool) bool {
	return !inSync && t.listed(topic, p) && t.Active()
}

// record counts bytes of a listed partition against the rate.
func (t *throttle) record(topic string, p int32, n int) {
	if n > 0 && t.listed(topic, p) {
		t.sensor.Record(float64(n), t.now(), t.bound())
	}
}

// measured is the side's current throttled byte rate (for metrics).
func (t *throttle) measured() float64 { return t.sensor.Measure(t.now()) }

// leaderThrottle is the leader side, as handlers.ReplicationThrottle.
type leaderThrottle struct{ *throttle }

// Hold implements handlers.ReplicationThrottle.
func (t leaderThrottle) Hold(topic string, p, _ int32, inSync bool) bool {
	return t.hold(topic, p, inSync)
}

// Sent implements handlers.ReplicationThrottle.
func (t leaderThrottle) Sent(topic string, p int32, n int) { t.record(topic, p, n) }

// followerThrottle is the follower side, as replication.Throttle.
type followerThrottle struct{ *throttle }

// Hold implements replication.Throttle.
func (t followerThrottle) Hold(topic string, p int32, inSync bool) bool {
	return t.hold(topic, p, inSync)
}

// Fetched implements replication.Throttle.
func (t followerThrottle) Fetched(topic string, p int32, n int) { t.record(topic, p, n) }
