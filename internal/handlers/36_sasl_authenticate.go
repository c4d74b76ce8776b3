package handlers

// SaslAuthenticate (key 36), versions 0-2.
//
// Feeds one client token to the exchange SaslHandshake started and
// answers the server's token. When the exchange succeeds the connection
// is authenticated as User:<name>; with connections.max.reauth.ms set,
// the response (v1+) carries the session lifetime and the server closes
// the connection on any non-SASL request after it expires (KIP-368). A
// re-authentication must keep the principal.
//
// Errors: a failed exchange gets SASL_AUTHENTICATION_FAILED with Kafka's
// message (never telling an unknown user from a wrong password) and the
// connection closes; a token without a handshake gets ILLEGAL_SASL_STATE
// and closes. Bare tokens after SaslHandshake v0 arrive here as v0
// requests (server.Session.RawTokens), and an error closes the connection.

import (
	"context"
	"fmt"
	"time"

	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) saslAuthenticate(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.SASLAuthenticateRequest)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	sess := req.Session
	ex, ok := sessionExchange(sess)
	if !ok {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return closeAfter(respond(req, resp))
	}
	reply, done, err := ex.Step(r.SASLAuthBytes)
	if err == nil && done && sess.Authenticated() && sess.Principal != "User:"+ex.User() {
		err = errPrincipalChange
	}
	if err != nil {
		h.d.Logger.Info("SASL authentication failed", "listener", req.Listener, "remote", clientHost(req.Remote),
			"mechanism", sess.Mechanism, "err", err, "reason", sasl.Reason(err))
		sess.Exchange = nil
		msg := err.Error()
		resp.ErrorCode, resp.ErrorMessage = kerr.SaslAuthenticationFailed.Code, &msg
		return closeAfter(respond(req, resp))
	}
	resp.SASLAuthBytes = reply
	if done {
		resp.SessionLifetimeMillis = h.authenticated(req, ex.User())
	}
	return respond(req, resp)
}

// errPrincipalChange fails a re-authentication as another user.
var errPrincipalChange = fmt.Errorf("%w: cannot change principals during re-authentication", sasl.ErrAuthentication)

func sessionExchange(sess *server.Session) (sasl.Exchange, bool) {
	if sess == nil {
		return nil, false
	}
	ex, ok := sess.Exchange.(sasl.Exchange)
	return ex, ok
}

// authenticated marks the session authenticated as user and returns the
// session lifetime in milliseconds (0: no re-authentication required).
func (h *Handlers) authenticated(req *server.Request, user string) int64 {
	var expires time.Time
	reauth := h.saslFor(req.Listener).reauth
	if reauth > 0 {
		expires = time.Now().Add(reauth) // the server checks it against its own clock
	}
	req.Session.SetAuthenticated("User:"+user, expires)
	return reauth.Milliseconds()
}
