// Package broker is the composition root of a Fjord node: it wires the
// storage manager, the metadata quorum and controller, the partition
// replicas, the handlers and the protocol servers together, runs the
// broker's lifecycle with the active controller, and reconciles metadata
// changes into local replicas (create, update, delete).
package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/coordinator"
	"github.com/fjordlog/fjord/internal/ctlclient"
	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/replication"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is one running node.
type Broker struct {
	cfg         *config.Broker
	nodeID      int32
	clusterID   string
	incarnation metadata.UUID
	logger      *slog.Logger
	skew        time.Duration // Options.ClockSkew; read through now

	logs     *storage.Manager
	metaDir  string
	meta     *metaState
	quorum   quorumLog
	ctrl     *controller.Controller
	ctl      *ctlclient.Client
	voters   map[int32]string
	srv      *server.Server // client listeners
	ctrlSrv  *server.Server // controller listener
	parts    sync.Map       // storage.TopicPartition -> *partition.Partition
	fetchers *replication.Manager
	groups   *coordinator.Manager
	txns     *coordinator.TxnManager
	pids     *producerIDs
	// brokers and markers are clients of the brokers' inter-broker
	// listener (txn.go): brokers for the produce path's questions to
	// transaction coordinators, markers for the coordinators' markers.
	// They must not share connections: responses come back in request
	// order, and a verification the coordinator holds until a
	// transaction's markers are written would hold those markers'
	// responses behind it.
	brokers     *ctlclient.Brokers
	markers     *ctlclient.Brokers
	metrics     *metrics
	metricsAddr string
	lns         []net.Listener
	addrs       []Listener
	authz       *auth.Authorizer // nil: no authorizer configured
	quotas      *clientQuotas    // client quota enforcement (quotas.go)
	// replication throttles (throttle.go): the leader and follower sides
	leaderThrottle, followerThrottle *throttle
	suspects                         chan suspect // brokers to probe (prober.go); nil on broker-only nodes

	alterMu    sync.Mutex
	alterQueue []pendingAlter // ISR changes for the next AlterPartition (isr.go)
	alterWake  chan struct{}
	fetcherSec replication.Security // security of the inter-broker listener, for follower fetchers
	ctlOpts    []kgo.Opt            // security of the controller listener, for controller RPCs

	epoch          atomic.Int64
	registered     atomic.Bool  // a registration of this process succeeded (see registration)
	observedLeader atomic.Int32 // active controller, on observers
	unfenced       atomic.Bool
	stop           chan struct{}
	// ready closes when the controller first unfences this broker: its
	// metadata has caught up past its own registration. Like Kafka's
	// broker, which enables request processing only after its initial
	// metadata catch-up, client listeners accept connections but serve
	// them from then on, so that no client sees the stale image a
	// restarted node replays from its own log.
	ready     chan struct{}
	readyOnce sync.Once
	fatal     chan error // see Fatal (fatal.go)
	wg        sync.WaitGroup
	closed    sync.Once
}

// Options are a node's settings that are not Kafka properties.
type Options struct {
	// ClockSkew offsets the node's wall clock (`fjord server` reads it
	// from FJORD_CLOCK_SKEW, for fault injection). The node reads wall
	// time only through one clock, time.Now().Add(ClockSkew), handed to
	// storage, partitions, the controller, the handlers and the group
	// coordinators. Adding a duration keeps Go's monotonic reading, so
	// durations measured with the clock are not skewed; pure deadlines and
	// timeouts use time.Now directly.
	ClockSkew time.Duration
}

// Start opens the node's storage, joins the metadata quorum, starts the
// controller and the listeners, and registers the broker. With a single
// voter it returns once the broker is unfenced and serving.
func Start(cfg *config.Broker, logger *slog.Logger) (*Broker, error) {
	return StartWith(cfg, logger, Options{})
}

