package sasl

import (
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// librdkafka before 2.1 (Debian 12's kcat among them) echoes its own nonce
// in front of the combined nonce in client-final-message: r=<client
// nonce><client nonce><server nonce>. Kafka's broker accepts that, since
// it only checks that the final nonce ends with the server-first nonce
// (ScramSaslServer), so Kafka users' librdkafka clients work; xdg-go/scram
// insists on equality (RFC 5802). For those messages only, the final step
// is verified here with the same RFC 5802 formulas over the message the
// client really signed; every other message goes through xdg-go/scram.

// legacyState is what the server remembers of the first step.
type legacyState struct {
	clientFirstBare string
	serverFirst     string
	nonce           string // the combined nonce of server-first-message
	cred            Credential
}

// remember keeps what a legacy final step needs.
func (l *legacyState) remember(clientFirst, serverFirst string, cred Credential) {
	i := strings.Index(clientFirst, "n=")
	l.clientFirstBare, l.serverFirst, l.cred = clientFirst[max(i, 0):], serverFirst, cred
	for _, f := range strings.Split(serverFirst, ",") {
		if v, ok := strings.CutPrefix(f, "r="); ok {
			l.nonce = v
		}
	}
}

// isLegacy reports whether a client-final-message carries a longer nonce
// that ends with the combined one.
func (l *legacyState) isLegacy(clientFinal string) bool {
	f := strings.Split(clientFinal, ",")
	if len(f) < 2 || l.nonce == "" {
		return false
	}
	r, ok := strings.CutPrefix(f[1], "r=")
	return ok && r != l.nonce && strings.HasSuffix(r, l.nonce)
}

var errLegacyProof = errors.New("invalid client proof")

// verify checks the proof of a legacy client-final-message and returns
// server-final-message.
func (l *legacyState) verify(x *scramExchange, clientFinal string) (string, error) {
	i := strings.LastIndex(clientFinal, ",p=")
	if i < 0 {
		return "", errLegacyProof
	}
	proof, err := base64.StdEncoding.Strict().DecodeString(clientFinal[i+3:])
	if err != nil || len(proof) != x.hash().Size() {
		return "", errLegacyProof
	}
	auth := l.clientFirstBare + "," + l.serverFirst + "," + clientFinal[:i]
	clientSig := mac(x.hash, l.cred.StoredKey, auth)
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, clientSig)
	h := x.hash()
	h.Write(clientKey)
	if !hmac.Equal(h.Sum(nil), l.cred.StoredKey) {
		return "", errLegacyProof
	}
	return "v=" + base64.StdEncoding.EncodeToString(mac(x.hash, l.cred.ServerKey, auth)), nil
}
