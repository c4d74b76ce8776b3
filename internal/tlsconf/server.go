package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Server builds a listener's TLS config from Kafka's ssl.* properties:
//
//   - ssl.keystore.type: PEM (the default here; JKS and PKCS12 are refused).
//   - ssl.keystore.location: a PEM file with the certificate chain, leaf
//     first, and an unencrypted private key (PKCS#8, PKCS#1 or EC); or the
//     inline PEM text of ssl.keystore.certificate.chain and ssl.keystore.key.
//     An encrypted key fails with ErrEncryptedKey.
//   - ssl.truststore.type: PEM; ssl.truststore.location (a PEM file of CA
//     certificates) or the inline ssl.truststore.certificates. Needed when
//     client certificates are asked for.
//   - ssl.client.auth: none (default), requested (verify a certificate if
//     the client sends one) or required.
//   - ssl.enabled.protocols: default "TLSv1.2,TLSv1.3"; older versions are
//     refused with an error.
//   - ssl.cipher.suites: IANA names; empty keeps Go's defaults.
//
// The key store is served through GetCertificate and the trust store
// through GetConfigForClient. Both files are looked at (at most once a
// second) on new handshakes and re-read when they change, so replacing
// them on disk takes effect for new connections without a restart. A
// reload that fails keeps the previous material and is reported to
// onError (which may be nil); it is called on handshake goroutines.
func Server(p Props, onError func(error)) (*tls.Config, error) {
	return newServer(p, onError, time.Now)
}

// newServer is Server with the clock that paces the reloads.
func newServer(p Props, onError func(error), now func() time.Time) (*tls.Config, error) {
	cfg, err := baseConfig(p)
	if err != nil {
		return nil, err
	}
	m, ok, err := keyStore(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("tlsconf: a listener needs ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key")
	}
	keys, err := newReloader(m, parseKeyPair, now, onError)
	if err != nil {
		return nil, err
	}
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return keys.get(), nil }
	if cfg.ClientAuth, err = clientAuth(p.get("ssl.client.auth")); err != nil {
		return nil, err
	}
	if cfg.ClientAuth == tls.NoClientCert {
		return cfg, nil
	}
	return withClientCAs(cfg, p, now, onError)
}

// clientAuth maps ssl.client.auth to Go's policy; both requested and
// required verify a presented certificate against the trust store.
func clientAuth(v string) (tls.ClientAuthType, error) {
	switch strings.ToLower(v) {
	case "", "none":
		return tls.NoClientCert, nil
	case "requested":
		return tls.VerifyClientCertIfGiven, nil
	case "required":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("tlsconf: ssl.client.auth=%q: want none, requested or required", v)
}

// withClientCAs loads the trust store and serves its current pool.
func withClientCAs(cfg *tls.Config, p Props, now func() time.Time, onError func(error)) (*tls.Config, error) {
	m, ok, err := trustStore(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("tlsconf: ssl.client.auth needs a trust store: ssl.truststore.location or ssl.truststore.certificates")
	}
	trust, err := newReloader(m, parsePool, now, onError)
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs = trust.get()
	cas := &clientCAs{base: cfg.Clone(), trust: trust}
	cfg.GetConfigForClient = cas.forClient
	return cfg, nil
}

// clientCAs hands each handshake a config with the current trust store,
// cloning the base config only when the pool has changed.
type clientCAs struct {
	base  *tls.Config // holds the pool loaded at start; never modified
	trust *reloader[*x509.CertPool]

	mu   sync.Mutex
	pool *x509.CertPool
	cfg  *tls.Config
}

func (c *clientCAs) forClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	pool := c.trust.get()
	if pool == c.base.ClientCAs {
		return nil, nil // the listener's own config is current
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pool != c.pool {
		cfg := c.base.Clone()
		cfg.ClientCAs = pool
		c.pool, c.cfg = pool, cfg
	}
	return c.cfg, nil
}
