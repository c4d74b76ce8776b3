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
	_, err := decide(ctx, c, func(t *txn) (struct{}, error) {
		img := t.image()
		existing := map[metadata.ACL]bool{}
		for _, a := range img.ACLSet().ByID {
			existing[a] = true
		}
		var recs []metadata.Record
		for _, a := range acls {
			if existing[a] {
				continue
			}
			existing[a] = true
			recs = append(recs, metadata.AccessControlEntry{ID: c.newACLID(img), ACL: a})
		}
		t.add(recs...)
		return struct{}{}, nil
	})
	return err
}

// newACLID returns an id no ACL of img has.
func (c *Controller) newACLID(img *metadata.Image) metadata.UUID {
	for {
		id := metadata.UUID(c.o.NewID())
		if _, taken := img.ACLSet().ByID[id]; !taken && !id.IsZero() {
			return id
		}
	}
}

// DeleteACLs removes the ACLs with the ids in one entry and returns those
// it removed (ids already gone are skipped).
func (c *Controller) DeleteACLs(ctx context.Context, ids []metadata.UUID) ([]metadata.UUID, error) {
	return decide(ctx, c, func(t *txn) ([]metadata.UUID, error) {
		byID := t.image().ACLSet().ByID
		var removed []metadata.UUID
		seen := map[metadata.UUID]bool{}
		for _, id := range ids {
			if _, ok := byID[id]; ok && !seen[id] {
				seen[id] = true
				t.add(metadata.RemoveAccessControlEntry{ID: id})
				removed = append(removed, id)
			}
		}
		return removed, nil
	})
}

// ScramChange is one AlterUserScramCredentials item: an upsertion
// (Credential set) or a deletion (Credential nil) of Key.
type ScramChange struct {
	Key        metadata.ScramKey
	Credential *metadata.ScramCredential
}

// AlterScram applies credential changes in one entry. A deletion of a
// credential that does not exist (in the image the request started from;
// the handler refuses a key named twice) fails with RESOURCE_NOT_FOUND;
// the other items still apply. The result has one error (or nil) per
// change.
func (c *Controller) AlterScram(ctx context.Context, changes []ScramChange) ([]error, error) {
	return decide(ctx, c, func(t *txn) ([]error, error) {
		img := t.image()
		out := make([]error, len(changes))
		for i, ch := range changes {
			if ch.Credential != nil {
				t.add(*ch.Credential)
				t.failsWith(&out[i])
				continue
			}
			if _, ok := img.ScramCredential(ch.Key.User, ch.Key.Mechanism); !ok {
				out[i] = fmt.Errorf("%w: attempt to delete a user credential that does not exist", kerr.ResourceNotFound)
				continue
			}
			t.add(metadata.RemoveScramCredential{User: ch.Key.User, Mechanism: ch.Key.Mechanism})
			t.failsWith(&out[i])
		}
		return out, nil
	})
}
