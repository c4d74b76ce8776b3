package handlers

// SyncGroup (key 14), versions 0-5: the leader's assignments reach every
// member through the group's coordinator, untouched. Needs READ on the
// group (else GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) syncGroup(ctx context.Context, req *server.Request) server.Reply {
	return h.serveAuthorizedGroup(ctx, req, metadata.ACLOpRead, req.Body.(*kmsg.SyncGroupRequest).Group)
}
