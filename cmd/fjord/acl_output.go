package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclPattern is an ACL's resource pattern. It prints as Kafka's
// ResourcePattern.toString does, which kafka-acls shows.
type aclPattern struct {
	typ     kmsg.ACLResourceType
	name    string
	pattern kadm.ACLPattern
}

func (p aclPattern) String() string {
	return fmt.Sprintf("ResourcePattern(resourceType=%s, name=%s, patternType=%s)", p.typ, p.name, p.pattern)
}

// aclEntry is who may or may not do what from where. It prints as Kafka's
// AccessControlEntry.toString does.
type aclEntry struct {
	principal string
	host      string
	op        kadm.ACLOperation
	perm      kmsg.ACLPermissionType
}

func (e aclEntry) String() string {
	return fmt.Sprintf("(principal=%s, host=%s, operation=%s, permissionType=%s)", e.principal, e.host, e.op, e.perm)
}

// aclBinding is one ACL: an entry on a resource pattern.
type aclBinding struct {
	res   aclPattern
	entry aclEntry
}

// compareBindings orders ACLs by resource, then by entry.
func compareBindings(a, b aclBinding) int {
	return cmp.Or(
		cmp.Compare(a.res.typ, b.res.typ), cmp.Compare(a.res.name, b.res.name),
		cmp.Compare(a.res.pattern, b.res.pattern), cmp.Compare(a.entry.principal, b.entry.principal),
		cmp.Compare(a.entry.host, b.entry.host), cmp.Compare(a.entry.op, b.entry.op),
		cmp.Compare(a.entry.perm, b.entry.perm))
}

// writeACLBlocks prints the ACLs grouped by resource, resources in the order
// they first appear, each ACL once, in kafka-acls' layout: a line
// "<title> `<resource>`: " (with that trailing blank), the entries one per
// line each after a tab (the first after " \t"), a blank after the last
// one, and an empty line.
func writeACLBlocks(w io.Writer, title string, bindings []aclBinding) {
	var order []aclPattern
	entries := make(map[aclPattern][]string)
	seen := make(map[aclBinding]bool)
	for _, b := range bindings {
		if seen[b] {
			continue
		}
		seen[b] = true
		if _, ok := entries[b.res]; !ok {
			order = append(order, b.res)
		}
		entries[b.res] = append(entries[b.res], "\t"+b.entry.String())
	}
	for _, res := range order {
		fmt.Fprintf(w, "%s `%s`: \n %s \n\n", title, res, strings.Join(entries[res], "\n"))
	}
}

// writeAddedACLs prints the ACLs that were created, in request order, and
// returns an error listing those that were not.
func writeAddedACLs(w io.Writer, res kadm.CreateACLsResults) error {
	var added []aclBinding
	var errs []error
	for _, r := range res {
		b := aclBinding{aclPattern{r.Type, r.Name, r.Pattern}, aclEntry{r.Principal, r.Host, r.Operation, r.Permission}}
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("adding ACL %s for resource `%s`: %w", b.entry, b.res, kafkaErr(r.Err, r.ErrMessage)))
			continue
		}
		added = append(added, b)
	}
	writeACLBlocks(w, "Adding ACLs for resource", added)
	return errors.Join(errs...)
}

// writeRemovedACLs prints the ACLs that were deleted, sorted, and returns
// an error listing the filters or ACLs that failed.
func writeRemovedACLs(w io.Writer, res kadm.DeleteACLsResults) error {
	var removed []aclBinding
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("removing ACLs: %w", kafkaErr(r.Err, r.ErrMessage)))
			continue
		}
		for _, d := range r.Deleted {
			b := aclBinding{aclPattern{d.Type, d.Name, d.Pattern}, aclEntry{d.Principal, d.Host, d.Operation, d.Permission}}
			if d.Err != nil {
				errs = append(errs, fmt.Errorf("removing ACL %s for resource `%s`: %w", b.entry, b.res, kafkaErr(d.Err, d.ErrMessage)))
				continue
			}
			removed = append(removed, b)
		}
	}
	slices.SortFunc(removed, compareBindings)
	writeACLBlocks(w, "Removed ACLs for resource", removed)
	return errors.Join(errs...)
}

// writeCurrentACLs prints the described ACLs, sorted, as kafka-acls --list
// does: all of them, or with principals, under "ACLs for principal" for
// each of those principals only theirs. It returns an error listing the
// filters that failed.
func writeCurrentACLs(w io.Writer, res kadm.DescribeACLsResults, principals []string) error {
	var all []aclBinding
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("listing ACLs: %w", kafkaErr(r.Err, r.ErrMessage)))
			continue
		}
		for _, d := range r.Described {
			all = append(all, aclBinding{aclPattern{d.Type, d.Name, d.Pattern}, aclEntry{d.Principal, d.Host, d.Operation, d.Permission}})
		}
	}
	slices.SortFunc(all, compareBindings)
	if len(principals) == 0 {
		writeACLBlocks(w, "Current ACLs for resource", all)
		return errors.Join(errs...)
	}
	for _, p := range principals {
		fmt.Fprintf(w, "ACLs for principal `%s`\n", p)
		mine := slices.DeleteFunc(slices.Clone(all), func(b aclBinding) bool { return b.entry.principal != p })
		writeACLBlocks(w, "Current ACLs for resource", mine)
	}
	return errors.Join(errs...)
}
