package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The fake SASL mechanism of saslHandler ("PLAIN"): a token is one of
// these, anything else fails the exchange.
const (
	saslGood    = "\x00u\x00p" // completes the exchange as User:u
	saslStep    = "step"       // answered with a challenge; the exchange goes on
	saslExpired = "\x00u\x00x" // completes it, already expired (KIP-368)
	saslMaxAuth = 1 << 16      // the listener's MaxAuthBytes
)

// saslHandler implements the SASL APIs minimally, as internal/handlers
// does (handshake state, bare tokens after v0, errors closing the
// connection), and fails the test when the server hands it anything it
// must not: a request other than ApiVersions and the SASL APIs before
// authentication or after it expired, or a pre-authentication token
// larger than MaxAuthBytes.
type saslHandler struct {
	t      *testing.T
	served atomic.Int32 // requests other than ApiVersions and the SASL APIs
}

func (h *saslHandler) Supported(key, version int16) bool {
	req := kmsg.RequestForKey(key)
	return req != nil && version >= 0 && version <= req.MaxVersion()
}

func (h *saslHandler) Handle(_ context.Context, req *Request) Reply {
	sess := req.Session
	switch r := req.Body.(type) {
	case *kmsg.ApiVersionsRequest:
		return Reply{Response: defaultResponse(req)}
	case *kmsg.SASLHandshakeRequest:
		return h.handshake(sess, r)
	case *kmsg.SASLAuthenticateRequest:
		return h.authenticate(sess, r)
	}
	switch {
	case !sess.Authenticated():
		h.t.Errorf("api key %d served before authentication", req.Body.Key())
	case sess.Principal != "User:u":
		h.t.Errorf("api key %d served as %q", req.Body.Key(), sess.Principal)
	case !sess.Expires.IsZero() && time.Now().After(sess.Expires):
		h.t.Errorf("api key %d served after the authentication expired", req.Body.Key())
	case sess.RawTokens:
		h.t.Errorf("api key %d served in a bare-token exchange", req.Body.Key())
	}
	h.served.Add(1)
	return Reply{Response: defaultResponse(req)}
}

func (h *saslHandler) handshake(sess *Session, r *kmsg.SASLHandshakeRequest) Reply {
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.Version, resp.SupportedMechanisms = r.Version, []string{"PLAIN"}
	switch {
	case sess.Exchange != nil || (sess.Authenticated() && r.Version == 0):
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return Reply{Response: resp, Close: true}
	case r.Mechanism != "PLAIN":
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return Reply{Response: resp, Close: true}
	}
	sess.Mechanism, sess.Exchange, sess.RawTokens = r.Mechanism, new(int), r.Version == 0
	return Reply{Response: resp}
}

func (h *saslHandler) authenticate(sess *Session, r *kmsg.SASLAuthenticateRequest) Reply {
	if !sess.Authenticated() && len(r.SASLAuthBytes) > saslMaxAuth {
		h.t.Errorf("a %d-byte token read before authentication (limit %d)", len(r.SASLAuthBytes), saslMaxAuth)
	}
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.Version = r.Version
	steps, ok := sess.Exchange.(*int)
	if !ok {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return Reply{Response: resp, Close: true}
	}
	switch string(r.SASLAuthBytes) {
	case saslStep:
		*steps++
		resp.SASLAuthBytes = []byte("challenge")
	case saslGood:
		sess.SetAuthenticated("User:u", time.Time{})
	case saslExpired:
		sess.SetAuthenticated("User:u", time.Unix(1, 0))
		resp.SessionLifetimeMillis = 1
	default:
		sess.Exchange = nil
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		return Reply{Response: resp, Close: true}
	}
	return Reply{Response: resp}
}

// Requests of the SASL sequences.

func handshakeReq(version int16, mechanism string) *kmsg.SASLHandshakeRequest {
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = version, mechanism
	return req
}

func authenticateReq(version int16, token string) *kmsg.SASLAuthenticateRequest {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = version, []byte(token)
	return req
}

