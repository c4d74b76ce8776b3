package auth

import (
	"fmt"
	"strings"
)

// unknownName is printed for a value no name is known for (Kafka's UNKNOWN).
const unknownName = "UNKNOWN"

// The names of the ACL enums, indexed by their protocol values, as Kafka's
// Java enums (and so kafka-acls) print them.
var (
	resourceTypeNames = []string{unknownName, "ANY", "TOPIC", "GROUP", "CLUSTER",
		"TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"}
	patternTypeNames = []string{unknownName, "ANY", "MATCH", "LITERAL", "PREFIXED"}
	operationNames   = []string{unknownName, "ANY", "ALL", "READ", "WRITE", "CREATE", "DELETE",
		"ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
		"IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"}
	permissionNames = []string{unknownName, "ANY", "DENY", "ALLOW"}
)

// ResourceTypeName returns the name of a resource type ("TOPIC"), or
// "UNKNOWN".
func ResourceTypeName(v int8) string { return nameOf(resourceTypeNames, v) }

// PatternTypeName returns the name of a pattern type ("PREFIXED"), or
// "UNKNOWN".
func PatternTypeName(v int8) string { return nameOf(patternTypeNames, v) }

// OperationName returns the name of an operation ("DESCRIBE_CONFIGS"), or
// "UNKNOWN".
func OperationName(v int8) string { return nameOf(operationNames, v) }

// PermissionName returns the name of a permission type ("ALLOW"), or
// "UNKNOWN".
func PermissionName(v int8) string { return nameOf(permissionNames, v) }

// ParseResourceType parses a resource type name, case-insensitively and
// ignoring '_' and '-': "TRANSACTIONAL_ID", "TransactionalId".
func ParseResourceType(s string) (int8, error) {
	return parseName(resourceTypeNames, "resource type", s)
}

// ParsePatternType parses a pattern type name like ParseResourceType.
func ParsePatternType(s string) (int8, error) { return parseName(patternTypeNames, "pattern type", s) }

// ParseOperation parses an operation name like ParseResourceType:
// "DESCRIBE_CONFIGS", "DescribeConfigs", "describe_configs".
func ParseOperation(s string) (int8, error) { return parseName(operationNames, "operation", s) }

// ParsePermission parses a permission type name like ParseResourceType.
func ParsePermission(s string) (int8, error) { return parseName(permissionNames, "permission type", s) }

func nameOf(names []string, v int8) string {
	if v < 0 || int(v) >= len(names) {
		return unknownName
	}
	return names[v]
}

// parseName finds s among names, skipping UNKNOWN (index 0), which is not
// a value one may ask for.
func parseName(names []string, kind, s string) (int8, error) {
	key := normalizeName(s)
	for i := 1; i < len(names); i++ {
		if normalizeName(names[i]) == key {
			return int8(i), nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q", kind, s)
}

// separators are ignored when parsing names.
var separators = strings.NewReplacer("_", "", "-", "")

func normalizeName(s string) string { return strings.ToUpper(separators.Replace(s)) }
