package server

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"time"
)

// Anonymous is the principal of a connection that has not authenticated
// (PLAINTEXT, or SSL without a client certificate), as in Kafka.
const Anonymous = "User:ANONYMOUS"

// Security is how a listener protects its connections: its
// listener.security.protocol.map entry made concrete.
type Security struct {
	// TLS, if set, wraps every connection in TLS (SSL, SASL_SSL). The
	// handshake must finish within AuthTimeout.
	TLS *tls.Config
	// SASL requires authentication (SASL_PLAINTEXT, SASL_SSL): until the
	// Handler marks the session authenticated, only ApiVersions,
	// SaslHandshake and SaslAuthenticate are served; anything else closes
	// the connection.
	SASL bool
	// CertPrincipal maps a verified client certificate to a principal name
	// (ssl.principal.mapping.rules) on SSL listeners; its error closes the
	// connection. Nil leaves such connections User:ANONYMOUS.
	CertPrincipal func(*x509.Certificate) (string, error)
	// AuthTimeout bounds the TLS handshake plus SASL authentication: a
	// slow or silent client is cut off after it. Zero means 10 s.
	AuthTimeout time.Duration
	// MaxAuthBytes bounds a frame read before authentication completes
	// (sasl.server.max.receive.size); zero means 512 KiB.
	MaxAuthBytes int32
}

const (
	defaultAuthTimeout  = 10 * time.Second
	defaultMaxAuthBytes = 512 << 10
)

func (s Security) withDefaults() Security {
	if s.AuthTimeout <= 0 {
		s.AuthTimeout = defaultAuthTimeout
	}
	if s.MaxAuthBytes <= 0 {
		s.MaxAuthBytes = defaultMaxAuthBytes
	}
	return s
}

// Session is one connection's security state. The server creates it; the
// Handler reads it and, for the SASL APIs, changes it. Handle runs one
// request at a time per connection, so the Handler needs no lock: only
// Authenticated is read from other goroutines.
type Session struct {
	// Listener is the listener's name.
	Listener string
	// Principal is who the connection acts for ("User:alice"); Anonymous
	// until authenticated.
	Principal string
	// SASL is set on SASL listeners.
	SASL bool
	// TLS is the connection's TLS state, nil on plaintext listeners.
	TLS *tls.ConnectionState

	// Mechanism is the SASL mechanism SaslHandshake chose ("" before it).
	Mechanism string
	// Exchange is the Handler's SASL exchange in progress, if any.
	Exchange any
	// RawTokens is set by the Handler after SaslHandshake v0: until
	// authentication ends, each frame is a bare SASL token, handed to the
	// Handler as a SaslAuthenticate v0 request; its response's bytes are
	// written back as a bare size-prefixed token, and an error closes the
	// connection.
	RawTokens bool
	// Expires, when not zero, is when the authentication expires
	// (connections.max.reauth.ms, KIP-368): from then on the connection
	// is closed on any request but SaslHandshake and SaslAuthenticate.
	Expires time.Time

	// Peer is set by the Handler to name who is at the other end when
	// that matters after the connection ends (a broker heartbeating on
	// the controller listener); Config.OnClose receives it.
	Peer any

	authenticated atomic.Bool
}

// Authenticated reports whether the connection may make requests beyond
// the SASL ones. Connections of non-SASL listeners are authenticated from
// the start.
func (s *Session) Authenticated() bool { return s.authenticated.Load() }

// SetAuthenticated records a successful (re-)authentication as principal,
// valid until expires (zero: forever), and ends a raw-token exchange.
func (s *Session) SetAuthenticated(principal string, expires time.Time) {
	s.Principal, s.Expires, s.RawTokens, s.Exchange = principal, expires, false, nil
	s.authenticated.Store(true)
}

// allowedBeforeAuth reports whether key may be served before SASL
// authentication: ApiVersions, SaslHandshake, SaslAuthenticate.
func allowedBeforeAuth(key int16) bool {
	return key == apiVersionsKey || key == saslHandshakeKey || key == saslAuthenticateKey
}

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)
