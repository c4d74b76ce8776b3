// Package controller owns changes to the cluster metadata. It turns
// commands (register a broker, a heartbeat, create topics, alter configs,
// ...) into metadata records, proposes them to the metadata log, and learns
// the result by replay: the controller never edits an image itself, so
// every node that replays the same log holds the same image.
//
// Each command has Kafka's ControllerResult shape: it decides its records
// and its reply against an image and proposes nothing itself; decide
// (decide.go) then commits the records as one metadata entry per command,
// the single place that proposes commands' records (activate proposes the
// controller's own bookkeeping: settle's barrier, the cluster id). A
// command of several steps (fence the old registration, then register;
// fence broker A, then broker B) decides each step on a scratch image, the
// command's image with its earlier records applied (txn), so that a later
// step sees what an earlier one changed although nothing is committed yet.
// The scratch image is never published: this node's image changes only by
// replaying the committed entry. Effects on the controller's own state
// (sessions, the epoch in a reply) wait for the commit.
//
// A controller runs on every controller node but acts only while its node
// leads the metadata quorum (the active controller); elsewhere commands
// fail with NOT_CONTROLLER. All commands run on one event-loop goroutine,
// one at a time. Time comes from an injected clock, and session expiry is
// checked by Tick, so tests drive the controller deterministically.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Log is the replicated metadata log.
type Log interface {
	// Propose appends one entry and returns its offset once it is
	// committed and applied to this node's image. It fails when this node
	// does not lead the quorum.
	Propose(ctx context.Context, data []byte) (uint64, error)
	// Leader returns the quorum leader's node id (-1 if unknown) and term.
	Leader() (int32, uint64)
	// LeaderReady returns once this node, as leader, has applied every
	// entry committed before its term.
	LeaderReady(ctx context.Context) (uint64, error)
}

// commitTimeout bounds how long the event loop waits for one entry to
// commit; past it the controller gives up its activity (the quorum is
// unreachable) and the command fails with NOT_CONTROLLER.
const commitTimeout = 15 * time.Second

// ErrStopped is returned for commands submitted after Stop.
var ErrStopped = errors.New("controller: stopped")

// Options configure a Controller.
type Options struct {
	NodeID int32
	Config *config.Broker
	Log    Log
	// Image returns this node's latest applied metadata image.
	Image  func() *metadata.Image
	Logger *slog.Logger
	// NewID returns fresh random ids for topics (injected for tests).
	NewID func() [16]byte
	// Now is the clock (injected for tests).
	Now func() time.Time
	// TickInterval is how often Run checks broker sessions; 0 disables the
	// internal ticker (tests call Tick).
	TickInterval time.Duration
	// ClusterID is written to a new metadata log by its first active
	// controller.
	ClusterID string
	// OnUnclean, if set, is told of every committed batch of unclean
	// leader elections (for the metric).
	OnUnclean func(n int)
	// OnActivate, if set, is called on the event loop each time this
	// controller becomes active (after its catch-up); it must not block.
	// The node probes the brokers then (crashes.go).
	OnActivate func()
}

// Controller is a node's controller.
type Controller struct {
	o       Options
	logger  *slog.Logger
	cmds    chan func()
	done    chan struct{}
	stopped chan struct{}

	// Owned by the event loop.
	activeTerm    uint64             // term in which this controller became active; 0 = inactive
	sessions      map[int32]*session // broker sessions, rebuilt on activation
	lastRebalance time.Time          // last preferred-leader rebalance check
	lastTick      time.Time          // when Run last ticked (see noticeStall)
	// unsettled is set when a commit failed without a verdict (timeout,
	// lost leadership): its entry may still commit, so the next activation
	// first commits a barrier (settle).
	unsettled bool

	// Heartbeat receipts, written by the callers' goroutines (see
	// BrokerHeartbeat): sessions are judged on when heartbeats arrived,
	// not on when the event loop got round to them.
	contactMu sync.Mutex
	contacts  map[int32]contact
}

// New creates a controller; Run starts its event loop.
func New(o Options) *Controller {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Controller{
		o: o, logger: o.Logger.With("component", "controller"),
		cmds: make(chan func()), done: make(chan struct{}), stopped: make(chan struct{}),
		sessions: map[int32]*session{}, contacts: map[int32]contact{},
	}
}

// Run serves commands until Stop.
func (c *Controller) Run() {
	defer close(c.stopped)
	var tick <-chan time.Time
	if c.o.TickInterval > 0 {
		t := time.NewTicker(c.o.TickInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case fn := <-c.cmds:
			fn()
		case <-tick:
			c.tick(context.Background())
		case <-c.done:
			return
		}
	}
}

// Stop ends the event loop and waits for it.
func (c *Controller) Stop() {
	close(c.done)
	<-c.stopped
}

func (c *Controller) image() *metadata.Image { return c.o.Image() }