// saslStream encodes a client's byte stream: kmsg requests (numbered from
// 1), bare tokens ([]byte, size-prefixed) and raw bytes (string).
func saslStream(items ...any) []byte {
	var b []byte
	corr := int32(0)
	for _, it := range items {
		switch it := it.(type) {
		case kmsg.Request:
			corr++
			b = appendRequest(b, it, corr)
		case []byte:
			b = binary.BigEndian.AppendUint32(b, uint32(len(it)))
			b = append(b, it...)
		case string:
			b = append(b, it...)
		}
	}
	return b
}

// saslSeeds are valid and invalid SASL conversations.
func saslSeeds() map[string][]byte {
	md := metadataRequest(9, "t")
	big := authenticateReq(2, string(make([]byte, saslMaxAuth))) // frame over the limit
	return map[string][]byte{
		"v1 login":            saslStream(handshakeReq(1, "PLAIN"), authenticateReq(2, saslGood), md, md),
		"ApiVersions first":   saslStream(kmsg.NewPtrApiVersionsRequest(), handshakeReq(1, "PLAIN"), authenticateReq(1, saslGood), md),
		"two steps":           saslStream(handshakeReq(1, "PLAIN"), authenticateReq(0, saslStep), authenticateReq(0, saslGood), md),
		"bare tokens":         saslStream(handshakeReq(0, "PLAIN"), []byte(saslGood), md),
		"bare two steps":      saslStream(handshakeReq(0, "PLAIN"), []byte(saslStep), []byte(saslGood), md),
		"bare bad token":      saslStream(handshakeReq(0, "PLAIN"), []byte("bad"), md),
		"bare empty token":    saslStream(handshakeReq(0, "PLAIN"), []byte{}, md),
		"bare oversize":       saslStream(handshakeReq(0, "PLAIN"), make([]byte, saslMaxAuth+1), md),
		"before auth":         saslStream(md),
		"after handshake":     saslStream(handshakeReq(1, "PLAIN"), md),
		"mid exchange":        saslStream(handshakeReq(1, "PLAIN"), authenticateReq(1, saslStep), md),
		"expired":             saslStream(handshakeReq(1, "PLAIN"), authenticateReq(1, saslExpired), md),
		"reauth":              saslStream(handshakeReq(1, "PLAIN"), authenticateReq(1, saslGood), md, handshakeReq(1, "PLAIN"), authenticateReq(1, saslGood), md),
		"reauth after expiry": saslStream(handshakeReq(1, "PLAIN"), authenticateReq(1, saslExpired), handshakeReq(1, "PLAIN"), authenticateReq(1, saslGood), md),
		"v0 reauth":           saslStream(handshakeReq(1, "PLAIN"), authenticateReq(1, saslGood), handshakeReq(0, "PLAIN"), []byte(saslGood), md),
		"unknown mechanism":   saslStream(handshakeReq(1, "GSSAPI"), authenticateReq(1, saslGood), md),
		"no handshake":        saslStream(authenticateReq(2, saslGood), md),
		"two handshakes":      saslStream(handshakeReq(1, "PLAIN"), handshakeReq(1, "PLAIN"), authenticateReq(1, saslGood), md),
		"oversize frame":      saslStream(handshakeReq(1, "PLAIN"), big, md),
		"oversize claim":      saslStream(string(binary.BigEndian.AppendUint32(nil, saslMaxAuth+1)), md),
		"negative claim":      saslStream("\xff\xff\xff\xff", md),
		"ApiVersions v99":     saslStream(string(rawFrame(18, 99, 1, []byte{0})), handshakeReq(1, "PLAIN"), authenticateReq(1, saslGood), md),
	}
}

// runSASLConn serves input on a SASL connection with handler h until the
// input ends or the connection closes, failing the test if that takes
// more than 10 s.
func runSASLConn(t *testing.T, h Handler, input []byte) {
	s := New(Config{MaxRequestBytes: 1 << 20, MaxInFlight: 4, IdleTimeout: -1}, h)
	defer s.Close()
	c := newConn(s, &fuzzConn{r: bytes.NewReader(input)}, "FUZZ", Security{SASL: true, MaxAuthBytes: saslMaxAuth}.withDefaults())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.serve()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection did not finish")
	}
}

// FuzzServeSASL runs a SASL listener's connection over arbitrary input:
// no panic, no hang, and nothing but ApiVersions and the SASL APIs served
// before authentication (saslHandler checks).
func FuzzServeSASL(f *testing.F) {
	for _, seed := range saslSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		runSASLConn(t, &saslHandler{t: t}, input)
	})
}

