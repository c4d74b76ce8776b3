package server

// Connection limits, as Kafka's ConnectionQuotas has them:
//
//   - max.connections (Config.MaxConnections) bounds the connections open
//     across all listeners of one Server. At the bound the accept loops stop
//     calling Accept until a connection ends, so new connections wait in the
//     kernel's listen backlog; they are not refused.
//   - listener.name.<l>.max.connections (Config.MaxListenerConnections)
//     bounds one listener the same way.
//   - The inter-broker listener (Config.InterBrokerListener) is exempt from
//     max.connections while the Server serves more than one listener: when
//     it accepts beyond the bound, the least recently active connection of
//     another listener is closed instead (its own listener limit still
//     holds).
//   - max.connections.per.ip and its overrides (Config.MaxConnectionsPerIP,
//     Config.MaxConnectionsPerIPOverrides) bound the connections from one
//     peer address; one more is closed right after Accept, before anything
//     is read from it.
//
// Each Server counts only its own connections: the controller listener's
// Server is not limited by the client Server's count, as Kafka's
// controller and broker socket servers are separate.
//
// Where this differs from Kafka: Kafka's acceptor accepts a connection and
// then blocks holding it while the limit is reached; here the accept loop
// waits before Accept (and holds an accepted connection only when another
// listener took the last slot meanwhile). A connection over its per-IP
// limit never takes a broker-wide slot. On an inter-broker accept beyond
// max.connections one connection in all is closed (Kafka's processors
// each close one of theirs). Limits are fixed at New: no dynamic
// reconfiguration, and no max.connection.creation.rate.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limitLogEvery is how often a limit being hit is logged, at most, per
// kind of limit; the events in between are counted in the next line.
const limitLogEvery = 10 * time.Second

// ipTable counts open connections per peer address against a default
// limit and per-address overrides. Addresses are compared unmapped and
// without zone (::ffff:10.0.0.1 is 10.0.0.1); an invalid address (a peer
// that is not IP) is never limited nor counted. It is not safe for
// concurrent use.
type ipTable struct {
	max       int
	overrides map[netip.Addr]int
	open      map[netip.Addr]int
}

func newIPTable(def int, overrides map[netip.Addr]int) *ipTable {
	t := &ipTable{max: def, overrides: make(map[netip.Addr]int, len(overrides)), open: map[netip.Addr]int{}}
	for ip, n := range overrides {
		t.overrides[ipKey(ip)] = n
	}
	return t
}

