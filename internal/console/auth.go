package console

// Where the cluster has an authorizer the console is a principal like any
// other: it sees only what its ACLs let it describe. Topics it may not
// describe are simply absent from Metadata; every other call that is
// refused with an *_AUTHORIZATION_FAILED error degrades the part of the
// page it fed ("not authorized to ..."), never the whole page.

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// isAuthErr reports whether err is an authorization refusal.
func isAuthErr(err error) bool {
	for _, e := range []error{kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.DelegationTokenAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errCode names a Kafka error by its code name (TOPIC_AUTHORIZATION_FAILED)
// when it is one, else by its text.
func errCode(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

// deniedText is what a page shows where a call was refused: "not
// authorized to <what> (CODE)".
func deniedText(what string, err error) string {
	return "not authorized to " + what + " (" + errCode(err) + ")"
}

// forbidden is a 403 error page for a refused call.
func forbidden(what string, err error) error {
	return &httpError{http.StatusForbidden, "Not authorized", deniedText(what, err)}
}

// principal returns the principal the console signs in as when its client
// uses SASL PLAIN or SCRAM ("User:alice"), or "" (no SASL, or a mechanism
// whose user name is not in its first message). It reads the user name
// from the mechanism's first client message, built locally: nothing is
// sent, and the rest of the message (a PLAIN password) is dropped here.
func (s *Server) principal() string {
	mechs, _ := s.cl.OptValue(kgo.SASL).([]sasl.Mechanism)
	for _, m := range mechs {
		if user := saslUser(m); user != "" {
			return "User:" + user
		}
	}
	return ""
}

// saslUser extracts the user name of a PLAIN or SCRAM mechanism.
func saslUser(m sasl.Mechanism) string {
	name := m.Name()
	if name != "PLAIN" && !strings.HasPrefix(name, "SCRAM-") {
		return "" // OAUTHBEARER and others may call out to build their message
	}
	_, first, err := m.Authenticate(context.Background(), "console")
	if err != nil {
		return ""
	}
	if name == "PLAIN" { // authzid NUL user NUL password
		parts := strings.SplitN(string(first), "\x00", 3)
		if len(parts) < 3 {
			return ""
		}
		return parts[1]
	}
	return scramUser(string(first))
}

// scramUser returns the n= attribute of a SCRAM client-first message
// ("n,,n=alice,r=nonce"), unescaped (RFC 5802: =2C is ",", =3D is "=").
func scramUser(first string) string {
	for _, attr := range strings.Split(first, ",") {
		if v, ok := strings.CutPrefix(attr, "n="); ok {
			return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(v)
		}
	}
	return ""
}
