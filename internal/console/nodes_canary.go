package console

// The canary producer: beside `fjord dev` (Options.Nodes set) the console
// writes a small record to every partition of fjord-dev-canary every
// canaryInterval and times the acks, so that the node panel can show the
// unavailability window producers saw after a stop, kill or pause. This
// file is the IO shell; the windows are computed by windowTracker
// (nodes_window.go).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// canaryTopic is the topic the canary writes to; it is visible in
	// the topics like any other.
	canaryTopic = "fjord-dev-canary"
	// canaryInterval is how often the canary sends to each partition.
	canaryInterval = 50 * time.Millisecond
	// canaryMaxInFlight bounds a partition's records awaiting an outcome:
	// during a stall the canary stops sending to it instead of queueing.
	canaryMaxInFlight = 3
	// canaryDeliveryTimeout is how long a record may wait before it fails.
	canaryDeliveryTimeout = 2 * time.Minute
)

// canaryTopicConfigs keep the canary's log small: an hour of records in
// ten-minute segments.
var canaryTopicConfigs = map[string]string{"retention.ms": "3600000", "segment.ms": "600000"}

// canary is the console's canary producer. run is its one goroutine
// (started by Serve, ending with Serve's context); the producer client's
// callbacks and the HTTP handlers reach the tracker under mu.
type canary struct {
	nodes      NodeControl
	cl         *kgo.Client  // the console's, for CreateTopics
	adm        *kadm.Client // the console's, for Metadata
	clientOpts []kgo.Opt    // the cluster's, for the canary's own producer
	logger     *slog.Logger
	now        func() time.Time
	// onWindow is called, without mu held, with each window as it closes.
	onWindow func(canaryWindow)

	mu      sync.Mutex
	tr      *windowTracker
	status  string // what the canary is doing, for the panel
	lastErr string // the last failed record's time and error
	lost    bool   // a record failed as the topic is gone: create it again
}

func newCanary(nodes NodeControl, cl *kgo.Client, clientOpts []kgo.Opt, logger *slog.Logger) *canary {
	return &canary{nodes: nodes, cl: cl, adm: kadm.NewClient(cl), clientOpts: clientOpts, logger: logger, now: time.Now,
		tr: newWindowTracker(3 * canaryInterval), status: "not started"}
}

// run creates the topic if needed, then produces until ctx ends; if the
// topic is deleted meanwhile, it creates it again and starts a new
// producer (the old one knows the old topic id).
func (c *canary) run(ctx context.Context) {
	for c.prepare(ctx) {
		c.produce(ctx)
	}
}

