package broker

// Fast crash detection's IO shell (issue 11; the argument is in
// internal/controller/crashes.go). The active controller's node probes a
// broker when the broker's heartbeat connection to it ends, and every
// broker when its controller becomes active (the old active controller's
// node may have died with its broker). A probe dials each listener the
// broker registered; only when every one of them refuses the connection is
// the process proven gone, and the controller fences the registration at
// once. A listener that accepts, or a dial that times out (a partition, a
// paused process), proves nothing: the session timeout decides then.

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/server"
)

const (
	probeQueue   = 256
	probeTimeout = 250 * time.Millisecond
)

// suspect is a broker registration to probe.
type suspect struct {
	id    int32
	epoch int64
}

// startProber starts the probing goroutine of a controller node.
func (b *Broker) startProber() {
	b.suspects = make(chan suspect, probeQueue)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			select {
			case s := <-b.suspects:
				b.probe(s)
			case <-b.stop:
				return
			}
		}
	}()
}

// suspectBroker queues a probe without blocking (a full queue drops it:
// the session timeout still applies).
func (b *Broker) suspectBroker(s suspect) {
	if b.suspects == nil || s.id == b.nodeID {
		return
	}
	select {
	case b.suspects <- s:
	default:
	}
}

// onControllerConnClosed is the controller server's OnClose: a broker's
// heartbeat connection ended.
func (b *Broker) onControllerConnClosed(sess *server.Session) {
	if p, ok := sess.Peer.(handlers.BrokerPeer); ok && b.ctrl != nil && b.ctrl.IsActive() {
		b.suspectBroker(suspect{id: p.ID, epoch: p.Epoch})
	}
}

// suspectAll queues a probe of every unfenced broker (on activation; it
// runs on the controller's event loop, so it only queues).
func (b *Broker) suspectAll() {
	for id, br := range b.meta.Applied().Brokers {
		if !br.Fenced {
			b.suspectBroker(suspect{id: id, epoch: br.Epoch})
		}
	}
}

// probe fences the registration if every listener it names refuses.
func (b *Broker) probe(s suspect) {
	br, ok := b.meta.Applied().Brokers[s.id]
	if !ok || br.Epoch != s.epoch || br.Fenced || len(br.Endpoints) == 0 {
		return
	}
	for _, e := range br.Endpoints {
		if !refused(net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))) {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.ctrl.FenceGone(ctx, s.id, s.epoch); err != nil {
		b.logger.Warn("fencing a gone broker failed; its session will expire", "broker", s.id, "err", err)
	}
}

// refused reports whether a TCP connection to addr is refused: nothing
// listens there. An accepted connection is closed at once.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
