package config

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// brokerDefs lists the broker configs Fjord understands, with Kafka's
// defaults. Keys not listed here are rejected so that typos are caught.
var brokerDefs = []Def{
	{Name: "node.id", Type: TypeInt, Default: "1", Check: atLeast(0)},
	{Name: "process.roles", Type: TypeList, Default: "broker,controller", Check: listOf("broker", "controller")},
	{Name: "cluster.id", Type: TypeString, Nullable: true},
	{Name: "listeners", Type: TypeList, Default: "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"},
	{Name: "advertised.listeners", Type: TypeList, Nullable: true},
	{Name: "listener.security.protocol.map", Type: TypeList, Default: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"},
	{Name: "inter.broker.listener.name", Type: TypeString, Default: "PLAINTEXT"},
	{Name: "controller.listener.names", Type: TypeList, Default: "CONTROLLER"},
	{Name: "controller.quorum.voters", Type: TypeList, Default: "",
		Doc: "id@host:port of each controller a new cluster starts with (the bootstrap voters; every one of them must list the same set). Afterwards the voters change with AddRaftVoter/RemoveRaftVoter (fjord quorum add/remove) and the metadata log holds them; keep this setting as it was (unless cluster.id is set, the cluster id is derived from it). A controller whose node.id is not listed joins the existing quorum: it starts with an empty metadata log and waits to be added"},
	{Name: "broker.rack", Type: TypeString, Nullable: true},
	{Name: "log.dirs", Type: TypeList, Default: "./fjord-data"},
	{Name: "log.dir", Type: TypeString, Nullable: true},
	{Name: "metadata.log.dir", Type: TypeString, Nullable: true},
	{Name: "num.partitions", Type: TypeInt, Default: "1", Check: atLeast(1)},
	{Name: "default.replication.factor", Type: TypeShort, Default: "1", Check: atLeast(1)},
	{Name: "auto.create.topics.enable", Type: TypeBoolean, Default: "true"},
	{Name: "delete.topic.enable", Type: TypeBoolean, Default: "true"},
	{Name: "offsets.topic.replication.factor", Type: TypeShort, Default: "3", Check: atLeast(1)},
	{Name: "offsets.topic.num.partitions", Type: TypeInt, Default: "50", Check: atLeast(1)},
	{Name: "transaction.state.log.replication.factor", Type: TypeShort, Default: "3", Check: atLeast(1)},
	{Name: "transaction.state.log.num.partitions", Type: TypeInt, Default: "50", Check: atLeast(1)},
	{Name: "transaction.state.log.min.isr", Type: TypeInt, Default: "2", Check: atLeast(1)},
	{Name: "transaction.state.log.segment.bytes", Type: TypeInt, Default: "104857600", Check: atLeast(1)},
	{Name: "transaction.max.timeout.ms", Type: TypeInt, Default: "900000", Check: atLeast(1)},
	{Name: "transactional.id.expiration.ms", Type: TypeInt, Default: "604800000", Check: atLeast(1)},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: TypeInt, Default: "10000", Check: atLeast(1)},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: TypeInt, Default: "3600000", Check: atLeast(1)},
	{Name: "transaction.partition.verification.enable", Type: TypeBoolean, Default: "true"},
	{Name: "transaction.version", Type: TypeInt, Default: "2", Check: inRange(0, 2),
		Doc: "the finalized transaction.version feature level the brokers report in ApiVersions and their transaction coordinators use: 2 (KIP-890 part 2) has clients add partitions through Produce v12 and TxnOffsetCommit v5 and bumps the producer epoch at every EndTxn, 1 writes flexible __transaction_state values, 0 is neither. Kafka finalizes it cluster-wide with kafka-features; Fjord reads it from this setting, which every broker of a cluster must share"},
	{Name: "offsets.retention.minutes", Type: TypeInt, Default: "10080", Check: atLeast(1)},
	{Name: "group.initial.rebalance.delay.ms", Type: TypeInt, Default: "3000", Check: atLeast(0)},
	{Name: "group.min.session.timeout.ms", Type: TypeInt, Default: "6000", Check: atLeast(0)},
	{Name: "group.max.session.timeout.ms", Type: TypeInt, Default: "1800000", Check: atLeast(0)},
	{Name: "socket.request.max.bytes", Type: TypeInt, Default: "104857600", Check: atLeast(1)},
	{Name: "connections.max.idle.ms", Type: TypeLong, Default: "600000"},
	// Connection limits (Kafka's ConnectionQuotas). Kafka accepts
	// max.connections=0, which would make the broker accept nothing;
	// Fjord refuses it.
	{Name: "max.connections", Type: TypeInt, Default: "2147483647", PerListener: true, Check: atLeast(1),
		Doc: "open connections allowed across all listeners (per listener as listener.name.<listener>.max.connections); at the limit new connections wait in the listen backlog"},
	{Name: "max.connections.per.ip", Type: TypeInt, Default: "2147483647", Check: atLeast(0),
		Doc: "open connections allowed from one address; more are closed at once. 0 admits only the addresses of max.connections.per.ip.overrides"},
	{Name: "max.connections.per.ip.overrides", Type: TypeString, Default: "", Check: checkHostCounts,
		Doc: "comma-separated host:count overrides of max.connections.per.ip, e.g. hostName:100,127.0.0.1:200"},
	{Name: "queued.max.request.bytes", Type: TypeLong, Default: "-1",
		Doc: "bytes of requests read but not yet served, across a listener server's connections; when exhausted, connections stop reading until memory is given back (-1: unbounded, Kafka's default)"},
	{Name: "max.incremental.fetch.session.cache.slots", Type: TypeInt, Default: "1000", Check: atLeast(0),
		Doc: "incremental fetch sessions (KIP-227) the broker keeps; 0 disables them"},
	{Name: "replica.lag.time.max.ms", Type: TypeLong, Default: "30000", Check: atLeast(1)},
	{Name: "replica.fetch.max.bytes", Type: TypeInt, Default: "1048576", Check: atLeast(0)},
	{Name: "replica.fetch.wait.max.ms", Type: TypeInt, Default: "500", Check: atLeast(0)},
	{Name: "replica.fetch.min.bytes", Type: TypeInt, Default: "1", Check: atLeast(1)},
	{Name: "replica.fetch.response.max.bytes", Type: TypeInt, Default: "10485760", Check: atLeast(0)},
	{Name: "replica.fetch.backoff.ms", Type: TypeInt, Default: "1000", Check: atLeast(0)},
	{Name: "leader.replication.throttled.rate", Type: TypeLong, Default: maxLong, Check: atLeast(0),
		Doc: "bytes per second this broker, as a leader, serves to followers of throttled replicas; a dynamic config (Kafka sets it only dynamically)"},
	{Name: "follower.replication.throttled.rate", Type: TypeLong, Default: maxLong, Check: atLeast(0),
		Doc: "bytes per second this broker, as a follower, fetches for throttled replicas; a dynamic config (Kafka sets it only dynamically)"},
	{Name: "cordoned.log.dirs", Type: TypeList, Default: "",
		Doc: "KIP-1066: log dirs of this broker that take no new replicas (\"*\" for all); a cordoned broker gets no replicas of new topics or partitions (fjord broker drain sets it), though reassignments may still name it"},
	{Name: "log.retention.check.interval.ms", Type: TypeLong, Default: "300000", Check: atLeast(1)},
	{Name: "log.cleaner.backoff.ms", Type: TypeLong, Default: "15000", Check: atLeast(1)},
	{Name: "log.recovery.flush.bytes", Type: TypeLong, Default: "67108864", Check: atLeast(-1),
		Doc: "Fjord: a log with this many bytes appended since its last flush is fsynced in the background (checked every second), its recovery point checkpointed and its producer state snapshotted, so a restart after a crash re-checks little; -1 disables it (Kafka re-checks everything after the last segment roll)"},
	{Name: "producer.id.expiration.ms", Type: TypeInt, Default: "86400000", Check: atLeast(1)},
	{Name: "producer.id.expiration.check.interval.ms", Type: TypeInt, Default: "600000", Check: atLeast(1)},
	{Name: "log.flush.offset.checkpoint.interval.ms", Type: TypeInt, Default: "60000", Check: atLeast(0)},
	{Name: "broker.heartbeat.interval.ms", Type: TypeInt, Default: "2000", Check: atLeast(1)},
	{Name: "broker.session.timeout.ms", Type: TypeInt, Default: "9000", Check: atLeast(1)},
	{Name: "auto.leader.rebalance.enable", Type: TypeBoolean, Default: "true"},
	{Name: "leader.imbalance.check.interval.seconds", Type: TypeLong, Default: "300", Check: atLeast(1)},
	{Name: "controlled.shutdown.enable", Type: TypeBoolean, Default: "true"},
	{Name: "metrics.http.listener", Type: TypeString, Nullable: true, Doc: "host:port of the Prometheus /metrics endpoint; empty disables it"},
	// Broker-level synonyms of topic configs.
	{Name: "log.cleanup.policy", Type: TypeList, Default: "delete", Check: listOf("delete", "compact")},
	{Name: "compression.type", Type: TypeString, Default: "producer", Check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")},
	{Name: "log.cleaner.delete.retention.ms", Type: TypeLong, Default: "86400000"},
	{Name: "log.segment.delete.delay.ms", Type: TypeLong, Default: "60000"},
	{Name: "log.flush.interval.messages", Type: TypeLong, Default: maxLong, Check: atLeast(1)},
	{Name: "log.flush.interval.ms", Type: TypeLong, Nullable: true},
	{Name: "log.index.interval.bytes", Type: TypeInt, Default: "4096", Check: atLeast(0)},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: TypeLong, Default: maxLong},
	{Name: "message.max.bytes", Type: TypeInt, Default: "1048588", Check: atLeast(0)},
	{Name: "log.message.timestamp.after.max.ms", Type: TypeLong, Default: maxLong},
	{Name: "log.message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong},
	{Name: "log.message.timestamp.type", Type: TypeString, Default: "CreateTime", Check: oneOf("CreateTime", "LogAppendTime")},
	{Name: "log.cleaner.min.cleanable.ratio", Type: TypeDouble, Default: "0.5"},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: TypeLong, Default: "0"},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", Check: atLeast(1)},
	{Name: "log.preallocate", Type: TypeBoolean, Default: "false"},
	{Name: "log.retention.bytes", Type: TypeLong, Default: "-1"},
	{Name: "log.retention.ms", Type: TypeLong, Nullable: true},
	{Name: "log.retention.minutes", Type: TypeInt, Nullable: true},
	{Name: "log.retention.hours", Type: TypeInt, Default: "168"},
	{Name: "log.segment.bytes", Type: TypeInt, Default: "1073741824", Check: atLeast(14)},
	{Name: "log.index.size.max.bytes", Type: TypeInt, Default: "10485760", Check: atLeast(4)},
	{Name: "log.roll.jitter.ms", Type: TypeLong, Nullable: true},
	{Name: "log.roll.jitter.hours", Type: TypeInt, Default: "0"},
	{Name: "log.roll.ms", Type: TypeLong, Nullable: true},
	{Name: "log.roll.hours", Type: TypeInt, Default: "168", Check: atLeast(1)},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false"},
}

