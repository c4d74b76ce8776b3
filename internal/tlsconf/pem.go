package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// material says where a store's PEM text comes from: files (read in
// order and concatenated) or the inline text of a property value.
type material struct {
	paths  []string
	inline string
	what   string // the property names, for error messages
}

func (m material) read() ([]byte, error) {
	if len(m.paths) == 0 {
		return []byte(m.inline), nil
	}
	var all []byte
	for _, path := range m.paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %s: %w", m.what, err)
		}
		all = append(append(all, b...), '\n')
	}
	return all, nil
}

// pemBlock matches one PEM block. White space inside the base64 body is
// optional, so inline property values whose line breaks were lost (a
// properties file's line continuations join lines) still parse.
var pemBlock = regexp.MustCompile(`(?s)-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----`)

// decodePEM returns the PEM blocks in data; text between blocks (such as
// openssl's "Bag Attributes") is ignored.
func decodePEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	for _, m := range pemBlock.FindAllSubmatch(data, -1) {
		typ := string(m[1])
		if typ != string(m[3]) {
			return nil, fmt.Errorf("PEM block BEGIN %s ends with END %s", typ, m[3])
		}
		body := bytes.Join(bytes.Fields(m[2]), nil)
		if bytes.Contains(body, []byte("Proc-Type:")) {
			return nil, ErrEncryptedKey // legacy OpenSSL encryption headers
		}
		der, err := base64.StdEncoding.DecodeString(string(body))
		if err != nil {
			return nil, fmt.Errorf("PEM block %s: %w", typ, err)
		}
		blocks = append(blocks, &pem.Block{Type: typ, Bytes: der})
	}
	if len(blocks) == 0 {
		return nil, errors.New("no PEM blocks found (JKS and PKCS#12 stores are not supported)")
	}
	return blocks, nil
}

// parseKeyPair reads a key store: the certificate chain, leaf first, and
// one unencrypted private key.
func parseKeyPair(data []byte) (*tls.Certificate, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	var certs, keys []byte
	for _, b := range blocks {
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, pem.EncodeToMemory(b)...)
		case b.Type == "ENCRYPTED PRIVATE KEY":
			return nil, ErrEncryptedKey
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			if keys != nil {
				return nil, errors.New("more than one private key")
			}
			keys = pem.EncodeToMemory(b)
		}
	}
	if certs == nil || keys == nil {
		return nil, errors.New("a key store needs a CERTIFICATE chain and a PRIVATE KEY")
	}
	pair, err := tls.X509KeyPair(certs, keys)
	if err != nil {
		return nil, err
	}
	return &pair, nil
}

// parsePool reads a trust store: one or more CA certificates.
func parsePool(data []byte) (*x509.CertPool, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("a trust store needs at least one CERTIFICATE")
	}
	return pool, nil
}

// keyStore finds the Java-named key store: ssl.keystore.location, or the
// inline ssl.keystore.certificate.chain and ssl.keystore.key. ok is false
// when none is configured.
func keyStore(p Props) (m material, ok bool, err error) {
	if err := checkPEMType(p, "ssl.keystore.type"); err != nil {
		return m, false, err
	}
	loc, chain, key := p.get("ssl.keystore.location"), p.get("ssl.keystore.certificate.chain"), p.get("ssl.keystore.key")
	switch {
	case loc != "" && (chain != "" || key != ""):
		return m, false, errors.New("tlsconf: set ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both")
	case loc != "":
		return material{paths: []string{loc}, what: "ssl.keystore.location"}, true, nil
	case chain != "" && key != "":
		return material{inline: chain + "\n" + key, what: "ssl.keystore.certificate.chain/ssl.keystore.key"}, true, nil
	case chain != "" || key != "":
		return m, false, errors.New("tlsconf: ssl.keystore.certificate.chain and ssl.keystore.key must be set together")
	}
	return m, false, nil
}

// trustStore finds the Java-named trust store: ssl.truststore.location or
// the inline ssl.truststore.certificates. ok is false when none is set.
func trustStore(p Props) (m material, ok bool, err error) {
	if err := checkPEMType(p, "ssl.truststore.type"); err != nil {
		return m, false, err
	}
	return pickMaterial(p, "ssl.truststore.location", "ssl.truststore.certificates")
}

// pickMaterial returns the one set property of a file name and an inline
// PEM property (either may be ""), as material.
func pickMaterial(p Props, file, inline string) (material, bool, error) {
	name, v, err := oneOf(p, file, inline)
	switch {
	case err != nil || name == "":
		return material{}, false, err
	case name == file:
		return material{paths: []string{v}, what: name}, true, nil
	}
	return material{inline: v, what: name}, true, nil
}

// load reads and parses m, naming the source in errors.
func load[T any](m material, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := m.read()
	if err != nil {
		return zero, err
	}
	v, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("tlsconf: %s: %w", m.what, err)
	}
	return v, nil
}
