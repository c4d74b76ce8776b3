package auth

import (
	"slices"

	"github.com/fjordlog/fjord/internal/metadata"
)

// index is the read-only lookup structure of one ACL set.
type index struct {
	src   *metadata.ACLs
	types map[int8]*typeIndex
}

// typeIndex holds the ACLs of one resource type by the pattern they bind.
type typeIndex struct {
	literal    map[string]section // LITERAL patterns other than "*", by name
	wildcard   section            // the LITERAL "*" pattern
	prefixed   map[string]section // PREFIXED patterns, by prefix
	prefixLens []int              // the distinct lengths of prefixed's keys, ascending
}

// section holds the entries bound to one resource pattern, by principal.
type section map[string][]grant

// grant is the rest of an ACL once its resource pattern and principal are
// known.
type grant struct {
	host       string
	op         int8
	deny       bool // not an ALLOW: Kafka treats every other permission as DENY
	allowsDesc bool // an ALLOW that implies DESCRIBE
	allowsDC   bool // an ALLOW that implies DESCRIBE_CONFIGS
}

// verdict collects what the ACLs bound to a resource say about a request.
type verdict struct {
	found   bool // some ACL is bound to the resource
	allowed bool // an ALLOW ACL matches
	denied  bool // a DENY ACL matches
}

func buildIndex(acls *metadata.ACLs) *index {
	idx := &index{src: acls, types: map[int8]*typeIndex{}}
	if acls == nil {
		return idx
	}
	for _, acl := range acls.ByID {
		idx.typeIndex(acl.ResourceType).add(acl)
	}
	for _, ti := range idx.types {
		ti.finish()
	}
	return idx
}

func (idx *index) typeIndex(t int8) *typeIndex {
	ti := idx.types[t]
	if ti == nil {
		ti = &typeIndex{literal: map[string]section{}, prefixed: map[string]section{}}
		idx.types[t] = ti
	}
	return ti
}

// add indexes acl; ACLs of other pattern types (never created) are ignored.
func (ti *typeIndex) add(acl metadata.ACL) {
	switch {
	case acl.PatternType == metadata.ACLPatternLiteral && acl.ResourceName == wildcard:
		if ti.wildcard == nil {
			ti.wildcard = section{}
		}
		ti.wildcard.add(acl)
	case acl.PatternType == metadata.ACLPatternLiteral:
		sectionIn(ti.literal, acl.ResourceName).add(acl)
	case acl.PatternType == metadata.ACLPatternPrefixed:
		sectionIn(ti.prefixed, acl.ResourceName).add(acl)
	}
}

func sectionIn(m map[string]section, name string) section {
	s := m[name]
	if s == nil {
		s = section{}
		m[name] = s
	}
	return s
}

func (s section) add(acl metadata.ACL) {
	s[acl.Principal] = append(s[acl.Principal], newGrant(acl))
}

func newGrant(acl metadata.ACL) grant {
	allow := acl.Permission == metadata.ACLPermissionAllow
	g := grant{host: acl.Host, op: acl.Operation, deny: !allow}
	switch acl.Operation {
	case metadata.ACLOpRead, metadata.ACLOpWrite, metadata.ACLOpDelete, metadata.ACLOpAlter:
		g.allowsDesc = allow
	case metadata.ACLOpAlterConfigs:
		g.allowsDC = allow
	}
	return g
}

// finish records the prefix lengths to probe.
func (ti *typeIndex) finish() {
	for p := range ti.prefixed {
		ti.prefixLens = append(ti.prefixLens, len(p))
	}
	slices.Sort(ti.prefixLens)
	ti.prefixLens = slices.Compact(ti.prefixLens)
}

// decide checks the sections whose pattern matches the request's
// resource: the literal name, the wildcard, and every prefix of the name.
// It stops at the first matching DENY.
func (idx *index) decide(r *Request) verdict {
	var v verdict
	ti := idx.types[r.ResourceType]
	if ti == nil {
		return v
	}
	v.check(ti.literal[r.Name], r)
	v.check(ti.wildcard, r)
	for _, n := range ti.prefixLens {
		if n > len(r.Name) || v.denied {
			break
		}
		v.check(ti.prefixed[r.Name[:n]], r)
	}
	return v
}

// check applies the entries of one section that name the request's
// principal or the wildcard principal.
func (v *verdict) check(s section, r *Request) {
	if v.denied || len(s) == 0 {
		return
	}
	v.found = true
	v.apply(s[r.Principal], r)
	if r.Principal != wildcardPrincipal {
		v.apply(s[wildcardPrincipal], r)
	}
}

func (v *verdict) apply(gs []grant, r *Request) {
	for i := range gs {
		g := &gs[i]
		if (g.host != wildcard && g.host != r.Host) || !g.covers(r.Op) {
			continue
		}
		if g.deny {
			v.denied = true
			return
		}
		v.allowed = true
	}
}

// covers reports whether the grant speaks about op: its own operation or
// ALL, and for ALLOW grants the operations that imply DESCRIBE or
// DESCRIBE_CONFIGS. DENY grants imply nothing.
func (g *grant) covers(op int8) bool {
	switch {
	case g.op == op || g.op == metadata.ACLOpAll:
		return true
	case op == metadata.ACLOpDescribe:
		return g.allowsDesc
	case op == metadata.ACLOpDescribeConfigs:
		return g.allowsDC
	}
	return false
}
