package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
)

func TestValidateBinding(t *testing.T) {
	valid := topicACL(literal, "orders", alice, opRead, allowP)
	edit := func(f func(*metadata.ACL)) metadata.ACL {
		acl := valid
		f(&acl)
		return acl
	}
	clusterACL := func(name string, o int8) metadata.ACL {
		return edit(func(a *metadata.ACL) { a.ResourceType, a.ResourceName, a.Operation = cluster, name, o })
	}
	cases := []struct {
		name   string
		acl    metadata.ACL
		reason string // "" for valid
	}{
		{"valid", valid, ""},
		{"prefixed deny", edit(func(a *metadata.ACL) { a.PatternType, a.Permission = prefix, denyP }), ""},
		{"cluster", clusterACL(metadata.ClusterResourceName, metadata.ACLOpIdempotentWrite), ""},
		{"group read", edit(func(a *metadata.ACL) { a.ResourceType = group }), ""},
		{"user create tokens", edit(func(a *metadata.ACL) {
			a.ResourceType, a.Operation = metadata.ACLResourceUser, metadata.ACLOpCreateTokens
		}), ""},
		{"any type", edit(func(a *metadata.ACL) { a.ResourceType = metadata.ACLResourceAny }), "resource type ANY"},
		{"unknown type", edit(func(a *metadata.ACL) { a.ResourceType = 0 }), "resource type UNKNOWN"},
		{"type out of range", edit(func(a *metadata.ACL) { a.ResourceType = 42 }), "resource type UNKNOWN"},
		{"match pattern", edit(func(a *metadata.ACL) { a.PatternType = metadata.ACLPatternMatch }), "pattern type MATCH"},
		{"any pattern", edit(func(a *metadata.ACL) { a.PatternType = metadata.ACLPatternAny }), "pattern type ANY"},
		{"any op", edit(func(a *metadata.ACL) { a.Operation = metadata.ACLOpAny }), "operation ANY"},
		{"unknown op", edit(func(a *metadata.ACL) { a.Operation = 0 }), "operation UNKNOWN"},
		{"any permission", edit(func(a *metadata.ACL) { a.Permission = metadata.ACLPermissionAny }), "permission type ANY"},
		{"unknown permission", edit(func(a *metadata.ACL) { a.Permission = 9 }), "permission type UNKNOWN"},
		{"no colon", edit(func(a *metadata.ACL) { a.Principal = "alice" }), "Type:name"},
		{"empty type", edit(func(a *metadata.ACL) { a.Principal = ":alice" }), "Type:name"},
		{"empty principal name", edit(func(a *metadata.ACL) { a.Principal = "User:" }), "Type:name"},
		{"empty name", edit(func(a *metadata.ACL) { a.ResourceName = "" }), "resource name"},
		{"cluster name", clusterACL("other", opAll), "kafka-cluster"},
		{"topic idempotent write", edit(func(a *metadata.ACL) { a.Operation = metadata.ACLOpIdempotentWrite }),
			"IDEMPOTENT_WRITE is not valid for resource type TOPIC"},
		{"group write", edit(func(a *metadata.ACL) { a.ResourceType, a.Operation = group, opWrite }), "not valid"},
		{"cluster read", clusterACL(metadata.ClusterResourceName, opRead), "not valid"},
		{"transactional id read", edit(func(a *metadata.ACL) { a.ResourceType = metadata.ACLResourceTransactionalID }), "not valid"},
		{"token write", edit(func(a *metadata.ACL) {
			a.ResourceType, a.Operation = metadata.ACLResourceDelegationToken, opWrite
		}), "not valid"},
		{"user describe", edit(func(a *metadata.ACL) { a.ResourceType, a.Operation = metadata.ACLResourceUser, opDesc }), "not valid"},
	}
	for _, tc := range cases {
		err := ValidateBinding(tc.acl)
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.reason == "":
		case err == nil || !errors.Is(err, ErrInvalidBinding) || !strings.Contains(err.Error(), tc.reason):
			t.Errorf("%s: error %v, want ErrInvalidBinding mentioning %q", tc.name, err, tc.reason)
		}
	}
}

// TestResourceOperations checks every resource type accepts ALL and
// exactly its listed operations.
func TestResourceOperations(t *testing.T) {
	counts := map[int8]int{topic: 9, group: 4, cluster: 8, metadata.ACLResourceTransactionalID: 3,
		metadata.ACLResourceDelegationToken: 2, metadata.ACLResourceUser: 3}
	for rt, want := range counts {
		got := 0
		for o := int8(0); o < 20; o++ {
			name := "x"
			if rt == cluster {
				name = metadata.ClusterResourceName
			}
			acl := metadata.ACL{ResourceType: rt, ResourceName: name, PatternType: literal,
				Principal: alice, Host: "*", Operation: o, Permission: allowP}
			if ValidateBinding(acl) == nil {
				got++
			}
		}
		if got != want {
			t.Errorf("%s accepts %d operations, want %d", ResourceTypeName(rt), got, want)
		}
	}
}