// The seed conversations over the fuzz harness, with how many non-SASL
// requests each must get served: the harness must let good logins through
// for the fuzzer's "never before authentication" to mean anything.
func TestServeSASLSeeds(t *testing.T) {
	want := map[string]int32{
		"v1 login": 2, "ApiVersions first": 1, "two steps": 1, "bare tokens": 1, "bare two steps": 1,
		"reauth": 2, "reauth after expiry": 1, "ApiVersions v99": 1,
	}
	for name, input := range saslSeeds() {
		h := &saslHandler{t: t}
		runSASLConn(t, h, input)
		if got := h.served.Load(); got != want[name] {
			t.Errorf("%s: %d requests served, want %d", name, got, want[name])
		}
	}
}

// startSASLServer serves h on a loopback SASL listener with sec.
func startSASLServer(t *testing.T, h Handler, sec Security) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{}, h)
	done := make(chan error, 1)
	go func() { done <- s.ServeSecure(ln, "SASL", sec) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeSecure returned %v", err)
		}
	})
	return ln.Addr().String()
}

// Over TCP: responses as Kafka frames them, bare tokens answered bare, and
// the connection closed where it must be.
func TestServeSASLConversations(t *testing.T) {
	h := &saslHandler{t: t}
	addr := startSASLServer(t, h, Security{SASL: true, MaxAuthBytes: saslMaxAuth})
	md := metadataRequest(9, "t")

	c := dial(t, addr)
	c.send(1, handshakeReq(1, "PLAIN"))
	c.recv(handshakeReq(1, ""), 1)
	c.send(2, authenticateReq(2, saslGood))
	if _, resp := c.recv(authenticateReq(2, ""), 2); resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != 0 {
		t.Fatal("login failed")
	}
	c.send(3, md)
	c.recv(md, 9)

	// Bare tokens: the reply is a size-prefixed token without a header.
	c = dial(t, addr)
	c.send(1, handshakeReq(0, "PLAIN"))
	c.recv(handshakeReq(0, ""), 0)
	c.write(saslStream([]byte(saslStep)))
	if b, err := c.readFrame(); err != nil || string(b) != "challenge" {
		t.Fatalf("bare challenge %q, %v", b, err)
	}
	c.write(saslStream([]byte(saslGood)))
	if b, err := c.readFrame(); err != nil || len(b) != 0 {
		t.Fatalf("bare final token %q, %v", b, err)
	}
	c.send(2, md)
	c.recv(md, 9)

	for name, input := range map[string][]byte{
		"bad bare token":        saslStream(handshakeReq(0, "PLAIN"), []byte("bad")),
		"metadata before login": saslStream(md),
		"expired":               saslStream(handshakeReq(1, "PLAIN"), authenticateReq(1, saslExpired), md),
		"oversize frame":        saslStream(handshakeReq(1, "PLAIN"), authenticateReq(2, string(make([]byte, saslMaxAuth)))),
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			c.write(input)
			for {
				if _, err := c.readFrame(); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("connection still open")
					}
					break
				}
			}
		})
	}
	if got := h.served.Load(); got != 2 {
		t.Errorf("%d requests served, want 2", got)
	}
}

// AuthTimeout bounds the TLS handshake and the SASL authentication
// together: a client slow to start TLS and then silent is cut off
// AuthTimeout after it connected, not later.
func TestAuthTimeoutCoversTLSAndSASL(t *testing.T) {
	cert := testServerCert(t)
	const timeout = time.Second
	addr := startSASLServer(t, &saslHandler{t: t}, Security{
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, SASL: true, AuthTimeout: timeout,
	})
	for _, delay := range []time.Duration{0, timeout * 6 / 10} {
		start := time.Now()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		time.Sleep(delay) // a slow client
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		tc.SetDeadline(start.Add(5 * timeout))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		_, err = tc.Read(make([]byte, 1))
		took := time.Since(start)
		if errors.Is(err, os.ErrDeadlineExceeded) || took < timeout-50*time.Millisecond || took > timeout+timeout*3/10 {
			t.Errorf("TLS after %v, then silent: closed after %v (%v), want about %v", delay, took, err, timeout)
		}
	}
}
