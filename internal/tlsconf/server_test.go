package tlsconf

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/fakeclock"
)

func TestServerVerifiedByClient(t *testing.T) {
	pki, _ := testPKI(t)
	srv := mustServer(t, serverProps(pki, ""))
	for _, host := range []string{"127.0.0.1", "localhost", "localhost:9093"} {
		cli := mustClient(t, map[string]string{"ssl.truststore.location": pki.CA, "ssl.endpoint.identification.algorithm": "https"}, host)
		o := handshake(t, srv, cli)
		expectOK(t, o)
		if o.cli.state.Version != tls.VersionTLS13 {
			t.Errorf("%s: version %x, want TLS 1.3", host, o.cli.state.Version)
		}
	}
}

func TestServerWrongCAFails(t *testing.T) {
	pki, _ := testPKI(t)
	other, _ := testPKI(t)
	srv := mustServer(t, serverProps(pki, ""))
	for _, alg := range []string{"https", ""} {
		cli := mustClient(t, map[string]string{"ssl.truststore.location": other.CA, "ssl.endpoint.identification.algorithm": alg}, "127.0.0.1")
		o := handshake(t, srv, cli)
		expectFail(t, o)
	}
	// Only librdkafka's switch turns verification off.
	cli := mustClient(t, map[string]string{"ssl.ca.location": other.CA, "enable.ssl.certificate.verification": "false"}, "127.0.0.1")
	expectOK(t, handshake(t, srv, cli))
}

func TestHostNameVerification(t *testing.T) {
	pki, _ := testPKI(t)
	srv := mustServer(t, serverProps(pki, ""))
	m := map[string]string{"ssl.truststore.location": pki.CA, "ssl.endpoint.identification.algorithm": "https"}
	o := handshake(t, srv, mustClient(t, m, "kafka.example.com"))
	expectFail(t, o)
	if !strings.Contains(o.cli.err.Error(), "kafka.example.com") {
		t.Errorf("client error %v does not name the host", o.cli.err)
	}
	m["ssl.endpoint.identification.algorithm"] = ""
	expectOK(t, handshake(t, srv, mustClient(t, m, "kafka.example.com")))
}

func TestClientAuth(t *testing.T) {
	pki, _ := testPKI(t)
	cases := []struct {
		auth     string
		withCert bool
		ok       bool
	}{
		{"none", false, true},
		{"none", true, true},
		{"requested", false, true},
		{"requested", true, true},
		{"required", false, false},
		{"required", true, true},
	}
	for _, tc := range cases {
		srv := mustServer(t, serverProps(pki, tc.auth))
		m := map[string]string{"ssl.truststore.location": pki.CA, "ssl.endpoint.identification.algorithm": "https"}
		if tc.withCert {
			m["ssl.keystore.location"] = pki.Clients["alice"]
		}
		o := handshake(t, srv, mustClient(t, m, "localhost"))
		if !tc.ok {
			expectFail(t, o)
			continue
		}
		expectOK(t, o)
		verified := len(o.srv.state.VerifiedChains) > 0
		if want := tc.withCert && tc.auth != "none"; verified != want {
			t.Errorf("%s with cert %v: verified chains %v, want %v", tc.auth, tc.withCert, verified, want)
		}
	}
}

func TestClientAuthUntrustedCertFails(t *testing.T) {
	pki, _ := testPKI(t)
	other, _ := testPKI(t)
	for _, auth := range []string{"requested", "required"} {
		srv := mustServer(t, serverProps(pki, auth))
		m := map[string]string{"ssl.truststore.location": pki.CA, "ssl.keystore.location": other.Clients["alice"]}
		// Go's client sends no certificate the server's CAs did not
		// issue, so pass it through GetClientCertificate.
		cli := mustClient(t, m, "localhost")
		cert := cli.Certificates[0]
		cli.Certificates = nil
		cli.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		o := handshake(t, srv, cli)
		expectFail(t, o)
	}
}

func TestOldProtocolsRefused(t *testing.T) {
	pki, _ := testPKI(t)
	for _, list := range []string{"TLSv1.1,TLSv1.2", "TLSv1", "SSLv3", "TLSv1.4", " , "} {
		m := serverProps(pki, "")
		m["ssl.enabled.protocols"] = list
		if _, err := Server(props(m), nil); err == nil {
			t.Errorf("ssl.enabled.protocols=%q accepted", list)
		}
	}
	srv := mustServer(t, serverProps(pki, ""))
	if srv.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", srv.MinVersion)
	}
	cli := mustClient(t, map[string]string{"ssl.truststore.location": pki.CA}, "localhost")
	cli.MinVersion, cli.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	expectFail(t, handshake(t, srv, cli))
}

func TestProtocolsAndCiphers(t *testing.T) {
	pki, _ := testPKI(t)
	m := serverProps(pki, "")
	m["ssl.enabled.protocols"] = "TLSv1.2"
	m["ssl.cipher.suites"] = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256"
	srv := mustServer(t, m)
	o := handshake(t, srv, mustClient(t, map[string]string{"ssl.truststore.location": pki.CA}, "localhost"))
	if o.cli.err != nil || o.cli.state.Version != tls.VersionTLS12 || o.cli.state.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("got %v, version %x, suite %s", o.cli.err, o.cli.state.Version, tls.CipherSuiteName(o.cli.state.CipherSuite))
	}
	for _, bad := range []string{"TLS_RSA_WITH_RC4_128_SHA", "NO_SUCH_SUITE"} {
		m["ssl.cipher.suites"] = bad
		if _, err := Server(props(m), nil); err == nil {
			t.Errorf("ssl.cipher.suites=%s accepted", bad)
		}
	}
}

