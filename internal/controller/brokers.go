package controller

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// session is the active controller's view of a broker's liveness.
type session struct {
	lastContact time.Time
	// metadataOffset is the metadata offset the broker reported in its
	// last heartbeat (-1 until one comes).
	metadataOffset int64
	// shutdownOffset is the offset of the metadata that moved the broker's
	// leaderships away in its controlled shutdown (0 until then).
	shutdownOffset int64
}

// resetSessions gives every registered broker a full session from now, as
// a newly active controller cannot know when brokers last heartbeated.
func (c *Controller) resetSessions() {
	c.sessions = map[int32]*session{}
	now := c.o.Now()
	for id := range c.image().Brokers {
		c.sessions[id] = &session{lastContact: now, metadataOffset: -1}
	}
}

// noticeStall renews every broker session when the event loop itself did
// not run for half a session timeout (the process was paused, starved or
// its clock jumped): silence measured while the controller was not
// looking is no evidence that brokers died, and fencing them all at once
// on resume would shrink ISRs of healthy replicas. Their heartbeats,
// queued meanwhile, renew them properly; the dead expire a session later.
func (c *Controller) noticeStall() {
	now := c.o.Now()
	if last := c.lastTick; !last.IsZero() && now.Sub(last) > c.sessionTimeout()/2 {
		c.logger.Warn("controller event loop stalled; renewing every broker session",
			"stalled", now.Sub(last).Round(time.Millisecond))
		for _, s := range c.sessions {
			s.lastContact = now
		}
	}
	c.lastTick = now
}

func (c *Controller) sessionTimeout() time.Duration {
	return time.Duration(c.o.Config.Int("broker.session.timeout.ms")) * time.Millisecond
}

// expired reports whether the session of broker id's registration in img
// has expired.
func (c *Controller) expired(img *metadata.Image, id int32) bool {
	s, ok := c.sessions[id]
	if !ok {
		return true
	}
	last := s.lastContact
	if r, ok := c.receipt(img, id); ok && r.at.After(last) {
		last = r.at
	}
	return c.o.Now().Sub(last) > c.sessionTimeout()
}

// contact is when a heartbeat of a broker registration arrived.
type contact struct {
	epoch int64
	at    time.Time
}

// noteContact records a heartbeat's arrival; it runs on the caller's
// goroutine, before the heartbeat waits for the event loop.
func (c *Controller) noteContact(id int32, epoch int64) {
	now := c.o.Now()
	c.contactMu.Lock()
	defer c.contactMu.Unlock()
	c.contacts[id] = contact{epoch: epoch, at: now}
}

// receipt returns when the latest heartbeat of broker id's registration
// in img arrived.
func (c *Controller) receipt(img *metadata.Image, id int32) (contact, bool) {
	b, ok := img.Brokers[id]
	if !ok {
		return contact{}, false
	}
	c.contactMu.Lock()
	r, ok := c.contacts[id]
	c.contactMu.Unlock()
	return r, ok && r.epoch == b.Epoch
}

// Registration is a broker's request to join (BrokerRegistration, api 62).
type Registration struct {
	ID          int32
	ClusterID   string
	Incarnation string
	Endpoints   []metadata.Endpoint
	Rack        string
	// UncleanShutdown says the broker restarted without a clean shutdown
	// (BrokerRegistration's PreviousBrokerEpoch -1, KIP-966): its logs may
	// lack their unsynced tails, so it leaves every ISR and ELR where
	// another replica holds the committed records (elr.go).
	UncleanShutdown bool
}

// RegisterBroker registers a broker, fenced, and returns its epoch (the
// offset of the registration). A new incarnation replaces the old
// registration at once when the old process is certainly gone (see
// oldProcessGone): the old registration is fenced, moving its leaderships
// away, in the entry that registers the new one. A new incarnation with other endpoints while the
// old session is alive is refused (DUPLICATE_BROKER_REGISTRATION): two
// live processes with one node id.
func (c *Controller) RegisterBroker(ctx context.Context, r Registration) (int64, error) {
	var epoch int64 // set once committed: the entry's offset
	if _, err := decide(ctx, c, func(t *txn) (struct{}, error) {
		return struct{}{}, c.register(t, r, &epoch)
	}); err != nil {
		return 0, err
	}
	return epoch, nil
}

