package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topicType   = kmsg.ACLResourceTypeTopic
	groupType   = kmsg.ACLResourceTypeGroup
	clusterType = kmsg.ACLResourceTypeCluster
	txnType     = kmsg.ACLResourceTypeTransactionalId
	literal     = kadm.ACLPatternLiteral
	prefixed    = kadm.ACLPatternPrefixed
	allow       = kmsg.ACLPermissionTypeAllow
	deny        = kmsg.ACLPermissionTypeDeny
)

// parseACLArgs parses args as the flags of mode and validates them.
func parseACLArgs(mode aclMode, args ...string) (aclSpec, error) {
	var o aclFlags
	f := pflag.NewFlagSet("acl", pflag.ContinueOnError)
	addACLFlags(f, &o, mode)
	if err := f.Parse(args); err != nil {
		return aclSpec{}, err
	}
	return parseACLSpec(o, mode)
}

func TestACLParseFlags(t *testing.T) {
	all := []kadm.ACLOperation{kadm.OpAll}
	star := []string{"*"}
	tests := []struct {
		name string
		mode aclMode
		args []string
		want aclSpec
	}{
		{"add", aclAdd, []string{"--allow", "alice", "--operation", "Read,describe", "--topic", "orders"},
			aclSpec{mode: aclAdd, topics: []string{"orders"}, pattern: literal, allow: []string{"User:alice"},
				allowHosts: star, ops: []kadm.ACLOperation{kadm.OpRead, kadm.OpDescribe}}},
		{"add defaults to All", aclAdd, []string{"--deny", "Group:ops", "--deny-host", "10.0.0.1", "--group", "g", "--group", "h"},
			aclSpec{mode: aclAdd, groups: []string{"g", "h"}, pattern: literal, deny: []string{"Group:ops"},
				denyHosts: []string{"10.0.0.1"}, ops: all}},
		{"add spellings and repeats", aclAdd, []string{"--allow", "User:a", "--allow", "a", "--allow-host", "h1", "--allow-host", "h2",
			"--operation", "DESCRIBE_CONFIGS, alter-configs", "--operation", "AlterConfigs", "--topic", "t"},
			aclSpec{mode: aclAdd, topics: []string{"t"}, pattern: literal, allow: []string{"User:a"},
				allowHosts: []string{"h1", "h2"}, ops: []kadm.ACLOperation{kadm.OpDescribeConfigs, kadm.OpAlterConfigs}}},
		{"add prefixed", aclAdd, []string{"--allow", "a", "--topic", "pre-", "--prefixed"},
			aclSpec{mode: aclAdd, topics: []string{"pre-"}, pattern: prefixed, allow: []string{"User:a"}, allowHosts: star, ops: all}},
		{"add pattern type flag", aclAdd, []string{"--allow", "a", "--topic", "pre-", "--resource-pattern-type", "PREFIXED", "--prefixed"},
			aclSpec{mode: aclAdd, topics: []string{"pre-"}, pattern: prefixed, allow: []string{"User:a"}, allowHosts: star, ops: all}},
		{"add cluster", aclAdd, []string{"--allow", "p", "--cluster", "--operation", "IdempotentWrite,ClusterAction"},
			aclSpec{mode: aclAdd, cluster: true, pattern: literal, allow: []string{"User:p"},
				allowHosts: star, ops: []kadm.ACLOperation{kadm.OpIdempotentWrite, kadm.OpClusterAction}}},
		{"add transactional id", aclAdd, []string{"--allow", "p", "--transactional-id", "tx", "--operation", "Write,Describe"},
			aclSpec{mode: aclAdd, txns: []string{"tx"}, pattern: literal, allow: []string{"User:p"},
				allowHosts: star, ops: []kadm.ACLOperation{kadm.OpWrite, kadm.OpDescribe}}},
		{"add all to every resource type", aclAdd, []string{"--allow", "p", "--cluster", "--transactional-id", "tx",
			"--topic", "t", "--group", "g"},
			aclSpec{mode: aclAdd, topics: []string{"t"}, groups: []string{"g"}, txns: []string{"tx"}, cluster: true,
				pattern: literal, allow: []string{"User:p"}, allowHosts: star, ops: all}},
		{"add both", aclAdd, []string{"--allow", "a", "--deny", "b", "--topic", "t"},
			aclSpec{mode: aclAdd, topics: []string{"t"}, pattern: literal, allow: []string{"User:a"}, allowHosts: star,
				deny: []string{"User:b"}, denyHosts: star, ops: all}},
		{"remove every ACL of a resource", aclRemove, []string{"--topic", "t", "--force"},
			aclSpec{mode: aclRemove, topics: []string{"t"}, pattern: literal}},
		{"remove some operations of a resource", aclRemove, []string{"--topic", "t", "--operation", "read"},
			aclSpec{mode: aclRemove, topics: []string{"t"}, pattern: literal, ops: []kadm.ACLOperation{kadm.OpRead}}},
		{"remove a principal's", aclRemove, []string{"--topic", "t", "--allow", "a", "--resource-pattern-type", "match"},
			aclSpec{mode: aclRemove, topics: []string{"t"}, pattern: kadm.ACLPatternMatch, allow: []string{"User:a"},
				allowHosts: star, ops: all}},
		{"list all", aclList, nil, aclSpec{mode: aclList, pattern: literal}},
		{"list a principal's", aclList, []string{"--principal", "alice", "--principal", "Group:g"},
			aclSpec{mode: aclList, pattern: literal, principals: []string{"User:alice", "Group:g"}}},
		{"list any pattern", aclList, []string{"--topic", "t", "--resource-pattern-type", "any"},
			aclSpec{mode: aclList, topics: []string{"t"}, pattern: kadm.ACLPatternAny}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseACLArgs(tt.mode, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			checkACLBuilders(t, got)
		})
	}
}

