package handlers

// LeaveGroup (key 13), versions 0-5 (batched members from v3). Needs READ
// on the group (else GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) leaveGroup(ctx context.Context, req *server.Request) server.Reply {
	return h.serveAuthorizedGroup(ctx, req, metadata.ACLOpRead, req.Body.(*kmsg.LeaveGroupRequest).Group)
}
