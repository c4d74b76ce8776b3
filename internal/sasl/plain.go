package sasl

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// Kafka's PLAIN failure messages.
const (
	msgPlainNoUser   = "Authentication failed: username not specified"
	msgPlainNoPass   = "Authentication failed: password not specified"
	msgPlainInvalid  = "Authentication failed: Invalid username or password"
	msgPlainNotThree = "Invalid SASL/PLAIN response: expected 3 tokens, got %d"
)

// NewPlain authenticates SASL/PLAIN (RFC 4616: [authzid] NUL authcid NUL
// passwd) against users (name -> password). The password comparison takes
// the same time whether the user exists or not and whatever the lengths.
// An authzid other than empty or the authcid is refused. users is read,
// never written, and must not change while the exchange runs.
func NewPlain(users map[string]string) Exchange {
	return &plainExchange{users: users}
}

type plainExchange struct {
	users map[string]string
	user  string
	done  bool
	err   error
}

func (p *plainExchange) User() string { return p.user }

func (p *plainExchange) Step(token []byte) ([]byte, bool, error) {
	switch {
	case p.err != nil:
		return nil, false, p.err
	case p.done:
		return nil, false, fail(msgDone, nil)
	}
	user, err := p.check(token)
	if err != nil {
		p.err = err
		return nil, false, err
	}
	p.user, p.done = user, true
	return nil, true, nil
}

// check verifies one PLAIN token and returns the authenticated user.
func (p *plainExchange) check(token []byte) (string, error) {
	if n := bytes.Count(token, []byte{0}) + 1; n != 3 {
		return "", fail(fmt.Sprintf(msgPlainNotThree, n), nil)
	}
	parts := bytes.SplitN(token, []byte{0}, 3)
	authzID, user, pass := string(parts[0]), string(parts[1]), parts[2]
	switch {
	case user == "":
		return "", fail(msgPlainNoUser, nil)
	case len(pass) == 0:
		return "", fail(msgPlainNoPass, nil)
	case authzID != "" && authzID != user:
		return "", fail(msgAuthzID, nil)
	}
	if !p.passwordMatches(user, pass) {
		return "", fail(msgPlainInvalid, nil)
	}
	return user, nil
}

// passwordMatches compares digests so that neither the password's length
// nor the user's existence shows in the timing of the comparison.
func (p *plainExchange) passwordMatches(user string, pass []byte) bool {
	want, ok := p.users[user]
	wantSum := sha256.Sum256([]byte(want))
	gotSum := sha256.Sum256(pass)
	eq := subtle.ConstantTimeCompare(wantSum[:], gotSum[:]) == 1
	return eq && ok
}
