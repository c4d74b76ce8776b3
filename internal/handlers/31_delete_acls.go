package handlers

// DeleteAcls (key 31), versions 0-3; an admin API (forwarded to the
// active controller, which removes every matching ACL in one entry).
//
// Each filter (Kafka's AclBindingFilter) removes the ACLs it matches and
// lists them. Needs ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED
// per filter); without an authorizer: SECURITY_DISABLED; unknown enums:
// INVALID_REQUEST.

import (
	"context"
	"maps"
	"slices"

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) deleteACLs(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DeleteACLsRequest)
	resp := kmsg.NewPtrDeleteACLsResponse()
	matches := make([]map[metadata.UUID]metadata.ACL, len(r.Filters))
	var ids []metadata.UUID
	for i, fl := range r.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		f := auth.Filter{ResourceType: int8(fl.ResourceType), ResourceName: fl.ResourceName, PatternType: int8(fl.ResourcePatternType),
			Principal: fl.Principal, Host: fl.Host, Operation: int8(fl.Operation), Permission: int8(fl.PermissionType)}
		if e := h.aclAPIError(req, metadata.ACLOpAlter, f); e != nil {
			res.ErrorCode, res.ErrorMessage = e.Code, &e.Message
		} else {
			matches[i] = matchingACLs(h.d.Image().ACLSet(), f)
			ids = append(ids, slices.Collect(maps.Keys(matches[i]))...)
		}
		resp.Results = append(resp.Results, res)
	}
	removed, err := h.removeACLs(ctx, ids)
	for i := range resp.Results {
		if matches[i] != nil {
			fillDeleted(&resp.Results[i], matches[i], removed, err)
		}
	}
	return respond(req, resp)
}

// removeACLs asks the controller to remove ids and returns the set removed.
func (h *Handlers) removeACLs(ctx context.Context, ids []metadata.UUID) (map[metadata.UUID]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	gone, err := h.d.Controller.DeleteACLs(ctx, ids)
	removed := map[metadata.UUID]bool{}
	for _, id := range gone {
		removed[id] = true
	}
	return removed, err
}

// fillDeleted lists a filter's matching ACLs that were removed, or the
// commit error for the whole filter.
func fillDeleted(res *kmsg.DeleteACLsResponseResult, matched map[metadata.UUID]metadata.ACL, removed map[metadata.UUID]bool, err error) {
	if err != nil {
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		return
	}
	var acls []metadata.ACL
	for id, a := range matched {
		if removed[id] {
			acls = append(acls, a)
		}
	}
	for _, a := range sortACLs(acls) {
		m := kmsg.NewDeleteACLsResponseResultMatchingACL()
		m.ResourceType, m.ResourceName = kmsg.ACLResourceType(a.ResourceType), a.ResourceName
		m.ResourcePatternType = kmsg.ACLResourcePatternType(a.PatternType)
		m.Principal, m.Host = a.Principal, a.Host
		m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		res.MatchingACLs = append(res.MatchingACLs, m)
	}
}
