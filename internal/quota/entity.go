package quota

// Kind says how an entity names one of its parts.
type Kind uint8

const (
	// Absent: the entity does not name this part (a user-only quota has
	// no client-id).
	Absent Kind = iota
	// Default: the part's default (<default> in Kafka's config paths).
	Default
	// Named: the part is Name.
	Named
)

// Part is a user or client-id part of an entity.
type Part struct {
	Kind Kind
	Name string
}

// Name is a named part.
func Name(n string) Part { return Part{Kind: Named, Name: n} }

// DefaultPart is the default part.
var DefaultPart = Part{Kind: Default}

// Entity is what a client quota is configured for: a user, a client-id,
// or a (user, client-id) pair, each named or the default.
type Entity struct {
	User     Part
	ClientID Part
}

// levels are the entities a quota of (user, clientID) may be
// configured at, in precedence order, the most specific first.
func levels(user, clientID string) [8]Entity {
	u, c := Name(user), Name(clientID)
	none := Part{}
	return [8]Entity{
		{u, c},                     // /config/users/<user>/clients/<client-id>
		{u, DefaultPart},           // /config/users/<user>/clients/<default>
		{u, none},                  // /config/users/<user>
		{DefaultPart, c},           // /config/users/<default>/clients/<client-id>
		{DefaultPart, DefaultPart}, // /config/users/<default>/clients/<default>
		{DefaultPart, none},        // /config/users/<default>
		{none, c},                  // /config/clients/<client-id>
		{none, DefaultPart},        // /config/clients/<default>
	}
}

// Match is the quota that applies to a client: the bound, the entity it
// is configured at, and the key of the sensor the client's usage is
// measured on. Clients sharing a SensorKey share one rate: every client
// of a user with a user-level quota, for instance.
type Match struct {
	Bound  float64
	Found  bool
	Entity Entity
	// Tags are the user and client-id the sensor is labelled with in
	// metrics ("" where the quota does not distinguish), as Kafka's
	// quota metric tags.
	UserTag, ClientTag string
}

// SensorKey is the sensor key of the match (user and client-id tags).
func (m Match) SensorKey() string { return m.UserTag + "\x00" + m.ClientTag }

// Resolve finds the quota for a client of user with clientID in Kafka's
// precedence order (KIP-55):
//
//  1. /config/users/<user>/clients/<client-id>
//  2. /config/users/<user>/clients/<default>
//  3. /config/users/<user>
//  4. /config/users/<default>/clients/<client-id>
//  5. /config/users/<default>/clients/<default>
//  6. /config/users/<default>
//  7. /config/clients/<client-id>
//  8. /config/clients/<default>
//
// lookup returns the quota configured at an entity. With no quota at any
// level the match is not Found, its Bound is 0 (no limit), and usage is
// measured per client-id.
func Resolve(user, clientID string, lookup func(Entity) (float64, bool)) Match {
	for _, e := range levels(user, clientID) {
		v, ok := lookup(e)
		if !ok {
			continue
		}
		m := Match{Bound: v, Found: true, Entity: e}
		if e.User.Kind != Absent {
			m.UserTag = user
		}
		if e.ClientID.Kind != Absent {
			m.ClientTag = clientID
		}
		return m
	}
	return Match{ClientTag: clientID}
}
