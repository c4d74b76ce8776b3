package auth

import (
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
)

// AuthorizeByResourceType reports whether r.Principal may perform r.Op on
// at least one resource of r.ResourceType (r.Name is ignored), as Kafka's
// Authorizer.authorizeByResourceType decides it (InitProducerId asks it for
// WRITE on any topic): allowed if the operation is allowed on an arbitrary
// name (super users, a wildcard ALLOW, or no ACL at all with
// allow.everyone.if.no.acl.found); else denied by a DENY on the wildcard;
// else allowed by a matching ALLOW whose pattern no matching DENY
// dominates (the same literal name, or a PREFIXED deny that is a prefix of
// it).
func (a *Authorizer) AuthorizeByResourceType(acls *metadata.ACLs, r Request) bool {
	r.Name = "hardcode" // a name no ACL is likely to mention, as Kafka uses
	if a.Authorize(acls, r) {
		return true
	}
	if acls == nil {
		return false
	}
	var allows []metadata.ACL
	denyLiteral, denyPrefix := map[string]bool{}, map[string]bool{}
	for _, acl := range acls.ByID {
		if !appliesTo(acl, r) {
			continue
		}
		switch {
		case acl.Permission == metadata.ACLPermissionDeny && acl.PatternType == metadata.ACLPatternPrefixed:
			denyPrefix[acl.ResourceName] = true
		case acl.Permission == metadata.ACLPermissionDeny && acl.ResourceName == wildcard:
			return false
		case acl.Permission == metadata.ACLPermissionDeny:
			denyLiteral[acl.ResourceName] = true
		case acl.Permission == metadata.ACLPermissionAllow:
			allows = append(allows, acl)
		}
	}
	return slices.ContainsFunc(allows, func(acl metadata.ACL) bool { return !dominated(acl, denyLiteral, denyPrefix) })
}

// appliesTo reports whether acl is about r.Op (or ALL) on resources of
// r.ResourceType, for r.Principal (or User:*) from r.Host (or *).
func appliesTo(acl metadata.ACL, r Request) bool {
	return acl.ResourceType == r.ResourceType &&
		(acl.Operation == r.Op || acl.Operation == metadata.ACLOpAll) &&
		(acl.Principal == r.Principal || acl.Principal == wildcardPrincipal) &&
		(acl.Host == wildcard || acl.Host == r.Host)
}

// dominated reports whether an ALLOW pattern is cancelled by DENY ones:
// the wildcard allows everything not denied by the wildcard (checked
// before); a literal is cancelled by a DENY of the same literal; any name
// by a DENY of one of its prefixes.
func dominated(allow metadata.ACL, denyLiteral, denyPrefix map[string]bool) bool {
	if allow.PatternType == metadata.ACLPatternLiteral && allow.ResourceName == wildcard {
		return false
	}
	if allow.PatternType == metadata.ACLPatternLiteral && denyLiteral[allow.ResourceName] {
		return true
	}
	for i := 1; i <= len(allow.ResourceName); i++ {
		if denyPrefix[allow.ResourceName[:i]] {
			return true
		}
	}
	return false
}
