package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
)

// Proxies are the fault-injecting TCP proxies of a proxy cluster
// (NewProxyCluster, F14): a toxiproxy proxy, run inside the harness
// process, in front of each node's Kafka listener and each node's
// controller listener. The nodes advertise the proxies' addresses and list
// them in controller.quorum.voters, so every connection to a node (from
// the clients, other replicas' follower fetches, brokers talking to the
// controller, Raft messages) crosses that node's proxies, where toxics
// (latency, bandwidth, reset_peer, ...) act on it. A node's own outgoing
// connections cross the other nodes' proxies.
//
// Methods may be called from any goroutine.
type Proxies struct {
	srv *toxiproxy.ApiServer

	mu     sync.Mutex
	byNode map[int32][]*toxiproxy.Proxy // the node's Kafka and controller proxies
}

// Toxic is one toxiproxy toxic: its type ("latency", "bandwidth",
// "reset_peer", ...; see toxiproxy's README), the fraction of connections
// it acts on (0 means all) and its type's attributes, such as
// {"latency": 300, "jitter": 100} in milliseconds or {"rate": 64} in KB/s.
type Toxic struct {
	Type       string
	Toxicity   float32
	Attributes map[string]int64
}

// String describes the toxic, e.g. "latency 300±100ms".
func (t Toxic) String() string {
	a := t.Attributes
	var s string
	switch t.Type {
	case "latency":
		s = fmt.Sprintf("latency %d±%dms", a["latency"], a["jitter"])
	case "bandwidth":
		s = fmt.Sprintf("bandwidth %d KB/s", a["rate"])
	case "reset_peer":
		s = fmt.Sprintf("reset_peer after %dms", a["timeout"])
	default:
		s = fmt.Sprintf("%s %v", t.Type, a)
	}
	if t.Toxicity > 0 && t.Toxicity < 1 {
		s += fmt.Sprintf(" on %.0f%% of connections", 100*t.Toxicity)
	}
	return s
}

// quietToxics silences zerolog's global logger, which toxiproxy's
// bandwidth toxic writes a trace line to for every chunk. Nothing else in
// the process uses zerolog.
var quietToxics sync.Once

// newProxies returns an empty set of proxies whose logs are discarded.
func newProxies() *Proxies {
	quietToxics.Do(func() { zlog.Logger = zerolog.Nop() })
	m := toxiproxy.NewMetricsContainer(prometheus.NewRegistry())
	return &Proxies{srv: toxiproxy.NewServer(m, zerolog.Nop()), byNode: map[int32][]*toxiproxy.Proxy{}}
}

// start starts a proxy of node id listening on listen and forwarding to
// upstream.
func (p *Proxies) start(id int32, name, listen, upstream string) error {
	px := toxiproxy.NewProxy(p.srv, fmt.Sprintf("node-%d-%s", id, name), listen, upstream)
	if err := px.Start(); err != nil {
		return fmt.Errorf("proxy %s on %s: %w", px.Name, listen, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byNode[id] = append(p.byNode[id], px)
	return nil
}

// node returns node id's proxies.
func (p *Proxies) node(id int32) []*toxiproxy.Proxy {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byNode[id]
}

// Add puts t on both directions (requests and responses) of every proxy
// of node id; connections open now and later are affected until Heal.
func (p *Proxies) Add(id int32, t Toxic) error {
	pxs := p.node(id)
	if len(pxs) == 0 {
		return fmt.Errorf("node %d has no proxy", id)
	}
	for _, px := range pxs {
		for _, stream := range []string{"upstream", "downstream"} {
			if err := addToxic(px, t, stream); err != nil {
				return fmt.Errorf("proxy %s: %w", px.Name, err)
			}
		}
	}
	return nil
}

// addToxic adds t to one stream of px, through toxiproxy's JSON
// interface (the only exported one).
func addToxic(px *toxiproxy.Proxy, t Toxic, stream string) error {
	toxicity := t.Toxicity
	if toxicity <= 0 {
		toxicity = 1
	}
	body, err := json.Marshal(map[string]any{
		"name": t.Type + "_" + stream, "type": t.Type, "stream": stream,
		"toxicity": toxicity, "attributes": t.Attributes,
	})
	if err != nil {
		return err
	}
	_, err = px.Toxics.AddToxicJson(bytes.NewReader(body))
	return err
}

// Toxics lists the toxics on node id's proxies, as "proxy/toxic" names.
func (p *Proxies) Toxics(id int32) []string {
	var out []string
	for _, px := range p.node(id) {
		for _, t := range px.Toxics.GetToxicArray() {
			if w, ok := t.(*toxics.ToxicWrapper); ok {
				out = append(out, px.Name+"/"+w.Name)
			}
		}
	}
	return out
}

// Heal removes every toxic from node id's proxies.
func (p *Proxies) Heal(id int32) error {
	for _, px := range p.node(id) {
		px.Toxics.ResetToxics(context.Background())
	}
	return nil
}

// HealAll removes every toxic from every proxy.
func (p *Proxies) HealAll() {
	p.mu.Lock()
	ids := make([]int32, 0, len(p.byNode))
	for id := range p.byNode {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		_ = p.Heal(id)
	}
}

// Close stops every proxy and closes its connections. It may be called
// more than once.
func (p *Proxies) Close() {
	p.mu.Lock()
	all := p.byNode
	p.byNode = map[int32][]*toxiproxy.Proxy{}
	p.mu.Unlock()
	for _, pxs := range all {
		for _, px := range pxs {
			px.Stop()
		}
	}
}

// proxyNodes puts proxies in front of c's nodes, which newCluster set up
// with proxied(i)'s Kafka and controller addresses as their listeners and
// voters: each node now listens on real(i) instead and advertises the
// proxied Kafka address; its Addr and the voters stay the proxies'.
func proxyNodes(c *Cluster, proxied, real func(i int) (string, string)) (*Proxies, error) {
	p := newProxies()
	for i, nd := range c.Nodes {
		pk, pc := proxied(i)
		rk, rc := real(i)
		err := p.start(nd.ID, "kafka", pk, rk)
		if err == nil {
			err = p.start(nd.ID, "controller", pc, rc)
		}
		if err != nil {
			p.Close()
			return nil, err
		}
		nd.Overrides = relisten(nd.Overrides, rk, rc, pk)
	}
	return p, nil
}

// relisten replaces the listeners property in overrides with kafka and
// ctl, and advertises adv for the Kafka listener.
func relisten(overrides []string, kafka, ctl, adv string) []string {
	out := make([]string, 0, len(overrides)+1)
	for _, o := range overrides {
		if strings.HasPrefix(o, "listeners=") {
			o = fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", kafka, ctl)
			out = append(out, o, "advertised.listeners=PLAINTEXT://"+adv)
			continue
		}
		out = append(out, o)
	}
	return out
}
