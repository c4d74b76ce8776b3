package sasl

import (
	"errors"
	"hash"

	"github.com/xdg-go/scram"
)

// errTokenAuth refuses Kafka's delegation-token SCRAM (KIP-48).
var errTokenAuth = errors.New("delegation tokens are not supported")

type scramState int

const (
	scramFirst  scramState = iota // waiting for client-first-message
	scramFinal                    // waiting for client-final-message
	scramDone                     // authenticated
	scramFailed                   // failed; err holds the reason
)

// scramExchange drives xdg-go/scram's server conversation, after checking
// each client message against Kafka's grammar and rules itself.
type scramExchange struct {
	mechanism string
	hash      func() hash.Hash
	lookup    Lookup
	conv      *scram.ServerConversation
	state     scramState
	user      string
	unknown   bool // the user had no usable credential: a decoy was shown
	err       error
	cred      Credential  // the credential shown (real or decoy)
	legacy    legacyState // for librdkafka's long final nonce (scramlegacy.go)
}

// NewScram starts a SCRAM exchange for mechanism (ScramSHA256 or
// ScramSHA512) that looks credentials up with lookup. The client's
// authzid, if any, must equal its user name. Kafka's tokenauth=true
// extension is refused (no delegation tokens); other extensions are
// ignored. An unknown user is shown a decoy salt and fails at the
// client-final-message, exactly like a wrong password.
func NewScram(mechanism string, lookup Lookup) (Exchange, error) {
	h, err := hashFor(mechanism)
	if err != nil {
		return nil, err
	}
	if lookup == nil {
		return nil, errors.New("sasl: nil credential lookup")
	}
	x := &scramExchange{mechanism: mechanism, hash: h, lookup: lookup}
	srv, err := scram.HashGeneratorFcn(h).NewServer(x.credential)
	if err != nil {
		return nil, err
	}
	x.conv = srv.NewConversation()
	return x, nil
}

// User is the decoded user name once done.
func (x *scramExchange) User() string {
	if x.state != scramDone {
		return ""
	}
	return x.user
}

func (x *scramExchange) Step(token []byte) ([]byte, bool, error) {
	var reply []byte
	var err error
	switch x.state {
	case scramFirst:
		reply, err = x.first(string(token))
	case scramFinal:
		reply, err = x.final(string(token))
	case scramDone:
		return nil, false, fail(msgDone, nil)
	default:
		return nil, false, x.err
	}
	if err != nil {
		x.state, x.err = scramFailed, err
		return nil, false, err
	}
	return reply, x.state == scramDone, nil
}

// first answers the client-first-message with the server-first-message.
func (x *scramExchange) first(msg string) ([]byte, error) {
	c, err := parseClientFirst(msg)
	switch {
	case err != nil:
		return nil, invalidCredentials(x.mechanism, err)
	case c.tokenAuth:
		return nil, invalidCredentials(x.mechanism, errTokenAuth)
	case c.authzID != "" && c.authzID != c.user:
		return nil, fail(msgAuthzID, nil)
	}
	x.user = c.user
	reply, err := x.conv.Step(msg)
	if err != nil {
		return nil, invalidCredentials(x.mechanism, err)
	}
	x.legacy.remember(msg, reply, x.cred)
	x.state = scramFinal
	return []byte(reply), nil
}

// final checks the client's proof and answers with the server signature.
func (x *scramExchange) final(msg string) ([]byte, error) {
	if err := checkClientFinal(msg, x.hash().Size()); err != nil {
		return nil, invalidCredentials(x.mechanism, err)
	}
	if x.legacy.isLegacy(msg) {
		return x.finalLegacy(msg)
	}
	reply, err := x.conv.Step(msg)
	switch {
	case err != nil:
		return nil, invalidCredentials(x.mechanism, err)
	case !x.conv.Valid() || x.unknown:
		return nil, invalidCredentials(x.mechanism, errors.New("invalid proof"))
	}
	x.state = scramDone
	return []byte(reply), nil
}

// credential is the library's lookup: it ignores the library's (still
// encoded) name and uses the one parseClientFirst decoded.
// finalLegacy ends an exchange whose final nonce librdkafka lengthened.
func (x *scramExchange) finalLegacy(msg string) ([]byte, error) {
	reply, err := x.legacy.verify(x, msg)
	if err != nil || x.unknown {
		return nil, invalidCredentials(x.mechanism, errors.Join(err, errors.New("invalid proof")))
	}
	x.state = scramDone
	return []byte(reply), nil
}

func (x *scramExchange) credential(string) (scram.StoredCredentials, error) {
	c, ok := x.lookup(x.user, x.mechanism)
	if !ok || !c.usable(x.hash) {
		x.unknown = true
		c = decoy(x.hash, x.mechanism, x.user)
	}
	x.cred = c
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
		StoredKey:  c.StoredKey,
		ServerKey:  c.ServerKey,
	}, nil
}
