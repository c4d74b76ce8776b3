package auth

import (
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
)

const alice = "User:alice"

// read is alice's default question: READ topic "orders" from 10.0.0.1.
var read = Request{Principal: alice, Host: "10.0.0.1", Op: opRead, ResourceType: topic, Name: "orders"}

func with(r Request, edit func(*Request)) Request {
	edit(&r)
	return r
}

func op(o int8) func(*Request) { return func(r *Request) { r.Op = o } }

type authCase struct {
	name          string
	acls          []metadata.ACL
	req           Request
	allowEveryone bool
	want          bool
}

func runAuthCases(t *testing.T, cases []authCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := New([]string{"User:admin"}, tc.allowEveryone)
			if got := a.Authorize(aclSet(tc.acls...), tc.req); got != tc.want {
				t.Errorf("Authorize(%+v) = %v, want %v", tc.req, got, tc.want)
			}
		})
	}
}

func TestAuthorizeResourceMatch(t *testing.T) {
	runAuthCases(t, []authCase{
		{name: "literal", acls: []metadata.ACL{topicACL(literal, "orders", alice, opRead, allowP)}, req: read, want: true},
		{name: "literal other name", acls: []metadata.ACL{topicACL(literal, "payments", alice, opRead, allowP)}, req: read},
		{name: "literal is no prefix", acls: []metadata.ACL{topicACL(literal, "ord", alice, opRead, allowP)}, req: read},
		{name: "literal longer name", acls: []metadata.ACL{topicACL(literal, "orders2", alice, opRead, allowP)}, req: read},
		{name: "wildcard name", acls: []metadata.ACL{topicACL(literal, "*", alice, opRead, allowP)}, req: read, want: true},
		{name: "prefixed", acls: []metadata.ACL{topicACL(prefix, "ord", alice, opRead, allowP)}, req: read, want: true},
		{name: "prefixed whole name", acls: []metadata.ACL{topicACL(prefix, "orders", alice, opRead, allowP)}, req: read, want: true},
		{name: "prefixed longer", acls: []metadata.ACL{topicACL(prefix, "orders.eu", alice, opRead, allowP)}, req: read},
		{name: "prefixed star is literal", acls: []metadata.ACL{topicACL(prefix, "*", alice, opRead, allowP)}, req: read},
		{name: "prefixed among others", acls: []metadata.ACL{
			topicACL(prefix, "o", "User:bob", opRead, allowP), topicACL(prefix, "orx", alice, opRead, allowP),
			topicACL(prefix, "or", alice, opRead, allowP), topicACL(prefix, "p", alice, opRead, allowP)},
			req: read, want: true},
		{name: "other resource type", acls: []metadata.ACL{withType(topicACL(literal, "orders", alice, opRead, allowP), group)}, req: read},
		{name: "other resource type wildcard", acls: []metadata.ACL{withType(topicACL(literal, "*", alice, opAll, allowP), group)}, req: read},
		{name: "other resource type prefixed", acls: []metadata.ACL{withType(topicACL(prefix, "o", alice, opAll, allowP), group)}, req: read},
		{name: "group request", acls: []metadata.ACL{withType(topicACL(literal, "orders", alice, opRead, allowP), group)},
			req: with(read, func(r *Request) { r.ResourceType = group }), want: true},
	})
}

func TestAuthorizePrincipalAndHost(t *testing.T) {
	runAuthCases(t, []authCase{
		{name: "other principal", acls: []metadata.ACL{topicACL(literal, "orders", "User:bob", opRead, allowP)}, req: read},
		{name: "wildcard principal", acls: []metadata.ACL{topicACL(literal, "orders", "User:*", opRead, allowP)}, req: read, want: true},
		{name: "anonymous via wildcard", acls: []metadata.ACL{topicACL(literal, "orders", "User:*", opRead, allowP)},
			req: with(read, func(r *Request) { r.Principal = "User:ANONYMOUS" }), want: true},
		{name: "principal type matters", acls: []metadata.ACL{topicACL(literal, "orders", "Group:alice", opRead, allowP)}, req: read},
		{name: "host equal", acls: []metadata.ACL{withHost(topicACL(literal, "orders", alice, opRead, allowP), "10.0.0.1")}, req: read, want: true},
		{name: "host differs", acls: []metadata.ACL{withHost(topicACL(literal, "orders", alice, opRead, allowP), "10.0.0.2")}, req: read},
		{name: "host wildcard", acls: []metadata.ACL{topicACL(literal, "orders", alice, opRead, allowP)}, req: read, want: true},
		{name: "super user", acls: []metadata.ACL{topicACL(literal, "*", "User:*", opAll, denyP)},
			req: with(read, func(r *Request) { r.Principal = "User:admin" }), want: true},
		{name: "super user without acls", req: with(read, func(r *Request) { r.Principal = "User:admin" }), want: true},
	})
}

