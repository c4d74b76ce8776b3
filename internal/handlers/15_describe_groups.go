package handlers

// DescribeGroups (key 15), versions 0-5: each group described by its
// coordinator (NOT_COORDINATOR in the entry of groups coordinated
// elsewhere).

import (
	"context"

	"github.com/fjordlog/fjord/internal/group"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeGroups(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	client := group.Client{ID: req.ClientID, Host: clientHost(req.Remote)}
	return groupAsync(func() kmsg.Response {
		resp := kmsg.NewPtrDescribeGroupsResponse()
		resp.SetVersion(r.Version)
		for _, g := range r.Groups {
			one := *r
			one.Groups = []string{g}
			sub := h.doGroup(ctx, g, client, &one).(*kmsg.DescribeGroupsResponse)
			resp.Groups = append(resp.Groups, sub.Groups...)
		}
		return resp
	})
}
