package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// Dynamic broker configs (Kafka's KIP-226, DynamicBrokerConfig): a broker
// config named here may also be set in the metadata log, for one broker
// (resource name = its id) or as the cluster-wide default (resource name
// ""), and takes effect without a restart. The order of precedence is
// Kafka's: the broker's own dynamic value, the cluster-wide dynamic
// default, the static value (server.properties and overrides), the
// default.
//
// The set is Kafka's AllDynamicConfigs limited to what Fjord applies at
// run time: the broker defaults of topic configs (only the first broker
// synonym of each, as in Kafka: log.retention.ms but not
// log.retention.hours), the replication throttles, and the settings read
// at use time. Kafka's dynamic thread-pool, listener, SSL and
// connection-limit configs are read-only here (Fjord sizes those at
// startup).
var dynamicNames = map[string]bool{
	// Broker defaults of topic configs (Kafka's DynamicLogConfig).
	"log.cleanup.policy":                  true,
	"compression.type":                    true,
	"log.cleaner.backoff.ms":              true,
	"log.cleaner.delete.retention.ms":     true,
	"log.segment.delete.delay.ms":         true,
	"log.flush.interval.messages":         true,
	"log.flush.interval.ms":               true,
	"log.index.interval.bytes":            true,
	"log.cleaner.max.compaction.lag.ms":   true,
	"message.max.bytes":                   true,
	"log.message.timestamp.after.max.ms":  true,
	"log.message.timestamp.before.max.ms": true,
	"log.message.timestamp.type":          true,
	"log.cleaner.min.cleanable.ratio":     true,
	"log.cleaner.min.compaction.lag.ms":   true,
	"min.insync.replicas":                 true,
	"log.preallocate":                     true,
	"log.retention.bytes":                 true,
	"log.retention.ms":                    true,
	"log.segment.bytes":                   true,
	"log.index.size.max.bytes":            true,
	"log.roll.jitter.ms":                  true,
	"log.roll.ms":                         true,
	"unclean.leader.election.enable":      true,
	// Replication throttles (Kafka's DynamicConfig.Broker).
	"leader.replication.throttled.rate":   true,
	"follower.replication.throttled.rate": true,
	// KIP-1066 cordoning.
	"cordoned.log.dirs": true,
	// Producer state (Kafka's DynamicProducerStateManagerConfig).
	"producer.id.expiration.ms":                 true,
	"transaction.partition.verification.enable": true,
}

// IsDynamic reports whether a broker config may be changed at run time
// (DescribeConfigs reports the others as read-only).
func IsDynamic(name string) bool { return dynamicNames[name] }

// DynamicNames returns the dynamic broker configs, sorted.
func DynamicNames() []string { return slices.Sorted(maps.Keys(dynamicNames)) }

