// Package config knows Kafka's broker and topic configuration: property
// names, types, defaults, validation, and how a topic setting falls back to
// its broker-level synonyms. It reads server.properties files, and layers
// the dynamic broker configs of the metadata log over them (dynamic.go).
// It has no dependencies on the rest of Fjord.
package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is a config value's type, as DescribeConfigs v3+ reports it.
type Type int8

// Config types, numbered as in Kafka's DescribeConfigs response.
const (
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypePassword Type = 9
)

// Source is where a config value came from, numbered as in DescribeConfigs.
type Source int8

// Config sources.
const (
	SourceDynamicTopic   Source = 1
	SourceDynamicBroker  Source = 2
	SourceDynamicDefault Source = 3
	SourceStaticBroker   Source = 4
	SourceDefault        Source = 5
)

// Def describes one config key.
type Def struct {
	Name     string
	Type     Type
	Default  string // "" with Nullable means null
	Nullable bool
	Doc      string
	// Sensitive values (passwords, keys) are never shown by DescribeConfigs.
	Sensitive bool
	// PerListener configs may also be set for one listener as
	// listener.name.<listener>.<name> (and, for SASL JAAS configs,
	// listener.name.<listener>.<mechanism>.<name>), as in Kafka.
	PerListener bool
	// Check validates a value already parsed as Type; nil accepts any.
	Check func(string) error
}

// Parse checks that value is well formed for d.
func (d Def) Parse(value string) error {
	if err := checkType(d.Type, value); err != nil {
		return fmt.Errorf("invalid value %q for configuration %s: %w", value, d.Name, err)
	}
	if d.Check != nil {
		if err := d.Check(value); err != nil {
			return fmt.Errorf("invalid value %q for configuration %s: %w", value, d.Name, err)
		}
	}
	return nil
}

func checkType(t Type, v string) error {
	var err error
	switch t {
	case TypePassword:
		return nil
	case TypeBoolean:
		if v != "true" && v != "false" {
			err = fmt.Errorf("expected true or false")
		}
	case TypeInt:
		_, err = strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	case TypeShort:
		_, err = strconv.ParseInt(strings.TrimSpace(v), 10, 16)
	case TypeLong:
		_, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	case TypeDouble:
		_, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
	}
	return err
}

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if n < min {
			return fmt.Errorf("value must be at least %d", min)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, ok := range vals {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("string must be one of: %s", strings.Join(vals, ", "))
	}
}

func listOf(vals ...string) func(string) error {
	one := oneOf(vals...)
	return func(v string) error {
		for _, item := range strings.Split(v, ",") {
			if err := one(strings.TrimSpace(item)); err != nil {
				return err
			}
		}
		return nil
	}
}

var maxLong = strconv.FormatInt(math.MaxInt64, 10)

// checkThrottledReplicas accepts Kafka's throttled replica lists: empty,
// "*", or comma-separated partition:broker pairs.
func checkThrottledReplicas(v string) error {
	_, err := ParseThrottledReplicas(v)
	return err
}

// ThrottledReplicas is a parsed leader.replication.throttled.replicas or
// follower.replication.throttled.replicas value.
type ThrottledReplicas struct {
	All   bool                     // "*": every replica of the topic
	Pairs map[int32]map[int32]bool // partition -> broker
}

// Has reports whether the replica of partition p on broker b is listed.
func (t ThrottledReplicas) Has(p, b int32) bool { return t.All || t.Pairs[p][b] }

