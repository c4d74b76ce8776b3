package handlers

// DescribeGroups (key 15), versions 0-5: each group described by its
// coordinator (NOT_COORDINATOR in the entry of groups coordinated
// elsewhere).

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeGroups(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	resp := kmsg.NewPtrDescribeGroupsResponse()
	return h.perGroup(ctx, req, r.Groups, resp,
		func(g string) kmsg.Request { one := *r; one.Groups = []string{g}; return &one },
		func(sub kmsg.Response) {
			resp.Groups = append(resp.Groups, sub.(*kmsg.DescribeGroupsResponse).Groups...)
		})
}