// ValidateDynamic checks a broker resource's dynamic configs (the whole
// set after a change): every name a known, dynamic broker config, every
// value well formed. The error says what is wrong, as Kafka's "Cannot
// update these configs dynamically"; Kafka answers it with
// INVALID_REQUEST. Unlike Kafka, which stores unknown ("custom") names,
// Fjord refuses them: a misspelt name must not pass silently.
func ValidateDynamic(configs map[string]string) error {
	var unknown, static []string
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		if _, ok := LookupBroker(k); !ok {
			unknown = append(unknown, k)
		} else if !IsDynamic(k) {
			static = append(static, k)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown broker configs: %s", strings.Join(unknown, ", "))
	}
	if len(static) > 0 {
		return fmt.Errorf("cannot update these configs dynamically: %s", strings.Join(static, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		d, _ := LookupBroker(k)
		if err := d.Parse(configs[k]); err != nil {
			return err
		}
	}
	return nil
}

// layers are a broker's dynamic configs. Both maps are immutable (the
// metadata image's own); either may be nil.
type layers struct {
	broker   map[string]string // this broker's (resource name = its id)
	defaults map[string]string // the cluster-wide default (resource name "")
	// rates caches ThrottledRates over these layers: the replication
	// paths ask for them on every fetch.
	rates atomic.Pointer[[2]int64]
}

var noLayers = &layers{}

func (b *Broker) layers() *layers {
	if l := b.dyn.Load(); l != nil {
		return l
	}
	return noLayers
}

// SetDynamic replaces the broker's dynamic configs: perBroker are this
// broker's, defaults the cluster-wide ones. Every accessor reads the new
// values from then on. The maps must not be modified afterwards. Names
// that are not dynamic are ignored. Safe for concurrent use.
func (b *Broker) SetDynamic(perBroker, defaults map[string]string) {
	b.dyn.Store(&layers{broker: perBroker, defaults: defaults})
}

// DynamicEqual reports whether the broker's dynamic configs are these.
func (b *Broker) DynamicEqual(perBroker, defaults map[string]string) bool {
	l := b.layers()
	return maps.Equal(l.broker, perBroker) && maps.Equal(l.defaults, defaults)
}

// WithDynamic returns a broker configuration with b's static configs and
// the given dynamic ones, leaving b as it is: the controller resolves
// configs on the metadata image it decides on. b may be nil (no static
// configs).
func (b *Broker) WithDynamic(perBroker, defaults map[string]string) *Broker {
	nb := &Broker{}
	if b != nil {
		nb.static = b.static
	}
	nb.SetDynamic(perBroker, defaults)
	return nb
}

// DynamicDefaults returns the cluster-wide dynamic defaults in effect
// (dynamic names only).
func (b *Broker) DynamicDefaults() map[string]string {
	out := map[string]string{}
	for k, v := range b.layers().defaults {
		if IsDynamic(k) {
			out[k] = v
		}
	}
	return out
}

// value returns a dynamic config's value and source from the
// dynamic layers, if set there.
func (l *layers) value(name string) (string, Source, bool) {
	if !IsDynamic(name) {
		return "", 0, false
	}
	if v, ok := l.broker[name]; ok {
		return v, SourceDynamicBroker, true
	}
	if v, ok := l.defaults[name]; ok {
		return v, SourceDynamicDefault, true
	}
	return "", 0, false
}

// layered lists where the configs names may come from, as Kafka's
// DescribeConfigs synonyms: every name set dynamically for this broker,
// then every name set as a dynamic cluster default, then statically, then
// every name with a default, each group in the order of names.
func (b *Broker) layered(names []string) []Synonym {
	l := b.layers()
	var out []Synonym
	add := func(m map[string]string, src Source, dynamic bool) {
		for _, name := range names {
			if v, ok := m[name]; ok && (!dynamic || IsDynamic(name)) {
				out = append(out, Synonym{name, v, src})
			}
		}
	}
	add(l.broker, SourceDynamicBroker, true)
	add(l.defaults, SourceDynamicDefault, true)
	add(b.static, SourceStaticBroker, false)
	for _, name := range names {
		if d, ok := LookupBroker(name); ok && !(d.Nullable && d.Default == "") {
			out = append(out, Synonym{name, d.Default, SourceDefault})
		}
	}
	return out
}

// BrokerSynonyms returns the broker configs that set the same thing as
// name, most preferred first, name among them (Kafka's
// brokerConfigSynonyms): log.retention.ms, .minutes and .hours; log.roll.ms
// and .hours; log.roll.jitter.ms and .hours; a per-listener config and its
// base config.
func BrokerSynonyms(name string) []string {
	for _, group := range synonymGroups {
		if slices.Contains(group, name) {
			return group
		}
	}
	if base, ok := listenerSuffix(name); ok {
		return []string{name, base}
	}
	return []string{name}
}

var synonymGroups = [][]string{
	{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
	{"log.roll.ms", "log.roll.hours"},
	{"log.roll.jitter.ms", "log.roll.jitter.hours"},
}

// Synonyms lists where a broker config's value may come from, as
// DescribeConfigs reports it for a broker: its synonyms (BrokerSynonyms)
// in every layer they are set, most preferred first, from the first entry
// of name itself on (as Kafka, which drops the more preferred synonyms
// of other names: describing log.retention.hours does not list
// log.retention.ms).
func (b *Broker) Synonyms(name string) []Synonym {
	syns := b.layered(BrokerSynonyms(name))
	for i, s := range syns {
		if s.Name == name {
			return syns[i:]
		}
	}
	return nil
}

// ThrottledRates returns this broker's replication throttles in bytes per
// second (leader.replication.throttled.rate and
// follower.replication.throttled.rate; math.MaxInt64, the default, means
// unthrottled). They are dynamic: read them at use time.
func (b *Broker) ThrottledRates() (leader, follower int64) {
	l := b.layers()
	if r := l.rates.Load(); r != nil {
		return r[0], r[1]
	}
	r := [2]int64{b.intIn(l, "leader.replication.throttled.rate"), b.intIn(l, "follower.replication.throttled.rate")}
	if l != noLayers { // shared by every Broker without dynamic configs
		l.rates.Store(&r)
	}
	return r[0], r[1]
}

func (b *Broker) intIn(l *layers, name string) int64 {
	v, _ := b.valueIn(l, name)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}
