package handlers

// AlterConfigs (key 33), versions 0-2.
//
// The legacy, non-incremental API: the configs given replace every dynamic
// config of the topic. Topic resources only; broker resources get
// INVALID_REQUEST until dynamic broker configs exist. Unknown names or
// bad values get INVALID_CONFIG; the change is persisted in the metadata
// log and applies to the topic's partitions at once.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) alterConfigs(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	reqs := make([]controller.AlterConfigs, len(r.Resources))
	for i, res := range r.Resources {
		reqs[i] = controller.AlterConfigs{ResourceType: int8(res.ResourceType), ResourceName: res.ResourceName, ValidateOnly: r.ValidateOnly}
		for _, c := range res.Configs {
			if c.Value != nil {
				reqs[i].Ops = append(reqs[i].Ops, controller.ConfigOp{Name: c.Name, Op: controller.OpSet, Value: *c.Value})
			}
		}
	}
	errs := h.alter(ctx, reqs)
	resp := kmsg.NewPtrAlterConfigsResponse()
	for i, res := range r.Resources {
		out := kmsg.NewAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		out.ErrorCode, out.ErrorMessage = errorCode(errs[i]), errorMessage(errs[i])
		resp.Resources = append(resp.Resources, out)
	}
	return respond(req, resp)
}

// alter sends config changes to the controller; a failure to reach it is
// reported on every resource.
func (h *Handlers) alter(ctx context.Context, reqs []controller.AlterConfigs) []error {
	errs, err := h.d.Controller.AlterConfigs(ctx, reqs)
	if err != nil {
		errs = make([]error, len(reqs))
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}
