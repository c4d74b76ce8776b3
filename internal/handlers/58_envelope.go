package handlers

// Envelope (key 58), version 0, on the controller listener only.
//
// Carries an admin request forwarded by another node (see forward.go)
// with its original header, client address and principal. The sender
// needs CLUSTER_ACTION on the cluster (else CLUSTER_AUTHORIZATION_FAILED).
// The active controller decodes it, serves it as if the client had sent
// it here (authorizing the original principal; a request a node makes for
// itself, creating an internal topic, carries no principal and is
// authorized as the sender), and returns the serialized response with the
// metadata offset reached in a tagged field. Only admin APIs may
// be wrapped (others: INVALID_REQUEST); a malformed inner request gets
// INVALID_REQUEST; a controller that is not active answers NOT_CONTROLLER
// so the sender retries against the new one.

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) envelope(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.EnvelopeRequest)
	resp := kmsg.NewPtrEnvelopeResponse()
	inner, a, err := decodeInner(r.RequestData)
	switch {
	case err != nil:
		resp.ErrorCode = kerr.InvalidRequest.Code
	case !h.authorizeCluster(req, metadata.ACLOpClusterAction):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	case h.d.Controller == nil || !h.d.Controller.IsActive():
		resp.ErrorCode = kerr.NotController.Code
	}
	if resp.ErrorCode != 0 {
		return respond(req, resp)
	}
	inner.Listener, inner.Remote = req.Listener, envelopeClient(r, req.Remote)
	inner.Session = actingAs(req.Listener, string(r.RequestPrincipal))
	if len(r.RequestPrincipal) == 0 { // the sending node acts for itself
		inner.Session = req.Session
	}
	reply := a.serve(h, ctx, inner)
	if reply.Response == nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		return respond(req, resp)
	}
	resp.ResponseData = reply.Response.AppendTo(nil)
	resp.UnknownTags.Set(offsetTag, binary.BigEndian.AppendUint64(nil, uint64(h.d.Controller.AppliedOffset())))
	return respond(req, resp)
}

// decodeInner parses a wrapped request; only admin APIs are accepted.
func decodeInner(data []byte) (*server.Request, api, error) {
	inner, err := server.DecodeRequest(data)
	if err != nil {
		return nil, api{}, err
	}
	a, ok := registry[kmsg.Key(inner.Body.Key())]
	v := inner.Body.GetVersion()
	if !ok || !a.admin || v < a.min || v > a.max {
		return nil, api{}, kerr.InvalidRequest
	}
	return inner, a, nil
}

// envelopeClient returns the original client's address the forwarding
// node put in the envelope, else the sender's.
func envelopeClient(r *kmsg.EnvelopeRequest, sender net.Addr) net.Addr {
	if ap, err := netip.ParseAddrPort(string(r.ClientHostAddress)); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return sender
}

// actingAs returns an authenticated session of principal (Anonymous if
// empty): the principal a forwarding node authenticated, for the request
// it forwards.
func actingAs(listener, principal string) *server.Session {
	if principal == "" {
		principal = server.Anonymous
	}
	s := &server.Session{Listener: listener}
	s.SetAuthenticated(principal, time.Time{})
	return s
}
