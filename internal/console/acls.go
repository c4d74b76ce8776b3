package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclBinding is one ACL: a principal's permission for an operation on a
// resource pattern, from a host. The enum fields hold Kafka's names
// (READ, ALLOW, TOPIC, LITERAL): the forms post them back as they are.
type aclBinding struct {
	Principal, Host, Operation, Permission string
	Type, Name, Pattern                    string
}

type aclsData struct {
	// The filters, from the query: substrings of the principal and the
	// resource name, and a resource type ("" any).
	Principal, Resource, Type string
	ACLs                      []aclBinding
	Total                     int    // bindings before filtering
	Denied                    string // why the ACLs cannot be shown ("" when they are)
	Types, Operations         []string
}

// Choices of the forms, in Kafka's order.
var (
	aclTypes      = []string{"TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"}
	aclOperations = []string{"ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION",
		"DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"}
)

// maxFilterLen bounds the /acls filters and the form's names.
const maxFilterLen = 1024

// acls lists every ACL binding (one DescribeACLs matching anything),
// filtered by the query. Without an authorizer, or without DESCRIBE on
// the cluster, the page says so instead of failing.
func (s *Server) acls(ctx context.Context, r *http.Request) (pageResult, error) {
	d, err := parseACLFilter(r.URL.Query())
	if err != nil {
		return pageResult{}, err
	}
	d.Types, d.Operations = aclTypes, aclOperations
	res := pageResult{page: "acls", title: "ACLs", nav: "acls", data: &d}
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, s.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if d.Denied = securityUnavailable("describe the cluster's ACLs", err); d.Denied != "" {
		return res, nil
	}
	if err != nil {
		return pageResult{}, kafkaError("describing ACLs", err)
	}
	for _, rs := range resp.Resources {
		for _, a := range rs.ACLs {
			d.Total++
			b := aclBinding{Principal: a.Principal, Host: a.Host, Operation: a.Operation.String(),
				Permission: a.PermissionType.String(), Type: rs.ResourceType.String(), Name: rs.ResourceName,
				Pattern: rs.ResourcePatternType.String()}
			if d.keeps(b) {
				d.ACLs = append(d.ACLs, b)
			}
		}
	}
	slices.SortFunc(d.ACLs, func(a, b aclBinding) int {
		return strings.Compare(a.Principal+"\x00"+a.Type+"\x00"+a.Name+"\x00"+a.Operation+"\x00"+a.Permission+"\x00"+a.Host,
			b.Principal+"\x00"+b.Type+"\x00"+b.Name+"\x00"+b.Operation+"\x00"+b.Permission+"\x00"+b.Host)
	})
	return res, nil
}

// securityUnavailable returns the plain reason a security API cannot be
// used (no authorizer, no right to it, a cluster without the API), or ""
// for any other outcome.
func securityUnavailable(what string, err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, kerr.SecurityDisabled):
		return "The cluster has no authorizer (SECURITY_DISABLED): ACLs are not enforced and cannot be listed or changed."
	case isAuthErr(err):
		return "Not authorized to " + what + " (" + errCode(err) + "): the console's principal needs DESCRIBE (to list) and ALTER (to change) on the cluster."
	case errors.Is(err, kerr.UnsupportedVersion):
		return "The cluster does not support the API needed to " + what + " (" + errCode(err) + ")."
	}
	return ""
}

// parseACLFilter reads /acls's query: principal and resource (substrings,
// case-sensitive) and type (a resource type or "any").
func parseACLFilter(v url.Values) (aclsData, error) {
	d := aclsData{Principal: v.Get("principal"), Resource: v.Get("resource"), Type: strings.ToUpper(strings.TrimSpace(v.Get("type")))}
	for name, val := range map[string]string{"principal": d.Principal, "resource": d.Resource} {
		if err := checkText(name, val, false); err != nil {
			return d, err
		}
	}
	if d.Type == "ANY" {
		d.Type = ""
	}
	if d.Type != "" && !slices.Contains(aclTypes, d.Type) {
		return d, badRequest("type must be any or one of %s, not %q", strings.Join(aclTypes, ", "), v.Get("type"))
	}
	return d, nil
}

// keeps reports whether b passes the page's filters.
func (d *aclsData) keeps(b aclBinding) bool {
	return strings.Contains(b.Principal, d.Principal) && strings.Contains(b.Name, d.Resource) &&
		(d.Type == "" || b.Type == d.Type)
}

// checkText refuses a form or query value that is too long, not UTF-8,
// or holds control characters; required refuses an empty one too.
func checkText(name, v string, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return badRequest("%s is required", name)
	case len(v) > maxFilterLen:
		return badRequest("%s is longer than %d bytes", name, maxFilterLen)
	case !utf8.ValidString(v):
		return badRequest("%s is not valid UTF-8", name)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return badRequest("%s must not contain control characters", name)
	}
	return nil
}

