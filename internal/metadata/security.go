package metadata

import (
	"fmt"
	"maps"
)

// ACL resource types, pattern types, operations and permissions, numbered
// as in the Kafka protocol (and kmsg's ACLResourceType, ACLResourcePatternType,
// ACLOperation and ACLPermissionType).
const (
	ACLResourceAny             int8 = 1
	ACLResourceTopic           int8 = 2
	ACLResourceGroup           int8 = 3
	ACLResourceCluster         int8 = 4
	ACLResourceTransactionalID int8 = 5
	ACLResourceDelegationToken int8 = 6
	ACLResourceUser            int8 = 7

	ACLPatternAny      int8 = 1
	ACLPatternMatch    int8 = 2
	ACLPatternLiteral  int8 = 3
	ACLPatternPrefixed int8 = 4

	ACLOpAny             int8 = 1
	ACLOpAll             int8 = 2
	ACLOpRead            int8 = 3
	ACLOpWrite           int8 = 4
	ACLOpCreate          int8 = 5
	ACLOpDelete          int8 = 6
	ACLOpAlter           int8 = 7
	ACLOpDescribe        int8 = 8
	ACLOpClusterAction   int8 = 9
	ACLOpDescribeConfigs int8 = 10
	ACLOpAlterConfigs    int8 = 11
	ACLOpIdempotentWrite int8 = 12
	ACLOpCreateTokens    int8 = 13
	ACLOpDescribeTokens  int8 = 14

	ACLPermissionAny   int8 = 1
	ACLPermissionDeny  int8 = 2
	ACLPermissionAllow int8 = 3
)

// ClusterResourceName is the name of the one CLUSTER resource.
const ClusterResourceName = "kafka-cluster"

// ACL is one access control entry bound to a resource pattern (Kafka's
// AclBinding): Principal ("User:alice", "User:*") may or may not
// (Permission) perform Operation from Host ("*" for any) on the resources
// that ResourceName matches under PatternType (LITERAL, where "*" matches
// every name, or PREFIXED).
type ACL struct {
	ResourceType int8   `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  int8   `json:"patternType"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

// AccessControlEntry adds an ACL under a unique id (Kafka's
// AccessControlEntryRecord).
type AccessControlEntry struct {
	ID  UUID `json:"id"`
	ACL ACL  `json:"acl"`
}

// RemoveAccessControlEntry removes the ACL with the id.
type RemoveAccessControlEntry struct {
	ID UUID `json:"id"`
}

// SCRAM mechanisms, numbered as in the Kafka protocol
// (AlterUserScramCredentials).
const (
	ScramSHA256 int8 = 1
	ScramSHA512 int8 = 2
)

// ScramKey names one user's credential for one mechanism.
type ScramKey struct {
	User      string
	Mechanism int8
}

// ScramCredential sets a user's salted SCRAM credential for one
// mechanism (Kafka's UserScramCredentialRecord). The password itself is
// never stored: StoredKey and ServerKey are derived from the salted
// password as RFC 5802 says.
type ScramCredential struct {
	User       string `json:"user"`
	Mechanism  int8   `json:"mechanism"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"storedKey"`
	ServerKey  []byte `json:"serverKey"`
	Iterations int32  `json:"iterations"`
}

// RemoveScramCredential deletes a user's credential for one mechanism.
type RemoveScramCredential struct {
	User      string `json:"user"`
	Mechanism int8   `json:"mechanism"`
}

func (AccessControlEntry) recordType() string       { return "AccessControlEntry" }
func (RemoveAccessControlEntry) recordType() string { return "RemoveAccessControlEntry" }
func (ScramCredential) recordType() string          { return "UserScramCredential" }
func (RemoveScramCredential) recordType() string    { return "RemoveUserScramCredential" }

// ACLs is the immutable set of ACLs of an image, by id. An image shares it
// with its predecessor until an ACL record replaces it, so a reader may
// cache what it derives from one *ACLs (an authorizer's index) until the
// pointer changes.
type ACLs struct {
	ByID map[UUID]ACL
}

// Security is the immutable security state of an image: ACLs and SCRAM
// credentials. Like ACLs, it is replaced, never modified.
type Security struct {
	ACLs  *ACLs
	Scram map[ScramKey]ScramCredential
}

var emptySecurity = &Security{ACLs: &ACLs{ByID: map[UUID]ACL{}}, Scram: map[ScramKey]ScramCredential{}}

// Scram returns the user's credential for the mechanism.
func (img *Image) ScramCredential(user string, mechanism int8) (ScramCredential, bool) {
	c, ok := img.security().Scram[ScramKey{user, mechanism}]
	return c, ok
}

// ACLSet returns the image's ACLs (never nil).
func (img *Image) ACLSet() *ACLs { return img.security().ACLs }

// ScramCredentials returns every SCRAM credential (shared: do not modify).
func (img *Image) ScramCredentials() map[ScramKey]ScramCredential { return img.security().Scram }

func (img *Image) security() *Security {
	if img.Security == nil {
		return emptySecurity
	}
	return img.Security
}

func (b *builder) addACL(r AccessControlEntry) error {
	s := b.writableSecurity(true, false)
	if _, ok := s.ACLs.ByID[r.ID]; ok {
		return fmt.Errorf("%w: acl id %s exists", ErrInconsistent, r.ID)
	}
	s.ACLs.ByID[r.ID] = r.ACL
	b.delta.ChangedSecurity = true
	return nil
}

func (b *builder) removeACL(r RemoveAccessControlEntry) error {
	s := b.writableSecurity(true, false)
	if _, ok := s.ACLs.ByID[r.ID]; !ok {
		return fmt.Errorf("%w: unknown acl id %s", ErrInconsistent, r.ID)
	}
	delete(s.ACLs.ByID, r.ID)
	b.delta.ChangedSecurity = true
	return nil
}

func (b *builder) setScram(r ScramCredential) {
	s := b.writableSecurity(false, true)
	s.Scram[ScramKey{r.User, r.Mechanism}] = r
	b.delta.ChangedSecurity = true
}

func (b *builder) removeScram(r RemoveScramCredential) error {
	s := b.writableSecurity(false, true)
	k := ScramKey(r)
	if _, ok := s.Scram[k]; !ok {
		return fmt.Errorf("%w: no %d credential for user %q", ErrInconsistent, r.Mechanism, r.User)
	}
	delete(s.Scram, k)
	b.delta.ChangedSecurity = true
	return nil
}

// writableSecurity returns the builder's private copy of the security
// state, copying the ACL set and the credential map on first write within
// this entry so the source image is never modified.
func (b *builder) writableSecurity(acls, scram bool) *Security {
	if !b.securityCopied {
		c := *b.img.security()
		b.img.Security = &c
		b.securityCopied = true
	}
	s := b.img.Security
	if acls && !b.aclsCopied {
		s.ACLs = &ACLs{ByID: maps.Clone(s.ACLs.ByID)}
		b.aclsCopied = true
	}
	if scram && !b.scramCopied {
		s.Scram = maps.Clone(s.Scram)
		b.scramCopied = true
	}
	return s
}

// securityRecords returns the records that rebuild the security state.
func securityRecords(s *Security) []Record {
	var recs []Record
	for _, id := range sortedIDs(s.ACLs.ByID) {
		recs = append(recs, AccessControlEntry{ID: id, ACL: s.ACLs.ByID[id]})
	}
	for _, k := range sortedScramKeys(s.Scram) {
		recs = append(recs, s.Scram[k])
	}
	return recs
}
