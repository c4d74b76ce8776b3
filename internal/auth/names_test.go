package auth

import "testing"

type enumFuncs struct {
	kind  string
	name  func(int8) string
	parse func(string) (int8, error)
	max   int8
}

var enums = []enumFuncs{
	{"resource type", ResourceTypeName, ParseResourceType, 7},
	{"pattern type", PatternTypeName, ParsePatternType, 4},
	{"operation", OperationName, ParseOperation, 14},
	{"permission", PermissionName, ParsePermission, 3},
}

func TestNameRoundTrip(t *testing.T) {
	for _, e := range enums {
		for v := int8(1); v <= e.max; v++ {
			got, err := e.parse(e.name(v))
			if err != nil || got != v {
				t.Errorf("%s %d: parse(%q) = %d, %v", e.kind, v, e.name(v), got, err)
			}
		}
		for _, v := range []int8{-1, 0, e.max + 1} {
			if n := e.name(v); n != "UNKNOWN" {
				t.Errorf("%s %d: name %q, want UNKNOWN", e.kind, v, n)
			}
		}
		for _, s := range []string{"", "UNKNOWN", "bogus"} {
			if v, err := e.parse(s); err == nil {
				t.Errorf("%s: parse(%q) = %d, want an error", e.kind, s, v)
			}
		}
	}
}

func TestNames(t *testing.T) {
	cases := []struct{ got, want string }{
		{ResourceTypeName(topic), "TOPIC"},
		{ResourceTypeName(5), "TRANSACTIONAL_ID"},
		{ResourceTypeName(6), "DELEGATION_TOKEN"},
		{PatternTypeName(prefix), "PREFIXED"},
		{PatternTypeName(2), "MATCH"},
		{OperationName(10), "DESCRIBE_CONFIGS"},
		{OperationName(opAll), "ALL"},
		{OperationName(1), "ANY"},
		{OperationName(14), "DESCRIBE_TOKENS"},
		{PermissionName(allowP), "ALLOW"},
		{PermissionName(denyP), "DENY"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseSpellings(t *testing.T) {
	cases := []struct {
		parse func(string) (int8, error)
		in    string
		want  int8
	}{
		{ParseOperation, "Read", opRead},
		{ParseOperation, "DescribeConfigs", 10},
		{ParseOperation, "describe_configs", 10},
		{ParseOperation, "IdempotentWrite", 12},
		{ParseOperation, "ClusterAction", 9},
		{ParseOperation, "alter-configs", 11},
		{ParseOperation, "All", opAll},
		{ParseResourceType, "Topic", topic},
		{ParseResourceType, "TransactionalId", 5},
		{ParseResourceType, "delegation_token", 6},
		{ParseResourceType, "cluster", cluster},
		{ParsePatternType, "prefixed", prefix},
		{ParsePatternType, "Match", 2},
		{ParsePermission, "Deny", denyP},
		{ParsePermission, "allow", allowP},
	}
	for _, tc := range cases {
		if got, err := tc.parse(tc.in); err != nil || got != tc.want {
			t.Errorf("parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
