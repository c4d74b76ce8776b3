package handlers

// DeleteGroups (key 42), versions 0-2: deletes empty groups and their
// offsets (NON_EMPTY_GROUP otherwise), each on its coordinator.
//
// Authorization (as Kafka): DELETE on each group, else its entry gets
// GROUP_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) deleteGroups(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	resp := kmsg.NewPtrDeleteGroupsResponse()
	var allowed []string
	for _, g := range r.Groups {
		if h.authorizeGroup(req, metadata.ACLOpDelete, g) {
			allowed = append(allowed, g)
			continue
		}
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, rg)
	}
	return h.perGroup(ctx, req, allowed, resp,
		func(g string) kmsg.Request { one := *r; one.Groups = []string{g}; return &one },
		func(sub kmsg.Response) { resp.Groups = append(resp.Groups, sub.(*kmsg.DeleteGroupsResponse).Groups...) })
}
