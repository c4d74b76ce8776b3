package handlers

// ListGroups (key 16), versions 0-5: the groups of every coordinator on
// this broker (clients ask every broker), with state and type filters.
//
// Authorization (as Kafka): with DESCRIBE on the cluster every group is
// listed; otherwise only the groups the principal may DESCRIBE (the others
// are left out, never named).

import (
	"context"
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) listGroups(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.ListGroupsRequest)
	as, all := detached(req), h.authorizeCluster(req, metadata.ACLOpDescribe)
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrListGroupsResponse()
		resp.SetVersion(r.Version)
		if h.d.Groups == nil {
			return resp
		}
		subs, err := h.d.Groups.All(ctx, r)
		if err != nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		for _, s := range subs {
			lg := s.(*kmsg.ListGroupsResponse)
			if lg.ErrorCode != 0 {
				resp.ErrorCode = lg.ErrorCode
			}
			resp.Groups = append(resp.Groups, lg.Groups...)
		}
		if !all {
			resp.Groups = slices.DeleteFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool {
				return !h.authorizeGroup(as, metadata.ACLOpDescribe, g.Group)
			})
		}
		return resp
	})
}
