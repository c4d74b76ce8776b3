package handlers

// AlterConfigs (key 33), versions 0-2.
//
// The legacy, non-incremental API: the configs given replace every dynamic
// config of the topic. Topic resources only; broker resources get
// INVALID_REQUEST until dynamic broker configs exist. Unknown names or
// bad values get INVALID_CONFIG; the change is persisted in the metadata
// log and applies to the topic's partitions at once.
//
// Authorization (as Kafka), per resource: ALTER_CONFIGS on the topic (else
// TOPIC_AUTHORIZATION_FAILED), on the cluster for broker and
// client-metrics resources (else CLUSTER_AUTHORIZATION_FAILED), on the
// group for group resources (else GROUP_AUTHORIZATION_FAILED); refused
// resources are not sent to the controller.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
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
	errs := h.alter(ctx, req, reqs)
	resp := kmsg.NewPtrAlterConfigsResponse()
	for i, res := range r.Resources {
		out := kmsg.NewAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res.ResourceType, res.ResourceName
		out.ErrorCode, out.ErrorMessage = errorCode(errs[i]), errorMessage(errs[i])
		resp.Resources = append(resp.Resources, out)
	}
	return respond(req, resp)
}

// alter sends the config changes the principal may make to the
// controller and returns each one's error: its authorization error, or
// the controller's (a failure to reach it is reported on every resource
// sent).
func (h *Handlers) alter(ctx context.Context, req *server.Request, reqs []controller.AlterConfigs) []error {
	errs := make([]error, len(reqs))
	var send []controller.AlterConfigs
	for i, c := range reqs {
		if e := h.alterConfigsError(req, c); e != nil {
			errs[i] = e
			continue
		}
		send = append(send, c)
	}
	if len(send) == 0 {
		return errs
	}
	sent, err := h.d.Controller.AlterConfigs(ctx, send)
	j := 0
	for i := range errs {
		if errs[i] != nil {
			continue
		}
		if errs[i] = err; err == nil {
			errs[i] = sent[j]
		}
		j++
	}
	return errs
}

// alterConfigsError is the authorization error of one change, nil if it
// may be made. The legacy API refuses broker-logger resources without
// asking (INVALID_REQUEST from the controller), as Kafka does.
func (h *Handlers) alterConfigsError(req *server.Request, c controller.AlterConfigs) error {
	typ := kmsg.ConfigResourceType(c.ResourceType)
	if !c.Incremental && typ == kmsg.ConfigResourceTypeBrokerLogger {
		return nil
	}
	if e := h.configResourceError(req, metadata.ACLOpAlterConfigs, typ, c.ResourceName); e != nil {
		return e
	}
	return nil
}
