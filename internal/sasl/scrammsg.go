package sasl

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// clientFirst is what the server needs from a client-first-message
// (RFC 5802 §7): gs2-header "n," or "y," with an optional "a=" authzid,
// then n=saslname, r=nonce and optional extensions.
type clientFirst struct {
	user      string // decoded
	authzID   string // decoded, "" when absent
	tokenAuth bool   // Kafka's tokenauth=true extension (KIP-48)
}

// parseClientFirst checks a client-first-message strictly, before the
// SCRAM library sees it.
func parseClientFirst(msg string) (clientFirst, error) {
	f := strings.Split(msg, ",")
	if len(f) < 4 {
		return clientFirst{}, errors.New("client-first-message: too few fields")
	}
	if f[0] != "n" && f[0] != "y" {
		return clientFirst{}, fmt.Errorf("client-first-message: unsupported gs2 flag %q", f[0])
	}
	var c clientFirst
	var err error
	if f[1] != "" {
		if c.authzID, err = saslName(f[1], "a"); err != nil {
			return clientFirst{}, err
		}
	}
	if c.user, err = saslName(f[2], "n"); err != nil {
		return clientFirst{}, err
	}
	if err := checkNonce(f[3]); err != nil {
		return clientFirst{}, err
	}
	c.tokenAuth, err = extensions(f[4:])
	return c, err
}

// saslName decodes the attribute key=saslname: non-empty UTF-8 without
// NUL, where ',' is sent as "=2C" and '=' as "=3D" and no other '=' may
// appear.
func saslName(field, key string) (string, error) {
	v, ok := strings.CutPrefix(field, key+"=")
	if !ok || v == "" || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return "", fmt.Errorf("SCRAM message: malformed %s= attribute", key)
	}
	var b strings.Builder
	for len(v) > 0 {
		i := strings.IndexByte(v, '=')
		if i < 0 {
			b.WriteString(v)
			break
		}
		b.WriteString(v[:i])
		switch v[i:min(i+3, len(v))] {
		case "=2C":
			b.WriteByte(',')
		case "=3D":
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("SCRAM message: bad escape in %s= attribute", key)
		}
		v = v[i+3:]
	}
	return b.String(), nil
}

// checkNonce checks r=nonce: printable ASCII except ','.
func checkNonce(field string) error {
	v, ok := strings.CutPrefix(field, "r=")
	if !ok || v == "" {
		return errors.New("SCRAM message: missing nonce")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return errors.New("SCRAM message: nonce is not printable")
		}
	}
	return nil
}

// extensions checks key=value extensions (letters for the key, a
// non-empty value) and reports whether tokenauth is true. Other
// extensions are ignored, as in Kafka.
func extensions(fields []string) (tokenAuth bool, err error) {
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || !isAlpha(k) || v == "" || strings.IndexByte(v, 0) >= 0 {
			return false, fmt.Errorf("SCRAM message: malformed extension %q", f)
		}
		if k == "tokenauth" && strings.EqualFold(v, "true") {
			tokenAuth = true
		}
	}
	return tokenAuth, nil
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// checkClientFinal checks a client-final-message (c=cbind,r=nonce,
// extensions,p=proof) and that its proof is exactly one digest of size
// bytes long.
func checkClientFinal(msg string, size int) error {
	f := strings.Split(msg, ",")
	if len(f) < 3 {
		return errors.New("client-final-message: too few fields")
	}
	if _, err := base64Field(f[0], "c"); err != nil {
		return err
	}
	if err := checkNonce(f[1]); err != nil {
		return err
	}
	if _, err := extensions(f[2 : len(f)-1]); err != nil {
		return err
	}
	proof, err := base64Field(f[len(f)-1], "p")
	if err != nil {
		return err
	}
	if len(proof) != size {
		return fmt.Errorf("client-final-message: proof is %d bytes, want %d", len(proof), size)
	}
	return nil
}

func base64Field(field, key string) ([]byte, error) {
	v, ok := strings.CutPrefix(field, key+"=")
	if !ok {
		return nil, fmt.Errorf("SCRAM message: missing %s= attribute", key)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("SCRAM message: %s= attribute: %w", key, err)
	}
	return b, nil
}
