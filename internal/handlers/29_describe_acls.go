package handlers

// DescribeAcls (key 29), versions 0-3.
//
// Lists the ACLs that match the filter (Kafka's AclBindingFilter: ANY and
// MATCH pattern types, nil fields match anything), grouped by resource
// pattern. Needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED);
// without an authorizer: SECURITY_DISABLED; an unknown enum in the filter:
// INVALID_REQUEST.

import (
	"context"
	"maps"
	"slices"

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeACLs(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeACLsRequest)
	resp := kmsg.NewPtrDescribeACLsResponse()
	f := auth.Filter{ResourceType: int8(r.ResourceType), ResourceName: r.ResourceName, PatternType: int8(r.ResourcePatternType),
		Principal: r.Principal, Host: r.Host, Operation: int8(r.Operation), Permission: int8(r.PermissionType)}
	if err := h.aclAPIError(req, metadata.ACLOpDescribe, f); err != nil {
		resp.ErrorCode, resp.ErrorMessage = err.Code, &err.Message
		return respond(req, resp)
	}
	resp.Resources = describeResources(matchingACLs(h.d.Image().ACLSet(), f))
	return respond(req, resp)
}

// aclAPIError checks what every ACL API checks: an authorizer exists, the
// principal may perform op on the cluster, the filter's enums are known.
func (h *Handlers) aclAPIError(req *server.Request, op int8, f auth.Filter) *kerr.Error {
	switch {
	case h.d.Authorizer == nil:
		return kerr.SecurityDisabled
	case !h.authorizeCluster(req, op):
		return kerr.ClusterAuthorizationFailed
	case !validFilter(f):
		return kerr.InvalidRequest
	}
	return nil
}

// validFilter reports whether the filter's enums are known values.
func validFilter(f auth.Filter) bool {
	return inRange(f.ResourceType, metadata.ACLResourceAny, metadata.ACLResourceUser) &&
		inRange(f.PatternType, metadata.ACLPatternAny, metadata.ACLPatternPrefixed) &&
		inRange(f.Operation, metadata.ACLOpAny, metadata.ACLOpDescribeTokens) &&
		inRange(f.Permission, metadata.ACLPermissionAny, metadata.ACLPermissionAllow)
}

func inRange(v, lo, hi int8) bool { return v >= lo && v <= hi }

// matchingACLs returns the ACLs of set that pass the filter, by id.
func matchingACLs(set *metadata.ACLs, f auth.Filter) map[metadata.UUID]metadata.ACL {
	out := map[metadata.UUID]metadata.ACL{}
	for id, acl := range set.ByID {
		if f.Matches(acl) {
			out[id] = acl
		}
	}
	return out
}

// aclPattern is the resource pattern an ACL is bound to.
type aclPattern struct {
	typ     int8
	name    string
	pattern int8
}

// describeResources groups ACLs by resource pattern, in a stable order.
func describeResources(acls map[metadata.UUID]metadata.ACL) []kmsg.DescribeACLsResponseResource {
	byPattern := map[aclPattern][]metadata.ACL{}
	for _, a := range acls {
		p := aclPattern{a.ResourceType, a.ResourceName, a.PatternType}
		byPattern[p] = append(byPattern[p], a)
	}
	keys := slices.SortedFunc(maps.Keys(byPattern), comparePatterns)
	out := make([]kmsg.DescribeACLsResponseResource, 0, len(keys))
	for _, k := range keys {
		res := kmsg.NewDescribeACLsResponseResource()
		res.ResourceType, res.ResourceName = kmsg.ACLResourceType(k.typ), k.name
		res.ResourcePatternType = kmsg.ACLResourcePatternType(k.pattern)
		for _, a := range sortACLs(byPattern[k]) {
			e := kmsg.NewDescribeACLsResponseResourceACL()
			e.Principal, e.Host = a.Principal, a.Host
			e.Operation, e.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			res.ACLs = append(res.ACLs, e)
		}
		out = append(out, res)
	}
	return out
}

func comparePatterns(a, b aclPattern) int {
	if a.typ != b.typ {
		return int(a.typ) - int(b.typ)
	}
	if a.name != b.name {
		if a.name < b.name {
			return -1
		}
		return 1
	}
	return int(a.pattern) - int(b.pattern)
}

// sortACLs orders the entries of one pattern by principal, host,
// operation and permission.
func sortACLs(acls []metadata.ACL) []metadata.ACL {
	slices.SortFunc(acls, func(a, b metadata.ACL) int {
		switch {
		case a.Principal != b.Principal:
			return compareStrings(a.Principal, b.Principal)
		case a.Host != b.Host:
			return compareStrings(a.Host, b.Host)
		case a.Operation != b.Operation:
			return int(a.Operation) - int(b.Operation)
		}
		return int(a.Permission) - int(b.Permission)
	})
	return acls
}

func compareStrings(a, b string) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}