// register decides a registration: the fence of a live old registration,
// then, on the image that fence leaves, the unclean-shutdown records and
// the registration itself, all in one entry. *epoch, the session and the
// log line wait for the commit: the epoch is the entry's offset.
func (c *Controller) register(t *txn, r Registration, epoch *int64) error {
	img := t.image()
	if r.ClusterID != "" && img.ClusterID != "" && r.ClusterID != img.ClusterID {
		return fmt.Errorf("%w: cluster id %s, expected %s", kerr.InconsistentClusterID, r.ClusterID, img.ClusterID)
	}
	if old, ok := img.Brokers[r.ID]; ok {
		if old.Incarnation != r.Incarnation && !old.Fenced && !c.expired(img, r.ID) && !c.oldProcessGone(old, r) {
			return fmt.Errorf("%w: broker %d is registered by another live process", kerr.DuplicateBrokerRegistration, r.ID)
		}
		if !old.Fenced {
			t.add(c.fenceRecords(img, r.ID)...)
		}
	}
	if r.UncleanShutdown {
		recs := uncleanShutdownRecords(t.image(), r.ID)
		// A broker never registered before (new log dirs: no marker
		// either) is starting, not restarting, as in Kafka, which acts
		// only on an existing registration. Its records are the same
		// (it is in no ISR or ELR); only the warning would be wrong.
		if _, known := img.Brokers[r.ID]; known || len(recs) > 0 {
			c.logger.Warn("broker restarted after an unclean shutdown; removing it from ISRs and ELRs where others hold the committed records",
				"broker", r.ID, "partitions", len(recs))
		}
		t.add(recs...)
	}
	t.add(metadata.RegisterBroker{
		ID: r.ID, Incarnation: r.Incarnation, Endpoints: r.Endpoints, Rack: r.Rack, Fenced: true,
	})
	t.committed(func(off uint64) {
		*epoch = int64(off)
		c.sessions[r.ID] = &session{lastContact: c.o.Now(), metadataOffset: -1}
		c.logger.Info("broker registered", "broker", r.ID, "epoch", off)
	})
	return nil
}

// oldProcessGone reports whether a new incarnation proves the registered
// one dead: the broker on this controller's own node shares its process,
// and a process that registers the very endpoints of the old registration
// has bound the listeners the old one served, which two live processes
// cannot do (the usual restart of a crashed broker), so its registration
// need not wait for the old session to expire (issue 11).
func (c *Controller) oldProcessGone(old metadata.BrokerInfo, r Registration) bool {
	return r.ID == c.o.NodeID || (len(r.Endpoints) > 0 && slices.Equal(old.Endpoints, r.Endpoints))
}

// Heartbeat is a broker's periodic report (BrokerHeartbeat, api 63).
type Heartbeat struct {
	ID             int32
	Epoch          int64
	MetadataOffset int64
	WantFence      bool
	WantShutDown   bool
}

// HeartbeatResult is the controller's answer.
type HeartbeatResult struct {
	IsCaughtUp     bool
	IsFenced       bool
	ShouldShutDown bool
}

// BrokerHeartbeat renews a broker's session, unfences it once it has
// replayed the metadata up to its own registration, and drives controlled
// shutdown: leadership moves away first, and the broker is told to shut
// down only when it leads nothing.
//
// The heartbeat's arrival counts for the session at once, even while the
// event loop is busy with bulk work (a large CreateTopics): a controller
// never fences a broker for its own slowness.
func (c *Controller) BrokerHeartbeat(ctx context.Context, h Heartbeat) (HeartbeatResult, error) {
	c.noteContact(h.ID, h.Epoch)
	return decide(ctx, c, func(t *txn) (HeartbeatResult, error) { return c.heartbeat(t, h) })
}

// heartbeat renews the session and decides the fence, unfence or
// controlled-shutdown step the heartbeat asks for; IsFenced is the
// broker's state once that step is committed.
func (c *Controller) heartbeat(t *txn, h Heartbeat) (HeartbeatResult, error) {
	img := t.image()
	b, ok := img.Brokers[h.ID]
	if !ok || b.Epoch != h.Epoch {
		return HeartbeatResult{}, fmt.Errorf("%w: broker %d epoch %d", kerr.StaleBrokerEpoch, h.ID, h.Epoch)
	}
	s := c.sessions[h.ID]
	if s == nil {
		s = &session{}
		c.sessions[h.ID] = s
	}
	s.lastContact, s.metadataOffset = c.o.Now(), h.MetadataOffset
	caughtUp := h.MetadataOffset >= b.Epoch
	switch {
	case h.WantShutDown:
		return c.controlledShutdown(t, b, caughtUp, s), nil
	case h.WantFence && !b.Fenced:
		t.add(c.fenceRecords(img, h.ID)...)
	case !h.WantFence && b.Fenced && caughtUp && !b.InControlledShutdown:
		// A broker fenced by its controlled shutdown comes back only by
		// registering again (a new process): a regular heartbeat still in
		// flight from the stopping process must not unfence it, or the
		// restarted process is refused until that session expires.
		t.add(c.unfenceRecords(img, h.ID)...)
		t.committed(func(uint64) { c.logger.Info("broker unfenced", "broker", h.ID, "epoch", b.Epoch) })
	}
	return HeartbeatResult{IsCaughtUp: caughtUp, IsFenced: t.image().Brokers[h.ID].Fenced}, nil
}

