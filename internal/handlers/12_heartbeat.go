package handlers

// Heartbeat (key 12), versions 0-4: keeps a member's session alive;
// REBALANCE_IN_PROGRESS tells it to rejoin. Needs READ on the group (else
// GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) heartbeat(ctx context.Context, req *server.Request) server.Reply {
	return h.serveAuthorizedGroup(ctx, req, metadata.ACLOpRead, req.Body.(*kmsg.HeartbeatRequest).Group)
}