// securityDefs are the TLS, SASL and authorizer configs (issue 10), with
// Kafka's names. Fjord's defaults differ from Kafka's only where Kafka's
// default names something Fjord does not implement (GSSAPI).
var securityDefs = []Def{
	{Name: "ssl.keystore.type", Type: TypeString, Default: "PEM", PerListener: true, Check: oneOf("PEM")},
	{Name: "ssl.keystore.location", Type: TypeString, Nullable: true, PerListener: true, Doc: "PEM file with the certificate chain and the private key"},
	{Name: "ssl.keystore.certificate.chain", Type: TypePassword, Nullable: true, PerListener: true},
	{Name: "ssl.keystore.key", Type: TypePassword, Nullable: true, Sensitive: true, PerListener: true},
	{Name: "ssl.keystore.password", Type: TypePassword, Nullable: true, Sensitive: true, PerListener: true},
	{Name: "ssl.key.password", Type: TypePassword, Nullable: true, Sensitive: true, PerListener: true},
	{Name: "ssl.truststore.type", Type: TypeString, Default: "PEM", PerListener: true, Check: oneOf("PEM")},
	{Name: "ssl.truststore.location", Type: TypeString, Nullable: true, PerListener: true},
	{Name: "ssl.truststore.certificates", Type: TypePassword, Nullable: true, PerListener: true},
	{Name: "ssl.truststore.password", Type: TypePassword, Nullable: true, Sensitive: true, PerListener: true},
	{Name: "ssl.client.auth", Type: TypeString, Default: "none", PerListener: true, Check: oneOf("none", "requested", "required")},
	{Name: "ssl.enabled.protocols", Type: TypeList, Default: "TLSv1.2,TLSv1.3", PerListener: true},
	{Name: "ssl.protocol", Type: TypeString, Default: "TLSv1.3", PerListener: true},
	{Name: "ssl.cipher.suites", Type: TypeList, Nullable: true, PerListener: true},
	{Name: "ssl.principal.mapping.rules", Type: TypeString, Default: "DEFAULT", PerListener: true},
	{Name: "ssl.endpoint.identification.algorithm", Type: TypeString, Default: "https", PerListener: true},
	{Name: "sasl.enabled.mechanisms", Type: TypeList, Default: "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", PerListener: true,
		Check: listOf("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")},
	{Name: "sasl.mechanism.inter.broker.protocol", Type: TypeString, Default: "PLAIN", Check: oneOf("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")},
	{Name: "sasl.mechanism.controller.protocol", Type: TypeString, Default: "PLAIN", Check: oneOf("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")},
	{Name: "sasl.jaas.config", Type: TypePassword, Nullable: true, Sensitive: true, PerListener: true},
	{Name: "sasl.server.max.receive.size", Type: TypeInt, Default: "524288", PerListener: true, Check: atLeast(1)},
	{Name: "connections.max.reauth.ms", Type: TypeLong, Default: "0", PerListener: true, Check: atLeast(0)},
	{Name: "authorizer.class.name", Type: TypeString, Default: "", Check: oneOf("",
		"org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer", "fjord")},
	{Name: "super.users", Type: TypeString, Default: "", Doc: "semicolon-separated principals allowed everything, e.g. User:admin;User:broker"},
	{Name: "allow.everyone.if.no.acl.found", Type: TypeBoolean, Default: "false"},
}