// checkACLBuilders checks that kadm accepts the requests a spec builds.
func checkACLBuilders(t *testing.T, s aclSpec) {
	t.Helper()
	if err := s.listBuilder().ValidateFilter(); err != nil {
		t.Errorf("list filter: %v", err)
	}
	switch s.mode {
	case aclAdd:
		if err := s.builder().ValidateCreate(); err != nil {
			t.Errorf("create: %v", err)
		}
	case aclRemove:
		if err := s.builder().ValidateDelete(); err != nil {
			t.Errorf("delete filter: %v", err)
		}
	}
}

func TestACLParseFlagsErrors(t *testing.T) {
	tests := []struct {
		name    string
		mode    aclMode
		args    []string
		wantErr string
	}{
		{"add without principal", aclAdd, []string{"--topic", "t"}, "give at least one principal"},
		{"add without resource", aclAdd, []string{"--allow", "a"}, "give at least one resource"},
		{"remove without resource", aclRemove, []string{"--allow", "a"}, "give at least one resource"},
		{"add with a filter pattern", aclAdd, []string{"--allow", "a", "--topic", "t", "--resource-pattern-type", "match"},
			"not valid when adding ACLs"},
		{"unknown pattern", aclList, []string{"--resource-pattern-type", "regex"}, "invalid --resource-pattern-type"},
		{"conflicting patterns", aclRemove, []string{"--topic", "t", "--prefixed", "--resource-pattern-type", "literal"},
			"--prefixed conflicts"},
		{"operation any", aclAdd, []string{"--allow", "a", "--topic", "t", "--operation", "Any"}, `invalid --operation "Any"`},
		{"unknown operation", aclAdd, []string{"--allow", "a", "--topic", "t", "--operation", "read,fly"}, `invalid --operation "fly"`},
		{"operation not for the resource", aclAdd, []string{"--allow", "a", "--cluster", "--operation", "Read"},
			"operation READ does not apply to CLUSTER resources"},
		{"operation not for one resource", aclRemove, []string{"--topic", "t", "--group", "g", "--operation", "Write"},
			"operation WRITE does not apply to GROUP resources"},
		{"prefixed cluster", aclAdd, []string{"--allow", "a", "--cluster", "--prefixed"}, "--cluster takes only the literal"},
		{"host without principal", aclAdd, []string{"--deny", "a", "--allow-host", "h", "--topic", "t"}, "--allow-host needs --allow"},
		{"empty principal name", aclAdd, []string{"--allow", "User:", "--topic", "t"}, "invalid principal"},
		{"empty principal type", aclAdd, []string{"--allow", ":a", "--topic", "t"}, "invalid principal"},
		{"empty principal", aclList, []string{"--principal", " "}, "a principal is empty"},
		{"empty topic", aclAdd, []string{"--allow", "a", "--topic", ""}, "a resource name is empty"},
		{"list has no --allow", aclList, []string{"--allow", "a"}, "unknown flag: --allow"},
		{"add has no --force", aclAdd, []string{"--force"}, "unknown flag: --force"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseACLArgs(tt.mode, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %+v, %v; want an error containing %q", got, err, tt.wantErr)
			}
		})
	}
}

func TestACLKafkaFlagNames(t *testing.T) {
	for _, sub := range []string{"add", "remove"} {
		cmd, _, err := newACLCmd().Find([]string{sub})
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags([]string{"--allow-principal", "User:a", "--deny-principal", "b", "--allow", "c"}); err != nil {
			t.Fatal(err)
		}
		allowed, _ := cmd.Flags().GetStringArray("allow")
		denied, _ := cmd.Flags().GetStringArray("deny")
		if !reflect.DeepEqual(allowed, []string{"User:a", "c"}) || !reflect.DeepEqual(denied, []string{"b"}) {
			t.Errorf("%s: allow %v, deny %v", sub, allowed, denied)
		}
	}
	if cmd, _, err := rootCmd.Find([]string{"acl", "list"}); err != nil || cmd.Name() != "list" {
		t.Errorf("acl list is not registered: %v", err)
	}
}

func created(typ kmsg.ACLResourceType, name string, pat kadm.ACLPattern, principal, host string,
	op kadm.ACLOperation, perm kmsg.ACLPermissionType, err error) kadm.CreateACLsResult {
	return kadm.CreateACLsResult{Principal: principal, Host: host, Type: typ, Name: name, Pattern: pat,
		Operation: op, Permission: perm, Err: err}
}