// produce sends with a producer of its own until ctx ends or the topic
// is lost.
func (c *canary) produce(ctx context.Context) {
	cl, err := kgo.NewClient(c.producerOpts()...)
	if err != nil {
		c.setStatus("cannot create the canary producer: " + err.Error())
		<-ctx.Done()
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	defer c.dropPending()
	defer cl.Close() // fails what is still buffered: the callbacks ignore it
	defer cancel()
	t := time.NewTicker(canaryInterval)
	defer t.Stop()
	for !c.topicLost() {
		c.tick(pctx, cl)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dropPending forgets the records of a closed producer.
func (c *canary) dropPending() {
	c.mu.Lock()
	c.tr.dropPending()
	c.mu.Unlock()
}

// prepare waits for the topic and sizes the tracker; false when ctx
// ended first.
func (c *canary) prepare(ctx context.Context) bool {
	n, ok := c.awaitTopic(ctx)
	if !ok {
		return false
	}
	c.mu.Lock()
	c.tr.setPartitions(n)
	c.lost = false
	c.status = fmt.Sprintf("producing to %d %s every %v", n, plural(n, "partition", "partitions"), canaryInterval)
	c.mu.Unlock()
	return true
}

func (c *canary) topicLost() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

// producerOpts are the cluster's options and an idempotent acks=all
// producer to explicit partitions, which finds a moved leader quickly
// (fresh metadata after 250 ms, a flat 100 ms retry backoff) and gives up
// on a silent (paused) broker after 2 s instead of kgo's 20 s, so that a
// window ends at most about 2 s after the leader moved rather than when a
// long request to the old one times out.
func (c *canary) producerOpts() []kgo.Opt {
	opts := append([]kgo.Opt{kgo.ClientID("fjord-console-canary")}, c.clientOpts...)
	return append(opts,
		kgo.DefaultProduceTopic(canaryTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(canaryDeliveryTimeout),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.ProduceRequestTimeout(time.Second),
		kgo.RequestTimeoutOverhead(time.Second),
	)
}

// tick sends one record to every partition with room in flight.
func (c *canary) tick(ctx context.Context, cl *kgo.Client) {
	now := c.now()
	var send []int32
	c.mu.Lock()
	for p := range int32(c.tr.partitions()) {
		if c.tr.inFlight(p) < canaryMaxInFlight {
			c.tr.sent(p, now)
			send = append(send, p)
		}
	}
	c.mu.Unlock()
	for _, p := range send {
		r := &kgo.Record{Partition: p, Value: []byte("fjord console canary " + now.UTC().Format(time.RFC3339Nano))}
		cl.Produce(ctx, r, c.outcome(ctx, p, now))
	}
}

// outcome returns the callback of a record sent to p at sentAt. Outcomes
// after ctx ended (the client closing) are not the cluster's doing and
// are dropped.
func (c *canary) outcome(ctx context.Context, p int32, sentAt time.Time) func(*kgo.Record, error) {
	return func(_ *kgo.Record, err error) {
		if ctx.Err() != nil {
			return
		}
		at := c.now()
		c.mu.Lock()
		var w canaryWindow
		closed := false
		if err != nil {
			c.tr.failed(p, sentAt)
			c.lastErr = clockMillis(at) + ": " + err.Error()
			c.lost = c.lost || errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID)
		} else {
			w, closed = c.tr.acked(p, sentAt, at)
		}
		c.mu.Unlock()
		if closed && c.onWindow != nil {
			c.onWindow(w)
		}
	}
}

// awaitTopic ensures the topic every second until it exists, and returns
// its partition count; false when ctx ended first.
func (c *canary) awaitTopic(ctx context.Context) (int, bool) {
	for {
		n, err := c.ensureTopic(ctx)
		if err == nil {
			return n, true
		}
		c.setStatus("waiting to create " + canaryTopic + ": " + err.Error())
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(time.Second):
		}
	}
}

// errNotAllUp is why the canary waits before creating its topic.
var errNotAllUp = errors.New("not every running node is registered yet")

// ensureTopic returns the topic's partition count, creating it when
// missing once every running node is a registered broker: one partition
// per broker, partition i led (preferably) by the i-th broker by id.
func (c *canary) ensureTopic(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	meta, err := c.adm.Metadata(freshMetadata(ctx))
	if err != nil {
		return 0, err
	}
	if td, ok := meta.Topics[canaryTopic]; ok && td.Err == nil && len(td.Partitions) > 0 {
		return len(td.Partitions), nil
	}
	ids := meta.Brokers.NodeIDs()
	if !allRunningRegistered(c.nodes.Nodes(), ids) || len(ids) == 0 {
		return 0, errNotAllUp
	}
	slices.Sort(ids)
	if err := c.createTopic(ctx, canaryAssignment(ids)); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, err
	}
	c.logger.Info("console: created the canary topic", "topic", canaryTopic, "partitions", len(ids))
	return len(ids), nil
}

// allRunningRegistered reports whether every node not stopped is among
// the registered broker ids.
func allRunningRegistered(nodes []NodeStatus, ids []int32) bool {
	for _, n := range nodes {
		if n.State != "stopped" && !slices.Contains(ids, n.ID) {
			return false
		}
	}
	return true
}

// canaryAssignment gives partition i the replicas ids[i], ids[i+1], ...
// (min(3, brokers) of them, wrapping): broker ids[i] is its preferred
// leader.
func canaryAssignment(ids []int32) [][]int32 {
	rf := min(3, len(ids))
	out := make([][]int32, len(ids))
	for i := range ids {
		for k := range rf {
			out[i] = append(out[i], ids[(i+k)%len(ids)])
		}
	}
	return out
}

// createTopic creates the canary topic with the given replicas per
// partition.
func (c *canary) createTopic(ctx context.Context, assignment [][]int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 5000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = canaryTopic, -1, -1
	for i, replicas := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), replicas
		t.ReplicaAssignment = append(t.ReplicaAssignment, a)
	}
	for k, v := range canaryTopicConfigs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		t.Configs = append(t.Configs, cfg)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return err
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return kafkaMsgErr(err, derefString(rt.ErrorMessage))
		}
	}
	return nil
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (c *canary) setStatus(s string) {
	c.mu.Lock()
	c.status = s
	c.mu.Unlock()
}

// action records a panel action at at.
func (c *canary) action(at time.Time, node int32, a NodeAction) {
	c.mu.Lock()
	c.tr.action(at, node, a)
	c.mu.Unlock()
}

// canaryPart is one canary partition's progress.
type canaryPart struct {
	Partition int32
	LastAck   time.Time // zero before the first
	InFlight  int
}

// canaryView is what the panel shows of the canary at one time.
type canaryView struct {
	Topic     string          `json:"topic"`
	Status    string          `json:"status"`
	LastErr   string          `json:"last_error,omitempty"`
	Threshold string          `json:"threshold"`
	Parts     []canaryPart    `json:"-"`
	Open      []canaryWindow  `json:"open"`
	Closed    []canaryWindow  `json:"closed"` // newest first
	Actions   []actionSummary `json:"actions"`
}

// view copies the canary's state at now.
func (c *canary) view(now time.Time, nActions, nClosed int) canaryView {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := canaryView{Topic: canaryTopic, Status: c.status, LastErr: c.lastErr,
		Threshold: strconv.FormatInt(c.tr.threshold.Milliseconds(), 10) + " ms",
		Open:      c.tr.open(now), Closed: c.tr.recentClosed(nClosed), Actions: c.tr.summaries(now, nActions)}
	for p := range int32(c.tr.partitions()) {
		pt := c.tr.part(p)
		v.Parts = append(v.Parts, canaryPart{Partition: p, LastAck: pt.lastAck, InFlight: len(pt.pending)})
	}
	return v
}
