package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// props serves a map as Props.
func props(m map[string]string) Props { return func(name string) string { return m[name] } }

// testPKI writes a CA, a server certificate for localhost and 127.0.0.1
// and client certificates for alice and bob into a temporary directory.
func testPKI(t *testing.T) (PKI, *authority) {
	t.Helper()
	pki, ca, err := generatePKI(t.TempDir(), []string{"localhost", "127.0.0.1"}, []string{"alice", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	return pki, ca
}

// serverProps configures a listener on pki's files.
func serverProps(pki PKI, clientAuth string) map[string]string {
	return map[string]string{
		"ssl.keystore.location":   pki.Server,
		"ssl.truststore.location": pki.CA,
		"ssl.client.auth":         clientAuth,
	}
}

// result is what one side of a handshake saw.
type result struct {
	err   error
	state tls.ConnectionState
}

// outcome is what both sides of a handshake saw.
type outcome struct{ srv, cli result }

// handshake runs a TLS handshake over loopback TCP. The server writes one
// byte after its handshake and the client reads it, so a failure the
// server finds after the client has finished (a client certificate it
// refuses under TLS 1.3) shows on both sides.
func handshake(t *testing.T, server, client *tls.Config) (o outcome) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		o.srv = serve(ln, server)
	}()
	o.cli = dial(ln.Addr().String(), client)
	ln.Close() // unblocks Accept if the dial failed
	wg.Wait()
	return o
}

func serve(ln net.Listener, cfg *tls.Config) result {
	c, err := ln.Accept()
	if err != nil {
		return result{err: err}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	conn := tls.Server(c, cfg)
	if err := conn.Handshake(); err != nil {
		return result{err: err}
	}
	_, err = conn.Write([]byte{1})
	return result{err: err, state: conn.ConnectionState()}
}

func dial(addr string, cfg *tls.Config) result {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return result{err: err}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	conn := tls.Client(c, cfg)
	if err := conn.Handshake(); err != nil {
		return result{err: err}
	}
	if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
		return result{err: err}
	}
	return result{state: conn.ConnectionState()}
}

// mustServer builds a server config or fails the test.
func mustServer(t *testing.T, m map[string]string) *tls.Config {
	t.Helper()
	cfg, err := Server(props(m), func(err error) { t.Errorf("onError: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// mustClient builds a client config for 127.0.0.1 or fails the test.
func mustClient(t *testing.T, m map[string]string, serverName string) *tls.Config {
	t.Helper()
	cfg, err := Client(props(m), serverName)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// expectOK fails unless both sides completed the handshake.
func expectOK(t *testing.T, o outcome) {
	t.Helper()
	if o.srv.err != nil || o.cli.err != nil {
		t.Fatalf("handshake failed: server %v, client %v", o.srv.err, o.cli.err)
	}
}

// expectFail fails unless both sides saw the handshake fail.
func expectFail(t *testing.T, o outcome) {
	t.Helper()
	if o.srv.err == nil || o.cli.err == nil {
		t.Fatalf("handshake succeeded: server err %v, client err %v", o.srv.err, o.cli.err)
	}
}

// peerSerial is the serial number of the certificate the server presented.
func peerSerial(t *testing.T, o outcome) string {
	t.Helper()
	if o.cli.err != nil || len(o.cli.state.PeerCertificates) == 0 {
		t.Fatalf("no server certificate: %v", o.cli.err)
	}
	return o.cli.state.PeerCertificates[0].SerialNumber.String()
}

// errorLog collects onError reports.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errorLog) all() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}

// leafOf parses the first certificate of a PEM file's data.
func leafOf(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	pair, err := parseKeyPair(data)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