// run executes fn on the event loop and waits for it.
func run[T any](ctx context.Context, c *Controller, fn func() T) (T, error) {
	var zero T
	out := make(chan T, 1)
	select {
	case c.cmds <- func() { out <- fn() }:
	case <-c.done:
		return zero, ErrStopped
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case v := <-out:
		return v, nil
	case <-c.stopped:
		return zero, ErrStopped
	}
}

// activeCmd runs fn on the event loop once this controller is active; it
// fails with NOT_CONTROLLER elsewhere. Commands go through decide, which
// builds on it; fn itself must not commit.
func activeCmd[T any](ctx context.Context, c *Controller, fn func() T) (T, error) {
	var zero T
	type res struct {
		v   T
		err error
	}
	r, err := run(ctx, c, func() res {
		if err := c.activate(ctx); err != nil {
			return res{err: err}
		}
		return res{v: fn()}
	})
	if err == nil {
		err = r.err
	}
	if err != nil {
		return zero, err
	}
	return r.v, nil
}

// activate makes sure this node leads the quorum and that, in this term,
// the controller has caught up with the log and started every broker's
// session afresh (as Kafka does on controller failover).
func (c *Controller) activate(ctx context.Context) error {
	leader, term := c.o.Log.Leader()
	if leader != c.o.NodeID {
		c.activeTerm = 0
		return fmt.Errorf("%w: the active controller is node %d", kerr.NotController, leader)
	}
	if c.activeTerm == term {
		return nil
	}
	if _, err := c.o.Log.LeaderReady(ctx); err != nil {
		return fmt.Errorf("%w: %v", kerr.NotController, err)
	}
	if err := c.settle(ctx); err != nil {
		return err
	}
	if c.image().ClusterID == "" && c.o.ClusterID != "" {
		if _, err := c.commit(ctx, []metadata.Record{metadata.ClusterID{ID: c.o.ClusterID}}); err != nil {
			return err
		}
	}
	c.activeTerm = term
	c.lastRebalance = c.o.Now()
	c.resetSessions()
	c.logger.Info("controller active", "term", term, "metadataOffset", c.image().Offset)
	if c.o.OnActivate != nil {
		c.o.OnActivate()
	}
	return nil
}

// IsActive reports whether this controller acts for the cluster now.
func (c *Controller) IsActive() bool {
	leader, _ := c.o.Log.Leader()
	return leader == c.o.NodeID
}

// AppliedOffset returns the offset of the metadata image the controller
// decides on (applied by this node's quorum; it may be ahead of what the
// node's broker has reconciled).
func (c *Controller) AppliedOffset() int64 { return c.image().Offset }

// ActiveID returns the node id of the active controller, -1 if unknown.
func (c *Controller) ActiveID() int32 {
	leader, _ := c.o.Log.Leader()
	return leader
}

// settle commits an empty entry after a commit that failed without a
// verdict. The log commits in order, so once the barrier is applied the
// earlier entry is applied too or never will be: a command retried after
// a timeout (a CreateTopics) is then decided on an image that holds the
// first attempt's records, and never commits them twice.
func (c *Controller) settle(ctx context.Context) error {
	if !c.unsettled {
		return nil
	}
	data, err := metadata.EncodeBatch(nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	if _, err := c.o.Log.Propose(ctx, data); err != nil {
		return fmt.Errorf("%w: metadata commit failed: %v", kerr.NotController, err)
	}
	c.unsettled = false
	return nil
}

// commit proposes the records as one entry: it is called by decide, for
// every command, and by activate for the cluster id (the controller's own
// bookkeeping, as is settle's barrier). The records are final: their ELR
// was maintained as each was decided (txn.add). On success the change is
// in this node's image when commit returns; with no records nothing is
// proposed and the offset is the image's.
func (c *Controller) commit(ctx context.Context, recs []metadata.Record) (uint64, error) {
	if len(recs) == 0 {
		return uint64(max(c.image().Offset, 0)), nil
	}
	c.warnUnclean(recs)
	data, err := metadata.EncodeBatch(recs)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	off, err := c.o.Log.Propose(ctx, data)
	if err != nil {
		c.activeTerm, c.unsettled = 0, true
		return 0, fmt.Errorf("%w: metadata commit failed: %v", kerr.NotController, err)
	}
	if n := countUnclean(recs); n > 0 && c.o.OnUnclean != nil {
		c.o.OnUnclean(n)
	}
	return off, nil
}

func countUnclean(recs []metadata.Record) int {
	n := 0
	for _, r := range recs {
		if ch, ok := r.(metadata.PartitionChange); ok && ch.Unclean && ch.Leader != nil {
			n++
		}
	}
	return n
}

// warnUnclean logs every unclean leader election among recs: each may
// lose acknowledged records, so it must never pass silently.
func (c *Controller) warnUnclean(recs []metadata.Record) {
	for _, r := range recs {
		if ch, ok := r.(metadata.PartitionChange); ok && ch.Unclean && ch.Leader != nil {
			c.logger.Warn("UNCLEAN leader election: records the new leader lacks are lost",
				"topicId", ch.TopicID.String(), "partition", ch.Partition, "leader", *ch.Leader)
		}
	}
}
