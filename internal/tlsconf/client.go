package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Client builds the config of an outgoing connection (inter-broker
// connections, the CLI) to serverName, the host being dialled (a
// "host:port" is cut to the host). It reads, in Java's or librdkafka's
// names:
//
//   - the trust store: ssl.truststore.location or ssl.truststore.certificates
//     (Java), ssl.ca.location or ssl.ca.pem (librdkafka); none configured
//     means the system roots;
//   - an optional client certificate for mTLS: ssl.keystore.location, or
//     ssl.keystore.certificate.chain with ssl.keystore.key (Java);
//     ssl.certificate.location with ssl.key.location, or ssl.certificate.pem
//     with ssl.key.pem (librdkafka);
//   - ssl.endpoint.identification.algorithm: "https" verifies the server's
//     host name; "" verifies the chain only. Props cannot tell unset from
//     empty, so a caller wanting Kafka's default must pass "https" itself;
//   - enable.ssl.certificate.verification (librdkafka): "false" turns off
//     all verification of the server, and is the only thing that does;
//   - ssl.enabled.protocols and ssl.cipher.suites as Server does.
//
// Files are read once per call: build a config per connection to pick up
// rotated files.
func Client(p Props, serverName string) (*tls.Config, error) {
	cfg, err := baseConfig(p)
	if err != nil {
		return nil, err
	}
	if cfg.RootCAs, err = clientRoots(p); err != nil {
		return nil, err
	}
	cert, err := clientCertificate(p)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	cfg.ServerName = hostOnly(serverName)
	return cfg, setVerification(cfg, p)
}

// clientRoots loads the one configured trust store; nil means the system's.
func clientRoots(p Props) (*x509.CertPool, error) {
	if err := checkPEMType(p, "ssl.truststore.type"); err != nil {
		return nil, err
	}
	name, v, err := oneOf(p, "ssl.truststore.location", "ssl.truststore.certificates", "ssl.ca.location", "ssl.ca.pem")
	if err != nil || name == "" {
		return nil, err
	}
	m := material{inline: v, what: name}
	if strings.HasSuffix(name, ".location") {
		m = material{paths: []string{v}, what: name}
	}
	return load(m, parsePool)
}

// clientCertificate loads the optional client certificate and key.
func clientCertificate(p Props) (*tls.Certificate, error) {
	m, ok, err := keyStore(p)
	if err != nil {
		return nil, err
	}
	rd, rdOK, err := librdkafkaKeys(p)
	switch {
	case err != nil:
		return nil, err
	case ok && rdOK:
		return nil, errors.New("tlsconf: both Java (ssl.keystore.*) and librdkafka (ssl.certificate.*, ssl.key.*) client certificates are set")
	case rdOK:
		m, ok = rd, true
	}
	if !ok {
		return nil, nil
	}
	return load(m, parseKeyPair)
}

// librdkafkaKeys reads ssl.certificate.location with ssl.key.location,
// or ssl.certificate.pem with ssl.key.pem.
func librdkafkaKeys(p Props) (material, bool, error) {
	certName, cert, err := oneOf(p, "ssl.certificate.location", "ssl.certificate.pem")
	if err != nil {
		return material{}, false, err
	}
	keyName, key, err := oneOf(p, "ssl.key.location", "ssl.key.pem")
	switch {
	case err != nil:
		return material{}, false, err
	case certName == "" && keyName == "":
		return material{}, false, nil
	case certName == "" || keyName == "":
		return material{}, false, errors.New("tlsconf: a client certificate needs both ssl.certificate.* and ssl.key.*")
	}
	what := certName + "/" + keyName
	if strings.HasSuffix(certName, ".location") && strings.HasSuffix(keyName, ".location") {
		if cert == key { // one file holding the chain and the key
			return material{paths: []string{cert}, what: what}, true, nil
		}
		return material{paths: []string{cert, key}, what: what}, true, nil
	}
	if strings.HasSuffix(certName, ".pem") && strings.HasSuffix(keyName, ".pem") {
		return material{inline: cert + "\n" + key, what: what}, true, nil
	}
	return material{}, false, fmt.Errorf("tlsconf: %s: use two files or two inline PEM values", what)
}

// setVerification applies the server verification policy.
func setVerification(cfg *tls.Config, p Props) error {
	switch v := strings.ToLower(p.get("enable.ssl.certificate.verification")); v {
	case "false":
		cfg.InsecureSkipVerify = true
		return nil
	case "", "true":
	default:
		return fmt.Errorf("tlsconf: enable.ssl.certificate.verification=%q: want true or false", v)
	}
	switch v := p.get("ssl.endpoint.identification.algorithm"); strings.ToLower(v) {
	case "https":
		return nil // Go verifies the chain and ServerName
	case "":
		// Go's check covers chain and name together: skip it and check
		// the chain alone, on every handshake including resumed ones.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = verifyChain(cfg.RootCAs)
		return nil
	default:
		return fmt.Errorf("tlsconf: ssl.endpoint.identification.algorithm=%q: want https or empty", v)
	}
}

// verifyChain checks the server's chain against roots (nil: the system
// roots) without looking at its host name.
func verifyChain(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tlsconf: the server sent no certificate")
		}
		opts := x509.VerifyOptions{
			Roots:         roots,
			Intermediates: x509.NewCertPool(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
}

// hostOnly drops a port from "host:port".
func hostOnly(s string) string {
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}
