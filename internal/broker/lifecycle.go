package broker

import (
	"context"
	"errors"
	"time"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The broker lifecycle: register with the active controller, then
// heartbeat every broker.heartbeat.interval.ms (more often while fenced,
// so a starting broker is unfenced quickly), re-registering when the
// controller no longer knows our epoch. On shutdown, heartbeats ask for a
// controlled shutdown until the controller has moved our leaderships away.

// fencedHeartbeat is the heartbeat interval while fenced.
const fencedHeartbeat = 100 * time.Millisecond

// lifecycle runs until stop is closed.
func (b *Broker) lifecycle() {
	defer b.wg.Done()
	for !b.stopping() {
		epoch, err := b.register()
		if err != nil {
			b.logger.Debug("broker registration failed; retrying", "err", err)
			b.sleep(500 * time.Millisecond)
			continue
		}
		b.epoch.Store(epoch)
		b.registered.Store(true)
		b.heartbeats(epoch)
	}
}

func (b *Broker) stopping() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until stop.
func (b *Broker) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-b.stop:
	}
}

func (b *Broker) register() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reg := b.registration()
	if b.ctrl != nil && b.ctrl.IsActive() {
		return b.ctrl.RegisterBroker(ctx, reg)
	}
	inc, _ := metadata.ParseUUID(reg.Incarnation)
	return b.ctl.Register(ctx, reg.ClusterID, inc, reg)
}

// heartbeats sends heartbeats until the epoch goes stale or stop.
func (b *Broker) heartbeats(epoch int64) {
	interval := time.Duration(b.cfg.Int("broker.heartbeat.interval.ms")) * time.Millisecond
	fenced := true
	for !b.stopping() {
		res, err := b.heartbeat(controller.Heartbeat{ID: b.nodeID, Epoch: epoch, MetadataOffset: b.meta.Image().Offset})
		switch {
		case errors.Is(err, kerr.StaleBrokerEpoch):
			b.logger.Warn("controller does not know our broker epoch; registering again", "epoch", epoch)
			return
		case err != nil:
			b.logger.Debug("heartbeat failed", "err", err)
		case res.IsFenced != fenced:
			fenced = res.IsFenced
			b.logger.Info("broker state changed", "fenced", fenced, "epoch", epoch)
			b.unfenced.Store(!fenced)
			if !fenced {
				b.readyOnce.Do(func() { close(b.ready) })
			}
		}
		if fenced || err != nil {
			b.sleep(fencedHeartbeat)
		} else {
			b.sleep(interval)
		}
	}
}

func (b *Broker) heartbeat(h controller.Heartbeat) (controller.HeartbeatResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if b.ctrl != nil && b.ctrl.IsActive() {
		return b.ctrl.BrokerHeartbeat(ctx, h)
	}
	return b.ctl.Heartbeat(ctx, h)
}

// controlledShutdown asks the controller to move leadership away and
// waits (up to timeout, and at most broker.session.timeout.ms) until it
// says we may stop. Waiting longer than a session gains nothing: a
// controller that has not answered by then fences us on its own, and
// when no quorum is left (the last nodes of a cluster stopping) no answer
// can come at all.
func (b *Broker) controlledShutdown(timeout time.Duration) {
	epoch := b.epoch.Load()
	if epoch == 0 || !b.cfg.Bool("controlled.shutdown.enable") {
		return
	}
	timeout = min(timeout, time.Duration(b.cfg.Int("broker.session.timeout.ms"))*time.Millisecond)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !b.anotherBrokerCanLead() {
			b.logger.Info("controlled shutdown skipped: no other broker is up to take leadership")
			return
		}
		res, err := b.heartbeat(controller.Heartbeat{
			ID: b.nodeID, Epoch: epoch, MetadataOffset: b.meta.Image().Offset, WantShutDown: true,
		})
		if err == nil && res.ShouldShutDown {
			b.logger.Info("controlled shutdown complete: leadership moved away")
			return
		}
		time.Sleep(fencedHeartbeat)
	}
	b.logger.Warn("controlled shutdown did not complete in time; stopping anyway", "timeout", timeout)
}

// anotherBrokerCanLead reports whether the metadata image has a broker
// other than this one that is neither fenced nor shutting down: without
// one, a controlled shutdown has nowhere to move leadership, and waiting
// for it (when the others stopped first, often for a quorum that is gone
// with them) only delays the stop by a session timeout.
func (b *Broker) anotherBrokerCanLead() bool {
	for id, br := range b.meta.Image().Brokers {
		if id != b.nodeID && !br.Fenced && !br.InControlledShutdown {
			return true
		}
	}
	return false
}
