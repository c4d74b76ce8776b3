package handlers

// AlterClientQuotas (key 49), versions 0-1; an admin API (forwarded to the
// active controller, which commits every valid entry in one metadata
// entry; with ValidateOnly nothing is committed).
//
// Entities are a user, a client-id or both, each named or the default
// (a null name). Keys: producer_byte_rate and consumer_byte_rate (bytes
// per second, integers), request_percentage (percent of one handler's
// time) and controller_mutation_rate (partition mutations per second).
// Each entry succeeds or fails as a whole, with INVALID_REQUEST for an
// empty, repeated or unknown entity type, an unknown or repeated key, a
// fractional value of an integer key, or a value that is not positive;
// CLUSTER_AUTHORIZATION_FAILED without ALTER_CONFIGS on the cluster.
// Not implemented: ip entities (KIP-612 connection_creation_rate):
// INVALID_REQUEST.

import (
	"context"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) alterClientQuotas(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AlterClientQuotasRequest)
	resp := kmsg.NewPtrAlterClientQuotasResponse()
	errs := make([]error, len(r.Entries))
	alts := make([]controller.QuotaAlteration, len(r.Entries))
	for i, e := range r.Entries {
		alts[i] = quotaAlteration(e)
	}
	if !h.authorizeCluster(req, metadata.ACLOpAlterConfigs) {
		for i := range errs {
			errs[i] = kerr.ClusterAuthorizationFailed
		}
	} else if len(alts) > 0 {
		out, err := h.d.Controller.AlterClientQuotas(ctx, alts, r.ValidateOnly)
		for i := range errs {
			errs[i] = firstErr(err, errAt(out, i))
		}
	}
	for i, e := range r.Entries {
		res := kmsg.NewAlterClientQuotasResponseEntry()
		res.ErrorCode, res.ErrorMessage = errorCode(errs[i]), detailMessage(errs[i])
		for _, p := range e.Entity {
			ent := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = p.Type, p.Name
			res.Entity = append(res.Entity, ent)
		}
		resp.Entries = append(resp.Entries, res)
	}
	return respond(req, resp)
}

func quotaAlteration(e kmsg.AlterClientQuotasRequestEntry) controller.QuotaAlteration {
	var a controller.QuotaAlteration
	for _, p := range e.Entity {
		a.Entity = append(a.Entity, metadata.QuotaEntityPart{Type: p.Type, Name: p.Name})
	}
	for _, op := range e.Ops {
		a.Ops = append(a.Ops, controller.QuotaOp{Key: op.Key, Value: op.Value, Remove: op.Remove})
	}
	return a
}