// StartWith is Start with Options.
func StartWith(cfg *config.Broker, logger *slog.Logger, o Options) (*Broker, error) {
	b := &Broker{cfg: cfg, nodeID: int32(cfg.Int("node.id")), logger: logger, skew: o.ClockSkew, stop: make(chan struct{}), ready: make(chan struct{}), alterWake: make(chan struct{}, 1)}
	if b.skew != 0 {
		logger.Warn("node clock skewed", "skew", b.skew.String())
	}
	_, _ = rand.Read(b.incarnation[:])
	if err := b.open(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) open() error {
	if !slicesContains(b.cfg.List("process.roles"), "broker") {
		return errors.New("process.roles without broker is not supported yet: every node is a broker")
	}
	var err error
	if b.voters, err = ParseVoters(b.cfg.List("controller.quorum.voters")); err != nil {
		return err
	}
	all, err := ParseListeners(b.cfg.List("listeners"))
	if err != nil {
		return err
	}
	if err := b.prepareSecurity(); err != nil {
		return err
	}
	if err := b.openStorage(); err != nil {
		return err
	}
	b.wg.Add(2)
	go func() {
		defer b.wg.Done()
		b.meta.run(b.stop)
	}()
	go b.alterLoop()
	if err := b.listen(all); err != nil {
		return err
	}
	if err := b.serveMetrics(); err != nil {
		return err
	}
	b.wg.Add(1)
	go b.lifecycle()
	b.startLoops()
	b.watchFailures()
	if _, voter := b.voters[b.nodeID]; voter && len(b.voters) == 1 { // not when joining a quorum of one
		return b.WaitReady(10 * time.Second)
	}
	return nil
}

func (b *Broker) openStorage() error {
	dirs := logDirs(b.cfg)
	metaDir := b.cfg.String("metadata.log.dir")
	if metaDir == "" {
		metaDir = dirs[0]
	}
	var err error
	b.clusterID, err = checkMeta(append([]string{metaDir}, dirs...), b.nodeID, b.configuredClusterID())
	if err != nil {
		return err
	}
	if b.logs, err = storage.OpenManager(dirs, b.logger, b.now); err != nil {
		return err
	}
	b.quotas = newClientQuotas(func() *metadata.Image { return b.meta.Image() }, b.now)
	b.leaderThrottle, b.followerThrottle = newThrottle(b, true), newThrottle(b, false)
	b.metrics = b.newMetrics()
	b.groups = coordinator.NewManager(coordinator.Options{
		NodeID: b.nodeID, Config: b.groupConfig(), Partitions: b.offsetsPartitions, Logger: b.logger, Now: b.now,
	})
	b.meta = newMetaState(b.logger, b.reconcile)
	b.pids = &producerIDs{b: b}
	b.txns = b.newTxnManager()
	b.fetchers = replication.NewManager(b.replicationOptions())
	b.metaDir = filepath.Join(metaDir, "__cluster_metadata-0")
	return nil
}

// now is the node's wall clock: the real one offset by Options.ClockSkew.
// Every component that reads wall time gets it.
func (b *Broker) now() time.Time { return time.Now().Add(b.skew) }

// configuredClusterID is cluster.id when set; otherwise, for a multi-voter
// quorum, an id derived from the voter set so that every node of a new
// cluster agrees on it without a separate format step (a single node
// makes up a random one).
func (b *Broker) configuredClusterID() string {
	if id := b.cfg.String("cluster.id"); id != "" {
		return id
	}
	if len(b.voters) > 1 {
		return votersClusterID(b.voters)
	}
	return ""
}

// WaitReady waits until the controller has unfenced this broker, so that
// it appears in Metadata and may lead partitions. The broker opens (and
// after a crash recovers) its logs before it asks to be unfenced, so
// timeout counts only time in which no log is loading: a node recovering
// many logs waits as long as that takes, and fails only once it stalls.
func (b *Broker) WaitReady(timeout time.Duration) error {
	return waitReady(timeout, time.Now, time.Sleep, b.unfenced.Load, b.logs.Loading)
}

// waitReady polls ready every 10 ms until it holds; it fails once timeout
// has passed since the last poll at which loading() was non-zero.
func waitReady(timeout time.Duration, now func() time.Time, sleep func(time.Duration), ready func() bool, loading func() int) error {
	deadline := now().Add(timeout)
	for !ready() {
		if loading() > 0 {
			deadline = now().Add(timeout)
		}
		if now().After(deadline) {
			return fmt.Errorf("broker not unfenced within %s (with no log loading meanwhile)", timeout)
		}
		sleep(10 * time.Millisecond)
	}
	return nil
}

// logDirs returns log.dirs, or log.dir when log.dirs is not set.
func logDirs(cfg *config.Broker) []string {
	if cfg.Source("log.dirs") != config.SourceStaticBroker && cfg.String("log.dir") != "" {
		return []string{cfg.String("log.dir")}
	}
	return cfg.List("log.dirs")
}

func (b *Broker) registration() controller.Registration {
	names := b.cfg.List("controller.listener.names")
	adv, _ := ParseListeners(b.cfg.List("advertised.listeners"))
	clusterID := b.clusterID
	if id := b.meta.Image().ClusterID; id != "" {
		clusterID = id // what the metadata log says wins over a locally made-up id
	}
	return controller.Registration{
		ID: b.nodeID, ClusterID: clusterID, Incarnation: b.incarnation.String(),
		Endpoints: endpoints(b.addrs, adv, names), Rack: b.cfg.String("broker.rack"),
		// Only this process's first registration can follow a crash: later
		// ones (after being fenced) keep the logs this process wrote.
		UncleanShutdown: !b.registered.Load() && (b.logs == nil || !b.logs.CleanShutdown()),
	}
}

// Addr returns the bound address of the named listener ("" if none).
func (b *Broker) Addr(name string) string {
	for _, l := range b.addrs {
		if l.Name == name {
			return l.Addr()
		}
	}
	return ""
}

// Image returns the latest published metadata image.
func (b *Broker) Image() *metadata.Image { return b.meta.Image() }

// Partition implements handlers.Partitions.
func (b *Broker) Partition(topic string, index int32) *partition.Partition {
	p, ok := b.parts.Load(storage.TopicPartition{Topic: topic, Partition: index})
	if !ok {
		return nil
	}
	return p.(*partition.Partition)
}

// Shutdown stops the node gracefully: a controlled shutdown first moves
// its leaderships to other replicas, then it closes.
func (b *Broker) Shutdown() error {
	b.ControlledShutdown(30 * time.Second)
	return b.Close()
}

// ControlledShutdown asks the active controller to move this broker's
// leaderships away and fence it, waiting at most timeout. The broker keeps
// serving until Close.
func (b *Broker) ControlledShutdown(timeout time.Duration) {
	if b.epoch.Load() != 0 {
		b.controlledShutdown(timeout)
	}
}

// Close stops serving, stops the controller and quorum, and closes every
// log cleanly (checkpoints and the clean-shutdown marker), so the next
// start skips recovery.
func (b *Broker) Close() error {
	var err error
	b.closed.Do(func() {
		close(b.stop)
		if b.groups != nil {
			b.groups.StopAll()
		}
		if b.txns != nil {
			b.txns.StopAll()
		}
		for _, c := range []*ctlclient.Brokers{b.brokers, b.markers} {
			if c != nil {
				c.Close()
			}
		}
		for _, s := range []*server.Server{b.srv, b.ctrlSrv} {
			if s != nil {
				_ = s.Close()
			}
		}
		b.wg.Wait()
		if b.fetchers != nil {
			b.fetchers.Close()
		}
		if b.ctl != nil {
			b.ctl.Close()
		}
		if b.ctrl != nil {
			b.ctrl.Stop()
		}
		if b.quorum != nil {
			_ = b.quorum.Close()
		}
		if b.logs != nil {
			b.saveProducerStates()
			err = b.logs.Close(b.highWatermarks())
		}
	})
	return err
}

// saveProducerStates snapshots every replica's producer state at its log
// end before the logs close, so the next start replays no batch to
// rebuild it. A failure stops that replica (and fails its log, which the
// clean-shutdown marker then does not vouch for).
func (b *Broker) saveProducerStates() {
	b.parts.Range(func(_, v any) bool {
		p := v.(*partition.Partition)
		if err := p.SaveProducerState(); err != nil {
			b.logger.Error("saving producer state at shutdown failed", "topic", p.Topic, "partition", p.Index, "err", err)
		}
		return true
	})
}

func (b *Broker) highWatermarks() map[storage.TopicPartition]int64 {
	hws := map[storage.TopicPartition]int64{}
	b.parts.Range(func(k, v any) bool {
		hws[k.(storage.TopicPartition)] = v.(*partition.Partition).HighWatermark()
		return true
	})
	return hws
}

func slicesContains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func randomID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return id
}

