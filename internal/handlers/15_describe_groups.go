package handlers

// DescribeGroups (key 15), versions 0-5: each group described by its
// coordinator (NOT_COORDINATOR in the entry of groups coordinated
// elsewhere).
//
// Authorization (as Kafka): DESCRIBE on each group, else its entry gets
// GROUP_AUTHORIZATION_FAILED. With IncludeAuthorizedOperations (v3+), a
// group answered without error carries Kafka's bitfield of the operations
// the principal may perform on it.

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeGroups(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	resp := kmsg.NewPtrDescribeGroupsResponse()
	var allowed []string
	for _, g := range r.Groups {
		if h.authorizeGroup(req, metadata.ACLOpDescribe, g) {
			allowed = append(allowed, g)
			continue
		}
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, rg)
	}
	as, withOps := detached(req), r.Version >= 3 && r.IncludeAuthorizedOperations
	return h.perGroup(ctx, req, allowed, resp,
		func(g string) kmsg.Request { one := *r; one.Groups = []string{g}; return &one },
		func(sub kmsg.Response) {
			for _, g := range sub.(*kmsg.DescribeGroupsResponse).Groups {
				if withOps && g.ErrorCode == 0 {
					g.AuthorizedOperations = h.authorizedOperations(as, metadata.ACLResourceGroup, g.Group)
				}
				resp.Groups = append(resp.Groups, g)
			}
		})
}
