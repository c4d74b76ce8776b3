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

// probeRetries are the delays of the probes after the first that did not
// prove the process gone. A dying process closes its connections before
// the kernel has closed all of its sockets (a process with thousands of
// open log files takes a while): until its listening socket goes, the
// kernel still completes connections to it. So one accepted probe right
// after the heartbeat connection ended proves nothing; the probes go on
// for a couple of seconds.
var probeRetries = []time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
	160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond, 1280 * time.Millisecond,
}

// suspect is a broker registration to probe, or (term > 0) the quorum
// leader id of term; tries counts the probes done.
type suspect struct {
	id        int32
	epoch     int64
	term      uint64
	fromFetch bool // a follower fetcher's suspicion: probe only while this node's controller is active
	tries     int
}

// retry is a suspect to probe again at due.
type retry struct {
	s   suspect
	due time.Time
}

// startProber starts the probing goroutine of a controller node.
func (b *Broker) startProber() {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.probeLoop()
	}()
}

// probeLoop probes suspects as they come and again as their retries fall
// due, until stop.
func (b *Broker) probeLoop() {
	var retries []retry
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case s := <-b.suspects:
			retries = b.probeOrRetry(s, retries)
		case <-timer.C:
			now := time.Now()
			var due []retry
			due, retries = splitDue(retries, now)
			for _, r := range due {
				retries = b.probeOrRetry(r.s, retries)
			}
		case <-b.stop:
			return
		}
		timer.Reset(nextDue(retries))
	}
}

// probeOrRetry probes s and schedules its next probe when it proved
// nothing and tries remain.
func (b *Broker) probeOrRetry(s suspect, retries []retry) []retry {
	if b.probe(s) || s.tries >= len(probeRetries) {
		return retries
	}
	next := s
	next.tries++
	return append(retries, retry{s: next, due: time.Now().Add(probeRetries[s.tries])})
}

// splitDue separates the retries due by now from the others.
func splitDue(rs []retry, now time.Time) (due, later []retry) {
	for _, r := range rs {
		if r.due.After(now) {
			later = append(later, r)
		} else {
			due = append(due, r)
		}
	}
	return due, later
}

// nextDue returns how long until the earliest retry (an hour if none).
func nextDue(rs []retry) time.Duration {
	d := time.Hour
	for _, r := range rs {
		d = min(d, max(time.Until(r.due), 0))
	}
	return d
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

// onLeaderUnreachable is the follower fetchers' hook: a fetch from the
// leader broker failed. On the active controller's node the broker is
// probed as when its heartbeat connection ends (a crash ends both).
//
// It runs on a fetcher goroutine, which may start before the controller
// exists; the probe loop checks that this node's controller is active.
func (b *Broker) onLeaderUnreachable(leader int32) {
	if br, ok := b.meta.Applied().Brokers[leader]; ok && !br.Fenced {
		b.suspectBroker(suspect{id: leader, epoch: br.Epoch, fromFetch: true})
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

// probe fences the registration if every listener it names refuses. It
// reports whether the question is settled: the registration is gone,
// fenced or replaced, or was fenced now.
func (b *Broker) probe(s suspect) bool {
	if s.term > 0 {
		return b.probeLeader(s)
	}
	if s.fromFetch && !b.ctrl.IsActive() {
		return true
	}
	br, ok := b.meta.Applied().Brokers[s.id]
	if !ok || br.Epoch != s.epoch || br.Fenced || len(br.Endpoints) == 0 {
		return true
	}
	for _, e := range br.Endpoints {
		if !refused(net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))) {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.ctrl.FenceGone(ctx, s.id, s.epoch); err != nil {
		b.logger.Warn("fencing a gone broker failed; its session will expire", "broker", s.id, "err", err)
	}
	return true
}

// onLeaderConnLost is the quorum's OnLeaderConnLost: a connection from
// the quorum leader ended. It only queues a probe.
func (b *Broker) onLeaderConnLost(leader int32, term uint64) {
	b.suspectBroker(suspect{id: leader, term: term})
}

// probeLeader tells the quorum its leader is gone when the leader's
// controller listener and every listener its broker registered refuse.
// The question is settled once that is proven or the leader changed.
func (b *Broker) probeLeader(s suspect) bool {
	if leader, term := b.quorum.Leader(); leader != s.id || term != s.term {
		return true
	}
	var addrs []string
	if a, ok := b.controllerAddr(s.id); ok { // a voter added at run time too
		addrs = append(addrs, a)
	}
	if br, ok := b.meta.Applied().Brokers[s.id]; ok {
		for _, e := range br.Endpoints {
			addrs = append(addrs, net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))))
		}
	}
	if len(addrs) == 0 {
		return false // nothing to probe: nothing proven
	}
	for _, a := range addrs {
		if !refused(a) {
			return false
		}
	}
	b.quorum.LeaderGone(s.id, s.term)
	return true
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