func TestAuthorizeDeny(t *testing.T) {
	allowRead := topicACL(literal, "orders", alice, opRead, allowP)
	runAuthCases(t, []authCase{
		{name: "deny beats allow", acls: []metadata.ACL{allowRead, topicACL(literal, "orders", alice, opRead, denyP)}, req: read},
		{name: "deny via wildcard name", acls: []metadata.ACL{allowRead, topicACL(literal, "*", alice, opRead, denyP)}, req: read},
		{name: "deny via prefix", acls: []metadata.ACL{allowRead, topicACL(prefix, "or", alice, opRead, denyP)}, req: read},
		{name: "deny via wildcard principal", acls: []metadata.ACL{allowRead, topicACL(literal, "orders", "User:*", opRead, denyP)}, req: read},
		{name: "deny all", acls: []metadata.ACL{allowRead, topicACL(literal, "orders", alice, opAll, denyP)}, req: read},
		{name: "deny other op", acls: []metadata.ACL{allowRead, topicACL(literal, "orders", alice, opWrite, denyP)}, req: read, want: true},
		{name: "deny other host", acls: []metadata.ACL{allowRead, withHost(topicACL(literal, "orders", alice, opRead, denyP), "10.9.9.9")}, req: read, want: true},
		{name: "deny other principal", acls: []metadata.ACL{allowRead, topicACL(literal, "orders", "User:bob", opRead, denyP)}, req: read, want: true},
		{name: "deny other prefix", acls: []metadata.ACL{allowRead, topicACL(prefix, "orx", alice, opRead, denyP)}, req: read, want: true},
		{name: "deny only", acls: []metadata.ACL{topicACL(literal, "orders", alice, opRead, denyP)}, req: read, allowEveryone: true},
	})
}

func TestAuthorizeImplications(t *testing.T) {
	describe := with(read, op(opDesc))
	describeConfigs := with(read, op(metadata.ACLOpDescribeConfigs))
	acl := func(o, perm int8) metadata.ACL { return topicACL(literal, "orders", alice, o, perm) }
	runAuthCases(t, []authCase{
		{name: "read implies describe", acls: []metadata.ACL{acl(opRead, allowP)}, req: describe, want: true},
		{name: "write implies describe", acls: []metadata.ACL{acl(opWrite, allowP)}, req: describe, want: true},
		{name: "delete implies describe", acls: []metadata.ACL{acl(metadata.ACLOpDelete, allowP)}, req: describe, want: true},
		{name: "alter implies describe", acls: []metadata.ACL{acl(metadata.ACLOpAlter, allowP)}, req: describe, want: true},
		{name: "create does not imply describe", acls: []metadata.ACL{acl(metadata.ACLOpCreate, allowP)}, req: describe},
		{name: "alter configs implies describe configs", acls: []metadata.ACL{acl(metadata.ACLOpAlterConfigs, allowP)}, req: describeConfigs, want: true},
		{name: "describe does not imply describe configs", acls: []metadata.ACL{acl(opDesc, allowP)}, req: describeConfigs},
		{name: "describe does not imply read", acls: []metadata.ACL{acl(opDesc, allowP)}, req: read},
		{name: "all allows", acls: []metadata.ACL{acl(opAll, allowP)}, req: with(read, op(metadata.ACLOpAlterConfigs)), want: true},
		{name: "deny read does not deny describe", acls: []metadata.ACL{acl(opRead, denyP), acl(opDesc, allowP)}, req: describe, want: true},
		{name: "deny read and allow all", acls: []metadata.ACL{acl(opRead, denyP), acl(opAll, allowP)}, req: describe, want: true},
		{name: "deny alter configs does not deny describe configs",
			acls: []metadata.ACL{acl(metadata.ACLOpAlterConfigs, denyP), acl(opAll, allowP)}, req: describeConfigs, want: true},
		{name: "deny describe beats read", acls: []metadata.ACL{acl(opDesc, denyP), acl(opRead, allowP)}, req: describe},
	})
}

func TestAuthorizeNoACLFound(t *testing.T) {
	otherTopic := topicACL(literal, "payments", alice, opRead, allowP)
	bobOnOrders := topicACL(literal, "orders", "User:bob", opWrite, allowP)
	runAuthCases(t, []authCase{
		{name: "empty deny", req: read},
		{name: "empty allow", req: read, allowEveryone: true, want: true},
		{name: "other resource allow", acls: []metadata.ACL{otherTopic}, req: read, allowEveryone: true, want: true},
		{name: "other resource deny", acls: []metadata.ACL{otherTopic}, req: read},
		{name: "other type allow", acls: []metadata.ACL{withType(bobOnOrders, group)}, req: read, allowEveryone: true, want: true},
		{name: "acl for someone else", acls: []metadata.ACL{bobOnOrders}, req: read, allowEveryone: true},
		{name: "acl for another host", acls: []metadata.ACL{withHost(topicACL(literal, "orders", alice, opRead, allowP), "10.9.9.9")},
			req: read, allowEveryone: true},
		{name: "wildcard acl for another op", acls: []metadata.ACL{topicACL(literal, "*", "User:bob", opWrite, allowP)},
			req: read, allowEveryone: true},
		{name: "prefixed acl for another op", acls: []metadata.ACL{topicACL(prefix, "o", alice, opWrite, allowP)},
			req: read, allowEveryone: true},
	})
}

func TestAuthorizeNilSet(t *testing.T) {
	if New(nil, false).Authorize(nil, read) {
		t.Error("nil set with allowEveryone=false allowed")
	}
	if !New(nil, true).Authorize(nil, read) {
		t.Error("nil set with allowEveryone=true denied")
	}
}

func TestAuthorizeCachesIndex(t *testing.T) {
	a := New(nil, false)
	s1 := aclSet(topicACL(literal, "orders", alice, opRead, allowP))
	s2 := aclSet()
	a.Authorize(s1, read)
	first := a.cache.Load().newest
	a.Authorize(s1, read)
	if a.cache.Load().newest != first {
		t.Fatal("index rebuilt for the same set")
	}
	a.Authorize(s2, read)
	if !a.Authorize(s1, read) || a.cache.Load().older != first {
		t.Fatal("the previous set's index was not kept")
	}
}
