package auth

import (
	"encoding/binary"

	"github.com/fjordlog/fjord/internal/metadata"
)

// Short names for the enums, to keep the tables readable.
const (
	topic   = metadata.ACLResourceTopic
	group   = metadata.ACLResourceGroup
	cluster = metadata.ACLResourceCluster
	literal = metadata.ACLPatternLiteral
	prefix  = metadata.ACLPatternPrefixed
	allowP  = metadata.ACLPermissionAllow
	denyP   = metadata.ACLPermissionDeny
	opAll   = metadata.ACLOpAll
	opRead  = metadata.ACLOpRead
	opWrite = metadata.ACLOpWrite
	opDesc  = metadata.ACLOpDescribe
)

// aclSet returns an ACL set holding acls under sequential ids.
func aclSet(acls ...metadata.ACL) *metadata.ACLs {
	s := &metadata.ACLs{ByID: make(map[metadata.UUID]metadata.ACL, len(acls))}
	for i, a := range acls {
		var id metadata.UUID
		binary.BigEndian.PutUint64(id[8:], uint64(i+1))
		s.ByID[id] = a
	}
	return s
}

// topicACL is an ACL on a topic pattern from any host.
func topicACL(pattern int8, name, principal string, op, perm int8) metadata.ACL {
	return metadata.ACL{ResourceType: topic, ResourceName: name, PatternType: pattern,
		Principal: principal, Host: "*", Operation: op, Permission: perm}
}

// withHost returns acl bound to host.
func withHost(acl metadata.ACL, host string) metadata.ACL {
	acl.Host = host
	return acl
}

// withType returns acl on a resource of type t.
func withType(acl metadata.ACL, t int8) metadata.ACL {
	acl.ResourceType = t
	return acl
}

func strp(s string) *string { return &s }