// parseBinding reads one exact ACL binding from a posted form (the
// create form and each row's delete button).
func parseBinding(r *http.Request) (kmsg.CreateACLsRequestCreation, aclBinding, error) {
	c := kmsg.NewCreateACLsRequestCreation()
	b := aclBinding{Principal: strings.TrimSpace(r.PostFormValue("principal")), Host: strings.TrimSpace(r.PostFormValue("host")),
		Name: strings.TrimSpace(r.PostFormValue("name"))}
	if b.Host == "" {
		b.Host = "*"
	}
	for name, v := range map[string]string{"principal": b.Principal, "host": b.Host, "resource name": b.Name} {
		if err := checkText(name, v, false); err != nil {
			return c, b, err
		}
	}
	typ, name, p := b.Principal, "", strings.Index(b.Principal, ":")
	if p > 0 {
		typ, name = b.Principal[:p], b.Principal[p+1:]
	}
	if p <= 0 || strings.TrimSpace(typ) == "" || name == "" {
		return c, b, badRequest("principal must be a type and a name, like User:alice, not %q", b.Principal)
	}
	if strings.ContainsAny(b.Host, " \t") {
		return c, b, badRequest("host must be * or one address, not %q", b.Host)
	}
	var err error
	if c.ResourceType, err = kmsg.ParseACLResourceType(r.PostFormValue("type")); err != nil || !slices.Contains(aclTypes, c.ResourceType.String()) {
		return c, b, badRequest("resource type must be one of %s, not %q", strings.Join(aclTypes, ", "), r.PostFormValue("type"))
	}
	if c.ResourceType == kmsg.ACLResourceTypeCluster && b.Name == "" {
		b.Name = "kafka-cluster"
	}
	if b.Name == "" {
		return c, b, badRequest("resource name is required (* for every %s)", strings.ToLower(c.ResourceType.String()))
	}
	if c.Operation, err = kmsg.ParseACLOperation(r.PostFormValue("operation")); err != nil || !slices.Contains(aclOperations, c.Operation.String()) {
		return c, b, badRequest("operation must be one of %s, not %q", strings.Join(aclOperations, ", "), r.PostFormValue("operation"))
	}
	perm := strings.ToUpper(strings.TrimSpace(r.PostFormValue("permission")))
	switch perm {
	case "ALLOW":
		c.PermissionType = kmsg.ACLPermissionTypeAllow
	case "DENY":
		c.PermissionType = kmsg.ACLPermissionTypeDeny
	default:
		return c, b, badRequest("permission must be ALLOW or DENY, not %q", r.PostFormValue("permission"))
	}
	switch strings.ToUpper(strings.TrimSpace(r.PostFormValue("pattern"))) {
	case "", "LITERAL":
		c.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
	case "PREFIXED":
		c.ResourcePatternType = kmsg.ACLResourcePatternTypePrefixed
	default:
		return c, b, badRequest("pattern must be LITERAL or PREFIXED, not %q", r.PostFormValue("pattern"))
	}
	c.Principal, c.Host, c.ResourceName = b.Principal, b.Host, b.Name
	b.Type, b.Operation, b.Permission, b.Pattern = c.ResourceType.String(), c.Operation.String(), perm, c.ResourcePatternType.String()
	return c, b, nil
}

// describe is a binding in words, for the messages after a change.
func (b aclBinding) describe() string {
	return fmt.Sprintf("%s %s %s on %s %s %q from %s", strings.ToLower(b.Permission), b.Principal, b.Operation,
		strings.ToLower(b.Pattern), strings.ToLower(b.Type), b.Name, b.Host)
}

// createACL creates the form's binding (CreateACLs).
func (s *Server) createACL(ctx context.Context, r *http.Request) (string, string, error) {
	c, b, err := parseBinding(r)
	if err != nil {
		return "", "", err
	}
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = append(req.Creations, c)
	resp, err := req.RequestWith(ctx, s.cl)
	if err == nil && len(resp.Results) != 1 {
		err = fmt.Errorf("the broker answered %d results for one ACL", len(resp.Results))
	}
	if err == nil {
		err = kerr.ErrorForCode(resp.Results[0].ErrorCode)
		err = withMessage(err, resp.Results[0].ErrorMessage)
	}
	if err != nil {
		return "", "", aclChangeError("create ACLs", err)
	}
	return "/acls", "created: " + b.describe(), nil
}

// deleteACL deletes exactly the posted binding (DeleteACLs with a filter
// of its every field); none matching is a 404.
func (s *Server) deleteACL(ctx context.Context, r *http.Request) (string, string, error) {
	c, b, err := parseBinding(r)
	if err != nil {
		return "", "", err
	}
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourceName, f.ResourcePatternType = c.ResourceType, &c.ResourceName, c.ResourcePatternType
	f.Principal, f.Host, f.Operation, f.PermissionType = &c.Principal, &c.Host, c.Operation, c.PermissionType
	req := kmsg.NewPtrDeleteACLsRequest()
	req.Filters = append(req.Filters, f)
	resp, err := req.RequestWith(ctx, s.cl)
	if err == nil && len(resp.Results) != 1 {
		err = fmt.Errorf("the broker answered %d results for one filter", len(resp.Results))
	}
	if err == nil {
		err = withMessage(kerr.ErrorForCode(resp.Results[0].ErrorCode), resp.Results[0].ErrorMessage)
	}
	if err != nil {
		return "", "", aclChangeError("delete ACLs", err)
	}
	n := 0
	for _, m := range resp.Results[0].MatchingACLs {
		if merr := kerr.ErrorForCode(m.ErrorCode); merr != nil {
			return "", "", aclChangeError("delete ACLs", withMessage(merr, m.ErrorMessage))
		}
		n++
	}
	if n == 0 {
		return "", "", notFound("no ACL binding matches: " + b.describe())
	}
	return "/acls", "deleted: " + b.describe(), nil
}

// aclChangeError maps a refused ACL change to its page: 403 for a
// principal without ALTER on the cluster, 409 without an authorizer.
func aclChangeError(what string, err error) error {
	switch {
	case isAuthErr(err):
		return forbidden(what, err)
	case errors.Is(err, kerr.SecurityDisabled):
		return &httpError{http.StatusConflict, "No authorizer", "the cluster has no authorizer (SECURITY_DISABLED): ACLs cannot be changed"}
	}
	return kafkaError(what, err)
}

// withMessage adds a broker's error message to err, if it has one.
func withMessage(err error, msg *string) error {
	if err == nil || msg == nil || *msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, *msg)
}
