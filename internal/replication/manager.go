// Package replication runs a broker's follower fetchers
// (reference/kafka-replication.md §3): for every partition this node
// follows, it fetches the leader's batches with Kafka Fetch requests that
// carry our replica id, appends them unchanged to the local replica,
// takes the leader's high watermark and log start offset, and truncates
// a divergent suffix when the leader says so.
//
// There is one fetcher goroutine per source (leader) broker. It fetches
// every partition assigned to that leader in one long-poll Fetch (v12,
// topic names) within an incremental fetch session (KIP-227, session.go),
// so a follower costs one connection per leader, not one per partition,
// and a round carries and costs only the partitions whose state changed. The partition layer does the storage
// work and fences calls made for an old leader epoch; this package only
// moves bytes and decides when to retry.
//
// # Concurrency
//
// Assign, Remove and Close may be called from any goroutine; Assign and
// Remove never wait for network I/O. The Manager's one mutex guards the
// assignment tables of the Manager and of every fetcher; it is never held
// while calling a Partition or doing I/O, so no lock nests inside it.
package replication

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
)

// Defaults, Kafka's (replica.fetch.*).
const (
	DefaultMaxWait           = 500 * time.Millisecond // replica.fetch.wait.max.ms
	DefaultMinBytes          = 1                      // replica.fetch.min.bytes
	DefaultMaxBytes          = 10 << 20               // replica.fetch.response.max.bytes
	DefaultPartitionMaxBytes = 1 << 20                // replica.fetch.max.bytes
	DefaultBackoff           = time.Second            // replica.fetch.backoff.ms
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Options configure a Manager. Zero values take the defaults.
type Options struct {
	// NodeID is our node id, sent as the Fetch and ListOffsets ReplicaID.
	NodeID int32
	// Addr returns a broker's inter-broker (client listener) address from
	// the current metadata. Called from fetcher goroutines.
	Addr func(broker int32) (string, bool)
	// Partition returns the local replica, nil if it is gone. Called from
	// fetcher goroutines.
	Partition func(topic string, idx int32) *partition.Partition
	// MaxWait is replica.fetch.wait.max.ms.
	MaxWait time.Duration
	// MinBytes is replica.fetch.min.bytes.
	MinBytes int32
	// MaxBytes is replica.fetch.response.max.bytes.
	MaxBytes int32
	// PartitionMaxBytes is replica.fetch.max.bytes.
	PartitionMaxBytes int32
	// Backoff is replica.fetch.backoff.ms: the wait before retrying after
	// an error, per partition or for a whole fetcher.
	Backoff time.Duration
	// Logger receives fetcher events; nil discards them.
	Logger *slog.Logger
	// Security secures the connections to leaders (TLS, SASL) as the
	// inter-broker listener needs.
	Security Security
	// OnLeaderUnreachable, if set, is told when a fetcher's requests to
	// its leader start failing (the first failure of a streak). It is
	// called on the fetcher goroutine and must not block; the node may
	// probe the leader (fast crash detection).
	OnLeaderUnreachable func(leader int32)
	// Throttle, if set, is the follower side of the replication quota.
	Throttle Throttle
}

// Throttle is the follower side of Kafka's replication quota
// (follower.replication.throttled.rate over the partitions listed for
// this broker in follower.replication.throttled.replicas). Called from
// fetcher goroutines; implementations are safe for concurrent use.
type Throttle interface {
	// Active reports whether the throttled bytes are above the rate now.
	Active() bool
	// Hold reports whether the partition is left out of fetches now: it
	// is throttled here, this replica is not in its ISR, and the rate is
	// exceeded.
	Hold(topic string, partition int32, inSync bool) bool
	// Fetched counts fetched bytes of the partition against the rate, if
	// it is throttled here.
	Fetched(topic string, partition int32, bytes int)
}

func (o Options) withDefaults() Options {
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MinBytes <= 0 {
		o.MinBytes = DefaultMinBytes
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.PartitionMaxBytes <= 0 {
		o.PartitionMaxBytes = DefaultPartitionMaxBytes
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Manager owns the follower fetchers of one node.
type Manager struct {
	o      Options
	ctx    context.Context // cancelled by Close; parent of every fetcher's
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetcher goroutines

	mu       sync.Mutex
	closed   bool
	parts    map[TopicPartition]*assignment
	fetchers map[int32]*fetcher // by leader id
}

// assignment is one partition's place in a fetcher. Every Assign that
// changes the leader or epoch makes a new assignment, so a fetcher that
// holds a pointer can tell whether its result still applies. Fields
// below tp are guarded by Manager.mu.
type assignment struct {
	tp     TopicPartition
	leader int32
	epoch  int32
	f      *fetcher

	until    time.Time     // backed off until then
	stopped  bool          // fenced or failed: wait for a new assignment
	notReady time.Duration // the last wait for a leader not ready yet
}

// NewManager returns a Manager with no fetchers.
func NewManager(o Options) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		o: o.withDefaults(), ctx: ctx, cancel: cancel,
		parts: map[TopicPartition]*assignment{}, fetchers: map[int32]*fetcher{},
	}
}

// Assign makes this node fetch tp from leader in leaderEpoch. A partition
// is moved between fetchers only when its leader or epoch changes: calling
// Assign again with the same pair is a no-op (a partition stopped after
// FENCED_LEADER_EPOCH stays stopped). A negative leader, or this node,
// removes tp: there is nothing to fetch.
func (m *Manager) Assign(tp TopicPartition, leader, leaderEpoch int32) {
	if leader < 0 || leader == m.o.NodeID {
		m.Remove(tp)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.parts[tp]
	if m.closed || (old != nil && old.leader == leader && old.epoch == leaderEpoch) {
		return
	}
	f := m.fetcherFor(leader)
	a := &assignment{tp: tp, leader: leader, epoch: leaderEpoch, f: f}
	m.parts[tp], f.parts[tp] = a, a
	if old != nil && old.f != f {
		m.release(old)
	}
	f.assigned()
}

// Remove stops fetching tp. A response already in flight for it is
// dropped; a partition call already under way completes, fenced by the
// partition's own epoch check.
func (m *Manager) Remove(tp TopicPartition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.parts[tp]; a != nil {
		delete(m.parts, tp)
		m.release(a)
	}
}

// Close stops every fetcher, waits for their goroutines and closes their
// connections. Assign and Remove do nothing afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.parts, m.fetchers = map[TopicPartition]*assignment{}, map[int32]*fetcher{}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// fetcherFor returns the running fetcher for leader, starting one if
// needed. Called with mu held.
func (m *Manager) fetcherFor(leader int32) *fetcher {
	if f := m.fetchers[leader]; f != nil {
		return f
	}
	f := newFetcher(m, leader)
	m.fetchers[leader] = f
	m.wg.Add(1)
	go f.run()
	return f
}

// release takes a from its fetcher and stops the fetcher when it has no
// partitions left. Called with mu held.
func (m *Manager) release(a *assignment) {
	f := a.f
	if f.parts[a.tp] == a {
		delete(f.parts, a.tp)
		f.gen++
	}
	if len(f.parts) == 0 && m.fetchers[f.leader] == f {
		delete(m.fetchers, f.leader)
		f.cancel()
	}
}

// current reports whether a is still the assignment of its partition.
func (m *Manager) current(a *assignment) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parts[a.tp] == a
}

// settle records the outcome of one partition's fetch, unless the
// partition was reassigned meanwhile.
func (m *Manager) settle(a *assignment, o outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.parts[a.tp] != a {
		return
	}
	if o != again {
		a.f.gen++
	}
	switch o {
	case backOff:
		a.until = time.Now().Add(m.o.Backoff)
	case soon: // leaderNotReadyWait, doubling while the leader stays unready
		a.notReady = min(max(2*a.notReady, leaderNotReadyWait), m.o.Backoff)
		a.until = time.Now().Add(a.notReady)
	case stop:
		a.stopped = true
	}
}
