package handlers

// OffsetFetch (key 9), versions 0-9. Up to v7 one group per request; from
// v8 a batch of groups, each served by its coordinator (groups coordinated
// elsewhere get NOT_COORDINATOR in their entry). Unknown partitions answer
// offset -1. RequireStable (v7+) gets UNSTABLE_OFFSET_COMMIT while a commit
// is being replicated.

import (
	"context"

	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetFetch(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	if r.Version < 8 {
		return h.serveGroup(ctx, req, r.Group)
	}
	client := group.Client{ID: req.ClientID, Host: clientHost(req.Remote)}
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrOffsetFetchResponse()
		resp.SetVersion(r.Version)
		for _, g := range r.Groups {
			one := *r
			one.Groups = []kmsg.OffsetFetchRequestGroup{g}
			sub := h.doGroup(ctx, g.Group, client, &one).(*kmsg.OffsetFetchResponse)
			resp.Groups = append(resp.Groups, sub.Groups...)
		}
		return resp
	})
}
