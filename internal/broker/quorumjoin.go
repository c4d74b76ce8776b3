package broker

// The controller quorum's dynamic membership as the node uses it.
//
// controller.quorum.voters is the bootstrap set: the voters a new
// cluster starts with (every one of them bootstraps the same log). A
// controller whose node.id is not among them joins instead, as a Kafka
// controller formatted without initial controllers does: it starts with
// an empty metadata log, the quorum's leader reaches it at its controller
// listener once an operator adds it (fjord quorum add, AddRaftVoter), it
// receives the log as a learner and votes once promoted. Its
// controller.quorum.voters names the cluster it joins (and, unless
// cluster.id is set, derives the same cluster id). Once a node has a log,
// the log's membership is what counts (see package quorum).

import (
	"strings"
)

// quorumAddr is this node's controller listener as the quorum's peers
// reach it: its advertised address, else the bound one.
func (b *Broker) quorumAddr() string {
	name := b.controllerListener()
	if adv, err := ParseListeners(b.cfg.List("advertised.listeners")); err == nil {
		for _, l := range adv {
			if strings.EqualFold(l.Name, name) && l.Host != "" {
				return l.Addr()
			}
		}
	}
	for _, l := range b.addrs {
		if strings.EqualFold(l.Name, name) {
			return l.Addr()
		}
	}
	return ""
}

// controllerAddr is the controller listener of controller node id: from
// the quorum's membership (voters change), else controller.quorum.voters.
func (b *Broker) controllerAddr(id int32) (string, bool) {
	if rq, ok := b.quorum.(raftQuorum); ok {
		if a, ok := rq.Endpoint(id); ok {
			return a, true
		}
	}
	a, ok := b.voters[id]
	return a, ok
}
