package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PKI lists the files GeneratePKI wrote.
type PKI struct {
	CA      string            // ca.pem: the CA certificate, the trust store
	Server  string            // server.pem: the server's chain and key, the key store
	Clients map[string]string // client name -> <name>.pem, its chain and key
}

// GeneratePKI makes a certificate authority and certificates signed by it
// and writes them as PEM under dir: ca.pem, server.pem for hosts (IP
// addresses and DNS names; localhost, 127.0.0.1 and ::1 when empty) and
// <name>.pem for each client name, with subject CN=<name>. Keys are ECDSA
// P-256, unencrypted PKCS#8, written with mode 0600; the CA is valid for
// ten years, the others for two, and the CA's key is not kept. The server
// certificate is also good for client authentication, so a broker can
// present it on inter-broker connections. `fjord dev --secure` uses this
// for its data directory, and tests use it.
func GeneratePKI(dir string, hosts []string, clients []string) (PKI, error) {
	pki, _, err := generatePKI(dir, hosts, clients)
	return pki, err
}

// generatePKI is GeneratePKI that also returns the CA, for tests that
// issue more certificates.
func generatePKI(dir string, hosts, clients []string) (PKI, *authority, error) {
	ca, err := newAuthority("Fjord dev CA")
	if err != nil {
		return PKI{}, nil, err
	}
	pki := PKI{CA: filepath.Join(dir, "ca.pem"), Server: filepath.Join(dir, "server.pem"), Clients: map[string]string{}}
	if err := os.WriteFile(pki.CA, ca.certPEM, 0o644); err != nil {
		return PKI{}, nil, err
	}
	if err := ca.issueFile(pki.Server, serverTemplate(hosts)); err != nil {
		return PKI{}, nil, err
	}
	for _, name := range clients {
		if name == "" || name == "ca" || name == "server" || strings.ContainsAny(name, `/\`) {
			return PKI{}, nil, fmt.Errorf("tlsconf: client name %q cannot name a file", name)
		}
		pki.Clients[name] = filepath.Join(dir, name+".pem")
		if err := ca.issueFile(pki.Clients[name], clientTemplate(name)); err != nil {
			return PKI{}, nil, err
		}
	}
	return pki, ca, nil
}

// authority is a CA that can sign certificates.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

func newAuthority(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := template(pkix.Name{CommonName: name, Organization: []string{"Fjord"}}, 10)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, certPEM: pemCert(der), key: key}, nil
}

// issue signs a new key's certificate from tmpl and returns the PEM of
// the leaf, the CA certificate and the key.
func (a *authority) issue(tmpl *x509.Certificate) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := sign(tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := append(pemCert(der), a.certPEM...)
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...), nil
}

func (a *authority) issueFile(path string, tmpl *x509.Certificate) error {
	data, err := a.issue(tmpl)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func serverTemplate(hosts []string) *x509.Certificate {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	tmpl := template(pkix.Name{CommonName: hosts[0]}, 2)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return tmpl
}

func clientTemplate(name string) *x509.Certificate {
	tmpl := template(pkix.Name{CommonName: name}, 2)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return tmpl
}

// template starts a certificate valid from an hour ago (for clock skew)
// for years; the signer gives it a serial number.
func template(subject pkix.Name, years int) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		Subject:   subject,
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.AddDate(years, 0, 0),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
}

// sign creates the certificate tmpl for pub, signed by parent's key, with
// a random 128-bit serial number.
func sign(tmpl, parent *x509.Certificate, pub any, key crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
