package handlers

// Envelope (key 58), version 0, on the controller listener only.
//
// Carries an admin request forwarded by another node (see forward.go)
// with its original header. The active controller decodes it, serves it
// as if a client had sent it here, and returns the serialized response
// with the metadata offset reached in a tagged field. Only admin APIs may
// be wrapped (others: INVALID_REQUEST); a malformed inner request gets
// INVALID_REQUEST; a controller that is not active answers NOT_CONTROLLER
// so the sender retries against the new one.

import (
	"context"
	"encoding/binary"

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
	case h.d.Controller == nil || !h.d.Controller.IsActive():
		resp.ErrorCode = kerr.NotController.Code
	}
	if resp.ErrorCode != 0 {
		return respond(req, resp)
	}
	inner.Listener, inner.Remote = req.Listener, req.Remote
	reply := a.serve(h, ctx, inner)
	if reply.Response == nil {
		resp.ErrorCode = kerr.UnknownServerError.Code
		return respond(req, resp)
	}
	resp.ResponseData = reply.Response.AppendTo(nil)
	resp.UnknownTags.Set(offsetTag, binary.BigEndian.AppendUint64(nil, uint64(h.d.Image().Offset)))
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
