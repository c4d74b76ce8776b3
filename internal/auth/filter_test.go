package auth

import (
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
)

// anyFilter matches every ACL.
var anyFilter = Filter{ResourceType: metadata.ACLResourceAny, PatternType: metadata.ACLPatternAny,
	Operation: metadata.ACLOpAny, Permission: metadata.ACLPermissionAny}

func filter(edit func(*Filter)) Filter {
	f := anyFilter
	edit(&f)
	return f
}

func named(pattern int8, name string) Filter {
	return filter(func(f *Filter) { f.PatternType, f.ResourceName = pattern, strp(name) })
}

func TestFilterMatches(t *testing.T) {
	lit := topicACL(literal, "orders", alice, opRead, allowP)
	star := topicACL(literal, "*", alice, opRead, allowP)
	pre := topicACL(prefix, "ord", alice, opRead, allowP)
	preStar := topicACL(prefix, "*", alice, opRead, allowP)
	longPre := topicACL(prefix, "orders.eu", alice, opRead, allowP)
	cases := []struct {
		name string
		f    Filter
		acl  metadata.ACL
		want bool
	}{
		{"any", anyFilter, lit, true},
		{"type", filter(func(f *Filter) { f.ResourceType = topic }), lit, true},
		{"other type", filter(func(f *Filter) { f.ResourceType = group }), lit, false},
		{"any pattern exact name", named(metadata.ACLPatternAny, "orders"), lit, true},
		{"any pattern prefixed exact name", named(metadata.ACLPatternAny, "ord"), pre, true},
		{"any pattern no wildcard", named(metadata.ACLPatternAny, "orders"), star, false},
		{"any pattern no prefix", named(metadata.ACLPatternAny, "orders"), pre, false},
		{"literal on literal", named(literal, "orders"), lit, true},
		{"literal on prefixed", named(literal, "ord"), pre, false},
		{"prefixed on prefixed", named(prefix, "ord"), pre, true},
		{"prefixed on literal", named(prefix, "orders"), lit, false},
		{"literal star only star", named(literal, "*"), star, true},
		{"literal star not others", named(literal, "*"), lit, false},
		{"pattern without name", filter(func(f *Filter) { f.PatternType = prefix }), pre, true},
		{"match literal", named(metadata.ACLPatternMatch, "orders"), lit, true},
		{"match wildcard", named(metadata.ACLPatternMatch, "orders"), star, true},
		{"match prefix", named(metadata.ACLPatternMatch, "orders"), pre, true},
		{"match whole-name prefix", named(metadata.ACLPatternMatch, "orders.eu"), longPre, true},
		{"match longer prefix", named(metadata.ACLPatternMatch, "orders"), longPre, false},
		{"match prefixed star", named(metadata.ACLPatternMatch, "orders"), preStar, false},
		{"match other literal", named(metadata.ACLPatternMatch, "ord"), lit, false},
		{"match without name", filter(func(f *Filter) { f.PatternType = metadata.ACLPatternMatch }), longPre, true},
		{"match other type", filter(func(f *Filter) {
			f.ResourceType, f.PatternType, f.ResourceName = group, metadata.ACLPatternMatch, strp("orders")
		}), lit, false},
		{"principal", filter(func(f *Filter) { f.Principal = strp(alice) }), lit, true},
		{"other principal", filter(func(f *Filter) { f.Principal = strp("User:*") }), lit, false},
		{"host", filter(func(f *Filter) { f.Host = strp("*") }), lit, true},
		{"other host", filter(func(f *Filter) { f.Host = strp("10.0.0.1") }), lit, false},
		{"operation", filter(func(f *Filter) { f.Operation = opRead }), lit, true},
		{"operation all is not any", filter(func(f *Filter) { f.Operation = opAll }), lit, false},
		{"permission", filter(func(f *Filter) { f.Permission = allowP }), lit, true},
		{"other permission", filter(func(f *Filter) { f.Permission = denyP }), lit, false},
	}
	for _, tc := range cases {
		if got := tc.f.Matches(tc.acl); got != tc.want {
			t.Errorf("%s: Matches(%+v) = %v, want %v", tc.name, tc.acl, got, tc.want)
		}
	}
}
