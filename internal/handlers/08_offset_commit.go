package handlers

// OffsetCommit (key 8), versions 0-9 (topic names; v10's topic ids are not
// served). Acknowledged only once the commit records are replicated to the
// high watermark of __consumer_offsets. Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION.

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) offsetCommit(ctx context.Context, req *server.Request) server.Reply {
	return h.serveGroup(ctx, req, req.Body.(*kmsg.OffsetCommitRequest).Group)
}
