package handlers

// DeleteGroups (key 42), versions 0-2: deletes empty groups and their
// offsets (NON_EMPTY_GROUP otherwise), each on its coordinator.

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) deleteGroups(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	resp := kmsg.NewPtrDeleteGroupsResponse()
	return h.perGroup(ctx, req, r.Groups, resp,
		func(g string) kmsg.Request { one := *r; one.Groups = []string{g}; return &one },
		func(sub kmsg.Response) { resp.Groups = append(resp.Groups, sub.(*kmsg.DeleteGroupsResponse).Groups...) })
}
