package handlers

// AlterUserScramCredentials (key 51), version 0; an admin API (forwarded
// to the active controller, which commits every valid change in one
// entry).
//
// Upsertions carry the salted password (Hi(password, salt, iterations),
// computed by the client); the broker stores only the salt, the
// iterations and the StoredKey and ServerKey derived from it (RFC 5802),
// never the password. One result per user: ALTER on the cluster is needed
// (else CLUSTER_AUTHORIZATION_FAILED); two changes of the same user and
// mechanism: DUPLICATE_RESOURCE; an empty user name, too few (< 4096) or
// too many (> 16384) iterations, or an empty salt or salted password:
// UNACCEPTABLE_CREDENTIAL; an unknown mechanism:
// UNSUPPORTED_SASL_MECHANISM; deleting a credential that does not exist:
// RESOURCE_NOT_FOUND. A user whose request is refused as a whole
// (authorization, duplicates, an invalid change) has none of its changes
// applied.

import (
	"context"
	"fmt"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's bounds on SCRAM iterations.
const (
	minScramIterations = 4096
	maxScramIterations = 16384
)

// scramOp is one deletion or upsertion of the request, in user order.
type scramOp struct {
	user   string
	change controller.ScramChange
	err    error
}

func (h *Handlers) alterUserScram(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := kmsg.NewPtrAlterUserSCRAMCredentialsResponse()
	ops := scramOps(r)
	users, userErr := groupScramOps(ops, h.authorizeCluster(req, metadata.ACLOpAlter))
	var changes []controller.ScramChange
	var owners []string
	for _, op := range ops {
		if userErr[op.user] == nil {
			changes, owners = append(changes, op.change), append(owners, op.user)
		}
	}
	if len(changes) > 0 {
		errs, err := h.d.Controller.AlterScram(ctx, changes)
		for i, u := range owners {
			if e := firstErr(err, errAt(errs, i)); e != nil && userErr[u] == nil {
				userErr[u] = e
			}
		}
	}
	for _, u := range users {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode, res.ErrorMessage = u, errorCode(userErr[u]), errorMessage(userErr[u])
		resp.Results = append(resp.Results, res)
	}
	return respond(req, resp)
}

// scramOps validates each deletion and upsertion on its own.
func scramOps(r *kmsg.AlterUserSCRAMCredentialsRequest) []scramOp {
	var ops []scramOp
	for _, d := range r.Deletions {
		op := scramOp{user: d.Name, change: controller.ScramChange{Key: metadata.ScramKey{User: d.Name, Mechanism: d.Mechanism}}}
		op.err = checkScramKey(d.Name, d.Mechanism)
		ops = append(ops, op)
	}
	for _, u := range r.Upsertions {
		ops = append(ops, upsertion(u))
	}
	return ops
}

func upsertion(u kmsg.AlterUserSCRAMCredentialsRequestUpsertion) scramOp {
	op := scramOp{user: u.Name, change: controller.ScramChange{Key: metadata.ScramKey{User: u.Name, Mechanism: u.Mechanism}}}
	if op.err = checkScramKey(u.Name, u.Mechanism); op.err != nil {
		return op
	}
	switch {
	case u.Iterations < minScramIterations:
		op.err = fmt.Errorf("%w: too few iterations", kerr.UnacceptableCredential)
	case u.Iterations > maxScramIterations:
		op.err = fmt.Errorf("%w: too many iterations", kerr.UnacceptableCredential)
	}
	if op.err != nil {
		return op
	}
	c, err := sasl.DeriveCredential(sasl.MechanismName(u.Mechanism), u.SaltedPassword, u.Salt, int(u.Iterations))
	if err != nil {
		op.err = fmt.Errorf("%w: %v", kerr.UnacceptableCredential, err)
		return op
	}
	op.change.Credential = &metadata.ScramCredential{User: u.Name, Mechanism: u.Mechanism, Salt: c.Salt,
		StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: u.Iterations}
	return op
}

func checkScramKey(user string, mechanism int8) error {
	if user == "" {
		return fmt.Errorf("%w: username must not be empty", kerr.UnacceptableCredential)
	}
	if sasl.MechanismName(mechanism) == "" {
		return fmt.Errorf("%w: unknown SCRAM mechanism %d", kerr.UnsupportedSaslMechanism, mechanism)
	}
	return nil
}

// groupScramOps lists the users in request order and the error that
// fails each user as a whole: no authorization, a duplicate (user,
// mechanism), or the first invalid change.
func groupScramOps(ops []scramOp, authorized bool) ([]string, map[string]error) {
	var users []string
	userErr := map[string]error{}
	seen := map[metadata.ScramKey]bool{}
	for _, op := range ops {
		if _, known := userErr[op.user]; !known {
			users = append(users, op.user)
			userErr[op.user] = nil
		}
		switch {
		case !authorized:
			userErr[op.user] = kerr.ClusterAuthorizationFailed
		case seen[op.change.Key]:
			userErr[op.user] = kerr.DuplicateResource
		case op.err != nil && userErr[op.user] == nil:
			userErr[op.user] = op.err
		}
		seen[op.change.Key] = true
	}
	return users, userErr
}

func errAt(errs []error, i int) error {
	if i < len(errs) {
		return errs[i]
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
