package quorum

// Dynamic membership (KIP-853's voters, with etcd raft's configuration
// changes).
//
// The members of the quorum are raft's ConfState: voters and learners
// (a learner is a node being added: it receives the log but does not
// vote until it is promoted). What raft does not keep is where a member
// listens, so every configuration change entry carries, in its Context,
// the controller listener (host:port) of each node it adds or updates:
//
//	uint8 version (1) | uint16 count | count × (int32 node id | uint16 length | host:port)
//
// The bootstrap entries (one per voter of RaftConfig.Voters, written by
// every voter of a new cluster alike) carry theirs the same way; entries
// written before endpoints were recorded have an empty Context, and those
// members' endpoints come from RaftConfig.Voters. A snapshot holds the
// endpoints of the members at its index ahead of the state machine's
// data (wrapSnapshot), so they survive log compaction and reach followers
// that are sent a snapshot. While the members are the bootstrap voters at
// their configured endpoints the header is left out (bootstrapEndpoints),
// as in snapshots written before endpoints were recorded, which are read
// as they are.
//
// The loop owns the membership (confState and endpoints) and publishes a
// copy under mu for the transport, Endpoint and State.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
)

const (
	endpointsVersion = 1
	maxEndpoints     = 1 << 12 // bounds a decoded list
	maxEndpointLen   = 1 << 10
)

// snapMagic opens snapshot data that carries the members' endpoints. It
// starts with a zero byte, which no state machine snapshot of Fjord (JSON)
// starts with; StateMachine.Snapshot must not return data starting with
// these four bytes.
var snapMagic = []byte{0, 'F', 'J', 'Q'}

const snapHeaderVersion = 1

