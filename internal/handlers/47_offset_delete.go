package handlers

// OffsetDelete (key 47), version 0: removes a group's committed offsets
// for partitions it no longer consumes (GROUP_SUBSCRIBED_TO_TOPIC
// otherwise).

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetDelete(ctx context.Context, req *server.Request) server.Reply {
	return h.serveGroup(ctx, req, req.Body.(*kmsg.OffsetDeleteRequest).Group)
}
