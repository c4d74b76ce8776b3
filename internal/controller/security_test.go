package controller

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

func readACL(principal, topic string) metadata.ACL {
	return metadata.ACL{ResourceType: metadata.ACLResourceTopic, ResourceName: topic, PatternType: metadata.ACLPatternLiteral,
		Principal: principal, Host: "*", Operation: metadata.ACLOpRead, Permission: metadata.ACLPermissionAllow}
}

func TestCreateAndDeleteACLsInOneEntryEach(t *testing.T) {
	h := newHarness(t, 1, nil)
	ctx := context.Background()
	before := len(h.log.entries)
	a, b := readACL("User:alice", "orders"), readACL("User:bob", "orders")
	if err := h.c.CreateACLs(ctx, []metadata.ACL{a, b, a}); err != nil {
		t.Fatal(err)
	}
	if n := len(h.log.entries) - before; n != 1 {
		t.Fatalf("CreateACLs committed %d entries, want 1", n)
	}
	if got := h.latest().ACLSet().ByID; len(got) != 2 {
		t.Fatalf("ACLs after create: %v (a duplicate in one request must be added once)", got)
	}
	if err := h.c.CreateACLs(ctx, []metadata.ACL{a}); err != nil || len(h.latest().ACLSet().ByID) != 2 {
		t.Fatalf("re-creating an existing ACL added it again: %v", err)
	}
	var aliceID metadata.UUID
	for id, acl := range h.latest().ACLSet().ByID {
		if acl == a {
			aliceID = id
		}
	}
	removed, err := h.c.DeleteACLs(ctx, []metadata.UUID{aliceID, aliceID, {0xee}})
	if err != nil || !reflect.DeepEqual(removed, []metadata.UUID{aliceID}) {
		t.Fatalf("DeleteACLs: %v %v", removed, err)
	}
	if !reflect.DeepEqual(h.replay(t).ACLSet(), h.latest().ACLSet()) {
		t.Error("ACL state does not come from replaying records")
	}
}

func TestAlterScram(t *testing.T) {
	h := newHarness(t, 1, nil)
	ctx := context.Background()
	cred := metadata.ScramCredential{User: "alice", Mechanism: metadata.ScramSHA512, Salt: []byte("s"), StoredKey: []byte{1}, ServerKey: []byte{2}, Iterations: 4096}
	errs, err := h.c.AlterScram(ctx, []ScramChange{
		{Key: metadata.ScramKey{User: "alice", Mechanism: metadata.ScramSHA512}, Credential: &cred},
		{Key: metadata.ScramKey{User: "bob", Mechanism: metadata.ScramSHA256}},
	})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], kerr.ResourceNotFound) {
		t.Fatalf("AlterScram: %v %v", errs, err)
	}
	if got, ok := h.latest().ScramCredential("alice", metadata.ScramSHA512); !ok || !reflect.DeepEqual(got, cred) {
		t.Fatalf("stored credential %+v %v", got, ok)
	}
	errs, err = h.c.AlterScram(ctx, []ScramChange{{Key: metadata.ScramKey{User: "alice", Mechanism: metadata.ScramSHA512}}})
	if err != nil || errs[0] != nil {
		t.Fatalf("delete: %v %v", errs, err)
	}
	if _, ok := h.latest().ScramCredential("alice", metadata.ScramSHA512); ok {
		t.Error("credential still there after deletion")
	}
}
