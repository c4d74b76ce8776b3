package replication

// The follower's connection to a leader.
//
// A fetcher sends one request at a time and needs nothing of a general
// client (no metadata, no retries, no pipelining), so it speaks the Kafka
// protocol itself on one connection it owns: it writes each request and
// reads its response on its own goroutine, with no goroutine hand-off in
// between, and reads every Fetch response into one buffer it keeps, sized
// from the frame's length. The records of a Fetch response alias that
// buffer (kmsg decodes byte fields without copying), so they are valid
// until the next Fetch on the connection; appends copy them to the log
// first. Other responses get buffers of their own: a ListOffsets sent
// while a Fetch response is being applied leaves its records intact.
//
// Dialing runs TCP, then TLS and SASL as the inter-broker listener needs
// (Security), then ApiVersions, so that a request goes at a version the
// leader supports. A SASL session with a lifetime (connections.max.reauth.ms)
// is not re-authenticated in place: the fetcher dials again before it
// ends (expiring).

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	kafkasasl "github.com/twmb/franz-go/pkg/sasl"
)

// Security is how a follower reaches leaders: the inter-broker listener's
// security protocol as a client sees it.
type Security struct {
	// TLS, when set, wraps every connection in TLS with this client
	// configuration; an empty ServerName is set to the leader's host.
	TLS *tls.Config
	// SASL, when set, authenticates every connection with this mechanism
	// (SaslHandshake v1, then SaslAuthenticate).
	SASL kafkasasl.Mechanism
}

const (
	dialTimeout = 10 * time.Second
	// ioOverhead bounds a request's round trip beyond the time the leader
	// may hold it (a long poll's MaxWait): a leader that neither answers
	// nor resets the connection fails the round after it.
	ioOverhead = 10 * time.Second
	// readBufferSize is the connection's read-ahead: a small response
	// arrives in one read with its size.
	readBufferSize = 32 << 10
)

// bigFrame is the frame size above which a response's buffer grows as its
// bytes arrive instead of being allocated up front: a leader answers at
// least one whole batch however large the topic's max.message.bytes
// allows, so there is no limit, but memory is committed only for bytes
// that came (a variable for tests).
var bigFrame = 64 << 20

var errCorrelation = errors.New("replication: response correlation id mismatch")

// leaderConn is one connection to a leader, owned by one fetcher
// goroutine: no method may be called concurrently.
type leaderConn struct {
	nc       net.Conn
	br       *bufio.Reader
	addr     string
	format   *kmsg.RequestFormatter // with the fetcher's client id
	corr     int32
	versions map[int16]int16 // the leader's max version per API key
	expires  time.Time       // the SASL session ends (zero: never)
	wbuf     []byte          // request encoding, reused
	rbuf     []byte          // response frames, reused
}

