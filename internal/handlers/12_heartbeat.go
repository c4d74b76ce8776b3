package handlers

// Heartbeat (key 12), versions 0-4: keeps a member's session alive;
// REBALANCE_IN_PROGRESS tells it to rejoin.

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) heartbeat(ctx context.Context, req *server.Request) server.Reply {
	return h.serveGroup(ctx, req, req.Body.(*kmsg.HeartbeatRequest).Group)
}