func described(typ kmsg.ACLResourceType, name string, pat kadm.ACLPattern, principal, host string,
	op kadm.ACLOperation, perm kmsg.ACLPermissionType) kadm.DescribedACL {
	return kadm.DescribedACL{Principal: principal, Host: host, Type: typ, Name: name, Pattern: pat,
		Operation: op, Permission: perm}
}

func TestACLWriteAdded(t *testing.T) {
	res := kadm.CreateACLsResults{
		created(topicType, "orders", literal, "User:alice", "*", kadm.OpRead, allow, nil),
		created(groupType, "billing", prefixed, "User:alice", "*", kadm.OpRead, allow, nil),
		created(topicType, "orders", literal, "User:alice", "*", kadm.OpDescribe, allow, nil),
		created(topicType, "orders", literal, "User:mallory", "10.0.0.1", kadm.OpWrite, deny, nil),
		created(topicType, "orders", literal, "User:alice", "*", kadm.OpRead, allow, nil),
		created(clusterType, "kafka-cluster", literal, "User:alice", "*", kadm.OpAlter, allow, kerr.InvalidRequest),
	}
	var buf bytes.Buffer
	err := writeAddedACLs(&buf, res)
	checkGolden(t, "acl_add.golden", buf.Bytes())
	if err == nil || !strings.Contains(err.Error(), "adding ACL (principal=User:alice, host=*, operation=ALTER, permissionType=ALLOW) "+
		"for resource `ResourcePattern(resourceType=CLUSTER, name=kafka-cluster, patternType=LITERAL)`: INVALID_REQUEST") {
		t.Errorf("error %v", err)
	}
}

// describeFixture holds two describe filters' answers, unsorted and
// overlapping.
func aclDescribeFixture() kadm.DescribeACLsResults {
	return kadm.DescribeACLsResults{
		{Described: kadm.DescribedACLs{
			described(topicType, "orders", literal, "User:bob", "*", kadm.OpWrite, allow),
			described(topicType, "orders", literal, "User:alice", "*", kadm.OpRead, allow),
			described(clusterType, "kafka-cluster", literal, "User:admin", "*", kadm.OpAll, allow),
			described(txnType, "tx-1", literal, "User:bob", "*", kadm.OpWrite, allow),
		}},
		{Described: kadm.DescribedACLs{
			described(topicType, "ord", prefixed, "User:alice", "*", kadm.OpDescribe, allow),
			described(topicType, "orders", literal, "User:alice", "*", kadm.OpRead, allow),
			described(topicType, "orders", literal, "User:alice", "10.0.0.1", kadm.OpRead, deny),
			described(groupType, "*", literal, "User:*", "*", kadm.OpRead, allow),
		}},
	}
}

func TestACLWriteCurrent(t *testing.T) {
	tests := []struct {
		name       string
		principals []string
	}{
		{"acl_list.golden", nil},
		{"acl_list_principal.golden", []string{"User:alice", "User:nobody", "User:*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeCurrentACLs(&buf, aclDescribeFixture(), tt.principals); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, buf.Bytes())
		})
	}
}

func TestACLWriteCurrentErrorsAndEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := writeCurrentACLs(&buf, nil, nil); err != nil || buf.Len() != 0 {
		t.Errorf("no ACLs: %q, %v", buf.String(), err)
	}
	res := kadm.DescribeACLsResults{{Err: kerr.SecurityDisabled, ErrMessage: "No Authorizer is configured."}}
	err := writeCurrentACLs(&buf, res, nil)
	if err == nil || !strings.Contains(err.Error(), "SECURITY_DISABLED") || !strings.Contains(err.Error(), "No Authorizer") {
		t.Errorf("error %v", err)
	}
}

func TestACLWriteRemoved(t *testing.T) {
	res := kadm.DeleteACLsResults{
		{Deleted: kadm.DeletedACLs{
			{Principal: "User:bob", Host: "*", Type: topicType, Name: "orders", Pattern: literal, Operation: kadm.OpWrite, Permission: allow},
			{Principal: "User:alice", Host: "*", Type: topicType, Name: "orders", Pattern: literal, Operation: kadm.OpRead, Permission: allow},
			{Principal: "User:carol", Host: "*", Type: groupType, Name: "g", Pattern: literal, Operation: kadm.OpRead, Permission: allow,
				Err: kerr.ClusterAuthorizationFailed},
		}},
		{Err: kerr.InvalidRequest, ErrMessage: "bad filter"},
		{Deleted: kadm.DeletedACLs{
			{Principal: "User:alice", Host: "*", Type: groupType, Name: "g", Pattern: prefixed, Operation: kadm.OpRead, Permission: deny},
		}},
	}
	var buf bytes.Buffer
	err := writeRemovedACLs(&buf, res)
	checkGolden(t, "acl_remove.golden", buf.Bytes())
	for _, want := range []string{"removing ACLs: INVALID_REQUEST", "bad filter", "operation=READ, permissionType=ALLOW) for resource " +
		"`ResourcePattern(resourceType=GROUP, name=g, patternType=LITERAL)`: CLUSTER_AUTHORIZATION_FAILED"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}