func TestServerConfigErrors(t *testing.T) {
	pki, _ := testPKI(t)
	cases := []map[string]string{
		{},
		{"ssl.keystore.location": pki.Server, "ssl.keystore.type": "JKS"},
		{"ssl.keystore.location": pki.Server, "ssl.keystore.key": "x"},
		{"ssl.keystore.certificate.chain": "x"},
		{"ssl.keystore.location": pki.CA},
		{"ssl.keystore.location": filepath.Join(t.TempDir(), "missing.pem")},
		{"ssl.keystore.location": pki.Server, "ssl.client.auth": "required"},
		{"ssl.keystore.location": pki.Server, "ssl.client.auth": "maybe", "ssl.truststore.location": pki.CA},
		{"ssl.keystore.location": pki.Server, "ssl.client.auth": "required", "ssl.truststore.location": pki.CA, "ssl.truststore.type": "PKCS12"},
	}
	for _, m := range cases {
		if _, err := Server(props(m), nil); err == nil {
			t.Errorf("%v accepted", m)
		}
	}
}

func TestInlineStores(t *testing.T) {
	pki, _ := testPKI(t)
	data, err := os.ReadFile(pki.Server)
	if err != nil {
		t.Fatal(err)
	}
	chain, key := splitPEM(t, data)
	ca, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{
		"ssl.keystore.certificate.chain": chain,
		"ssl.keystore.key":               strings.ReplaceAll(key, "\n", ""), // line breaks lost
		"ssl.truststore.certificates":    string(ca),
		"ssl.client.auth":                "required",
	}
	srv := mustServer(t, m)
	cli := mustClient(t, map[string]string{"ssl.truststore.certificates": string(ca), "ssl.keystore.location": pki.Clients["bob"]}, "localhost")
	expectOK(t, handshake(t, srv, cli))
}

func TestEncryptedKeyRefused(t *testing.T) {
	pki, _ := testPKI(t)
	data, err := os.ReadFile(pki.Server)
	if err != nil {
		t.Fatal(err)
	}
	chain, _ := splitPEM(t, data)
	encrypted := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"
	legacy := "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0011\n\nAAAA\n-----END EC PRIVATE KEY-----\n"
	for _, key := range []string{encrypted, legacy} {
		m := map[string]string{"ssl.keystore.certificate.chain": chain, "ssl.keystore.key": key, "ssl.key.password": "secret"}
		if _, err := Server(props(m), nil); !errors.Is(err, ErrEncryptedKey) {
			t.Errorf("got %v, want ErrEncryptedKey", err)
		}
	}
}

// splitPEM returns the CERTIFICATE blocks and the key block of a key store.
func splitPEM(t *testing.T, data []byte) (chain, key string) {
	t.Helper()
	i := strings.Index(string(data), "-----BEGIN PRIVATE KEY-----")
	if i < 0 {
		t.Fatal("no key in key store")
	}
	return string(data[:i]), string(data[i:])
}

func TestReloadKeyStore(t *testing.T) {
	pki, ca := testPKI(t)
	clock := fakeclock.New(time.Unix(1e9, 0))
	var errs errorLog
	srv, err := newServer(props(serverProps(pki, "")), errs.add, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	cli := mustClient(t, map[string]string{"ssl.truststore.location": pki.CA}, "localhost")
	o := handshake(t, srv, cli)
	first := peerSerial(t, o)

	next, err := ca.issue(serverTemplate([]string{"localhost"}))
	if err != nil {
		t.Fatal(err)
	}
	replace(t, pki.Server, next, time.Unix(2e9, 0))
	o = handshake(t, srv, cli)
	if got := peerSerial(t, o); got != first {
		t.Fatalf("reloaded within the stat interval")
	}
	clock.Advance(statInterval)
	o = handshake(t, srv, cli)
	want := leafOf(t, next).SerialNumber.String()
	if got := peerSerial(t, o); got != want || got == first {
		t.Fatalf("after reload the server presents %s, want %s (was %s)", got, want, first)
	}

	replace(t, pki.Server, []byte("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"), time.Unix(3e9, 0))
	clock.Advance(statInterval)
	o = handshake(t, srv, cli)
	if got := peerSerial(t, o); got != want {
		t.Fatalf("a corrupt file replaced the certificate: %s", got)
	}
	if errs.all() == nil {
		t.Fatal("the corrupt file was not reported")
	}
}

func TestReloadTrustStore(t *testing.T) {
	pki, _ := testPKI(t)
	other, _ := testPKI(t)
	clock := fakeclock.New(time.Unix(1e9, 0))
	var errs errorLog
	srv, err := newServer(props(serverProps(pki, "required")), errs.add, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	alice := mustClient(t, map[string]string{"ssl.truststore.location": pki.CA, "ssl.keystore.location": pki.Clients["alice"]}, "localhost")
	expectOK(t, handshake(t, srv, alice))

	otherCA, err := os.ReadFile(other.CA)
	if err != nil {
		t.Fatal(err)
	}
	replace(t, pki.CA, otherCA, time.Unix(2e9, 0))
	clock.Advance(statInterval)
	expectFail(t, handshake(t, srv, alice))
	// ca.pem now holds the other CA; server.pem still carries the
	// listener's own CA after its leaf, so it serves as this trust store.
	stranger := mustClient(t, map[string]string{"ssl.truststore.location": pki.Server, "ssl.keystore.location": other.Clients["bob"]}, "localhost")
	expectOK(t, handshake(t, srv, stranger))
	if err := errs.all(); err != nil {
		t.Fatal(err)
	}
}

// replace writes data to path and sets its modification time.
func replace(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
