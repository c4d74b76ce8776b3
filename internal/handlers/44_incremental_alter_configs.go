package handlers

// IncrementalAlterConfigs (key 44), versions 0-1.
//
// SET, DELETE, APPEND and SUBTRACT (list configs only) on topic configs,
// validated as a whole per resource (INVALID_CONFIG) and persisted in the
// metadata log. Broker resources get INVALID_REQUEST until dynamic broker
// configs exist.
//
// Authorization: as AlterConfigs (ALTER_CONFIGS per resource; broker-logger
// resources on the cluster).

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) incrementalAlterConfigs(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	reqs := make([]controller.AlterConfigs, len(r.Resources))
	for i, res := range r.Resources {
		reqs[i] = controller.AlterConfigs{
			ResourceType: int8(res.ResourceType), ResourceName: res.ResourceName,
			Incremental: true, ValidateOnly: r.ValidateOnly,
		}
		for _, c := range res.Configs {
			op := controller.ConfigOp{Name: c.Name, Op: int8(c.Op)}
			if c.Value != nil {
				op.Value = *c.Value
			}
			reqs[i].Ops = append(reqs[i].Ops, op)
		}
	}
	errs := h.alter(ctx, req, reqs)
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	for i, res := range r.Resources {
		out := kmsg.NewIncrementalAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		out.ErrorCode, out.ErrorMessage = errorCode(errs[i]), errorMessage(errs[i])
		resp.Resources = append(resp.Resources, out)
	}
	return respond(req, resp)
}
