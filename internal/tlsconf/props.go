package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// Props reads one property; "" when unset. The caller resolves listener
// prefixes (listener.name.<l>.ssl.x overrides ssl.x) before calling.
type Props func(name string) string

// Errors callers may test for with errors.Is.
var (
	// ErrEncryptedKey: the private key is encrypted, which is not supported.
	ErrEncryptedKey = errors.New("encrypted private keys are not supported; store the key unencrypted (PKCS#8, PKCS#1 or EC) and unset ssl.key.password")
	// ErrNoMatchingRule: no ssl.principal.mapping.rules entry matched the
	// certificate's subject; Kafka fails the authentication then.
	ErrNoMatchingRule = errors.New("no ssl.principal.mapping.rules entry matches")
)

// get reads a property with surrounding white space removed.
func (p Props) get(name string) string { return strings.TrimSpace(p(name)) }

// checkPEMType refuses store types other than PEM; unset means PEM.
func checkPEMType(p Props, name string) error {
	if t := p.get(name); t != "" && !strings.EqualFold(t, "PEM") {
		return fmt.Errorf("tlsconf: %s=%s is not supported; only PEM stores are", name, t)
	}
	return nil
}

// baseConfig applies the settings shared by servers and clients:
// protocol versions and cipher suites.
func baseConfig(p Props) (*tls.Config, error) {
	lo, hi, err := versions(p)
	if err != nil {
		return nil, err
	}
	suites, err := cipherSuites(p.get("ssl.cipher.suites"))
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: lo, MaxVersion: hi, CipherSuites: suites}, nil
}

var protocolVersions = map[string]uint16{"tlsv1.2": tls.VersionTLS12, "tlsv1.3": tls.VersionTLS13}

// versions reads ssl.enabled.protocols (default "TLSv1.2,TLSv1.3") and
// returns the lowest and highest version. Anything below TLS 1.2 is refused.
func versions(p Props) (lo, hi uint16, err error) {
	if err := checkLegacy("ssl.protocol", p.get("ssl.protocol")); err != nil {
		return 0, 0, err
	}
	list := p.get("ssl.enabled.protocols")
	if list == "" {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	for _, name := range splitList(list) {
		if err := checkLegacy("ssl.enabled.protocols", name); err != nil {
			return 0, 0, err
		}
		v, ok := protocolVersions[strings.ToLower(name)]
		if !ok {
			return 0, 0, fmt.Errorf("tlsconf: ssl.enabled.protocols: unknown protocol %q (want TLSv1.2, TLSv1.3)", name)
		}
		lo, hi = minNonZero(lo, v), max(hi, v)
	}
	if lo == 0 {
		return 0, 0, fmt.Errorf("tlsconf: ssl.enabled.protocols=%q names no protocol", list)
	}
	return lo, hi, nil
}

// checkLegacy refuses SSL and TLS versions below 1.2.
func checkLegacy(prop, name string) error {
	switch n := strings.ToLower(name); {
	case n == "tlsv1", n == "tlsv1.0", n == "tlsv1.1", strings.HasPrefix(n, "ssl"):
		return fmt.Errorf("tlsconf: %s: %s is refused; the minimum is TLSv1.2", prop, name)
	}
	return nil
}

func minNonZero(a, b uint16) uint16 {
	if a == 0 || b < a {
		return b
	}
	return a
}

// cipherSuites maps IANA cipher suite names (as Java and Go's
// tls.CipherSuiteName spell them) to IDs; "" keeps Go's defaults (nil).
// TLS 1.3 suites are accepted and ignored: Go always enables them all.
func cipherSuites(list string) ([]uint16, error) {
	if list == "" {
		return nil, nil
	}
	ids := []uint16{}
	for _, name := range splitList(list) {
		s, err := lookupSuite(name)
		if err != nil {
			return nil, err
		}
		if !tls13Only(s) {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

func lookupSuite(name string) (*tls.CipherSuite, error) {
	for _, s := range tls.CipherSuites() {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
	}
	for _, s := range tls.InsecureCipherSuites() {
		if strings.EqualFold(s.Name, name) {
			return nil, fmt.Errorf("tlsconf: ssl.cipher.suites: %s is insecure and refused", name)
		}
	}
	return nil, fmt.Errorf("tlsconf: ssl.cipher.suites: unknown cipher suite %q", name)
}

func tls13Only(s *tls.CipherSuite) bool {
	return len(s.SupportedVersions) == 1 && s.SupportedVersions[0] == tls.VersionTLS13
}

// splitList splits a comma-separated property, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// oneOf returns the single set property among names, with its value; ""
// when none is set, an error when more than one is.
func oneOf(p Props, names ...string) (name, value string, err error) {
	for _, n := range names {
		v := p.get(n)
		if v == "" {
			continue
		}
		if name != "" {
			return "", "", fmt.Errorf("tlsconf: %s and %s are both set; set only one", name, n)
		}
		name, value = n, v
	}
	return name, value, nil
}
