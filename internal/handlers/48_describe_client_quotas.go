package handlers

// DescribeClientQuotas (key 48), versions 0-1, answered by any broker from
// its metadata image (as Kafka's brokers do).
//
// The filter follows KIP-546: each component names an entity type (user or
// client-id) at most once and matches an exact name (EXACT), the default
// (DEFAULT) or any name, the default included (ANY). An entity matches
// when it has every component's type with a matching name; with Strict it
// must have no other type. No component and not Strict: every entity.
// Entities come out sorted (users before client-ids, the default first).
//
// Errors (top level, no entries): CLUSTER_AUTHORIZATION_FAILED without
// DESCRIBE_CONFIGS on the cluster; INVALID_REQUEST for a type given twice,
// an unknown type or match type, a name with DEFAULT or none with EXACT.
// Not implemented: ip entities (KIP-612 connection rates): a filter on
// them is valid and matches nothing.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quotaEntityIP is Kafka's ip entity type, accepted in filters only.
const quotaEntityIP = "ip"

func (h *Handlers) describeClientQuotas(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeClientQuotasRequest)
	resp := kmsg.NewPtrDescribeClientQuotasResponse()
	if !h.authorizeCluster(req, metadata.ACLOpDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(req, resp)
	}
	f, err := parseQuotaFilter(r)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), detailMessage(err)
		return respond(req, resp)
	}
	quotas := h.d.Image().ClientQuotas()
	for _, e := range sortedQuotaEntities(quotas) {
		if f.matches(e) {
			resp.Entries = append(resp.Entries, describeQuotaEntry(e, quotas[e]))
		}
	}
	return respond(req, resp)
}

// quotaFilter is a parsed DescribeClientQuotas filter: per entity type
// the name wanted (nil: any).
type quotaFilter struct {
	want   map[string]*metadata.QuotaName
	strict bool
}

func parseQuotaFilter(r *kmsg.DescribeClientQuotasRequest) (quotaFilter, error) {
	f := quotaFilter{want: map[string]*metadata.QuotaName{}, strict: r.Strict}
	for _, c := range r.Components {
		if c.EntityType != metadata.QuotaEntityUser && c.EntityType != metadata.QuotaEntityClientID && c.EntityType != quotaEntityIP {
			return f, fmt.Errorf("%w: unknown quota entity type %q", kerr.InvalidRequest, c.EntityType)
		}
		if _, dup := f.want[c.EntityType]; dup {
			return f, fmt.Errorf("%w: entity type %q given twice in the filter", kerr.InvalidRequest, c.EntityType)
		}
		var n *metadata.QuotaName
		switch {
		case c.MatchType == kmsg.QuotasMatchTypeExact && c.Match != nil:
			n = &metadata.QuotaName{Kind: metadata.QuotaNamed, Name: *c.Match}
		case c.MatchType == kmsg.QuotasMatchTypeDefault && c.Match == nil:
			n = &metadata.QuotaName{Kind: metadata.QuotaDefault}
		case c.MatchType == kmsg.QuotasMatchTypeAny && c.Match == nil:
		default:
			return f, fmt.Errorf("%w: match type %d with match %v for entity type %q", kerr.InvalidRequest, c.MatchType, c.Match, c.EntityType)
		}
		f.want[c.EntityType] = n
	}
	_, ip := f.want[quotaEntityIP]
	if ip && len(f.want) > 1 {
		return f, fmt.Errorf("%w: ip cannot be combined with other entity types", kerr.InvalidRequest)
	}
	return f, nil
}

func (f quotaFilter) matches(e metadata.QuotaEntity) bool {
	if _, ip := f.want[quotaEntityIP]; ip {
		return false
	}
	have := map[string]metadata.QuotaName{}
	if e.User.Kind != metadata.QuotaAbsent {
		have[metadata.QuotaEntityUser] = e.User
	}
	if e.ClientID.Kind != metadata.QuotaAbsent {
		have[metadata.QuotaEntityClientID] = e.ClientID
	}
	if f.strict && len(have) != len(f.want) {
		return false
	}
	for typ, n := range f.want {
		got, ok := have[typ]
		if !ok || (n != nil && got != *n) {
			return false
		}
	}
	return true
}

// sortedQuotaEntities orders entities for a stable answer: by user (absent,
// default, then names), then by client-id likewise.
func sortedQuotaEntities(q map[metadata.QuotaEntity]map[string]float64) []metadata.QuotaEntity {
	keys := slices.Collect(maps.Keys(q))
	cmpName := func(a, b metadata.QuotaName) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		return strings.Compare(a.Name, b.Name)
	}
	slices.SortFunc(keys, func(a, b metadata.QuotaEntity) int {
		if c := cmpName(a.User, b.User); c != 0 {
			return c
		}
		return cmpName(a.ClientID, b.ClientID)
	})
	return keys
}

func describeQuotaEntry(e metadata.QuotaEntity, values map[string]float64) kmsg.DescribeClientQuotasResponseEntry {
	out := kmsg.NewDescribeClientQuotasResponseEntry()
	for _, p := range e.Parts() {
		ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
		ent.Type, ent.Name = p.Type, p.Name
		out.Entity = append(out.Entity, ent)
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		v := kmsg.NewDescribeClientQuotasResponseEntryValue()
		v.Key, v.Value = k, values[k]
		out.Values = append(out.Values, v)
	}
	return out
}