func init() { brokerDefs = append(brokerDefs, securityDefs...) }

// unitOf gives the multiplier that turns a broker synonym's unit into the
// topic config's milliseconds.
var unitOf = map[string]int64{
	"log.retention.minutes": 60_000,
	"log.retention.hours":   3_600_000,
	"log.roll.hours":        3_600_000,
	"log.roll.jitter.hours": 3_600_000,
}

// LookupBroker returns the definition of a broker config. A per-listener
// name (listener.name.<listener>.<config>, or for sasl.jaas.config
// listener.name.<listener>.<mechanism>.sasl.jaas.config) resolves to the
// definition of <config>, renamed.
func LookupBroker(name string) (Def, bool) {
	for _, d := range brokerDefs {
		if d.Name == name {
			return d, true
		}
	}
	if rest, ok := listenerSuffix(name); ok {
		if d, ok := LookupBroker(rest); ok && d.PerListener {
			d.Name = name
			return d, true
		}
	}
	return Def{}, false
}

// listenerSuffix strips listener.name.<listener>. (and a SASL mechanism
// before sasl.jaas.config) from a per-listener config name.
func listenerSuffix(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, listenerPrefix)
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	for _, m := range saslMechanisms {
		if r, ok := strings.CutPrefix(rest, strings.ToLower(m)+"."); ok && r == "sasl.jaas.config" {
			return r, true
		}
	}
	return rest, true
}

