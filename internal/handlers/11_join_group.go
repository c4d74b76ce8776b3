package handlers

// JoinGroup (key 11), versions 0-9: served by the group's coordinator
// (internal/group): waits for the rebalance, KIP-394 member ids, KIP-345
// static membership. NOT_COORDINATOR when the group is coordinated
// elsewhere, COORDINATOR_LOAD_IN_PROGRESS while loading. Needs READ on
// the group (else GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) joinGroup(ctx context.Context, req *server.Request) server.Reply {
	return h.serveAuthorizedGroup(ctx, req, metadata.ACLOpRead, req.Body.(*kmsg.JoinGroupRequest).Group)
}
