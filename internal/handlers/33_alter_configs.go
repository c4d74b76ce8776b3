package handlers

// AlterConfigs (key 33), versions 0-2.
//
// The legacy, non-incremental API: the configs given replace every dynamic
// config of the resource. Topic resources: unknown names or bad values
// get INVALID_CONFIG. Broker resources (a broker id, or "" for the
// cluster-wide default; dynamic broker configs, see
// controller.alterBrokerConfigs): read-only or unknown names and bad
// values get INVALID_REQUEST, as Kafka. A null value gets INVALID_REQUEST
// (Kafka's "Null value not supported"). The change is persisted in the
// metadata log and applies at once, without a restart.
//
// Not as Kafka: a broker resource naming another broker is accepted (the
// change is stored for that broker), where Kafka's receiving broker
// insists on its own id; Kafka clients send it to that broker anyway.
//
// Authorization (as Kafka), per resource: ALTER_CONFIGS on the topic (else
// TOPIC_AUTHORIZATION_FAILED), on the cluster for broker and
// client-metrics resources (else CLUSTER_AUTHORIZATION_FAILED), on the
// group for group resources (else GROUP_AUTHORIZATION_FAILED); refused
// resources are not sent to the controller.

import (
	"context"
	"fmt"
	"strings"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) alterConfigs(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	reqs := make([]configChange, len(r.Resources))
	for i, res := range r.Resources {
		reqs[i].AlterConfigs = controller.AlterConfigs{ResourceType: int8(res.ResourceType), ResourceName: res.ResourceName, ValidateOnly: r.ValidateOnly}
		var nulls []string
		for _, c := range res.Configs {
			if c.Value == nil {
				nulls = append(nulls, c.Name)
				continue
			}
			reqs[i].Ops = append(reqs[i].Ops, controller.ConfigOp{Name: c.Name, Op: controller.OpSet, Value: *c.Value})
		}
		reqs[i].Invalid = nullValuesError(nulls)
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

// configChange is one resource's change, with the error found in the
// request before it reaches the controller (nil if none).
type configChange struct {
	controller.AlterConfigs
	Invalid error
}

// nullValuesError is Kafka's error for configs given a null value (but
// for DELETE), nil if there are none.
func nullValuesError(names []string) error {
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("%w: null value not supported for: %s", kerr.InvalidRequest, strings.Join(names, ", "))
}

// alter sends the config changes the principal may make to the
// controller and returns each one's error: its authorization error, the
// error in the request, or the controller's (a failure to reach it is
// reported on every resource sent).
func (h *Handlers) alter(ctx context.Context, req *server.Request, reqs []configChange) []error {
	errs := make([]error, len(reqs))
	var send []controller.AlterConfigs
	for i, c := range reqs {
		if e := h.alterConfigsError(req, c.AlterConfigs); e != nil {
			errs[i] = e
			continue
		}
		if c.Invalid != nil {
			errs[i] = c.Invalid
			continue
		}
		send = append(send, c.AlterConfigs)
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
