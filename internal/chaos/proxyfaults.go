package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
)

// proxyFault (F14) puts a toxic on both directions of both proxies (Kafka
// and controller listener) of one node: the leader of a random partition
// or a follower of one (which may lead another partition). Every
// connection to that node is affected: clients' requests, the other
// replicas' follower fetches, brokers' requests to it as the controller
// and Raft messages to it; its own outgoing connections cross the other
// nodes' proxies untouched. Heal removes the toxics. The acts:
//
//   - slow: latency of 200-500 ms with a jitter of ±50-150 ms, each way;
//   - throttle: a bandwidth limit of 1, 4 or 16 KB/s on each connection,
//     each way (the workload moves a few KB/s per connection: higher
//     limits do not bind);
//   - reset: the first chunk each way of a connection is swallowed and the
//     connection reset (RST) up to a second later, on half or all of the
//     connections (each direction of each connection draws), so clients
//     and peers see requests lost before or after the node handled them.
//
// It needs a Cluster with Proxies (`fjord chaos --proxy`).
type proxyFault struct{ act, who string }

func (f proxyFault) Name() string { return f.act + "-" + f.who }

func (proxyFault) needsProxy() bool { return true }

// proxyFaults returns every proxy fault.
func proxyFaults() []Fault {
	var out []Fault
	for _, who := range []string{"leader", "follower"} {
		for _, act := range []string{"slow", "throttle", "reset"} {
			out = append(out, proxyFault{act: act, who: who})
		}
	}
	return out
}

// NeedsProxy says whether f needs the nodes behind proxies.
func NeedsProxy(f Fault) bool {
	n, ok := f.(interface{ needsProxy() bool })
	return ok && n.needsProxy()
}

func (f proxyFault) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	px := e.C.Proxies
	if px == nil {
		return "", nil, errors.New(f.Name() + " needs the nodes behind proxies (--proxy)")
	}
	nd, err := pick(ctx, e, f.who)
	if err != nil {
		return "", nil, err
	}
	t := f.toxic(e.Rand)
	heal := func() error { return px.Heal(nd.ID) }
	return fmt.Sprintf("node %d: %s", nd.ID, t), heal, px.Add(nd.ID, t)
}

// toxic draws the toxic of f's act.
func (f proxyFault) toxic(r *rand.Rand) Toxic {
	switch f.act {
	case "slow":
		return Toxic{Type: "latency", Attributes: map[string]int64{
			"latency": 200 + r.Int64N(301), "jitter": 50 + r.Int64N(101)}}
	case "throttle":
		return Toxic{Type: "bandwidth", Attributes: map[string]int64{"rate": 1 << (2 * r.IntN(3))}}
	default:
		return Toxic{Type: "reset_peer", Toxicity: []float32{0.5, 1}[r.IntN(2)],
			Attributes: map[string]int64{"timeout": r.Int64N(1000)}}
	}
}
