package handlers

import (
	"context"

	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one implemented API: its version range and its handler.
type api struct {
	min, max int16
	serve    func(h *Handlers, ctx context.Context, req *server.Request) server.Reply
}

// registry is the single version table: Supported, dispatch and the
// ApiVersions response all read it, so an API is advertised exactly when
// it is implemented.
var registry map[kmsg.Key]api

func init() {
	registry = map[kmsg.Key]api{
		kmsg.Produce:                 {3, 12, (*Handlers).produce},
		kmsg.Fetch:                   {4, 12, (*Handlers).fetch},
		kmsg.ListOffsets:             {1, 7, (*Handlers).listOffsets},
		kmsg.Metadata:                {0, 12, (*Handlers).metadata},
		kmsg.ApiVersions:             {0, 4, (*Handlers).apiVersions},
		kmsg.CreateTopics:            {0, 7, (*Handlers).createTopics},
		kmsg.DeleteTopics:            {0, 6, (*Handlers).deleteTopics},
		kmsg.DescribeConfigs:         {0, 4, (*Handlers).describeConfigs},
		kmsg.AlterConfigs:            {0, 2, (*Handlers).alterConfigs},
		kmsg.CreatePartitions:        {0, 3, (*Handlers).createPartitions},
		kmsg.IncrementalAlterConfigs: {0, 1, (*Handlers).incrementalAlterConfigs},
		kmsg.DescribeCluster:         {0, 1, (*Handlers).describeCluster},
	}
}

// Supported implements server.Handler.
func (h *Handlers) Supported(key, version int16) bool {
	a, ok := registry[kmsg.Key(key)]
	return ok && version >= a.min && version <= a.max
}

// Handle implements server.Handler: it dispatches by API key.
func (h *Handlers) Handle(ctx context.Context, req *server.Request) server.Reply {
	a, ok := registry[kmsg.Key(req.Body.Key())]
	if !ok {
		return server.Reply{Close: true}
	}
	return a.serve(h, ctx, req)
}

// respond wraps an immediate response, setting its version to the request's.
func respond(req *server.Request, resp kmsg.Response) server.Reply {
	resp.SetVersion(req.Body.GetVersion())
	return server.Reply{Response: resp}
}
