// Package server is Fjord's Kafka protocol TCP front end: it accepts
// connections, reads size-prefixed request frames, enforces the size limits,
// decodes request headers and bodies with kmsg, hands each request to a
// Handler, and writes the responses back in request order.
//
// # Connections
//
// Each connection has two goroutines. The reader reads a frame, decodes it,
// calls Handler.Handle (one request at a time, in arrival order) and queues
// the Reply; when Config.MaxInFlight replies are queued it stops reading until
// the writer catches up. The writer takes replies in order, waits on
// Reply.Wait where set, encodes the response header and body into a pooled
// buffer and writes it through a bufio.Writer that is flushed only when
// nothing else is ready, so pipelined responses share syscalls.
//
// # Bad input (reference/reliability.md, "Bad input")
//
// A frame size that is negative, above Config.MaxRequestBytes or too small
// for a request header, an unknown API key, an unsupported version, or a
// body that fails to decode closes the connection (after the responses to
// the requests before it are written). ApiVersions at an unsupported version
// is answered as v0 with UNSUPPORTED_VERSION (35) instead (KIP-511).
//
// Memory from a frame is bounded by what the peer really sent: frames up to
// 1 MiB come from pooled buffers allocated after the size is checked, and
// bigger frames grow as their bytes arrive. Decoding never allocates from a
// length field larger than the bytes remaining (KAFKA-14063): kmsg v1.15.1
// checks every array count against the remaining bytes times the minimum
// wire size of one element, and every string or byte length against the
// remaining bytes, before allocating; see TestHugeArrayClaim.
//
// # Connection limits
//
// Config.MaxConnections, MaxListenerConnections, MaxConnectionsPerIP and
// its overrides are Kafka's max.connections, listener.name.<l>.max.connections,
// max.connections.per.ip and max.connections.per.ip.overrides; limits.go
// says how they apply.
package server

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults, Kafka's where Kafka has the setting.
const (
	DefaultMaxRequestBytes = 104857600 // socket.request.max.bytes
	DefaultMaxInFlight     = 100
	DefaultIdleTimeout     = 600000 * time.Millisecond // connections.max.idle.ms
)

// Config configures a Server. Zero values take the defaults.
type Config struct {
	// MaxRequestBytes is the largest request frame accepted
	// (socket.request.max.bytes); bigger frames close the connection.
	MaxRequestBytes int32
	// MaxInFlight is how many replies a connection queues (read ahead of
	// the writer) before its reader pauses.
	MaxInFlight int
	// IdleTimeout closes a connection that neither sent a request nor had
	// a response outstanding for this long (connections.max.idle.ms).
	// Negative disables it.
	IdleTimeout time.Duration
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// OnClose, if set, is called with a connection's session once the
	// connection has ended (its goroutines are done), on the connection's
	// goroutine. It must not block for long.
	OnClose func(*Session)

	// MaxConnections bounds the connections open across all listeners of
	// the Server (max.connections); at the bound, accepting pauses until
	// one closes. Zero means 2147483647, Kafka's default.
	MaxConnections int
	// MaxListenerConnections bounds the connections open on one listener,
	// by listener name, compared case-insensitively
	// (listener.name.<l>.max.connections). Listeners not in the map, or
	// with a value of zero or less, have only MaxConnections.
	MaxListenerConnections map[string]int
	// InterBrokerListener names the listener exempt from MaxConnections
	// (inter.broker.listener.name) while the Server serves more than one
	// listener: beyond the bound, the least recently active connection of
	// another listener is closed to make room.
	InterBrokerListener string
	// MaxConnectionsPerIP bounds the connections open from one peer
	// address (max.connections.per.ip); one more is closed at once. Zero
	// means 2147483647; negative means none (Kafka's 0: only the
	// addresses in the overrides may connect).
	MaxConnectionsPerIP int
	// MaxConnectionsPerIPOverrides replaces MaxConnectionsPerIP for the
	// addresses it lists (max.connections.per.ip.overrides; see
	// ResolveIPOverrides). IPv4-mapped IPv6 addresses match their IPv4
	// form. The Server does not modify the map.
	MaxConnectionsPerIPOverrides map[netip.Addr]int

	// MaxQueuedRequestBytes bounds the bytes of requests read but not yet
	// served, across the Server's connections (queued.max.request.bytes;
	// see memPool). Zero or negative: unbounded, Kafka's default.
	MaxQueuedRequestBytes int64
}

func (c Config) withDefaults() Config {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = math.MaxInt32
	}
	if c.MaxConnectionsPerIP == 0 { // negative stays: newLimiter reads it as 0
		c.MaxConnectionsPerIP = math.MaxInt32
	}
	return c
}

// Server serves the Kafka protocol on any number of listeners.
type Server struct {
	cfg    Config
	h      Handler
	log    *slog.Logger
	ctx    context.Context // cancelled by Close; parent of every connection's
	cancel context.CancelFunc
	limits *limiter
	mem    *memPool

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	evicted   map[*conn]struct{} // conns closed by evictLRU, until they end
	wg        sync.WaitGroup     // Serve loops and connection goroutines
}