// controlledShutdown marks the broker as shutting down, moving every
// leadership it holds to another in-sync replica and removing it from
// ISRs, and answers ShouldShutDown once it leads nothing and every other
// active broker has reported (in its heartbeats) that it has seen that
// change, so that clients asking any of them find the new leaders
// (reference §4); it is then fenced.
//
// The heartbeat that adds the mark cannot have been answered by the
// others yet (its offset is known only once committed): it is told to
// wait, unless there are no others, in which case the fence joins the
// mark in the same entry.
func (c *Controller) controlledShutdown(t *txn, b metadata.BrokerInfo, caughtUp bool, s *session) HeartbeatResult {
	seenAt := s.shutdownOffset
	if !b.InControlledShutdown && !b.Fenced {
		yes := true
		recs := []metadata.Record{metadata.BrokerRegistrationChange{ID: b.ID, Epoch: b.Epoch, InControlledShutdown: &yes}}
		t.add(append(recs, c.partitionsWithout(t.image(), b.ID, false)...)...)
		t.committed(func(off uint64) { s.shutdownOffset = int64(off) })
		seenAt = math.MaxInt64 // beyond any offset a broker has reported
	} else if seenAt == 0 { // begun under another active controller
		seenAt = t.image().Offset
		s.shutdownOffset = seenAt
	}
	img := t.image()
	if !c.othersHaveSeen(img, b.ID, seenAt) || leads(img, b.ID) {
		return HeartbeatResult{IsCaughtUp: caughtUp}
	}
	if !img.Brokers[b.ID].Fenced {
		t.add(c.fenceRecords(img, b.ID)...)
	}
	return HeartbeatResult{IsCaughtUp: caughtUp, IsFenced: true, ShouldShutDown: true}
}

// othersHaveSeen reports whether every unfenced broker of img other than
// id that is not shutting down has reported a metadata offset of at least
// offset.
func (c *Controller) othersHaveSeen(img *metadata.Image, id int32, offset int64) bool {
	for other, b := range img.Brokers {
		if other == id || b.Fenced || b.InControlledShutdown {
			continue
		}
		if s := c.sessions[other]; s == nil || s.metadataOffset < offset {
			return false
		}
	}
	return true
}

// leads reports whether broker id leads a partition in img.
func leads(img *metadata.Image, id int32) bool {
	for _, t := range img.Topics {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

// Tick fences every unfenced broker whose session expired and runs the
// preferred-leader rebalance when due, each as one entry. Run calls it
// every TickInterval; tests call it after moving the clock.
func (c *Controller) Tick(ctx context.Context) error {
	res, err := activeCmd(ctx, c, func() error {
		if err := c.fenceExpired(); err != nil {
			return err
		}
		return c.maybeRebalance()
	})
	if err != nil {
		return err
	}
	return res
}

func (c *Controller) tick(ctx context.Context) {
	c.noticeStall()
	if !c.IsActive() {
		c.activeTerm = 0
		return
	}
	if err := c.activate(ctx); err != nil {
		return
	}
	if err := c.fenceExpired(); err != nil {
		c.logger.Warn("fencing expired brokers failed", "err", err)
	}
	if err := c.maybeRebalance(); err != nil {
		c.logger.Warn("preferred leader rebalance failed", "err", err)
	}
}

// fenceExpired fences every unfenced broker whose session expired, in one
// entry: each broker's fence is decided on the image the earlier ones
// leave, so no partition is handed to a broker fenced in the same tick.
func (c *Controller) fenceExpired() error {
	_, err := decideOn(c, func(t *txn) (struct{}, error) {
		img := t.image()
		ids := make([]int32, 0, len(img.Brokers))
		for id, b := range img.Brokers {
			if !b.Fenced && c.expired(img, id) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			c.logger.Warn("broker session expired; fencing it", "broker", id, "sessionTimeout", c.sessionTimeout())
			t.add(c.fenceRecords(t.image(), id)...)
		}
		return struct{}{}, nil
	})
	return err
}
