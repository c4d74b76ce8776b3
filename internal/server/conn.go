package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	readBufferSize  = 16 << 10
	writeBufferSize = 64 << 10
)

var errBadFrameSize = errors.New("server: bad frame size")

// pending is one queued reply, in request order.
type pending struct {
	key           int16
	version       int16
	correlationID int32
	reply         Reply
	// unsupportedApiVersions marks the KIP-511 answer: the response is
	// written as ApiVersions v0 with UNSUPPORTED_VERSION.
	unsupportedApiVersions bool
	// rawToken marks the answer to a bare SASL token (Session.RawTokens):
	// the SaslAuthenticate response's bytes are written without a
	// response header, and an error closes the connection instead.
	rawToken bool
}

// conn is one client connection. The reader goroutine (serve) owns br and
// the decode state; the writer goroutine owns bw.
type conn struct {
	srv      *Server
	nc       net.Conn
	listener string
	sec      Security
	sess     *Session
	log      *slog.Logger
	ctx      context.Context // cancelled on shutdown
	cancel   context.CancelFunc
	once     sync.Once

	queue chan pending

	// Idle tracking: the time of the last request read or response
	// written, and the number of replies queued but not yet written.
	lastActive atomic.Int64
	inFlight   atomic.Int32

	// mutedUntil (Unix nanoseconds) holds back the next requests of a
	// client throttled by a quota (throttle.go).
	mutedUntil atomic.Int64

	br       *bufio.Reader
	sizeBuf  [4]byte
	clientID string // last client id seen, reused while unchanged

	bw     *bufio.Writer
	raw    syscall.RawConn // the plain TCP socket, for sendfile; nil on TLS
	lenBuf [binary.MaxVarintLen64]byte

	onGrow func(n int) // test hook: a large frame's buffer grew to n bytes
}

func newConn(s *Server, nc net.Conn, listener string, sec Security) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	var raw syscall.RawConn
	if tc, ok := nc.(*net.TCPConn); ok && sec.TLS == nil {
		raw, _ = tc.SyscallConn()
	}
	if sec.TLS != nil {
		nc = tls.Server(nc, sec.TLS)
	}
	return &conn{
		raw:      raw,
		srv:      s,
		nc:       nc,
		listener: listener,
		sec:      sec,
		sess:     &Session{Listener: listener, Principal: Anonymous, SASL: sec.SASL},
		log:      s.log.With("remote", nc.RemoteAddr().String(), "listener", listener),
		ctx:      ctx,
		cancel:   cancel,
		queue:    make(chan pending, s.cfg.MaxInFlight),
		br:       bufio.NewReaderSize(nc, readBufferSize),
		bw:       bufio.NewWriterSize(nc, writeBufferSize),
	}
}

// shutdown cancels the connection's context and closes the socket. It is
// safe to call from any goroutine, more than once.
func (c *conn) shutdown() {
	c.once.Do(func() {
		c.cancel()
		c.nc.Close()
	})
}

// serve runs the reader on the calling goroutine and the writer on another,
// and returns when both are done and the socket is closed.
func (c *conn) serve() {
	c.touch()
	if !c.secure() {
		c.shutdown()
		return
	}
	if c.srv.cfg.IdleTimeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.writeLoop()
	}()
	if !c.readLoop() {
		c.shutdown()
	}
	<-done
	c.shutdown()
}

// readLoop reads and serves requests until an error or a closing reply. It
// returns true when it stopped gracefully, leaving the writer to close the
// connection after the queued replies, and false when the connection must
// close at once.
func (c *conn) readLoop() bool {
	for {
		frame, err := c.readFrame()
		if err != nil {
			if errors.Is(err, errBadFrameSize) {
				c.log.Debug("closing connection", "err", err)
				return c.enqueue(pending{reply: Reply{Close: true}})
			}
			return false
		}
		if !c.waitUnmuted() {
			c.srv.mem.release(len(*frame))
			putFrame(frame)
			return false
		}
		stop, ok := c.serveFrame(*frame)
		c.srv.mem.release(len(*frame))
		putFrame(frame)
		if stop {
			return ok
		}
	}
}

// touch records activity for the idle timeout.
func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// readFull fills b from the connection. A read deadline expiring is not an
// error while the connection is active (recent traffic or a response
// outstanding): the deadline is pushed forward and reading goes on.
func (c *conn) readFull(b []byte) error {
	for n := 0; n < len(b); {
		m, err := c.br.Read(b[n:])
		n += m
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || !c.rearmIdle() {
			return err
		}
	}
	return nil
}

// rearmIdle extends the read deadline and reports true unless the
// connection has been idle for the whole timeout.
func (c *conn) rearmIdle() bool {
	idle := c.srv.cfg.IdleTimeout
	last := time.Unix(0, c.lastActive.Load())
	now := time.Now()
	if c.inFlight.Load() > 0 {
		last = now
	}
	if now.Sub(last) >= idle {
		c.log.Debug("closing idle connection")
		return false
	}
	c.nc.SetReadDeadline(last.Add(idle))
	return true
}