const listenerPrefix = "listener.name."

var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// ParseHostCounts parses a comma-separated list of host:count entries
// (max.connections.per.ip.overrides): host an IP address or host name
// (split at the last colon, so IPv6 addresses need no brackets), count a
// non-negative 32-bit integer. Blanks around entries are ignored; a host
// listed twice is an error.
func ParseHostCounts(v string) (map[string]int, error) {
	out := map[string]int{}
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		i := strings.LastIndexByte(e, ':')
		if i < 0 {
			return nil, fmt.Errorf("entry %q: expected host:count", e)
		}
		host := strings.TrimSpace(e[:i])
		n, err := strconv.ParseInt(strings.TrimSpace(e[i+1:]), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("entry %q: count must be a non-negative integer", e)
		}
		if !validHost(host) {
			return nil, fmt.Errorf("entry %q: %q is not a valid host name or address", e, host)
		}
		if _, dup := out[host]; dup {
			return nil, fmt.Errorf("entry %q: host %s listed twice", e, host)
		}
		out[host] = int(n)
	}
	return out, nil
}

func checkHostCounts(v string) error {
	_, err := ParseHostCounts(v)
	return err
}

// validHost accepts what Kafka's host pattern does (letters, digits and
// "-%._:"), but not the empty string.
// inRange checks an integer value within [lo, hi].
func inRange(lo, hi int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if n < lo || n > hi {
			return fmt.Errorf("value must be between %d and %d", lo, hi)
		}
		return nil
	}
}