// encodeEndpoints serializes endpoints (node id -> host:port) in id order.
func encodeEndpoints(eps map[int32]string) []byte {
	ids := slices.Sorted(maps.Keys(eps))
	b := []byte{endpointsVersion}
	b = binary.BigEndian.AppendUint16(b, uint16(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint32(b, uint32(id))
		b = binary.BigEndian.AppendUint16(b, uint16(len(eps[id])))
		b = append(b, eps[id]...)
	}
	return b
}

// decodeEndpoints parses encodeEndpoints' output. Empty input is an empty
// list (entries written before endpoints were recorded).
func decodeEndpoints(b []byte) (map[int32]string, error) {
	out := map[int32]string{}
	if len(b) == 0 {
		return out, nil
	}
	if b[0] != endpointsVersion {
		return nil, fmt.Errorf("endpoints of version %d", b[0])
	}
	if len(b) < 3 {
		return nil, errors.New("endpoints: short header")
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	if n > maxEndpoints {
		return nil, fmt.Errorf("endpoints: %d entries", n)
	}
	b = b[3:]
	for i := 0; i < n; i++ {
		if len(b) < 6 {
			return nil, errors.New("endpoints: truncated")
		}
		id := int32(binary.BigEndian.Uint32(b))
		l := int(binary.BigEndian.Uint16(b[4:]))
		if id < 0 || l > maxEndpointLen || len(b) < 6+l {
			return nil, errors.New("endpoints: bad entry")
		}
		out[id] = string(b[6 : 6+l])
		b = b[6+l:]
	}
	if len(b) != 0 {
		return nil, errors.New("endpoints: trailing bytes")
	}
	return out, nil
}

// bootstrapEndpoints reports whether eps, the members' endpoints, are
// what RaftConfig.Voters says of them: the snapshot then needs no
// endpoints header. So a quorum whose voters never changed writes
// snapshots an older release reads (a rolling upgrade: a leader may send
// its snapshot to a follower not yet upgraded); the header appears with
// the first voter change, which needs every controller upgraded anyway.
func (r *Raft) bootstrapEndpoints(eps map[int32]string) bool {
	for id, e := range eps {
		if r.cfg.Voters[id] != e {
			return false
		}
	}
	return true
}

// wrapSnapshot prefixes the state machine's snapshot with the members'
// endpoints:
//
//	snapMagic | uint8 version (1) | uint32 length | endpoints | state machine data
func wrapSnapshot(eps map[int32]string, data []byte) []byte {
	e := encodeEndpoints(eps)
	out := make([]byte, 0, len(snapMagic)+5+len(e)+len(data))
	out = append(out, snapMagic...)
	out = append(out, snapHeaderVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(len(e)))
	out = append(out, e...)
	return append(out, data...)
}

// unwrapSnapshot splits snapshot data into the endpoints (nil for data
// written without them) and the state machine's part.
func unwrapSnapshot(data []byte) (map[int32]string, []byte, error) {
	if !bytes.HasPrefix(data, snapMagic) {
		return nil, data, nil
	}
	rest := data[len(snapMagic):]
	if len(rest) < 5 {
		return nil, nil, errors.New("snapshot header truncated")
	}
	if rest[0] != snapHeaderVersion {
		return nil, nil, fmt.Errorf("snapshot header of version %d (this node reads %d)", rest[0], snapHeaderVersion)
	}
	n := binary.BigEndian.Uint32(rest[1:])
	if uint64(n) > uint64(len(rest)-5) {
		return nil, nil, errors.New("snapshot header: endpoints truncated")
	}
	eps, err := decodeEndpoints(rest[5 : 5+n])
	if err != nil {
		return nil, nil, err
	}
	return eps, rest[5+n:], nil
}

// checkEndpoint validates a member's host:port.
func checkEndpoint(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return err
	case host == "" || port == "":
		return fmt.Errorf("endpoint %q: host and port required", addr)
	case len(addr) > maxEndpointLen:
		return fmt.Errorf("endpoint of %d bytes", len(addr))
	}
	return nil
}

// membership is the published copy of the members.
type membership struct {
	voters, learners []int32
	endpoints        map[int32]string // what the log says; may lack members (see endpoint)
	removed          map[int32]bool   // nodes whose removal this node applied
}

func (m *membership) isMember(id int32) bool {
	return slices.Contains(m.voters, id) || slices.Contains(m.learners, id)
}

// applyConfEndpoints records what a configuration change entry says about
// endpoints and removals. Loop goroutine (or StartRaft's replay).
func (r *Raft) applyConfEndpoints(index uint64, changes []raftpb.ConfChangeSingle, ctx []byte) {
	eps, err := decodeEndpoints(ctx)
	if err != nil {
		r.log.Warn("quorum: configuration change with unreadable endpoints", "index", index, "err", err)
		eps = nil
	}
	for _, c := range changes {
		node := nodeID(c.NodeID)
		switch c.Type {
		case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
			if e := eps[node]; e != "" {
				r.endpoints[node] = e
			}
			delete(r.removed, node)
		case raftpb.ConfChangeRemoveNode:
			delete(r.endpoints, node)
			r.removed[node] = true
		}
	}
}

// setMembers replaces the membership from a snapshot. eps nil (a snapshot
// without endpoints) keeps the endpoints known for the members.
func (r *Raft) setMembers(cs raftpb.ConfState, eps map[int32]string) {
	r.confState = cs
	if eps != nil {
		r.endpoints = eps
	}
	r.pruneEndpoints()
	r.publishMembers()
}

// pruneEndpoints drops the endpoints of nodes that are not members.
func (r *Raft) pruneEndpoints() {
	for id := range r.endpoints {
		if !slices.Contains(r.confState.Voters, raftID(id)) && !slices.Contains(r.confState.Learners, raftID(id)) {
			delete(r.endpoints, id)
		}
	}
}

// memberEndpoints is the endpoint of every member this node can name
// (the log's, else RaftConfig.Voters'). Loop goroutine.
func (r *Raft) memberEndpoints() map[int32]string {
	out := map[int32]string{}
	for _, ids := range [][]uint64{r.confState.Voters, r.confState.Learners} {
		for _, id := range ids {
			if e := r.addrOf(nodeID(id)); e != "" {
				out[nodeID(id)] = e
			}
		}
	}
	return out
}

// addrOf is where node listens as the loop knows it: its endpoint in the
// log, else in RaftConfig.Voters, else what it said when it dialled in.
func (r *Raft) addrOf(node int32) string {
	if e := r.endpoints[node]; e != "" {
		return e
	}
	if e := r.cfg.Voters[node]; e != "" {
		return e
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hints[node]
}

// publishMembers publishes the membership, stops the transport to nodes
// that left it or moved, and closes connections from removed nodes.
func (r *Raft) publishMembers() {
	m := membership{endpoints: maps.Clone(r.endpoints), removed: maps.Clone(r.removed)}
	for _, id := range r.confState.Voters {
		m.voters = append(m.voters, nodeID(id))
	}
	for _, id := range r.confState.Learners {
		m.learners = append(m.learners, nodeID(id))
	}
	slices.Sort(m.voters)
	slices.Sort(m.learners)
	for id, p := range r.peers {
		if !m.isMember(p.node) || r.addrOf(p.node) != p.addr {
			p.cancel()
			delete(r.peers, id)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members = m
	for c, node := range r.inbound {
		if m.removed[node] {
			c.Close()
		}
	}
}

// Endpoint returns the controller listener (host:port) of node as this
// member knows it: from the membership in the log, else from
// RaftConfig.Voters. Safe for concurrent use.
func (r *Raft) Endpoint(node int32) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.members.endpoints[node]; e != "" {
		return e, true
	}
	if e := r.cfg.Voters[node]; e != "" {
		return e, true
	}
	e, ok := r.hints[node]
	return e, ok && e != ""
}

// Voters returns the current voters' node ids, ascending.
func (r *Raft) Voters() []int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.members.voters)
}
