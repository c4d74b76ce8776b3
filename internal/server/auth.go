package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authentication on the connection (see Security and Session).

var (
	errNotAuthenticated = errors.New("server: request before SASL authentication")
	errAuthExpired      = errors.New("server: SASL authentication expired (connections.max.reauth.ms)")
)

// secure runs the TLS handshake, takes the principal of a client
// certificate, and on SASL listeners arms the authentication deadline:
// AuthTimeout after the connection started, for the TLS handshake and the
// SASL authentication together. It reports false when the connection must
// close.
func (c *conn) secure() bool {
	deadline := time.Now().Add(c.sec.AuthTimeout)
	if tc, ok := c.nc.(interface {
		HandshakeContext(context.Context) error
		ConnectionState() tls.ConnectionState
	}); ok {
		if !c.handshake(tc, deadline) {
			return false
		}
	}
	if !c.sess.SASL {
		c.sess.authenticated.Store(true)
		return true
	}
	c.armAuthTimeout(deadline)
	return true
}

// armAuthTimeout closes the connection at deadline unless it has
// authenticated by then. The timer is stopped when the connection's
// context ends; it is not kept in the conn, so that its callback (on a
// goroutine of its own) and shutdown (on any goroutine) share no field
// with this one.
func (c *conn) armAuthTimeout(deadline time.Time) {
	t := time.AfterFunc(time.Until(deadline), func() {
		if !c.sess.Authenticated() {
			c.log.Debug("closing connection: authentication did not finish in time", "timeout", c.sec.AuthTimeout)
			c.shutdown()
		}
	})
	context.AfterFunc(c.ctx, func() { t.Stop() })
}

// handshake completes the TLS handshake by deadline and records the
// connection state and the certificate principal.
func (c *conn) handshake(tc interface {
	HandshakeContext(context.Context) error
	ConnectionState() tls.ConnectionState
}, deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.log.Debug("TLS handshake failed", "err", err)
		return false
	}
	st := tc.ConnectionState()
	c.sess.TLS = &st
	if c.sec.CertPrincipal == nil || len(st.PeerCertificates) == 0 || c.sess.SASL {
		return true
	}
	name, err := c.sec.CertPrincipal(st.PeerCertificates[0])
	if err != nil {
		c.log.Info("closing connection: no principal for the client certificate", "err", err)
		return false
	}
	c.sess.Principal = "User:" + name
	return true
}

// frameLimits returns the smallest and largest frame size accepted now:
// before SASL authentication, frames are bounded by MaxAuthBytes, and bare
// tokens may be shorter than a request header.
func (c *conn) frameLimits() (lo, hi int32) {
	lo, hi = minFrameSize, c.srv.cfg.MaxRequestBytes
	if c.sess.SASL && !c.sess.Authenticated() {
		hi = min(hi, c.sec.MaxAuthBytes)
	}
	if c.sess.RawTokens {
		lo = 0
	}
	return lo, hi
}

// permitted reports why a request of key may not be served now: before
// SASL authentication only ApiVersions and the SASL APIs are; after the
// authentication expired, only the SASL APIs (re-authentication).
func (c *conn) permitted(key int16) error {
	if !c.sess.Authenticated() {
		if allowedBeforeAuth(key) {
			return nil
		}
		return fmt.Errorf("%w: api key %d", errNotAuthenticated, key)
	}
	if !c.sess.Expires.IsZero() && time.Now().After(c.sess.Expires) &&
		key != saslHandshakeKey && key != saslAuthenticateKey {
		return errAuthExpired
	}
	return nil
}

// serveRawToken hands a bare SASL token (after SaslHandshake v0) to the
// Handler as a SaslAuthenticate v0 request.
func (c *conn) serveRawToken(frame []byte) (stop, ok bool) {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.SASLAuthBytes = frame
	h := requestHeader{key: saslAuthenticateKey, version: 0, clientID: []byte(c.clientID)}
	reply := c.srv.h.Handle(c.ctx, c.request(h, req))
	return c.push(pending{key: saslAuthenticateKey, version: 0, reply: reply, rawToken: true})
}
