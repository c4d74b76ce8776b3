// Package auth decides whether a principal may perform an operation on a
// resource, with the semantics of Apache Kafka's StandardAuthorizer, over
// the ACLs of a metadata image (metadata.ACLs). It also validates ACLs
// before they are created (CreateAcls), matches the binding filters of
// DescribeAcls and DeleteAcls, and prints and parses the ACL enums by the
// names kafka-acls uses.
//
// The package is pure: no IO, no clock, no goroutines. Decisions depend
// only on the ACL set passed in and the Authorizer's fixed configuration.
package auth

import (
	"sync"
	"sync/atomic"

	"github.com/fjordlog/fjord/internal/metadata"
)

// Kafka's wildcards: the principal matching every principal, and the host
// and the literal resource name matching every host and name.
const (
	wildcardPrincipal = "User:*"
	wildcard          = "*"
)

// Authorizer decides requests against a set of ACLs. Safe for concurrent
// use.
//
// It keeps the indexes of the two ACL sets asked about most recently
// (normally the current image's and, during a change, its predecessor's),
// so deciding against them costs a few map lookups; asking about any other
// set builds its index first.
type Authorizer struct {
	superUsers   map[string]bool
	allowIfNoACL bool

	cache   atomic.Pointer[indexCache] // read without locking
	buildMu sync.Mutex                 // serializes index builds
}

// indexCache holds the two most recently built indexes, newest first.
// It is immutable once published.
type indexCache struct {
	newest, older *index
}

// New returns an Authorizer. superUsers are principals ("User:admin")
// allowed everything; allowEveryoneIfNoACLFound decides requests on
// resources that no ACL matches (Kafka's allow.everyone.if.no.acl.found).
func New(superUsers []string, allowEveryoneIfNoACLFound bool) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowIfNoACL: allowEveryoneIfNoACLFound}
	for _, u := range superUsers {
		a.superUsers[u] = true
	}
	a.cache.Store(&indexCache{})
	return a
}

// Request is one question: may Principal ("User:alice"), connecting from
// Host (an IP address string, no port), perform Op (metadata.ACLOp*) on the
// resource of type ResourceType (metadata.ACLResource*) named Name?
type Request struct {
	Principal, Host string
	Op              int8
	ResourceType    int8
	Name            string
}

// Authorize answers r against acls (an image's ACL set; nil means none):
// super users are allowed; otherwise a matching DENY ACL denies, else a
// matching ALLOW ACL allows, else the request is denied if any ACL at all
// is bound to the resource, and decided by allowEveryoneIfNoACLFound if
// none is.
func (a *Authorizer) Authorize(acls *metadata.ACLs, r Request) bool {
	if a.superUsers[r.Principal] {
		return true
	}
	v := a.indexFor(acls).decide(&r)
	switch {
	case v.denied:
		return false
	case v.allowed:
		return true
	case v.found:
		return false
	}
	return a.allowIfNoACL
}

// indexFor returns the index of acls from the cache, building and caching
// it on a miss.
func (a *Authorizer) indexFor(acls *metadata.ACLs) *index {
	if idx := a.cache.Load().lookup(acls); idx != nil {
		return idx
	}
	a.buildMu.Lock()
	defer a.buildMu.Unlock()
	c := a.cache.Load()
	if idx := c.lookup(acls); idx != nil {
		return idx
	}
	idx := buildIndex(acls)
	a.cache.Store(&indexCache{newest: idx, older: c.newest})
	return idx
}

func (c *indexCache) lookup(acls *metadata.ACLs) *index {
	switch {
	case c.newest != nil && c.newest.src == acls:
		return c.newest
	case c.older != nil && c.older.src == acls:
		return c.older
	}
	return nil
}