// ParseThrottledReplicas parses "", "*" or "p:b,p:b,...".
func ParseThrottledReplicas(v string) (ThrottledReplicas, error) {
	v = strings.TrimSpace(v)
	out := ThrottledReplicas{Pairs: map[int32]map[int32]bool{}}
	if v == "*" {
		out.All = true
		return out, nil
	}
	if v == "" {
		return out, nil
	}
	for _, item := range strings.Split(v, ",") {
		ps, bs, ok := strings.Cut(strings.TrimSpace(item), ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		b, err2 := strconv.ParseInt(bs, 10, 32)
		if !ok || err1 != nil || err2 != nil || p < 0 || b < 0 {
			return out, fmt.Errorf("%q is not a [partitionId]:[brokerId] pair (or the wildcard '*')", item)
		}
		if out.Pairs[int32(p)] == nil {
			out.Pairs[int32(p)] = map[int32]bool{}
		}
		out.Pairs[int32(p)][int32(b)] = true
	}
	return out, nil
}

// TopicDef is a topic-level config with the broker configs that supply its
// default, in priority order (Kafka's synonyms).
type TopicDef struct {
	Def
	Synonyms []string
}

// topicDefs lists the topic-level configs Fjord accepts. Defaults are
// Kafka's; the effective default comes from the broker synonyms.
var topicDefs = []TopicDef{
	{Def{Name: "cleanup.policy", Type: TypeList, Default: "delete", Check: listOf("delete", "compact")}, []string{"log.cleanup.policy"}},
	{Def{Name: "compression.type", Type: TypeString, Default: "producer", Check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")}, []string{"compression.type"}},
	{Def{Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", Check: atLeast(0)}, []string{"log.cleaner.delete.retention.ms"}},
	{Def{Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", Check: atLeast(0)}, []string{"log.segment.delete.delay.ms"}},
	{Def{Name: "flush.messages", Type: TypeLong, Default: maxLong, Check: atLeast(1)}, []string{"log.flush.interval.messages"}},
	{Def{Name: "flush.ms", Type: TypeLong, Default: maxLong, Check: atLeast(0)}, []string{"log.flush.interval.ms"}},
	{Def{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "", Check: checkThrottledReplicas}, nil},
	{Def{Name: "index.interval.bytes", Type: TypeInt, Default: "4096", Check: atLeast(0)}, []string{"log.index.interval.bytes"}},
	{Def{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "", Check: checkThrottledReplicas}, nil},
	{Def{Name: "max.compaction.lag.ms", Type: TypeLong, Default: maxLong, Check: atLeast(1)}, []string{"log.cleaner.max.compaction.lag.ms"}},
	{Def{Name: "max.message.bytes", Type: TypeInt, Default: "1048588", Check: atLeast(0)}, []string{"message.max.bytes"}},
	{Def{Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: maxLong, Check: atLeast(0)}, []string{"log.message.timestamp.after.max.ms"}},
	{Def{Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, Check: atLeast(0)}, []string{"log.message.timestamp.before.max.ms"}},
	{Def{Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", Check: oneOf("CreateTime", "LogAppendTime")}, []string{"log.message.timestamp.type"}},
	{Def{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5"}, []string{"log.cleaner.min.cleanable.ratio"}},
	{Def{Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", Check: atLeast(0)}, []string{"log.cleaner.min.compaction.lag.ms"}},
	{Def{Name: "min.insync.replicas", Type: TypeInt, Default: "1", Check: atLeast(1)}, []string{"min.insync.replicas"}},
	{Def{Name: "preallocate", Type: TypeBoolean, Default: "false"}, []string{"log.preallocate"}},
	{Def{Name: "retention.bytes", Type: TypeLong, Default: "-1"}, []string{"log.retention.bytes"}},
	{Def{Name: "retention.ms", Type: TypeLong, Default: "604800000", Check: atLeast(-1)}, []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}},
	{Def{Name: "segment.bytes", Type: TypeInt, Default: "1073741824", Check: atLeast(14)}, []string{"log.segment.bytes"}}, // 14: Kafka 3.x's minimum (a v0 record's overhead), as log.segment.bytes
	{Def{Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", Check: atLeast(4)}, []string{"log.index.size.max.bytes"}},
	{Def{Name: "segment.jitter.ms", Type: TypeLong, Default: "0", Check: atLeast(0)}, []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}},
	{Def{Name: "segment.ms", Type: TypeLong, Default: "604800000", Check: atLeast(1)}, []string{"log.roll.ms", "log.roll.hours"}},
	{Def{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false"}, []string{"unclean.leader.election.enable"}},
}

// TopicDefs returns the topic-level configs, sorted by name.
func TopicDefs() []TopicDef { return topicDefs }

// LookupTopic returns the definition of a topic-level config.
func LookupTopic(name string) (TopicDef, bool) {
	for _, d := range topicDefs {
		if d.Name == name {
			return d, true
		}
	}
	return TopicDef{}, false
}

// ValidateTopic checks a set of topic config overrides: every key known,
// every value well formed.
func ValidateTopic(overrides map[string]string) error {
	for k, v := range overrides {
		d, ok := LookupTopic(k)
		if !ok {
			return fmt.Errorf("unknown topic config name: %s", k)
		}
		if err := d.Parse(v); err != nil {
			return err
		}
	}
	return nil
}
