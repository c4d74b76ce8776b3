package auth

import (
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
)

func TestAuthorizeByResourceType(t *testing.T) {
	const alice = "User:alice"
	for name, tc := range map[string]struct {
		acls []metadata.ACL
		want bool
	}{
		"no ACL":                      {nil, false},
		"literal allow":               {[]metadata.ACL{topicACL(literal, "orders", alice, opWrite, allowP)}, true},
		"allow ALL":                   {[]metadata.ACL{topicACL(literal, "orders", alice, opAll, allowP)}, true},
		"allow of another op":         {[]metadata.ACL{topicACL(literal, "orders", alice, opRead, allowP)}, false},
		"allow of another principal":  {[]metadata.ACL{topicACL(literal, "orders", "User:bob", opWrite, allowP)}, false},
		"allow on a group":            {[]metadata.ACL{withType(topicACL(literal, "g", alice, opWrite, allowP), group)}, false},
		"wildcard principal":          {[]metadata.ACL{topicACL(prefix, "o", "User:*", opWrite, allowP)}, true},
		"same literal denied":         {[]metadata.ACL{topicACL(literal, "orders", alice, opWrite, allowP), topicACL(literal, "orders", alice, opWrite, denyP)}, false},
		"other literal denied":        {[]metadata.ACL{topicACL(literal, "orders", alice, opWrite, allowP), topicACL(literal, "x", alice, opWrite, denyP)}, true},
		"prefix denies the literal":   {[]metadata.ACL{topicACL(literal, "orders", alice, opWrite, allowP), topicACL(prefix, "ord", alice, opWrite, denyP)}, false},
		"prefix denies longer prefix": {[]metadata.ACL{topicACL(prefix, "orders-", alice, opWrite, allowP), topicACL(prefix, "or", alice, opWrite, denyP)}, false},
		"longer deny leaves prefix":   {[]metadata.ACL{topicACL(prefix, "or", alice, opWrite, allowP), topicACL(prefix, "orders", alice, opWrite, denyP)}, true},
		"wildcard deny":               {[]metadata.ACL{topicACL(literal, "orders", alice, opWrite, allowP), topicACL(literal, "*", alice, opWrite, denyP)}, false},
		"wildcard allow":              {[]metadata.ACL{topicACL(literal, "*", alice, opWrite, allowP), topicACL(literal, "orders", alice, opWrite, denyP)}, true},
		"deny from another host":      {[]metadata.ACL{topicACL(literal, "orders", alice, opWrite, allowP), withHost(topicACL(literal, "orders", alice, opWrite, denyP), "10.0.0.9")}, true},
	} {
		t.Run(name, func(t *testing.T) {
			a := New([]string{"User:admin"}, false)
			r := Request{Principal: alice, Host: "127.0.0.1", Op: opWrite, ResourceType: topic}
			if got := a.AuthorizeByResourceType(aclSet(tc.acls...), r); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	r := Request{Principal: "User:admin", Op: opWrite, ResourceType: topic}
	if !New([]string{"User:admin"}, false).AuthorizeByResourceType(nil, r) {
		t.Error("a super user is refused")
	}
	if !New(nil, true).AuthorizeByResourceType(aclSet(), Request{Principal: "User:x", Op: opWrite, ResourceType: topic}) {
		t.Error("allow.everyone.if.no.acl.found does not allow without ACLs")
	}
}