// New returns a Server that dispatches requests to h.
func New(cfg Config, h Handler) *Server {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg,
		h:         h,
		log:       cfg.Logger,
		ctx:       ctx,
		cancel:    cancel,
		limits:    newLimiter(cfg),
		mem:       newMemPool(cfg.MaxQueuedRequestBytes),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		evicted:   make(map[*conn]struct{}),
	}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("server: closed")

// Serve accepts connections on ln until ln fails or Close is called, and
// serves each on its own goroutines. listenerName is reported to the
// Handler in Request.Listener. Serve closes ln before returning; it returns
// ErrServerClosed after Close, otherwise the accept error.
func (s *Server) Serve(ln net.Listener, listenerName string) error {
	return s.ServeSecure(ln, listenerName, Security{})
}

// ServeSecure is Serve for a listener protected by sec (TLS, SASL).
// While a connection limit is reached it does not call ln.Accept, so new
// connections wait in the listen backlog (see limits.go).
func (s *Server) ServeSecure(ln net.Listener, listenerName string, sec Security) error {
	sec = sec.withDefaults()
	if !s.track(func() { s.listeners[ln] = struct{}{} }) {
		ln.Close()
		return ErrServerClosed
	}
	s.limits.addListener(listenerName)
	defer s.wg.Done()
	defer s.untrack(func() { delete(s.listeners, ln) })
	defer s.limits.removeListener(listenerName)
	defer ln.Close()
	var backoff time.Duration
	for {
		if !s.limits.wait(s.ctx, listenerName) {
			return ErrServerClosed
		}
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return err
			}
			backoff = s.sleepBackoff(backoff, err)
			continue
		}
		backoff = 0
		if sl, ok := s.admit(nc, listenerName); ok {
			s.startConn(nc, listenerName, sec, sl)
		}
	}
}

// admit counts nc against the connection limits. It closes nc and
// reports false when nc's address already has its limit open (Kafka's
// TooManyConnectionsException) or the server closes while nc waits for a
// slot. Otherwise the slot must be released once nc ends.
func (s *Server) admit(nc net.Conn, listener string) (slot, bool) {
	sl, v := s.limits.admit(s.ctx, listener, peerIP(nc.RemoteAddr()))
	switch v {
	case admitted:
		return sl, true
	case admittedOver:
		s.evictLRU(listener)
		return sl, true
	}
	nc.Close()
	return slot{}, false
}

// evictLRU closes the least recently active connection not on the
// inter-broker listener, making room for one accepted on it beyond
// max.connections (Kafka closes its processors' LRU connections alike).
func (s *Server) evictLRU(protected string) {
	s.mu.Lock()
	var lru *conn
	var lruAt int64
	for c := range s.conns {
		if _, gone := s.evicted[c]; gone || strings.EqualFold(c.listener, protected) {
			continue
		}
		at := c.lastActive.Load()
		if at == 0 { // not started yet: as recent as can be
			at = math.MaxInt64
		}
		if lru == nil || at < lruAt {
			lru, lruAt = c, at
		}
	}
	if lru != nil {
		s.evicted[lru] = struct{}{}
	}
	s.mu.Unlock()
	if lru == nil {
		return
	}
	s.limits.noteEvicted()
	lru.log.Info("closing least recently used connection: max.connections reached and the inter-broker listener needs one")
	lru.shutdown()
}

// ConnStats returns the Server's connection counts.
func (s *Server) ConnStats() ConnStats { return s.limits.stats() }

// track runs add under the lock and counts one goroutine in the wait group,
// unless the server is closed; it reports whether it did.
func (s *Server) track(add func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	add()
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(remove func()) {
	s.mu.Lock()
	remove()
	s.mu.Unlock()
}

// isTemporary reports whether an accept error is worth retrying (e.g.
// EMFILE); a closed listener is not.
func isTemporary(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}

// sleepBackoff waits after a temporary accept error, doubling from 5ms to 1s.
func (s *Server) sleepBackoff(prev time.Duration, err error) time.Duration {
	d := min(max(2*prev, 5*time.Millisecond), time.Second)
	s.log.Warn("accept failed; retrying", "err", err, "delay", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
	return d
}

// startConn starts serving nc, or closes it when the server is closed;
// either way sl is released once, when nc has ended.
func (s *Server) startConn(nc net.Conn, listener string, sec Security, sl slot) {
	c := newConn(s, nc, listener, sec)
	if !s.track(func() { s.conns[c] = struct{}{} }) {
		nc.Close()
		s.limits.release(sl)
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.limits.release(sl)
		defer s.untrack(func() { delete(s.conns, c); delete(s.evicted, c) })
		c.serve()
		if s.cfg.OnClose != nil {
			s.cfg.OnClose(c.sess)
		}
	}()
}

// Close stops every listener and connection and waits until all goroutines
// the server started have returned (including Handle calls in progress,
// which see their ctx cancelled). Responses not yet written are dropped.
// Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	lns := make([]net.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		lns = append(lns, ln)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range conns {
		c.shutdown()
	}
	s.wg.Wait()
	return nil
}
