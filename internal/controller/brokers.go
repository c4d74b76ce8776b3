package controller

import (
	"context"
	"fmt"
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

func (c *Controller) expired(id int32) bool {
	s, ok := c.sessions[id]
	if !ok {
		return true
	}
	last := s.lastContact
	if r, ok := c.receipt(id); ok && r.at.After(last) {
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

// receipt returns when the latest heartbeat of broker id's current
// registration arrived.
func (c *Controller) receipt(id int32) (contact, bool) {
	b, ok := c.image().Brokers[id]
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
// away, in the same step. A new incarnation with other endpoints while the
// old session is alive is refused (DUPLICATE_BROKER_REGISTRATION): two
// live processes with one node id.
func (c *Controller) RegisterBroker(ctx context.Context, r Registration) (int64, error) {
	type result struct {
		epoch int64
		err   error
	}
	res, err := activeCmd(ctx, c, func() result {
		epoch, err := c.register(r)
		return result{epoch, err}
	})
	if err == nil {
		err = res.err
	}
	return res.epoch, err
}

func (c *Controller) register(r Registration) (int64, error) {
	img := c.image()
	if r.ClusterID != "" && img.ClusterID != "" && r.ClusterID != img.ClusterID {
		return 0, fmt.Errorf("%w: cluster id %s, expected %s", kerr.InconsistentClusterID, r.ClusterID, img.ClusterID)
	}
	if old, ok := img.Brokers[r.ID]; ok {
		if old.Incarnation != r.Incarnation && !old.Fenced && !c.expired(r.ID) && !c.oldProcessGone(old, r) {
			return 0, fmt.Errorf("%w: broker %d is registered by another live process", kerr.DuplicateBrokerRegistration, r.ID)
		}
		if !old.Fenced {
			if _, err := c.commit(context.Background(), c.fenceRecords(r.ID)); err != nil {
				return 0, err
			}
		}
	}
	var recs []metadata.Record
	if r.UncleanShutdown {
		recs = c.uncleanShutdownRecords(r.ID)
		c.logger.Warn("broker restarted after an unclean shutdown; removing it from ISRs and ELRs where others hold the committed records",
			"broker", r.ID, "partitions", len(recs))
	}
	recs = append(recs, metadata.RegisterBroker{
		ID: r.ID, Incarnation: r.Incarnation, Endpoints: r.Endpoints, Rack: r.Rack, Fenced: true,
	})
	off, err := c.commit(context.Background(), recs)
	if err != nil {
		return 0, err
	}
	c.sessions[r.ID] = &session{lastContact: c.o.Now(), metadataOffset: -1}
	c.logger.Info("broker registered", "broker", r.ID, "epoch", off)
	return int64(off), nil
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
	type result struct {
		r   HeartbeatResult
		err error
	}
	res, err := activeCmd(ctx, c, func() result {
		r, err := c.heartbeat(h)
		return result{r, err}
	})
	if err == nil {
		err = res.err
	}
	return res.r, err
}

func (c *Controller) heartbeat(h Heartbeat) (HeartbeatResult, error) {
	b, ok := c.image().Brokers[h.ID]
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
	var err error
	switch {
	case h.WantShutDown:
		return c.controlledShutdown(b, caughtUp, s)
	case h.WantFence && !b.Fenced:
		_, err = c.commit(context.Background(), c.fenceRecords(h.ID))
	case !h.WantFence && b.Fenced && caughtUp && !b.InControlledShutdown:
		// A broker fenced by its controlled shutdown comes back only by
		// registering again (a new process): a regular heartbeat still in
		// flight from the stopping process must not unfence it, or the
		// restarted process is refused until that session expires.
		_, err = c.commit(context.Background(), c.unfenceRecords(h.ID))
		if err == nil {
			c.logger.Info("broker unfenced", "broker", h.ID, "epoch", b.Epoch)
		}
	}
	b = c.image().Brokers[h.ID]
	return HeartbeatResult{IsCaughtUp: caughtUp, IsFenced: b.Fenced}, err
}

// controlledShutdown marks the broker as shutting down, moving every
// leadership it holds to another in-sync replica and removing it from
// ISRs, and answers ShouldShutDown once it leads nothing and every other
// active broker has reported (in its heartbeats) that it has seen that
// change, so that clients asking any of them find the new leaders
// (reference §4); it is then fenced.
func (c *Controller) controlledShutdown(b metadata.BrokerInfo, caughtUp bool, s *session) (HeartbeatResult, error) {
	if !b.InControlledShutdown && !b.Fenced {
		yes := true
		recs := []metadata.Record{metadata.BrokerRegistrationChange{ID: b.ID, Epoch: b.Epoch, InControlledShutdown: &yes}}
		recs = append(recs, c.partitionsWithout(b.ID, false)...)
		off, err := c.commit(context.Background(), recs)
		if err != nil {
			return HeartbeatResult{}, err
		}
		s.shutdownOffset = int64(off)
	}
	if s.shutdownOffset == 0 { // begun under another active controller
		s.shutdownOffset = c.image().Offset
	}
	if c.leads(b.ID) || !c.othersHaveSeen(b.ID, s.shutdownOffset) {
		return HeartbeatResult{IsCaughtUp: caughtUp}, nil
	}
	if !c.image().Brokers[b.ID].Fenced {
		if _, err := c.commit(context.Background(), c.fenceRecords(b.ID)); err != nil {
			return HeartbeatResult{}, err
		}
	}
	return HeartbeatResult{IsCaughtUp: caughtUp, IsFenced: true, ShouldShutDown: true}, nil
}

// othersHaveSeen reports whether every unfenced broker other than id that
// is not shutting down has reported a metadata offset of at least offset.
func (c *Controller) othersHaveSeen(id int32, offset int64) bool {
	for other, b := range c.image().Brokers {
		if other == id || b.Fenced || b.InControlledShutdown {
			continue
		}
		if s := c.sessions[other]; s == nil || s.metadataOffset < offset {
			return false
		}
	}
	return true
}

func (c *Controller) leads(id int32) bool {
	for _, t := range c.image().Topics {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

// Tick fences every unfenced broker whose session expired. Run calls it
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

func (c *Controller) fenceExpired() error {
	img := c.image()
	ids := make([]int32, 0, len(img.Brokers))
	for id, b := range img.Brokers {
		if !b.Fenced && c.expired(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.logger.Warn("broker session expired; fencing it", "broker", id, "sessionTimeout", c.sessionTimeout())
		if _, err := c.commit(context.Background(), c.fenceRecords(id)); err != nil {
			return err
		}
	}
	return nil
}
