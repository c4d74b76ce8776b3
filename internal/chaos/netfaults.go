package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// netFault (F7, F8) cuts nodes off with nftables drop rules in their
// namespaces; heal removes every rule. It needs a Cluster with a Net
// (`fjord chaos --netns`). The cut-off set is the leader of a random
// partition, a follower of one, the active controller, or (minority) a
// random minority of the nodes. Both sides drop each other's packets,
// except oneway, where only the cut-off node drops what arrives from the
// others (it still sends; TCP to it stalls). With clients, the cut-off
// nodes also drop the harness's clients; otherwise clients still reach
// them (the 2013 Jepsen scenario: a deposed leader that still takes
// writes).
type netFault struct {
	who     string // leader, follower, controller, minority
	clients bool
	oneway  bool
}

func (f netFault) Name() string {
	switch {
	case f.who == "minority":
		return "partition-minority"
	case f.oneway:
		return "oneway-" + f.who
	case f.clients:
		return "isolate-" + f.who + "-clients"
	}
	return "isolate-" + f.who
}

func (netFault) needsNet() bool { return true }

func netFaults() []Fault {
	return []Fault{
		netFault{who: "leader"}, netFault{who: "leader", clients: true}, netFault{who: "follower"},
		netFault{who: "controller"}, netFault{who: "minority"}, netFault{who: "leader", oneway: true},
		refuseFault{who: "leader"}, refuseFault{who: "follower"},
	}
}

// refuseFault (issue 11) makes a live node refuse the other nodes: its
// kernel resets every TCP packet from them, so its connections to the
// controller end and a probe of its listeners is refused, exactly what
// proves a crash to the fast crash detection. The controller fences the
// live node at once (a false suspicion); the promise is that this costs
// leader moves, never an acknowledged record. Heal removes the rule and
// the node rejoins through its heartbeats. The clients still reach it.
type refuseFault struct {
	who string // leader or follower
}

func (f refuseFault) Name() string { return "refuse-" + f.who }
func (refuseFault) needsNet() bool { return true }

func (f refuseFault) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	nt := e.C.Net
	if nt == nil {
		return "", nil, errors.New(f.Name() + " needs nodes in network namespaces (--netns)")
	}
	nd, err := pick(ctx, e, f.who)
	if err != nil {
		return "", nil, err
	}
	var others []string
	for _, o := range e.C.Nodes {
		if o.ID != nd.ID {
			others = append(others, nt.Addr(o.ID))
		}
	}
	if err := nt.Refuse(nd.ID, others); err != nil {
		return "", nt.Heal, err
	}
	return fmt.Sprintf("node %d alive but refusing the other nodes (a false crash)", nd.ID), nt.Heal, nil
}

func (f netFault) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	nt := e.C.Net
	if nt == nil {
		return "", nil, errors.New(f.Name() + " needs nodes in network namespaces (--netns)")
	}
	var cut []int32
	if f.who == "minority" {
		ids := make([]int32, len(e.C.Nodes))
		for i := range ids {
			ids[i] = int32(i + 1)
		}
		e.Rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		cut = ids[:1+e.Rand.IntN(max(1, (len(ids)-1)/2))]
	} else {
		nd, err := pick(ctx, e, f.who)
		if err != nil {
			return "", nil, err
		}
		cut = []int32{nd.ID}
	}
	slices.Sort(cut)
	var inside, outside []string
	for _, nd := range e.C.Nodes {
		if slices.Contains(cut, nd.ID) {
			inside = append(inside, nt.Addr(nd.ID))
		} else {
			outside = append(outside, nt.Addr(nd.ID))
		}
	}
	heal := nt.Heal
	for _, nd := range e.C.Nodes {
		var err error
		switch {
		case slices.Contains(cut, nd.ID):
			peers := slices.Clone(outside)
			if f.clients {
				peers = append(peers, nt.ClientAddr())
			}
			if f.oneway {
				err = nt.Drop(nd.ID, peers, nil)
			} else {
				err = nt.Drop(nd.ID, peers, peers)
			}
		case !f.oneway:
			err = nt.Drop(nd.ID, inside, inside)
		}
		if err != nil {
			return "", heal, err
		}
	}
	how := "from the other nodes"
	if f.clients {
		how = "from the other nodes and the clients"
	}
	if f.oneway {
		how = "hearing nothing " + how
	}
	return fmt.Sprintf("nodes %v cut off %s", cut, how), heal, nil
}
