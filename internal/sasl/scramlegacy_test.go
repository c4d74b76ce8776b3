package sasl

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// legacyFinal builds librdkafka 2.0's client-final-message for serverFirst:
// its nonce is the client nonce followed by the combined nonce, and the
// proof is computed over that message, from the password.
func legacyFinal(t *testing.T, mech, password, clientFirstBare, clientNonce, serverFirst string) string {
	t.Helper()
	var nonce, salt64 string
	iters := MinIterations
	for _, f := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(f, "r="):
			nonce = f[2:]
		case strings.HasPrefix(f, "s="):
			salt64 = f[2:]
		}
	}
	salt, _ := base64.StdEncoding.DecodeString(salt64)
	salted, err := SaltedPassword(mech, password, salt, iters)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := hashFor(mech)
	withoutProof := "c=biws,r=" + clientNonce + nonce
	clientKey := mac(h, salted, "Client Key")
	d := h()
	d.Write(clientKey)
	clientSig := mac(h, d.Sum(nil), clientFirstBare+","+serverFirst+","+withoutProof)
	proof := make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, clientSig)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

func TestScramAcceptsLibrdkafkaLongNonceLikeKafka(t *testing.T) {
	for _, mech := range mechanisms {
		for name, tc := range map[string]struct {
			password string
			tamper   func(string) string
			ok       bool
		}{
			"right password":  {"secret", nil, true},
			"wrong password":  {"other", nil, false},
			"tampered nonce":  {"secret", func(s string) string { return strings.Replace(s, "r=", "r=x", 1) }, false},
			"altered message": {"secret", func(s string) string { return strings.Replace(s, "c=biws", "c=biwt", 1) }, false},
		} {
			t.Run(mech+"/"+name, func(t *testing.T) {
				s := newStore(t, map[string]string{"alice": "secret"})
				ex, err := NewScram(mech, s.lookup)
				if err != nil {
					t.Fatal(err)
				}
				const cnonce = "fyko+d2lbbFgONRv9qkxdawL"
				bare := "n=alice,r=" + cnonce
				first, done, err := ex.Step([]byte("n,," + bare))
				if err != nil || done {
					t.Fatalf("first step: %v %v", done, err)
				}
				final := legacyFinal(t, mech, tc.password, bare, cnonce, string(first))
				if tc.tamper != nil {
					final = tc.tamper(final)
				}
				reply, done, err := ex.Step([]byte(final))
				if tc.ok != (err == nil && done) {
					t.Fatalf("final step: done %v err %v, want ok %v", done, err, tc.ok)
				}
				if tc.ok && (!strings.HasPrefix(string(reply), "v=") || ex.User() != "alice") {
					t.Errorf("server-final %q, user %q", reply, ex.User())
				}
				if !tc.ok && !errors.Is(err, ErrAuthentication) {
					t.Errorf("failure does not wrap ErrAuthentication: %v", err)
				}
			})
		}
	}
}

func TestScramLongNonceOfUnknownUserFails(t *testing.T) {
	s := newStore(t, nil)
	ex, _ := NewScram(ScramSHA256, s.lookup)
	const cnonce = "abcdef"
	bare := "n=ghost,r=" + cnonce
	first, _, err := ex.Step([]byte("n,," + bare))
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := ex.Step([]byte(legacyFinal(t, ScramSHA256, "x", bare, cnonce, string(first)))); done || err == nil {
		t.Fatal("an unknown user authenticated through the long-nonce path")
	}
}
