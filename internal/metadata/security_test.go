package metadata

import (
	"errors"
	"reflect"
	"testing"
)

func securityRecordsSample() []Record {
	return []Record{
		AccessControlEntry{ID: UUID{9}, ACL: ACL{ResourceType: ACLResourceTopic, ResourceName: "orders",
			PatternType: ACLPatternLiteral, Principal: "User:alice", Host: "*", Operation: ACLOpRead, Permission: ACLPermissionAllow}},
		AccessControlEntry{ID: UUID{8}, ACL: ACL{ResourceType: ACLResourceGroup, ResourceName: "billing-",
			PatternType: ACLPatternPrefixed, Principal: "User:alice", Host: "*", Operation: ACLOpRead, Permission: ACLPermissionAllow}},
		ScramCredential{User: "alice", Mechanism: ScramSHA512, Salt: []byte("salt"), StoredKey: []byte{1}, ServerKey: []byte{2}, Iterations: 4096},
		ScramCredential{User: "bob", Mechanism: ScramSHA256, Salt: []byte("s2"), StoredKey: []byte{3}, ServerKey: []byte{4}, Iterations: 8192},
	}
}

func TestSecurityReplayCopyOnWriteAndSnapshot(t *testing.T) {
	base, _, err := Empty().Apply(1, sampleRecords())
	if err != nil {
		t.Fatal(err)
	}
	img, d, err := base.Apply(2, securityRecordsSample())
	if err != nil {
		t.Fatal(err)
	}
	if !d.ChangedSecurity || d.Empty() {
		t.Fatal("delta does not report the security change")
	}
	if len(base.ACLSet().ByID) != 0 || len(base.ScramCredentials()) != 0 {
		t.Fatal("applying modified the source image")
	}
	if c, ok := img.ScramCredential("alice", ScramSHA512); !ok || c.Iterations != 4096 {
		t.Fatalf("alice's credential: %+v %v", c, ok)
	}
	if _, ok := img.ScramCredential("alice", ScramSHA256); ok {
		t.Fatal("credential of the other mechanism found")
	}
	// An entry that touches only credentials keeps the ACL set (authorizer caches key on it).
	img2, _, err := img.Apply(3, []Record{RemoveScramCredential{User: "bob", Mechanism: ScramSHA256}})
	if err != nil {
		t.Fatal(err)
	}
	if img2.ACLSet() != img.ACLSet() {
		t.Error("a credential change replaced the ACL set")
	}
	if len(img.ScramCredentials()) != 2 || len(img2.ScramCredentials()) != 1 {
		t.Error("credential removal not copy-on-write")
	}
	img3, _, err := img2.Apply(4, []Record{RemoveAccessControlEntry{ID: UUID{9}}})
	if err != nil || len(img3.ACLSet().ByID) != 1 || len(img2.ACLSet().ByID) != 2 {
		t.Fatalf("acl removal: %v", err)
	}
	// Snapshot round trip.
	re, _, err := Empty().Apply(img3.Offset, img3.Records())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(re.ACLSet(), img3.ACLSet()) || !reflect.DeepEqual(re.ScramCredentials(), img3.ScramCredentials()) {
		t.Error("snapshot does not rebuild the security state")
	}
	batch, _ := EncodeBatch(securityRecordsSample())
	if got, err := DecodeBatch(batch); err != nil || !reflect.DeepEqual(got, securityRecordsSample()) {
		t.Errorf("security records round trip: %v", err)
	}
}

func TestSecurityInconsistentRecords(t *testing.T) {
	for _, r := range []Record{
		RemoveAccessControlEntry{ID: UUID{1}},
		RemoveScramCredential{User: "nobody", Mechanism: ScramSHA256},
	} {
		if _, _, err := Empty().Apply(0, []Record{r}); !errors.Is(err, ErrInconsistent) {
			t.Errorf("%T: %v, want ErrInconsistent", r, err)
		}
	}
	dup := AccessControlEntry{ID: UUID{1}}
	if _, _, err := Empty().Apply(0, []Record{dup, dup}); !errors.Is(err, ErrInconsistent) {
		t.Errorf("duplicate acl id: %v", err)
	}
}
