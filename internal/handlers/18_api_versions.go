package handlers

// ApiVersions (key 18), versions 0-4.
//
// Lists every API in the registry with its version range. A request at a
// version above our range is answered by the server as v0 with
// UNSUPPORTED_VERSION and this same list (KIP-511). Finalized features are
// not reported. No authorization (as Kafka).

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) apiVersions(_ context.Context, req *server.Request) server.Reply {
	resp := kmsg.NewPtrApiVersionsResponse()
	keys := make([]kmsg.Key, 0, len(h.reg))
	for k := range h.reg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		a := h.reg[k]
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = int16(k), a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	return respond(req, resp)
}
