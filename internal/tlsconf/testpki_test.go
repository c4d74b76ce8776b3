package tlsconf

import (
	"crypto/ecdsa"
	"crypto/x509"
	"os"
	"testing"
	"time"
)

func TestGeneratePKI(t *testing.T) {
	dir := t.TempDir()
	pki, err := GeneratePKI(dir, nil, []string{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := parsePool(mustRead(t, pki.CA))
	if err != nil {
		t.Fatal(err)
	}
	server := leafOf(t, mustRead(t, pki.Server))
	if err := server.VerifyHostname("::1"); err != nil {
		t.Error(err)
	}
	alice := leafOf(t, mustRead(t, pki.Clients["alice"]))
	for _, c := range []*x509.Certificate{server, alice} {
		opts := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := c.Verify(opts); err != nil {
			t.Errorf("%s: %v", c.Subject, err)
		}
		if _, ok := c.PublicKey.(*ecdsa.PublicKey); !ok {
			t.Errorf("%s: key %T", c.Subject, c.PublicKey)
		}
		if years := time.Until(c.NotAfter).Hours() / 24 / 365; years < 1.9 || years > 2.1 {
			t.Errorf("%s: valid for %.1f years", c.Subject, years)
		}
	}
	fi, err := os.Stat(pki.Clients["alice"])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", fi.Mode(), err)
	}
	for _, bad := range []string{"", "ca", "server", "../x"} {
		if _, err := GeneratePKI(dir, nil, []string{bad}); err == nil {
			t.Errorf("client name %q accepted", bad)
		}
	}
}
