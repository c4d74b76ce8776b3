package broker

import (
	"time"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/quota"
	"github.com/prometheus/client_golang/prometheus"
)

// clientQuotas enforces the client quotas of the metadata image
// (handlers.ClientQuotas): per quota key, one quota.Manager whose sensors
// are keyed by the user and client-id the applying quota distinguishes
// (quota.Resolve), sampled as Kafka's defaults (quota.window.num 11,
// quota.window.size.seconds 1). A request_percentage throttle is at most
// one window, as Kafka bounds it. It is also the Prometheus collector of
// the quota metrics, named as Kafka's JMX metrics through the JMX
// exporter, by user and client_id: kafka_server_produce_byte_rate,
// kafka_server_fetch_byte_rate and kafka_server_request_request_time
// (percent of one thread), and kafka_server_<type>_throttle_time_ms_total.
type clientQuotas struct {
	image     func() *metadata.Image
	now       func() time.Time
	managers  map[string]*quota.Manager
	mutations *quota.Manager // controller_mutation_rate token buckets
}

// quotaTypes names the metrics of each enforced quota key: Kafka's quota
// type and the name of its rate.
var quotaTypes = map[string][2]string{
	controller.QuotaProducerByteRate:  {"produce", "byte_rate"},
	controller.QuotaConsumerByteRate:  {"fetch", "byte_rate"},
	controller.QuotaRequestPercentage: {"request", "request_time"},
}

// maxQuotaSeries bounds the series one quota type exports (sensors
// beyond it are summed into user="other", client_id="other").
const maxQuotaSeries = 1000

func newClientQuotas(image func() *metadata.Image, now func() time.Time) *clientQuotas {
	q := &clientQuotas{image: image, now: now, managers: map[string]*quota.Manager{},
		mutations: quota.NewManager(quota.DefaultConfig(), quota.DefaultInactiveExpiry)}
	for key := range quotaTypes {
		q.managers[key] = quota.NewManager(quota.DefaultConfig(), quota.DefaultInactiveExpiry)
	}
	return q
}

// Record implements handlers.ClientQuotas.
func (q *clientQuotas) Record(key, user, clientID string, n float64, now time.Time) time.Duration {
	mgr := q.managers[key]
	if mgr == nil {
		return 0
	}
	m := q.resolve(key, user, clientID)
	var maxThrottle time.Duration
	if key == controller.QuotaRequestPercentage {
		maxThrottle = quota.DefaultConfig().Window
	}
	return mgr.RecordBounded(m.SensorKey(), n, now, m.Bound, maxThrottle)
}

// Mutate implements handlers.ClientQuotas: a token bucket per user and
// client-id as the applying controller_mutation_rate quota distinguishes
// them (KIP-599; controller.quota.window.num 11 and
// controller.quota.window.size.seconds 1, Kafka's defaults).
func (q *clientQuotas) Mutate(user, clientID string, n float64, now time.Time, strict bool) (bool, time.Duration) {
	m := q.resolve(controller.QuotaControllerMutationRate, user, clientID)
	if !quota.Limited(m.Bound) {
		return true, 0
	}
	b := q.mutations.Bucket(m.SensorKey(), now)
	if d := b.Throttle(now, m.Bound); strict && d > 0 {
		return false, d
	}
	return true, b.Record(n, now, m.Bound)
}

// resolve finds the quota of key for a client in the current image.
func (q *clientQuotas) resolve(key, user, clientID string) quota.Match {
	img := q.image()
	if len(img.Quotas) == 0 {
		return quota.Match{ClientTag: clientID}
	}
	return quota.Resolve(user, clientID, func(e quota.Entity) (float64, bool) {
		return img.ClientQuota(metaEntity(e), key)
	})
}

func metaEntity(e quota.Entity) metadata.QuotaEntity {
	conv := func(p quota.Part) metadata.QuotaName {
		switch p.Kind {
		case quota.Default:
			return metadata.QuotaName{Kind: metadata.QuotaDefault}
		case quota.Named:
			return metadata.QuotaName{Kind: metadata.QuotaNamed, Name: p.Name}
		}
		return metadata.QuotaName{}
	}
	return metadata.QuotaEntity{User: conv(e.User), ClientID: conv(e.ClientID)}
}

var (
	quotaLabels     = []string{"user", "client_id"}
	quotaByteRate   = map[string]*prometheus.Desc{}
	quotaThrottleMs = map[string]*prometheus.Desc{}
)

func init() {
	for _, t := range quotaTypes {
		typ, rate := t[0], t[1]
		quotaByteRate[typ] = prometheus.NewDesc("kafka_server_"+typ+"_"+rate,
			"Rate per second ("+rate+") of "+typ+" requests by quota user and client-id, over the quota window.", quotaLabels, nil)
		quotaThrottleMs[typ] = prometheus.NewDesc("kafka_server_"+typ+"_throttle_time_ms_total",
			"Milliseconds "+typ+" requests were throttled by client quotas, by quota user and client-id.", quotaLabels, nil)
	}
}

// Describe implements prometheus.Collector.
func (q *clientQuotas) Describe(ch chan<- *prometheus.Desc) {
	for _, t := range quotaTypes {
		ch <- quotaByteRate[t[0]]
		ch <- quotaThrottleMs[t[0]]
	}
}

// Collect implements prometheus.Collector.
func (q *clientQuotas) Collect(ch chan<- prometheus.Metric) {
	now := q.now()
	for key, t := range quotaTypes {
		typ := t[0]
		type series struct{ rate, throttled float64 }
		out := map[[2]string]series{}
		q.managers[key].Each(func(k string, s *quota.Sensor) {
			labels := splitSensorKey(k)
			if _, ok := out[labels]; !ok && len(out) >= maxQuotaSeries {
				labels = [2]string{"other", "other"}
			}
			v := out[labels]
			v.rate += s.Measure(now)
			v.throttled += float64(s.ThrottledTotal().Milliseconds())
			out[labels] = v
		})
		for l, v := range out {
			ch <- prometheus.MustNewConstMetric(quotaByteRate[typ], prometheus.GaugeValue, v.rate, l[0], l[1])
			ch <- prometheus.MustNewConstMetric(quotaThrottleMs[typ], prometheus.CounterValue, v.throttled, l[0], l[1])
		}
	}
}

// splitSensorKey returns the user and client-id of a quota.Match
// sensor key.
func splitSensorKey(k string) [2]string {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return [2]string{k[:i], k[i+1:]}
		}
	}
	return [2]string{k, ""}
}