func ipKey(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

// limit is how many connections ip may have open.
func (t *ipTable) limit(ip netip.Addr) int {
	if n, ok := t.overrides[ipKey(ip)]; ok {
		return n
	}
	return t.max
}

// acquire counts one more connection from ip and reports true, or reports
// false and counts nothing when ip already has its limit open.
func (t *ipTable) acquire(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	k := ipKey(ip)
	if t.open[k] >= t.limit(k) {
		return false
	}
	t.open[k]++
	return true
}

// release uncounts a connection acquire counted. Releasing an address with
// nothing counted does nothing.
func (t *ipTable) release(ip netip.Addr) {
	k := ipKey(ip)
	switch n := t.open[k]; {
	case n > 1:
		t.open[k] = n - 1
	case n == 1:
		delete(t.open, k)
	}
}

// count is the number of open connections counted for ip.
func (t *ipTable) count(ip netip.Addr) int { return t.open[ipKey(ip)] }

// peerIP is the IP address of a connection's remote end, or the invalid
// Addr when it has none.
func peerIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// slot is one counted connection, handed back to limiter.release exactly
// once when the connection ends.
type slot struct {
	listener string // upper-cased
	ip       netip.Addr
}

// verdict is limiter.admit's answer.
type verdict int

const (
	admitted     verdict = iota
	admittedOver         // on the inter-broker listener beyond max.connections: evict one
	rejectedIP           // over max.connections.per.ip: close at once
	stopped              // the server is closing
)

// limiter is a Server's connection accounting. Its methods are safe for
// concurrent use; it holds no other lock while holding its mutex, and logs
// only after releasing it.
type limiter struct {
	max       int
	perLn     map[string]int // listener limits, by upper-cased name
	protected string         // upper-cased inter-broker listener name
	log       *slog.Logger
	warn      *rateLog

	mu       sync.Mutex
	ips      *ipTable
	total    int
	open     map[string]int // open connections by listener
	serving  map[string]int // Serve loops by listener
	freed    chan struct{}  // if not nil, closed when a slot frees
	rejected int64
	evicted  int64
}

func newLimiter(cfg Config) *limiter {
	l := &limiter{
		max:       cfg.MaxConnections,
		perLn:     map[string]int{},
		protected: strings.ToUpper(cfg.InterBrokerListener),
		log:       cfg.Logger,
		warn:      newRateLog(limitLogEvery, time.Now),
		ips:       newIPTable(max(cfg.MaxConnectionsPerIP, 0), cfg.MaxConnectionsPerIPOverrides),
		open:      map[string]int{},
		serving:   map[string]int{},
	}
	for name, n := range cfg.MaxListenerConnections {
		if n > 0 {
			l.perLn[strings.ToUpper(name)] = n
		}
	}
	return l
}

// addListener and removeListener register a Serve loop of listener; the
// inter-broker listener is exempt from max.connections only while more
// than one listener is served, as in Kafka.
func (l *limiter) addListener(listener string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.serving[strings.ToUpper(listener)]++
	l.wakeLocked()
}

func (l *limiter) removeListener(listener string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := strings.ToUpper(listener)
	if l.serving[name]--; l.serving[name] <= 0 {
		delete(l.serving, name)
	}
	l.wakeLocked()
}

// fullLocked names the limit that keeps listener from taking one more
// connection, or returns "" when it may.
func (l *limiter) fullLocked(name string) (config string, limit int) {
	if n, ok := l.perLn[name]; ok && l.open[name] >= n {
		return "listener.name." + strings.ToLower(name) + ".max.connections", n
	}
	if l.total >= l.max && !l.protectedLocked(name) {
		return "max.connections", l.max
	}
	return "", 0
}

func (l *limiter) protectedLocked(name string) bool {
	return name == l.protected && name != "" && len(l.serving) > 1
}

// waitChanLocked returns the channel closed when the next slot frees.
func (l *limiter) waitChanLocked() chan struct{} {
	if l.freed == nil {
		l.freed = make(chan struct{})
	}
	return l.freed
}

func (l *limiter) wakeLocked() {
	if l.freed != nil {
		close(l.freed)
		l.freed = nil
	}
}

// wait blocks until listener may take one more connection, or ctx ends
// (then it returns false). The accept loop calls it before Accept, so
// connections beyond the limits stay in the listen backlog.
func (l *limiter) wait(ctx context.Context, listener string) bool {
	name := strings.ToUpper(listener)
	for {
		l.mu.Lock()
		config, limit := l.fullLocked(name)
		var freed chan struct{}
		if config != "" {
			freed = l.waitChanLocked()
		}
		l.mu.Unlock()
		if freed == nil {
			return true
		}
		l.noteFull(name, config, limit)
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// admit counts a connection just accepted on listener from ip. If another
// listener took the last slot since wait, it waits for one, as Kafka's
// acceptor does. The slot is valid for admitted and admittedOver.
func (l *limiter) admit(ctx context.Context, listener string, ip netip.Addr) (slot, verdict) {
	name := strings.ToUpper(listener)
	for {
		sl, v, freed := l.tryAdmit(name, ip)
		if freed == nil {
			if v == rejectedIP {
				l.noteRejected(name, ip)
			}
			return sl, v
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return slot{}, stopped
		}
	}
}

// tryAdmit counts the connection if it fits; when the listener or broker
// limit is full it counts nothing and returns the channel to wait on.
func (l *limiter) tryAdmit(name string, ip netip.Addr) (slot, verdict, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if config, _ := l.fullLocked(name); config != "" {
		return slot{}, stopped, l.waitChanLocked()
	}
	if !l.ips.acquire(ip) {
		l.rejected++
		return slot{}, rejectedIP, nil
	}
	l.total++
	l.open[name]++
	if l.total > l.max {
		return slot{listener: name, ip: ip}, admittedOver, nil
	}
	return slot{listener: name, ip: ip}, admitted, nil
}

// release uncounts a connection admit counted, and wakes the accept loops
// waiting for a slot.
func (l *limiter) release(sl slot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.open[sl.listener]--; l.open[sl.listener] <= 0 {
		delete(l.open, sl.listener)
	}
	l.ips.release(sl.ip)
	l.wakeLocked()
}

// noteEvicted counts a connection closed for the inter-broker listener.
func (l *limiter) noteEvicted() {
	l.mu.Lock()
	l.evicted++
	l.mu.Unlock()
}

func (l *limiter) noteFull(name, config string, limit int) {
	if ok, held := l.warn.allow(config); ok {
		l.log.Warn("connection limit reached; not accepting connections until one closes",
			"listener", name, "config", config, "limit", limit, "times_since_last_log", held)
	}
}

func (l *limiter) noteRejected(name string, ip netip.Addr) {
	if ok, held := l.warn.allow("max.connections.per.ip"); ok {
		l.mu.Lock()
		limit := l.ips.limit(ip)
		l.mu.Unlock()
		l.log.Info("rejected connection: address already has its maximum of connections open",
			"listener", name, "addr", ip, "limit", limit, "rejected_since_last_log", held)
	}
}

// ConnStats is a snapshot of a Server's connection counts.
type ConnStats struct {
	// Open is the number of open connections (max.connections counts
	// these), and PerListener the same by upper-cased listener name.
	Open        int
	PerListener map[string]int
	// RejectedPerIP counts connections closed at accept because their
	// address had max.connections.per.ip (or its override) open.
	RejectedPerIP int64
	// Evicted counts connections closed to make room for one on the
	// inter-broker listener beyond max.connections.
	Evicted int64
}

func (l *limiter) stats() ConnStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := ConnStats{Open: l.total, PerListener: make(map[string]int, len(l.open)), RejectedPerIP: l.rejected, Evicted: l.evicted}
	for name, n := range l.open {
		st.PerListener[name] = n
	}
	return st
}

// rateLog lets one event of each key through per interval and counts the
// ones it holds back, so a flood of connections logs a line per interval,
// not one per connection. It is safe for concurrent use.
type rateLog struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func newRateLog(every time.Duration, now func() time.Time) *rateLog {
	return &rateLog{every: every, now: now, last: map[string]time.Time{}, held: map[string]int{}}
}

// allow reports whether an event of key is to be logged now and, if so,
// how many events of key were held back since the last one logged.
func (r *rateLog) allow(key string) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if last, ok := r.last[key]; ok && now.Sub(last) < r.every {
		r.held[key]++
		return false, 0
	}
	held := r.held[key]
	r.last[key], r.held[key] = now, 0
	return true, held
}

// ResolveIPOverrides turns max.connections.per.ip.overrides (host or
// address → count, see config.ParseHostCounts) into
// Config.MaxConnectionsPerIPOverrides. Host names are resolved now, once,
// as Kafka does at startup; every address of a name gets its count (Kafka
// takes the first only). An address given literally wins over one a name
// resolved to; between names the larger count wins. A name that does not
// resolve is an error.
func ResolveIPOverrides(ctx context.Context, hosts map[string]int) (map[netip.Addr]int, error) {
	out := make(map[netip.Addr]int, len(hosts))
	literal := map[netip.Addr]bool{}
	for host, n := range hosts {
		if ip, err := netip.ParseAddr(host); err == nil {
			out[ipKey(ip)], literal[ipKey(ip)] = n, true
		}
	}
	for host, n := range hosts {
		if _, err := netip.ParseAddr(host); err == nil {
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: resolving %s: %w", host, err)
		}
		for _, ip := range ips {
			if k := ipKey(ip); !literal[k] {
				out[k] = max(out[k], n)
			}
		}
	}
	return out, nil
}
