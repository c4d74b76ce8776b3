// Package sasl is the server side of Kafka's SASL authentication: the
// PLAIN (RFC 4616), SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677)
// mechanisms, SCRAM credential derivation for AlterUserScramCredentials,
// and parsing of the JAAS login-module entries that Kafka configures them
// with (sasl.jaas.config).
//
// The package is pure: it holds no connections and does no IO. The
// SaslHandshake handler picks a mechanism, the SaslAuthenticate handler
// feeds each client token to an Exchange and sends back its reply. An
// Exchange belongs to one connection and is used by one goroutine.
package sasl

import (
	"errors"
	"fmt"
)

// Mechanism names as Kafka spells them in SaslHandshake.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Exchange is one server-side authentication in progress on one
// connection. It is not safe for concurrent use.
type Exchange interface {
	// Step takes the client's next token and returns the server's next
	// token. done reports that authentication succeeded; reply may still
	// carry a final token (SCRAM's server-final-message) that must be
	// sent. A non-nil error means authentication failed: the caller
	// answers SASL_AUTHENTICATION_FAILED with err.Error() as the message
	// and closes the connection. The message never tells an unknown user
	// from a wrong password. Step after done or after a failure returns an
	// error. The exchange does not keep token after Step returns.
	Step(token []byte) (reply []byte, done bool, err error)
	// User is the authenticated user name once done, "" before.
	User() string
}

// ErrAuthentication is wrapped by every error Step returns (errors.Is).
var ErrAuthentication = errors.New("sasl: authentication failed")

// Kafka's messages for failed authentications, sent to the client.
const (
	msgAuthzID = "Authentication failed: Client requested an authorization id that is different from username"
	msgDone    = "Authentication failed: SASL exchange already completed"
)

// authError is a failed authentication: msg goes to the client, cause
// (which may name the reason, e.g. an unknown user) only to server logs
// through errors.Unwrap.
type authError struct {
	msg   string
	cause error
}

func (e *authError) Error() string { return e.msg }

func (e *authError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrAuthentication}
	}
	return []error{ErrAuthentication, e.cause}
}

// Reason returns why an authentication failed, for server logs only (it
// may name an unknown user): the cause behind Step's error, or err itself.
func Reason(err error) error {
	var ae *authError
	if errors.As(err, &ae) && ae.cause != nil {
		return ae.cause
	}
	return err
}

func fail(msg string, cause error) error { return &authError{msg: msg, cause: cause} }

// invalidCredentials is Kafka's message for every SCRAM failure that is
// not an authorization-id mismatch.
func invalidCredentials(mechanism string, cause error) error {
	return fail("Authentication failed during authentication due to invalid credentials with SASL mechanism "+mechanism, cause)
}

// Supported reports whether mechanism is PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512.
func Supported(mechanism string) bool {
	switch mechanism {
	case Plain, ScramSHA256, ScramSHA512:
		return true
	}
	return false
}

// MechanismID maps a SCRAM mechanism name to Kafka's protocol number
// (DescribeUserScramCredentials, AlterUserScramCredentials): 1 for
// SCRAM-SHA-256, 2 for SCRAM-SHA-512, 0 for anything else.
func MechanismID(name string) int8 {
	switch name {
	case ScramSHA256:
		return 1
	case ScramSHA512:
		return 2
	}
	return 0
}

// MechanismName is the inverse of MechanismID: "" for an unknown id.
func MechanismName(id int8) string {
	switch id {
	case 1:
		return ScramSHA256
	case 2:
		return ScramSHA512
	}
	return ""
}

func errMechanism(mechanism string) error {
	return fmt.Errorf("sasl: unsupported SCRAM mechanism %q", mechanism)
}
