package metadata

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Client quota entity types, named as in Kafka's ClientQuotaEntity.
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
)

// Kinds of QuotaName.
const (
	QuotaAbsent  int8 = iota // the entity has no such part
	QuotaDefault             // the default (<default>)
	QuotaNamed               // a given name
)

// QuotaName is the user or client-id part of a quota entity.
type QuotaName struct {
	Kind int8
	Name string
}

// QuotaEntity is what a client quota is set for: a user, a client-id or
// both, each named or the default. It is comparable (the key of the
// image's quotas).
type QuotaEntity struct {
	User     QuotaName
	ClientID QuotaName
}

// QuotaEntityPart is one part of a ClientQuota record's entity: its type
// and name, nil for the default (Kafka's ClientQuotaRecord.EntityData).
type QuotaEntityPart struct {
	Type string  `json:"type"`
	Name *string `json:"name,omitempty"`
}

// ClientQuota sets (Value non-nil) or removes (Value nil) one quota of an
// entity (Kafka's ClientQuotaRecord): Key is producer_byte_rate,
// consumer_byte_rate, request_percentage or controller_mutation_rate.
type ClientQuota struct {
	Entity []QuotaEntityPart `json:"entity"`
	Key    string            `json:"key"`
	Value  *float64          `json:"value,omitempty"`
}

func (ClientQuota) recordType() string { return "ClientQuota" }

// EntityOf checks a record's entity parts (known types, each at most
// once, at least one) and returns the entity.
func EntityOf(parts []QuotaEntityPart) (QuotaEntity, error) {
	var e QuotaEntity
	if len(parts) == 0 {
		return e, fmt.Errorf("%w: empty quota entity", ErrInconsistent)
	}
	for _, p := range parts {
		var dst *QuotaName
		switch p.Type {
		case QuotaEntityUser:
			dst = &e.User
		case QuotaEntityClientID:
			dst = &e.ClientID
		default:
			return e, fmt.Errorf("%w: unknown quota entity type %q", ErrInconsistent, p.Type)
		}
		if dst.Kind != QuotaAbsent {
			return e, fmt.Errorf("%w: quota entity type %q given twice", ErrInconsistent, p.Type)
		}
		*dst = QuotaName{Kind: QuotaDefault}
		if p.Name != nil {
			*dst = QuotaName{Kind: QuotaNamed, Name: *p.Name}
		}
	}
	return e, nil
}

// Parts returns the record form of e: user first, then client-id.
func (e QuotaEntity) Parts() []QuotaEntityPart {
	var out []QuotaEntityPart
	add := func(typ string, n QuotaName) {
		switch n.Kind {
		case QuotaDefault:
			out = append(out, QuotaEntityPart{Type: typ})
		case QuotaNamed:
			name := n.Name
			out = append(out, QuotaEntityPart{Type: typ, Name: &name})
		}
	}
	add(QuotaEntityUser, e.User)
	add(QuotaEntityClientID, e.ClientID)
	return out
}

// String is e in Kafka's config path form, e.g. user=alice,client-id=<default>.
func (e QuotaEntity) String() string {
	var parts []string
	for _, p := range e.Parts() {
		n := "<default>"
		if p.Name != nil {
			n = *p.Name
		}
		parts = append(parts, p.Type+"="+n)
	}
	return strings.Join(parts, ",")
}

// ClientQuotas returns every entity's quotas (shared: do not modify; never
// nil).
func (img *Image) ClientQuotas() map[QuotaEntity]map[string]float64 {
	if img.Quotas == nil {
		return map[QuotaEntity]map[string]float64{}
	}
	return img.Quotas
}

// ClientQuota returns the quota key set for the entity.
func (img *Image) ClientQuota(e QuotaEntity, key string) (float64, bool) {
	v, ok := img.Quotas[e][key]
	return v, ok
}

func (b *builder) setClientQuota(r ClientQuota) error {
	e, err := EntityOf(r.Entity)
	if err != nil {
		return err
	}
	if r.Key == "" {
		return fmt.Errorf("%w: client quota without a key", ErrInconsistent)
	}
	if !b.quotasCopied {
		b.img.Quotas = maps.Clone(b.img.Quotas)
		if b.img.Quotas == nil {
			b.img.Quotas = map[QuotaEntity]map[string]float64{}
		}
		b.quotasCopied = true
	}
	m := maps.Clone(b.img.Quotas[e])
	if m == nil {
		m = map[string]float64{}
	}
	if r.Value == nil {
		delete(m, r.Key)
	} else {
		m[r.Key] = *r.Value
	}
	if len(m) == 0 {
		delete(b.img.Quotas, e)
	} else {
		b.img.Quotas[e] = m
	}
	return nil
}

// quotaRecords returns the records that rebuild the quotas, sorted.
func quotaRecords(q map[QuotaEntity]map[string]float64) []Record {
	keys := slices.Collect(maps.Keys(q))
	slices.SortFunc(keys, func(a, b QuotaEntity) int { return strings.Compare(a.sortKey(), b.sortKey()) })
	var recs []Record
	for _, e := range keys {
		for _, k := range slices.Sorted(maps.Keys(q[e])) {
			v := q[e][k]
			recs = append(recs, ClientQuota{Entity: e.Parts(), Key: k, Value: &v})
		}
	}
	return recs
}

func (e QuotaEntity) sortKey() string {
	return fmt.Sprintf("%d\x00%s\x00%d\x00%s", e.User.Kind, e.User.Name, e.ClientID.Kind, e.ClientID.Name)
}
