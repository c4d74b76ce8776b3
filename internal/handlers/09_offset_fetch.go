package handlers

// OffsetFetch (key 9), versions 0-9. Up to v7 one group per request; from
// v8 a batch of groups, each served by its coordinator (groups coordinated
// elsewhere get NOT_COORDINATOR in their entry). Unknown partitions answer
// offset -1. RequireStable (v7+) gets UNSTABLE_OFFSET_COMMIT while a commit
// is being replicated.

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetFetch(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	if r.Version < 8 {
		return h.serveGroup(ctx, req, r.Group)
	}
	names := make([]string, len(r.Groups))
	byName := map[string]kmsg.OffsetFetchRequestGroup{}
	for i, g := range r.Groups {
		names[i], byName[g.Group] = g.Group, g
	}
	resp := kmsg.NewPtrOffsetFetchResponse()
	return h.perGroup(ctx, req, names, resp,
		func(g string) kmsg.Request {
			one := *r
			one.Groups = []kmsg.OffsetFetchRequestGroup{byName[g]}
			return &one
		},
		func(sub kmsg.Response) { resp.Groups = append(resp.Groups, sub.(*kmsg.OffsetFetchResponse).Groups...) })
}
