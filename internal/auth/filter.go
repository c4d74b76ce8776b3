package auth

import (
	"strings"

	"github.com/fjordlog/fjord/internal/metadata"
)

// Filter is an AclBindingFilter (DescribeAcls, DeleteAcls): nil string
// fields match anything; ResourceType ACLResourceAny, PatternType
// ACLPatternAny, Operation ACLOpAny and Permission ACLPermissionAny match
// anything. PatternType ACLPatternMatch matches the ACLs that would apply
// to a resource named ResourceName: LITERAL ACLs with that name or "*",
// and PREFIXED ACLs whose prefix the name starts with.
type Filter struct {
	ResourceType    int8
	ResourceName    *string
	PatternType     int8
	Principal, Host *string
	Operation       int8
	Permission      int8
}

// Matches reports whether acl passes the filter, as Kafka's
// AclBindingFilter.matches does.
func (f Filter) Matches(acl metadata.ACL) bool {
	return f.matchesPattern(acl) && f.matchesEntry(acl)
}

func (f Filter) matchesPattern(acl metadata.ACL) bool {
	if f.ResourceType != metadata.ACLResourceAny && f.ResourceType != acl.ResourceType {
		return false
	}
	anyPattern := f.PatternType == metadata.ACLPatternAny || f.PatternType == metadata.ACLPatternMatch
	if !anyPattern && f.PatternType != acl.PatternType {
		return false
	}
	if f.ResourceName == nil {
		return true
	}
	name := *f.ResourceName
	if f.PatternType != metadata.ACLPatternMatch || acl.PatternType == metadata.ACLPatternMatch {
		return name == acl.ResourceName
	}
	switch acl.PatternType {
	case metadata.ACLPatternLiteral:
		return name == acl.ResourceName || acl.ResourceName == wildcard
	case metadata.ACLPatternPrefixed:
		return strings.HasPrefix(name, acl.ResourceName)
	}
	return false
}

func (f Filter) matchesEntry(acl metadata.ACL) bool {
	switch {
	case f.Principal != nil && *f.Principal != acl.Principal:
		return false
	case f.Host != nil && *f.Host != acl.Host:
		return false
	case f.Operation != metadata.ACLOpAny && f.Operation != acl.Operation:
		return false
	}
	return f.Permission == metadata.ACLPermissionAny || f.Permission == acl.Permission
}
