package config

import (
	"strconv"
)

// Synonym is one place a config's value may come from, as DescribeConfigs
// reports it (most specific first).
type Synonym struct {
	Name   string
	Value  string
	Source Source
}

// Entry is a resolved topic config: its effective value, where it came from,
// and the synonyms consulted.
type Entry struct {
	Def      TopicDef
	Value    string
	Null     bool
	Source   Source
	Synonyms []Synonym
}

// ResolveTopic resolves one topic config: the topic override if any, else
// the broker synonyms in Kafka's order (every synonym set dynamically for
// this broker, then as a dynamic cluster default, then statically, then
// by default; see Broker.layered), the first one giving the value
// (converted to the topic config's unit), else the topic config's own
// default. Only the first broker synonym of a topic config is dynamic
// (log.retention.ms, not log.retention.hours), so the first entry is also
// the one Kafka's broker config resolves to.
func ResolveTopic(d TopicDef, overrides map[string]string, b *Broker) Entry {
	e := Entry{Def: d}
	if v, ok := overrides[d.Name]; ok {
		e.Synonyms = append(e.Synonyms, Synonym{d.Name, v, SourceDynamicTopic})
	}
	e.Synonyms = append(e.Synonyms, b.layered(d.Synonyms)...)
	if len(e.Synonyms) == 0 {
		e.Value, e.Source = d.Default, SourceDefault
		e.Null = d.Nullable && d.Default == ""
		return e
	}
	first := e.Synonyms[0]
	e.Value, e.Source = first.Value, first.Source
	if first.Source != SourceDynamicTopic {
		e.Value = toTopicUnit(first.Name, first.Value)
	}
	return e
}

// toTopicUnit converts a broker synonym's value into the topic config's
// unit (hours and minutes into milliseconds). Synonyms keep the broker's
// own value, as Kafka lists them (log.retention.hours=168).
func toTopicUnit(name, v string) string {
	mult, ok := unitOf[name]
	if !ok {
		return v
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return v
	}
	return strconv.FormatInt(n*mult, 10)
}

// Topic is the effective configuration of one topic: overrides over broker
// config over defaults, with typed accessors for the values the data path
// needs. It is immutable.
type Topic struct {
	Overrides map[string]string
	broker    *Broker
}

// NewTopic binds a topic's overrides to the broker configuration.
func NewTopic(overrides map[string]string, b *Broker) Topic {
	return Topic{Overrides: overrides, broker: b}
}

// Entry resolves one config by name; ok is false for unknown names.
func (t Topic) Entry(name string) (Entry, bool) {
	d, ok := LookupTopic(name)
	if !ok {
		return Entry{}, false
	}
	return ResolveTopic(d, t.Overrides, t.broker), true
}

// Int returns a numeric topic config's effective value.
func (t Topic) Int(name string) int64 {
	e, _ := t.Entry(name)
	n, _ := strconv.ParseInt(e.Value, 10, 64)
	return n
}

// String returns a topic config's effective value.
func (t Topic) String(name string) string {
	e, _ := t.Entry(name)
	return e.Value
}

// Float returns a floating-point topic config's effective value.
func (t Topic) Float(name string) float64 {
	e, _ := t.Entry(name)
	f, _ := strconv.ParseFloat(e.Value, 64)
	return f
}

// Bool returns a boolean topic config's effective value.
func (t Topic) Bool(name string) bool { return t.String(name) == "true" }