// dialLeader connects to addr and prepares the connection: TLS, SASL and
// ApiVersions.
func dialLeader(ctx context.Context, addr, clientID string, sec Security) (*leaderConn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if nc, err = wrapTLS(ctx, nc, addr, sec.TLS); err != nil {
		return nil, err
	}
	c := &leaderConn{nc: nc, br: bufio.NewReaderSize(nc, readBufferSize), addr: addr,
		format: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
	if err := c.prepare(ctx, sec.SASL); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// wrapTLS runs the TLS handshake on nc when cfg is set; it closes nc on
// failure.
func wrapTLS(ctx context.Context, nc net.Conn, addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg == nil {
		return nc, nil
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// prepare learns the leader's versions, then authenticates with mech.
func (c *leaderConn) prepare(ctx context.Context, mech kafkasasl.Mechanism) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "fjord-replica-fetcher", "1"
	resp, err := c.roundTrip(ctx, req, 0)
	if err != nil {
		return fmt.Errorf("api versions: %w", err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if err := kerr.ErrorForCode(av.ErrorCode); err != nil {
		return fmt.Errorf("api versions: %w", err)
	}
	c.versions = make(map[int16]int16, len(av.ApiKeys))
	for _, k := range av.ApiKeys {
		c.versions[k.ApiKey] = k.MaxVersion
	}
	if mech == nil {
		return nil
	}
	return c.authenticate(ctx, mech)
}

// authenticate runs mech over SaslHandshake v1 and SaslAuthenticate.
func (c *leaderConn) authenticate(ctx context.Context, mech kafkasasl.Mechanism) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech.Name()
	resp, err := c.roundTrip(ctx, hs, 0)
	if err != nil {
		return fmt.Errorf("sasl handshake: %w", err)
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return fmt.Errorf("sasl handshake (%s): %w", mech.Name(), err)
	}
	host, _, _ := net.SplitHostPort(c.addr)
	sess, token, err := mech.Authenticate(ctx, host)
	if err != nil {
		return err
	}
	for {
		done, next, lifetime, err := c.saslStep(ctx, sess, token)
		if err != nil || done {
			if lifetime > 0 {
				c.expires = time.Now().Add(time.Duration(lifetime) * time.Millisecond)
			}
			return err
		}
		token = next
	}
}

// saslStep sends one token and hands the leader's answer to sess.
func (c *leaderConn) saslStep(ctx context.Context, sess kafkasasl.Session, token []byte) (done bool, next []byte, lifetime int64, err error) {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version = min(c.version(req), 2)
	req.SASLAuthBytes = token
	resp, err := c.roundTrip(ctx, req, 0)
	if err != nil {
		return false, nil, 0, fmt.Errorf("sasl authenticate: %w", err)
	}
	r := resp.(*kmsg.SASLAuthenticateResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		msg := ""
		if r.ErrorMessage != nil {
			msg = ": " + *r.ErrorMessage
		}
		return false, nil, 0, fmt.Errorf("sasl authenticate: %w%s", err, msg)
	}
	done, next, err = sess.Challenge(r.SASLAuthBytes)
	return done, next, r.SessionLifetimeMillis, err
}

// version is the highest version of req's API both sides support (-1:
// the leader has none).
func (c *leaderConn) version(req kmsg.Request) int16 {
	v, ok := c.versions[req.Key()]
	if !ok {
		return -1
	}
	return min(v, req.MaxVersion())
}

// expiring reports whether the SASL session ends within d.
func (c *leaderConn) expiring(d time.Duration) bool {
	return !c.expires.IsZero() && time.Until(c.expires) < d
}

// roundTrip writes req (at the version it carries) and reads its
// response, allowing hold for the leader to keep it (a long poll) plus
// ioOverhead. A cancelled ctx fails it at once. After any error the
// connection is unusable: the caller closes it. A response's byte fields
// alias the connection's buffer until the next Fetch (other responses
// have their own).
func (c *leaderConn) roundTrip(ctx context.Context, req kmsg.Request, hold time.Duration) (kmsg.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The deadline first: set after the cancellation's, it would undo it.
	if err := c.nc.SetDeadline(time.Now().Add(hold + ioOverhead)); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	body, err := c.exchange(req)
	if !stop() && err == nil {
		// Cancelled as the answer came: the cancellation's deadline may
		// still land on the connection, which cannot be used again.
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, c.ioError(ctx, err)
	}
	return c.decode(req, body)
}

// exchange writes req and reads its response frame.
func (c *leaderConn) exchange(req kmsg.Request) ([]byte, error) {
	c.corr++
	c.wbuf = c.format.AppendRequest(c.wbuf[:0], req, c.corr)
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return nil, err
	}
	return c.readFrame(req.Key() == kmsg.Fetch.Int16())
}

// ioError prefers the cancellation to the deadline error it caused.
func (c *leaderConn) ioError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readFrame reads one response frame, into the connection's buffer when
// reuse is set and into a new one otherwise, and returns it without its
// size.
func (c *leaderConn) readFrame(reuse bool) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(size[:])))
	if n < 4 {
		return nil, fmt.Errorf("replication: response frame of %d bytes from %s", n, c.addr)
	}
	var buf []byte
	if reuse {
		buf = c.rbuf
	}
	if n > cap(buf) && n > bigFrame {
		return c.readBigFrame(n, reuse)
	}
	if n > cap(buf) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if reuse {
		c.rbuf = buf
	}
	if _, err := io.ReadFull(c.br, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// readBigFrame reads a frame of n bytes, more than bigFrame, into a
// buffer that grows by at most bigFrame as the bytes arrive.
func (c *leaderConn) readBigFrame(n int, reuse bool) ([]byte, error) {
	buf := make([]byte, 0, bigFrame)
	for len(buf) < n {
		step := min(n-len(buf), bigFrame)
		buf = slices.Grow(buf, step)
		if _, err := io.ReadFull(c.br, buf[len(buf):len(buf)+step]); err != nil {
			return nil, err
		}
		buf = buf[:len(buf)+step]
	}
	if reuse {
		c.rbuf = buf
	}
	return buf, nil
}

// decode checks a frame's correlation id, skips its header's tags, and
// decodes the body as req's response.
func (c *leaderConn) decode(req kmsg.Request, frame []byte) (kmsg.Response, error) {
	if int32(binary.BigEndian.Uint32(frame)) != c.corr {
		return nil, errCorrelation
	}
	body := frame[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("replication: decoding %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

var errShortHeader = errors.New("replication: truncated response header")

// skipTags skips a flexible response header's tagged fields.
func skipTags(b []byte) ([]byte, error) {
	n, l := binary.Uvarint(b)
	if l <= 0 {
		return nil, errShortHeader
	}
	b = b[l:]
	for range n {
		if _, l = binary.Uvarint(b); l <= 0 { // tag
			return nil, errShortHeader
		}
		b = b[l:]
		size, l := binary.Uvarint(b)
		if l <= 0 || uint64(len(b)-l) < size {
			return nil, errShortHeader
		}
		b = b[l+int(size):]
	}
	return b, nil
}

func (c *leaderConn) close() { c.nc.Close() }
