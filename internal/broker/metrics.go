package broker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are exported in Prometheus format at /metrics on
// metrics.http.listener, named after Kafka's JMX metrics as the Prometheus
// JMX exporter renders them (kafka_server_replicamanager_..., ...).
type metrics struct {
	reg          *prometheus.Registry
	isrShrinks   prometheus.Counter
	isrExpands   prometheus.Counter
	unclean      prometheus.Counter
	requestTimes *prometheus.HistogramVec
}

func (b *Broker) newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.isrShrinks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kafka_server_replicamanager_isrshrinks_total", Help: "ISR shrinks committed for partitions this broker leads."})
	m.isrExpands = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kafka_server_replicamanager_isrexpands_total", Help: "ISR expansions committed for partitions this broker leads."})
	m.unclean = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kafka_controller_controllerstats_uncleanleaderelections_total", Help: "Unclean leader elections made by this node's controller."})
	m.requestTimes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kafka_network_requestmetrics_totaltimems", Help: "Request total time in milliseconds, by API.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000},
	}, []string{"request"})
	m.reg.MustRegister(m.isrShrinks, m.isrExpands, m.unclean, m.requestTimes)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b.registerGauges(m.reg)
	m.reg.MustRegister(connCollector{b})
	if b.quotas != nil {
		m.reg.MustRegister(b.quotas)
	}
	for _, t := range []*throttle{b.leaderThrottle, b.followerThrottle} {
		side := "follower"
		if t.leader {
			side = "leader"
		}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kafka_server_" + side + "replication_byte_rate",
			Help: "Bytes per second of throttled replicas' replication this broker served (leader) or fetched (follower), over the quota windows."},
			t.measured))
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fjord_node_clock_skew_seconds", Help: "Offset of this node's wall clock from the host's (FJORD_CLOCK_SKEW)."},
		func() float64 { return b.skew.Seconds() }))
	return m
}

// registerGauges adds the gauges computed from the metadata image and the
// local replicas at scrape time.
func (b *Broker) registerGauges(reg *prometheus.Registry) {
	gauge := func(name, help string, fn func(partitionStats) int) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(fn(b.partitionStats())) }))
	}
	gauge("kafka_server_replicamanager_partitioncount", "Replicas on this broker.", func(s partitionStats) int { return s.replicas })
	gauge("kafka_server_replicamanager_leadercount", "Partitions this broker leads.", func(s partitionStats) int { return s.leaders })
	gauge("kafka_server_replicamanager_underreplicatedpartitions", "Led partitions whose ISR is smaller than the replica set.",
		func(s partitionStats) int { return s.underReplicated })
	gauge("kafka_server_replicamanager_underminisrpartitioncount", "Led partitions whose ISR is below min.insync.replicas.",
		func(s partitionStats) int { return s.underMinISR })
	gauge("kafka_server_replicamanager_reassigningpartitions", "Led partitions with a reassignment in progress.",
		func(s partitionStats) int { return s.reassigning })
	gauge("kafka_controller_kafkacontroller_activecontrollercount", "1 on the active controller.",
		func(s partitionStats) int { return s.active })
	gauge("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions without a leader (reported by the active controller).",
		func(s partitionStats) int { return s.offline })
}

type partitionStats struct {
	replicas, leaders, underReplicated, underMinISR, active, offline, reassigning int
}

func (b *Broker) partitionStats() partitionStats {
	var s partitionStats
	if b.ctrl != nil && b.ctrl.IsActive() {
		s.active = 1
	}
	img := b.meta.Image()
	for _, name := range img.TopicNames() {
		t, _ := img.Topic(name)
		minISR := int(config.NewTopic(img.TopicConfig(name), b.cfg).Int("min.insync.replicas"))
		for _, p := range t.Partitions {
			if p.Leader < 0 && s.active == 1 {
				s.offline++
			}
			if !containsID(p.Replicas, b.nodeID) {
				continue
			}
			s.replicas++
			if p.Leader != b.nodeID {
				continue
			}
			s.leaders++
			if p.Reassigning() {
				s.reassigning++
			}
			if len(p.ISR) < len(p.Replicas) {
				s.underReplicated++
			}
			if len(p.ISR) < min(minISR, len(p.Replicas)) {
				s.underMinISR++
			}
		}
	}
	return s
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// serveMetrics starts the /metrics endpoint (and Go's /debug/pprof
// profiles and execution trace) when metrics.http.listener is set.
func (b *Broker) serveMetrics() error {
	addr := b.cfg.String("metrics.http.listener")
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace) // the execution tracer: scheduling and syscall latency
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.metricsAddr = ln.Addr().String()
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.logger.Error("metrics endpoint failed", "err", err)
		}
	}()
	go func() {
		defer b.wg.Done()
		<-b.stop
		_ = srv.Shutdown(context.Background())
	}()
	b.logger.Info("metrics endpoint", "addr", b.metricsAddr)
	return nil
}

// MetricsAddr returns the bound /metrics address ("" when disabled).
func (b *Broker) MetricsAddr() string { return b.metricsAddr }

// observeRequest records one request's total time (handlers.Deps.Observe).
func (b *Broker) observeRequest(api string, d time.Duration) {
	b.metrics.requestTimes.WithLabelValues(api).Observe(float64(d.Microseconds()) / 1000)
}

// connCollector exports the client listeners' connection counts at scrape
// time: Kafka's socket-server-metrics connection-count per listener, and
// the connections the limits closed (max.connections.per.ip at accept;
// evicted for the inter-broker listener beyond max.connections).
type connCollector struct{ b *Broker }

var (
	connCountDesc = prometheus.NewDesc("kafka_server_socket_server_metrics_connection_count",
		"Open connections, by listener.", []string{"listener"}, nil)
	connRejectedDesc = prometheus.NewDesc("fjord_server_connections_rejected_per_ip_total",
		"Connections closed at accept because their address had max.connections.per.ip open.", nil, nil)
	connEvictedDesc = prometheus.NewDesc("fjord_server_connections_evicted_total",
		"Connections closed to make room for an inter-broker connection beyond max.connections.", nil, nil)
)

func (c connCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connCountDesc
	ch <- connRejectedDesc
	ch <- connEvictedDesc
}

func (c connCollector) Collect(ch chan<- prometheus.Metric) {
	if c.b.srv == nil {
		return
	}
	st := c.b.srv.ConnStats()
	for l, n := range st.PerListener {
		ch <- prometheus.MustNewConstMetric(connCountDesc, prometheus.GaugeValue, float64(n), l)
	}
	ch <- prometheus.MustNewConstMetric(connRejectedDesc, prometheus.CounterValue, float64(st.RejectedPerIP))
	ch <- prometheus.MustNewConstMetric(connEvictedDesc, prometheus.CounterValue, float64(st.Evicted))
}
