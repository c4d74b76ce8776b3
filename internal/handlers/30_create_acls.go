package handlers

// CreateAcls (key 30), versions 0-3; an admin API (forwarded to the
// active controller, which commits every valid creation in one entry).
//
// Needs ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED for every
// creation); without an authorizer: SECURITY_DISABLED. A binding Kafka
// would refuse (an ANY/MATCH pattern or operation, a CLUSTER resource not
// named kafka-cluster, an operation the resource type does not have, a
// principal not of the form Type:name) gets INVALID_REQUEST with the
// reason; the valid ones are still created.

import (
	"context"
	"fmt"

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) createACLs(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.CreateACLsRequest)
	resp := kmsg.NewPtrCreateACLsResponse()
	results := make([]kmsg.CreateACLsResponseResult, len(r.Creations))
	var valid []metadata.ACL
	var validIdx []int
	for i, c := range r.Creations {
		results[i] = kmsg.NewCreateACLsResponseResult()
		acl := metadata.ACL{ResourceType: int8(c.ResourceType), ResourceName: c.ResourceName, PatternType: int8(c.ResourcePatternType),
			Principal: c.Principal, Host: c.Host, Operation: int8(c.Operation), Permission: int8(c.PermissionType)}
		if e := h.createACLError(req, acl); e != nil {
			setResultError(&results[i], e)
			continue
		}
		valid, validIdx = append(valid, acl), append(validIdx, i)
	}
	if len(valid) > 0 {
		if err := h.d.Controller.CreateACLs(ctx, valid); err != nil {
			for _, i := range validIdx {
				setResultError(&results[i], err)
			}
		}
	}
	resp.Results = results
	return respond(req, resp)
}

// createACLError says why one creation is refused, nil if it is not.
func (h *Handlers) createACLError(req *server.Request, acl metadata.ACL) error {
	if e := h.aclAPIError(req, metadata.ACLOpAlter, auth.Filter{}); e != nil && e != kerr.InvalidRequest {
		return e
	}
	if err := auth.ValidateBinding(acl); err != nil {
		return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
	}
	return nil
}

// setResultError fills a CreateAcls result with err's code and message.
func setResultError(r *kmsg.CreateACLsResponseResult, err error) {
	r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
}
