package handlers

// DescribeQuorum (key 55), versions 0-2, on the controller listener and
// the client listeners.
//
// Describes the metadata quorum, topic "__cluster_metadata" partition 0:
// the leader and its epoch (the Raft term), the high watermark (the next
// offset to commit: metadata offsets are Raft indexes), and every voter
// with its log end offset (the leader's knowledge of its log, -1 until it
// has answered the leader in this term), from v1 the last time it
// answered the leader and the last time it was caught up to the leader's
// log (-1 when unknown), and from v2 the voters' controller listeners
// (Nodes). Directory ids are not tracked: ReplicaDirectoryId is zero.
//
// Only the leader knows the voters' progress: another controller answers
// NOT_LEADER_OR_FOLLOWER on the partition, naming the leader and epoch it
// knows, and (v2, a Fjord extension: Kafka leaves them out) the voters'
// controller listeners as it knows them, so that a broker-only node whose
// controller.quorum.voters predates a voter change (KIP-853, 80/81) can
// find the active controller. The voters come from the quorum's dynamic
// membership. On the client listeners the request is an admin request, as in
// Kafka since KIP-919: a node whose controller is not active forwards it
// to the active controller (forward.go), which answers from its Raft
// state.
//
// A request for anything but __cluster_metadata-0 (exactly one topic and
// partition) gets UNKNOWN_TOPIC_OR_PARTITION at the top level.
// Authorization: DESCRIBE on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED at the top level.
//
// Observers are the brokers that fetched the metadata log from this
// controller in the last five minutes (Deps.Observers), with the offset
// they asked for as their log end offset.

import (
	"context"
	"net"
	"strconv"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Quorum describes the metadata quorum as this node sees it. Safe for
// concurrent use.
type Quorum interface {
	// DescribeQuorum returns this node's view of the quorum. Voters'
	// progress is known only when Leading.
	DescribeQuorum(ctx context.Context) (QuorumInfo, error)
}

// QuorumInfo is a node's view of the metadata quorum in Kafka's terms.
type QuorumInfo struct {
	Leader        int32 // -1 when unknown
	LeaderEpoch   int32
	Leading       bool  // this node is the leader
	HighWatermark int64 // next metadata offset to commit
	Voters        []QuorumReplica
	Observers     []QuorumReplica
	// Listener is the name of the controller listener; Endpoints maps
	// each voter to its host:port on it.
	Listener  string
	Endpoints map[int32]string
}

// QuorumReplica is one member of the quorum as the leader knows it. -1
// marks what is unknown; times are Unix milliseconds.
type QuorumReplica struct {
	NodeID                int32
	LogEndOffset          int64
	LastFetchTimestamp    int64
	LastCaughtUpTimestamp int64
}

func (h *Handlers) describeQuorum(ctx context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeQuorumRequest)
	resp := kmsg.NewPtrDescribeQuorumResponse()
	switch {
	case !h.authorizeCluster(req, metadata.ACLOpDescribe):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	case !isMetadataPartition(r):
		resp.ErrorCode = kerr.UnknownTopicOrPartition.Code
	}
	if resp.ErrorCode != 0 {
		return respond(req, resp)
	}
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = MetadataTopic
	p, info := h.quorumPartition(ctx)
	rt.Partitions = append(rt.Partitions, p)
	resp.Topics = append(resp.Topics, rt)
	resp.Nodes = quorumNodes(info) // on a follower too: see the header
	return respond(req, resp)
}

// isMetadataPartition reports whether r asks for exactly
// __cluster_metadata-0, the only partition Kafka answers for.
func isMetadataPartition(r *kmsg.DescribeQuorumRequest) bool {
	return len(r.Topics) == 1 && r.Topics[0].Topic == MetadataTopic &&
		len(r.Topics[0].Partitions) == 1 && r.Topics[0].Partitions[0].Partition == 0
}

// quorumPartition is the partition's answer from this node's view.
func (h *Handlers) quorumPartition(ctx context.Context) (kmsg.DescribeQuorumResponseTopicPartition, QuorumInfo) {
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = -1, -1, -1
	if h.d.Quorum == nil {
		p.LeaderID = h.controllerID()
		return quorumError(p, kerr.NotLeaderForPartition, "this node is not a controller"), QuorumInfo{}
	}
	info, err := h.d.Quorum.DescribeQuorum(ctx)
	if err != nil {
		return quorumError(p, kerr.NotLeaderForPartition, err.Error()), info
	}
	p.LeaderID, p.LeaderEpoch = info.Leader, info.LeaderEpoch
	if !info.Leading {
		return quorumError(p, kerr.NotLeaderForPartition, "this controller is not the quorum leader"), info
	}
	p.HighWatermark = info.HighWatermark
	p.CurrentVoters = quorumReplicas(info.Voters)
	observers := info.Observers
	if h.d.Observers != nil {
		observers = append(observers, h.d.Observers.list(h.d.Now(), info.Voters)...)
	}
	p.Observers = quorumReplicas(observers)
	return p, info
}

func quorumError(p kmsg.DescribeQuorumResponseTopicPartition, err *kerr.Error, msg string) kmsg.DescribeQuorumResponseTopicPartition {
	p.ErrorCode, p.ErrorMessage = err.Code, &msg
	return p
}

func quorumReplicas(rs []QuorumReplica) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	out := make([]kmsg.DescribeQuorumResponseTopicPartitionReplicaState, 0, len(rs))
	for _, r := range rs {
		s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		s.ReplicaID, s.LogEndOffset = r.NodeID, r.LogEndOffset
		s.LastFetchTimestamp, s.LastCaughtUpTimestamp = r.LastFetchTimestamp, r.LastCaughtUpTimestamp
		out = append(out, s)
	}
	return out
}

// quorumNodes lists the voters' controller listeners (v2's Nodes), in
// voter order; a voter without a parsable address is left out.
func quorumNodes(info QuorumInfo) []kmsg.DescribeQuorumResponseNode {
	var out []kmsg.DescribeQuorumResponseNode
	for _, v := range info.Voters {
		host, port, err := net.SplitHostPort(info.Endpoints[v.NodeID])
		if err != nil {
			continue
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			continue
		}
		l := kmsg.NewDescribeQuorumResponseNodeListener()
		l.Name, l.Host, l.Port = info.Listener, host, uint16(n)
		node := kmsg.NewDescribeQuorumResponseNode()
		node.NodeID, node.Listeners = v.NodeID, []kmsg.DescribeQuorumResponseNodeListener{l}
		out = append(out, node)
	}
	return out
}
