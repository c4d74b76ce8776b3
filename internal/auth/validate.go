package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fjordlog/fjord/internal/metadata"
)

// ErrInvalidBinding is wrapped by every error of ValidateBinding.
var ErrInvalidBinding = errors.New("invalid ACL binding")

// resourceOps lists, per resource type, the operations an ACL on it may
// name (Kafka's per-resource operation sets).
var resourceOps = map[int8][]int8{
	metadata.ACLResourceTopic: {metadata.ACLOpRead, metadata.ACLOpWrite, metadata.ACLOpCreate,
		metadata.ACLOpDelete, metadata.ACLOpAlter, metadata.ACLOpDescribe,
		metadata.ACLOpDescribeConfigs, metadata.ACLOpAlterConfigs, metadata.ACLOpAll},
	metadata.ACLResourceGroup: {metadata.ACLOpRead, metadata.ACLOpDescribe, metadata.ACLOpDelete,
		metadata.ACLOpAll},
	metadata.ACLResourceCluster: {metadata.ACLOpCreate, metadata.ACLOpClusterAction,
		metadata.ACLOpDescribeConfigs, metadata.ACLOpAlterConfigs, metadata.ACLOpIdempotentWrite,
		metadata.ACLOpAlter, metadata.ACLOpDescribe, metadata.ACLOpAll},
	metadata.ACLResourceTransactionalID: {metadata.ACLOpDescribe, metadata.ACLOpWrite, metadata.ACLOpAll},
	metadata.ACLResourceDelegationToken: {metadata.ACLOpDescribe, metadata.ACLOpAll},
	metadata.ACLResourceUser:            {metadata.ACLOpCreateTokens, metadata.ACLOpDescribeTokens, metadata.ACLOpAll},
}

// ValidateBinding checks an ACL to be created as Kafka's CreateAcls does.
// The error, wrapping ErrInvalidBinding, gives a short reason. The
// principal must be "Type:name" with both parts non-empty (Kafka only
// requires the colon); the host is not checked.
func ValidateBinding(acl metadata.ACL) error {
	if reason := invalidPattern(acl); reason != "" {
		return fmt.Errorf("%w: %s", ErrInvalidBinding, reason)
	}
	if reason := invalidEntry(acl); reason != "" {
		return fmt.Errorf("%w: %s", ErrInvalidBinding, reason)
	}
	return nil
}

// invalidPattern returns why the resource pattern is invalid, or "".
func invalidPattern(acl metadata.ACL) string {
	_, known := resourceOps[acl.ResourceType]
	switch {
	case !known:
		return "invalid resource type " + ResourceTypeName(acl.ResourceType)
	case acl.PatternType != metadata.ACLPatternLiteral && acl.PatternType != metadata.ACLPatternPrefixed:
		return "invalid pattern type " + PatternTypeName(acl.PatternType)
	case acl.ResourceName == "":
		return "resource name must not be empty"
	case acl.ResourceType == metadata.ACLResourceCluster && acl.ResourceName != metadata.ClusterResourceName:
		return fmt.Sprintf("the cluster resource must be named %q", metadata.ClusterResourceName)
	}
	return ""
}

// invalidEntry returns why the principal, operation or permission is
// invalid, or "". The resource type is known to be valid.
func invalidEntry(acl metadata.ACL) string {
	switch {
	case acl.Operation == metadata.ACLOpAny || OperationName(acl.Operation) == unknownName:
		return "invalid operation " + OperationName(acl.Operation)
	case acl.Permission != metadata.ACLPermissionAllow && acl.Permission != metadata.ACLPermissionDeny:
		return "invalid permission type " + PermissionName(acl.Permission)
	case !validPrincipal(acl.Principal):
		return fmt.Sprintf("principal %q is not of the form Type:name", acl.Principal)
	case !slices.Contains(resourceOps[acl.ResourceType], acl.Operation):
		return fmt.Sprintf("operation %s is not valid for resource type %s",
			OperationName(acl.Operation), ResourceTypeName(acl.ResourceType))
	}
	return ""
}

func validPrincipal(p string) bool {
	typ, name, ok := strings.Cut(p, ":")
	return ok && typ != "" && name != ""
}
