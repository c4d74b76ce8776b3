package handlers

// IncrementalAlterConfigs (key 44), versions 0-1.
//
// SET, DELETE, APPEND and SUBTRACT (list configs only) on topic configs,
// validated as a whole per resource (INVALID_CONFIG), and on broker
// resources (a broker id, or "" for the cluster-wide default): dynamic
// broker configs, where a read-only or unknown name or a bad value gets
// INVALID_REQUEST as in Kafka (see controller.alterBrokerConfigs). A null
// value for anything but DELETE gets INVALID_REQUEST. Changes are
// persisted in the metadata log and apply at once, without a restart.
// As AlterConfigs, a broker resource naming another broker is accepted.
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
	reqs := make([]configChange, len(r.Resources))
	for i, res := range r.Resources {
		reqs[i].AlterConfigs = controller.AlterConfigs{
			ResourceType: int8(res.ResourceType), ResourceName: res.ResourceName,
			Incremental: true, ValidateOnly: r.ValidateOnly,
		}
		var nulls []string
		for _, c := range res.Configs {
			op := controller.ConfigOp{Name: c.Name, Op: int8(c.Op)}
			if c.Value != nil {
				op.Value = *c.Value
			} else if op.Op != controller.OpDelete {
				nulls = append(nulls, c.Name)
			}
			reqs[i].Ops = append(reqs[i].Ops, op)
		}
		reqs[i].Invalid = nullValuesError(nulls)
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
