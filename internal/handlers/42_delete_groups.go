package handlers

// DeleteGroups (key 42), versions 0-2: deletes empty groups and their
// offsets (NON_EMPTY_GROUP otherwise), each on its coordinator.

import (
	"context"

	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) deleteGroups(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	client := group.Client{ID: req.ClientID, Host: clientHost(req.Remote)}
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrDeleteGroupsResponse()
		resp.SetVersion(r.Version)
		for _, g := range r.Groups {
			one := *r
			one.Groups = []string{g}
			sub := h.doGroup(ctx, g, client, &one).(*kmsg.DeleteGroupsResponse)
			resp.Groups = append(resp.Groups, sub.Groups...)
		}
		return resp
	})
}
