package tlsconf

import (
	"os"
	"path/filepath"
	"testing"
)

func TestClientLibrdkafkaNames(t *testing.T) {
	pki, _ := testPKI(t)
	data, err := os.ReadFile(pki.Clients["alice"])
	if err != nil {
		t.Fatal(err)
	}
	chain, key := splitPEM(t, data)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, text := range map[string]string{certFile: chain, keyFile: key} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv := mustServer(t, serverProps(pki, "required"))
	files := map[string]string{"ssl.ca.location": pki.CA, "ssl.certificate.location": certFile, "ssl.key.location": keyFile}
	o := handshake(t, srv, mustClient(t, files, "127.0.0.1"))
	expectOK(t, o)
	if cn := o.srv.state.PeerCertificates[0].Subject.CommonName; cn != "alice" {
		t.Errorf("server saw client %q", cn)
	}
	inline := map[string]string{"ssl.ca.location": pki.CA, "ssl.certificate.pem": chain, "ssl.key.pem": key}
	expectOK(t, handshake(t, srv, mustClient(t, inline, "127.0.0.1")))
}

func TestClientDefaultsToSystemRoots(t *testing.T) {
	pki, _ := testPKI(t)
	srv := mustServer(t, serverProps(pki, ""))
	cli := mustClient(t, map[string]string{"ssl.endpoint.identification.algorithm": "https"}, "localhost:9092")
	if cli.RootCAs != nil || cli.ServerName != "localhost" || cli.InsecureSkipVerify {
		t.Fatalf("RootCAs %v, ServerName %q, InsecureSkipVerify %v", cli.RootCAs, cli.ServerName, cli.InsecureSkipVerify)
	}
	expectFail(t, handshake(t, srv, cli))
	// Without host name verification the chain is still checked.
	cli = mustClient(t, map[string]string{}, "localhost")
	if cli.VerifyConnection == nil {
		t.Fatal("no chain verification")
	}
	expectFail(t, handshake(t, srv, cli))
}

func TestClientConfigErrors(t *testing.T) {
	pki, _ := testPKI(t)
	cases := []map[string]string{
		{"ssl.truststore.location": pki.CA, "ssl.ca.location": pki.CA},
		{"ssl.truststore.location": filepath.Join(t.TempDir(), "missing.pem")},
		{"ssl.truststore.location": pki.CA, "ssl.truststore.type": "JKS"},
		{"ssl.keystore.location": pki.Clients["alice"], "ssl.certificate.location": pki.Clients["alice"], "ssl.key.location": pki.Clients["alice"]},
		{"ssl.certificate.location": pki.Clients["alice"]},
		{"ssl.certificate.location": pki.Clients["alice"], "ssl.key.pem": "x"},
		{"ssl.endpoint.identification.algorithm": "ldaps"},
		{"enable.ssl.certificate.verification": "maybe"},
		{"ssl.enabled.protocols": "TLSv1.1"},
		{"ssl.protocol": "TLSv1.1"},
	}
	for _, m := range cases {
		if _, err := Client(props(m), "localhost"); err == nil {
			t.Errorf("%v accepted", m)
		}
	}
}