// readFrame reads one size-prefixed frame. The size is checked, and
// reserved in the memory pool (waiting while it is exhausted), before any
// buffer is taken; the caller gives both back, with mem.release and
// putFrame, once the request is served.
func (c *conn) readFrame() (*[]byte, error) {
	if err := c.readFull(c.sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(c.sizeBuf[:]))
	if lo, hi := c.frameLimits(); size < lo || size > hi {
		return nil, fmt.Errorf("%w %d (max %d)", errBadFrameSize, size, hi)
	}
	c.touch()
	if !c.srv.mem.acquire(c.ctx, int(size)) {
		return nil, c.ctx.Err()
	}
	frame, err := c.readBody(int(size))
	if err != nil {
		c.srv.mem.release(int(size))
	}
	return frame, err
}

// readBody reads a frame's size bytes into a buffer from the pools.
func (c *conn) readBody(size int) (*[]byte, error) {
	if size > maxPooled {
		return c.readLargeFrame(size)
	}
	frame := getFrame(size)
	if err := c.readFull(*frame); err != nil {
		putFrame(frame)
		return nil, err
	}
	return frame, nil
}

// readLargeFrame reads a frame above maxPooled: into a free pooled
// buffer of its size class when there is one, else into pooled buffers
// that grow by class (at most doubling) as the bytes arrive, so a peer
// claiming a huge frame and then stalling holds little new memory.
func (c *conn) readLargeFrame(size int) (*[]byte, error) {
	if p := pooledFrame(size); p != nil {
		if err := c.readFull(*p); err != nil {
			putFrame(p)
			return nil, err
		}
		return p, nil
	}
	p := getFrame(maxPooled)
	*p = (*p)[:0]
	for len(*p) < size {
		if len(*p) == cap(*p) {
			p = growFrame(p, min(2*cap(*p), size))
			if c.onGrow != nil {
				c.onGrow(cap(*p))
			}
		}
		chunk := (*p)[len(*p):min(cap(*p), size)]
		if err := c.readFull(chunk); err != nil {
			putFrame(p)
			return nil, err
		}
		*p = (*p)[:len(*p)+len(chunk)]
	}
	return p, nil
}

// growFrame moves p's bytes into a buffer of n's size class (from its
// pool, else new) and returns p to its pool.
func growFrame(p *[]byte, n int) *[]byte {
	q := pooledFrame(n)
	if q == nil {
		b := make([]byte, n, classCap(sizeClass(n)))
		q = &b
	}
	*q = (*q)[:len(*p)]
	copy(*q, *p)
	putFrame(p)
	return q
}

// serveFrame decodes and handles one frame. stop reports that reading must
// end; ok then says whether the stop is graceful (see readLoop).
func (c *conn) serveFrame(frame []byte) (stop, ok bool) {
	if c.sess.RawTokens {
		return c.serveRawToken(frame)
	}
	h, req, body, err := parseHeader(frame)
	if err != nil {
		return true, c.reject(err)
	}
	if err := c.permitted(h.key); err != nil {
		return true, c.reject(err)
	}
	if !c.srv.h.Supported(h.key, h.version) {
		if h.key == apiVersionsKey {
			return c.answerUnsupportedApiVersions(h)
		}
		return true, c.reject(fmt.Errorf("unsupported version %d of api key %d", h.version, h.key))
	}
	if err := decodeBody(req, body); err != nil {
		if errors.Is(err, errPanic) {
			c.log.Error("request decoder panicked; closing connection", "err", err)
		}
		return true, c.reject(err)
	}
	reply := c.srv.h.Handle(c.ctx, c.request(h, req))
	c.mute(reply.Throttle) // a reply without a response mutes at once (throttle.go)
	p := pending{key: h.key, version: h.version, correlationID: h.correlationID, reply: reply}
	return c.push(p)
}

// push queues p and reports (stop, ok) like serveFrame.
func (c *conn) push(p pending) (stop, ok bool) {
	if !c.enqueue(p) {
		return true, false
	}
	return p.reply.Close, true
}

// reject logs why a request closes the connection and queues the close.
func (c *conn) reject(err error) bool {
	c.log.Debug("closing connection on bad request", "err", err)
	return c.enqueue(pending{reply: Reply{Close: true}})
}

// request builds the Request handed to the Handler.
func (c *conn) request(h requestHeader, body kmsg.Request) *Request {
	if string(h.clientID) != c.clientID { // no allocation when equal
		c.clientID = string(h.clientID)
	}
	return &Request{
		ClientID:      c.clientID,
		CorrelationID: h.correlationID,
		Body:          body,
		Remote:        c.nc.RemoteAddr(),
		Listener:      c.listener,
		Session:       c.sess,
	}
}

// answerUnsupportedApiVersions asks the Handler for ApiVersions v0 and
// queues its answer marked for the KIP-511 rewrite.
func (c *conn) answerUnsupportedApiVersions(h requestHeader) (stop, ok bool) {
	req := kmsg.NewPtrApiVersionsRequest()
	reply := c.srv.h.Handle(c.ctx, c.request(h, req))
	p := pending{key: h.key, version: 0, correlationID: h.correlationID, reply: reply, unsupportedApiVersions: true}
	return c.push(p)
}

// enqueue hands p to the writer, blocking while the queue is full. It
// returns false if the connection is shutting down.
func (c *conn) enqueue(p pending) bool {
	c.inFlight.Add(1)
	select {
	case c.queue <- p:
		return true
	case <-c.ctx.Done():
		return false
	}
}
