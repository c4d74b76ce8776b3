package metadata

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// UUID is a Kafka topic id: 16 bytes, shown in URL-safe base64 without
// padding, as Kafka's tools print it.
type UUID [16]byte

// String returns the id in Kafka's base64 form.
func (u UUID) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// IsZero reports whether u is the zero id (Kafka's "no topic id").
func (u UUID) IsZero() bool { return u == UUID{} }

// ParseUUID parses Kafka's base64 form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("metadata: bad uuid %q", s)
	}
	copy(u[:], b)
	return u, nil
}

// MarshalJSON encodes the id as its string form.
func (u UUID) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

// UnmarshalJSON decodes the string form.
func (u *UUID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseUUID(s)
	*u = v
	return err
}