var _ handlers.Partitions = (*Broker)(nil)

// replicationOptions configures the follower fetchers from replica.fetch.*.
func (b *Broker) replicationOptions() replication.Options {
	ms := func(name string) time.Duration { return time.Duration(b.cfg.Int(name)) * time.Millisecond }
	return replication.Options{
		NodeID: b.nodeID, Addr: b.brokerAddr, Partition: b.Partition, Logger: b.logger,
		MaxWait: ms("replica.fetch.wait.max.ms"), MinBytes: int32(b.cfg.Int("replica.fetch.min.bytes")),
		MaxBytes:            int32(b.cfg.Int("replica.fetch.response.max.bytes")),
		PartitionMaxBytes:   int32(b.cfg.Int("replica.fetch.max.bytes")),
		Backoff:             ms("replica.fetch.backoff.ms"),
		Security:            b.fetcherSec,
		OnLeaderUnreachable: b.onLeaderUnreachable,
		Throttle:            followerThrottle{b.followerThrottle},
	}
}

// brokerAddr returns a broker's inter-broker listener address from the
// current metadata.
func (b *Broker) brokerAddr(id int32) (string, bool) {
	br, ok := b.meta.Image().Brokers[id]
	if !ok {
		return "", false
	}
	ep, ok := br.Endpoint(b.cfg.String("inter.broker.listener.name"))
	if !ok {
		return "", false
	}
	return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), true
}

// groupConfig takes the group coordinator's settings from the broker config.
func (b *Broker) groupConfig() group.Config {
	cfg := group.DefaultConfig()
	ms := func(name string) time.Duration { return time.Duration(b.cfg.Int(name)) * time.Millisecond }
	cfg.InitialRebalanceDelay = ms("group.initial.rebalance.delay.ms")
	cfg.MinSessionTimeout = ms("group.min.session.timeout.ms")
	cfg.MaxSessionTimeout = ms("group.max.session.timeout.ms")
	cfg.OffsetsRetention = time.Duration(b.cfg.Int("offsets.retention.minutes")) * time.Minute
	return cfg
}

// offsetsPartitions is the partition count of __consumer_offsets, 0 while
// it does not exist.
func (b *Broker) offsetsPartitions() int32 {
	t, ok := b.meta.Image().Topic(handlers.OffsetsTopic)
	if !ok {
		return 0
	}
	return int32(len(t.Partitions))
}
