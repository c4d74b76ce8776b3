package handlers

// Forwarding of admin requests (KIP-590). A node whose controller is not
// the active one wraps an admin request (CreateTopics, DeleteTopics,
// CreatePartitions, AlterConfigs, IncrementalAlterConfigs) in an Envelope
// with its original header and version, and sends it to the active
// controller's controller listener. The controller answers with the
// serialized response and, in a tagged field, the metadata offset at which
// the change is applied; the forwarding node waits until its own image has
// reached that offset before answering, so that a client's next Metadata
// request on this node sees its change.

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetTag is the Envelope response tag carrying the controller's
// metadata offset after the request (a Fjord extension; Kafka clients
// never see Envelope).
const offsetTag = 0x6a66

// forwardTimeout bounds how long a forwarded request waits for an active
// controller and for the change to reach this node.
const forwardTimeout = 30 * time.Second

// controllerIsLocal reports whether admin requests can be served here.
func (h *Handlers) controllerIsLocal() bool {
	return h.d.Forwarder == nil || (h.d.Controller != nil && h.d.Controller.IsActive())
}

func (h *Handlers) forward(ctx context.Context, req *server.Request) server.Reply {
	req = &server.Request{ // the body's bytes must not outlive Handle
		ClientID: req.ClientID, CorrelationID: req.CorrelationID, Body: cloneRequest(req.Body),
		Remote: req.Remote, Listener: req.Listener, Session: actingAs(req.Listener, principal(req)),
	}
	ch := make(chan kmsg.Response, 1)
	go func() {
		resp, err := h.forwardAndWait(ctx, req)
		if err != nil {
			h.d.Logger.Warn("forwarding to the active controller failed; closing the connection so the client retries",
				"api", kmsg.NameForKey(req.Body.Key()), "err", err)
			close(ch)
			return
		}
		ch <- resp
	}()
	return server.Reply{Wait: ch}
}

func (h *Handlers) forwardAndWait(ctx context.Context, req *server.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	env := kmsg.NewPtrEnvelopeRequest()
	env.RequestData = kmsg.NewRequestFormatter(kmsg.FormatterClientID(req.ClientID)).
		AppendRequest(nil, req.Body, req.CorrelationID)[4:] // without the size prefix
	if req.Remote != nil {
		env.ClientHostAddress = []byte(req.Remote.String())
	}
	if req.Session != nil { // else this node acts for itself (see envelope)
		env.RequestPrincipal = []byte(principal(req))
	}
	out, err := h.sendEnvelope(ctx, env)
	if err != nil {
		return nil, err
	}
	resp := req.Body.ResponseKind()
	resp.SetVersion(req.Body.GetVersion())
	if err := resp.ReadFrom(out.ResponseData); err != nil {
		return nil, err
	}
	if err := h.d.WaitMetadata(ctx, envelopeOffset(out)); err != nil {
		return nil, err
	}
	return resp, nil
}

// sendEnvelope retries while the active controller is moving.
func (h *Handlers) sendEnvelope(ctx context.Context, env *kmsg.EnvelopeRequest) (*kmsg.EnvelopeResponse, error) {
	for {
		out, err := h.d.Forwarder.Forward(ctx, env)
		if err == nil && out.ErrorCode == 0 {
			return out, nil
		}
		if err == nil {
			err = kerr.ErrorForCode(out.ErrorCode)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func envelopeOffset(resp *kmsg.EnvelopeResponse) int64 {
	var off int64 = -1
	resp.UnknownTags.Each(func(key uint32, val []byte) {
		if key == offsetTag && len(val) == 8 {
			off = int64(binary.BigEndian.Uint64(val))
		}
	})
	return off
}
