package handlers

// SaslHandshake (key 17), versions 0-1.
//
// Chooses the SASL mechanism of a connection on a SASL listener (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512, as sasl.enabled.mechanisms of the listener
// allows) and starts its exchange. After v0 the client sends bare tokens
// (kafka-python does); after v1 it sends SaslAuthenticate requests. v1 on
// an authenticated connection starts a re-authentication (KIP-368).
//
// Errors: a mechanism the listener does not enable gets
// UNSUPPORTED_SASL_MECHANISM with the enabled list, and the connection
// closes, as Kafka's authenticator does; a handshake on a listener without
// SASL, a second handshake before the first exchange ended, or v0 on an
// authenticated connection get ILLEGAL_SASL_STATE and close.

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) saslHandshake(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.SASLHandshakeRequest)
	resp := kmsg.NewPtrSASLHandshakeResponse()
	sess := req.Session
	if sess == nil || !sess.SASL || sess.Exchange != nil || (sess.Authenticated() && r.Version == 0) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return closeAfter(respond(req, resp))
	}
	l := h.saslFor(req.Listener)
	resp.SupportedMechanisms = l.mechanisms
	ex, err := h.newExchange(l, r.Mechanism)
	if err != nil || (sess.Authenticated() && r.Mechanism != sess.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return closeAfter(respond(req, resp))
	}
	sess.Mechanism, sess.Exchange = r.Mechanism, ex
	sess.RawTokens = r.Version == 0
	return respond(req, resp)
}

// SASLExchange starts an exchange of mechanism as the listener allows
// (for the Raft transport's authentication on the controller listener).
func (h *Handlers) SASLExchange(listener, mechanism string) (sasl.Exchange, error) {
	return h.newExchange(h.saslFor(listener), mechanism)
}

// newExchange starts the exchange of an enabled mechanism.
func (h *Handlers) newExchange(l *listenerSASL, mechanism string) (sasl.Exchange, error) {
	if !slices.Contains(l.mechanisms, mechanism) {
		return nil, kerr.UnsupportedSaslMechanism
	}
	if mechanism == sasl.Plain {
		return sasl.NewPlain(l.plainUsers), nil
	}
	return sasl.NewScram(mechanism, h.scramLookup)
}

// closeAfter closes the connection once the reply is written.
func closeAfter(r server.Reply) server.Reply {
	r.Close = true
	return r
}
