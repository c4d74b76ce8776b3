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
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
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
	return c
}

// Server serves the Kafka protocol on any number of listeners.
type Server struct {
	cfg    Config
	h      Handler
	log    *slog.Logger
	ctx    context.Context // cancelled by Close; parent of every connection's
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // Serve loops and connection goroutines
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
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
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
func (s *Server) ServeSecure(ln net.Listener, listenerName string, sec Security) error {
	sec = sec.withDefaults()
	if !s.track(func() { s.listeners[ln] = struct{}{} }) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.wg.Done()
	defer s.untrack(func() { delete(s.listeners, ln) })
	defer ln.Close()
	var backoff time.Duration
	for {
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
		s.startConn(nc, listenerName, sec)
	}
}

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

// startConn starts serving nc, or closes it when the server is closed.
func (s *Server) startConn(nc net.Conn, listener string, sec Security) {
	c := newConn(s, nc, listener, sec)
	if !s.track(func() { s.conns[c] = struct{}{} }) {
		nc.Close()
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.untrack(func() { delete(s.conns, c) })
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
