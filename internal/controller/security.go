package controller

import (
	"context"
	"fmt"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ACLs and SCRAM credentials (issue 10). The handlers validate requests
// and derive credentials; the controller gives new ACLs their ids and
// commits each command's records as one metadata entry, so a CreateAcls or
// AlterUserScramCredentials request is applied all at once.

// CreateACLs adds the ACLs (already validated) in one entry; each gets a
// fresh id. An ACL identical to an existing one is not added twice (as
// Kafka's AclControlManager). It returns the commit's error for all.
func (c *Controller) CreateACLs(ctx context.Context, acls []metadata.ACL) error {
	commitErr, err := activeCmd(ctx, c, func() error {
		existing := map[metadata.ACL]bool{}
		for _, a := range c.image().ACLSet().ByID {
			existing[a] = true
		}
		var recs []metadata.Record
		for _, a := range acls {
			if existing[a] {
				continue
			}
			existing[a] = true
			recs = append(recs, metadata.AccessControlEntry{ID: c.newACLID(), ACL: a})
		}
		_, err := c.commit(ctx, recs)
		return err
	})
	if err == nil {
		err = commitErr
	}
	return err
}

// newACLID returns an id no ACL of the image has.
func (c *Controller) newACLID() metadata.UUID {
	for {
		id := metadata.UUID(c.o.NewID())
		if _, taken := c.image().ACLSet().ByID[id]; !taken && !id.IsZero() {
			return id
		}
	}
}

// DeleteACLs removes the ACLs with the ids in one entry and returns those
// it removed (ids already gone are skipped).
func (c *Controller) DeleteACLs(ctx context.Context, ids []metadata.UUID) ([]metadata.UUID, error) {
	type res struct {
		removed []metadata.UUID
		err     error
	}
	r, err := activeCmd(ctx, c, func() res {
		var out res
		var recs []metadata.Record
		seen := map[metadata.UUID]bool{}
		for _, id := range ids {
			if _, ok := c.image().ACLSet().ByID[id]; ok && !seen[id] {
				seen[id] = true
				recs = append(recs, metadata.RemoveAccessControlEntry{ID: id})
				out.removed = append(out.removed, id)
			}
		}
		_, out.err = c.commit(ctx, recs)
		return out
	})
	if err == nil {
		err = r.err
	}
	return r.removed, err
}

// ScramChange is one AlterUserScramCredentials item: an upsertion
// (Credential set) or a deletion (Credential nil) of Key.
type ScramChange struct {
	Key        metadata.ScramKey
	Credential *metadata.ScramCredential
}

// AlterScram applies credential changes in one entry. A deletion of a
// credential that does not exist fails with RESOURCE_NOT_FOUND; the other
// items still apply. The result has one error (or nil) per change.
func (c *Controller) AlterScram(ctx context.Context, changes []ScramChange) ([]error, error) {
	return activeCmd(ctx, c, func() []error {
		out := make([]error, len(changes))
		var recs []metadata.Record
		for i, ch := range changes {
			if ch.Credential != nil {
				recs = append(recs, *ch.Credential)
				continue
			}
			if _, ok := c.image().ScramCredential(ch.Key.User, ch.Key.Mechanism); !ok {
				out[i] = fmt.Errorf("%w: attempt to delete a user credential that does not exist", kerr.ResourceNotFound)
				continue
			}
			recs = append(recs, metadata.RemoveScramCredential{User: ch.Key.User, Mechanism: ch.Key.Mechanism})
		}
		if _, err := c.commit(ctx, recs); err != nil {
			for i := range out {
				if out[i] == nil {
					out[i] = err
				}
			}
		}
		return out
	})
}