func validHost(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("-%._:", r)
		if !ok {
			return false
		}
	}
	return true
}

// BrokerDefs returns every broker config definition.
func BrokerDefs() []Def { return brokerDefs }

// ReadProperties parses a Java-style properties file: key=value or
// key: value lines, # and ! comments, blank lines ignored, a trailing
// backslash continuing a line.
func ReadProperties(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(r)
	var pending string
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line = pending + line
			pending = ""
		}
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`)
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("line %d: expected key=value", n)
		}
		props[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return props, sc.Err()
}

// Broker is a validated broker configuration: the static properties given
// (from server.properties and --override flags) over Kafka's defaults,
// under the dynamic configs of the metadata log (see SetDynamic). The
// static part is immutable after New; the dynamic part is swapped
// atomically, so read a dynamic config at use time, not once at startup.
type Broker struct {
	static map[string]string
	dyn    atomic.Pointer[layers]
}

// NewBroker validates props and returns the configuration.
func NewBroker(props map[string]string) (*Broker, error) {
	static := make(map[string]string, len(props))
	for k, v := range props {
		d, ok := LookupBroker(k)
		if !ok {
			return nil, fmt.Errorf("unknown broker config %q", k)
		}
		if err := d.Parse(v); err != nil {
			return nil, err
		}
		static[k] = v
	}
	b := &Broker{static: static}
	b.dyn.Store(&layers{}) // its own, so ThrottledRates can cache on it
	return b, nil
}

// Value returns the broker config's value and whether it is set at all
// (dynamically, statically or by default). Unknown names return ("", false).
func (b *Broker) Value(name string) (string, bool) {
	return b.valueIn(b.layers(), name)
}

// valueIn is Value over the dynamic layers l.
func (b *Broker) valueIn(l *layers, name string) (string, bool) {
	if v, _, ok := l.value(name); ok {
		return v, true
	}
	if v, ok := b.static[name]; ok {
		return v, true
	}
	d, ok := LookupBroker(name)
	if !ok || (d.Nullable && d.Default == "") {
		return "", false
	}
	return d.Default, true
}

// String returns a config value ("" when unset).
func (b *Broker) String(name string) string {
	v, _ := b.Value(name)
	return v
}

// Int returns an integer config (0 when unset).
func (b *Broker) Int(name string) int64 {
	n, _ := strconv.ParseInt(b.String(name), 10, 64)
	return n
}

// ForListener returns a per-listener config: listener.name.<listener>.<name>
// when set, else <name>. Listener names are matched lower-case, as Kafka
// writes them in these prefixes.
func (b *Broker) ForListener(listener, name string) string {
	if v, ok := b.static[listenerPrefix+strings.ToLower(listener)+"."+name]; ok {
		return v
	}
	return b.String(name)
}

// JAAS returns the JAAS login-module config of a SASL mechanism on a
// listener: listener.name.<l>.<mechanism>.sasl.jaas.config, else
// listener.name.<l>.sasl.jaas.config, else sasl.jaas.config ("" if none).
func (b *Broker) JAAS(listener, mechanism string) string {
	key := listenerPrefix + strings.ToLower(listener) + "." + strings.ToLower(mechanism) + ".sasl.jaas.config"
	if v, ok := b.static[key]; ok {
		return v
	}
	return b.ForListener(listener, "sasl.jaas.config")
}

// HostCounts returns a host:count list config (see ParseHostCounts) as a
// map; nil if the value does not parse, which NewBroker has ruled out.
func (b *Broker) HostCounts(name string) map[string]int {
	m, _ := ParseHostCounts(b.String(name))
	return m
}

// Bool returns a boolean config.
func (b *Broker) Bool(name string) bool { return b.String(name) == "true" }

// List returns a list config split on commas, trimmed, empties dropped.
func (b *Broker) List(name string) []string {
	var out []string
	for _, s := range strings.Split(b.String(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Source reports where a broker config's value comes from.
func (b *Broker) Source(name string) Source {
	if _, src, ok := b.layers().value(name); ok {
		return src
	}
	if _, ok := b.static[name]; ok {
		return SourceStaticBroker
	}
	return SourceDefault
}

// Static returns the names of the statically set configs, sorted.
func (b *Broker) Static() []string {
	names := make([]string, 0, len(b.static))
	for k := range b.static {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
