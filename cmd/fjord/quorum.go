package main

// fjord quorum describe: the metadata quorum as kafka-metadata-quorum
// prints it (--status, --replication), from DescribeQuorum. fjord quorum
// add and remove change its voters (quorum_voters.go).

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is the metadata log's partition DescribeQuorum asks for.
const metadataTopic = "__cluster_metadata"

// quorumTimeout bounds the requests of `fjord quorum`.
var quorumTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "quorum",
		Short: "Inspect and change the controller quorum (kafka-metadata-quorum)",
	}
	cmd.PersistentFlags().DurationVar(&quorumTimeout, "timeout", 30*time.Second, "deadline for the requests")
	cmd.AddCommand(newQuorumDescribeCmd(), newQuorumAddCmd(), newQuorumRemoveCmd())
	rootCmd.AddCommand(cmd)
}

func newQuorumDescribeCmd() *cobra.Command {
	var status, replication bool
	cmd := &cobra.Command{
		Use:   "describe (--status | --replication)",
		Short: "Print the quorum's leader and voters (--status) or each member's replication (--replication)",
		Long: "Print the metadata quorum as kafka-metadata-quorum describe does.\n" +
			"--status: the cluster id, the leader, its epoch, the high watermark,\n" +
			"the largest follower lag (in offsets and in ms) and the voters and\n" +
			"observers. --replication: one row per member with its log end\n" +
			"offset, lag, last fetch and last caught-up times (Unix ms) and role.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status == replication {
				return errors.New("give exactly one of --status and --replication")
			}
			return withKafka(cmd, quorumTimeout, func(ctx context.Context, cl *kgo.Client, _ *kadm.Client) error {
				return runQuorumDescribe(ctx, cl, cmd.OutOrStdout(), status)
			})
		},
	}
	cmd.Flags().BoolVar(&status, "status", false, "print the quorum's status")
	cmd.Flags().BoolVar(&replication, "replication", false, "print each member's replication state")
	return cmd
}

func runQuorumDescribe(ctx context.Context, cl *kgo.Client, w io.Writer, status bool) error {
	resp, err := describeQuorum(ctx, cl)
	if err != nil {
		return err
	}
	if !status {
		writeQuorumReplication(w, resp)
		return nil
	}
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	writeQuorumStatus(w, md.Cluster, resp)
	return nil
}

// describeQuorum sends DescribeQuorum (the client routes it to the
// controller) and retries while the quorum's leader is moving.
func describeQuorum(ctx context.Context, cl *kgo.Client) (*kmsg.DescribeQuorumResponse, error) {
	for {
		resp, err := describeQuorumOnce(ctx, cl)
		if err == nil || !errors.Is(err, kerr.NotLeaderForPartition) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func describeQuorumOnce(ctx context.Context, cl *kgo.Client) (*kmsg.DescribeQuorumResponse, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = metadataTopic
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, kafkaErr(err, deref(resp.ErrorMessage))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, errors.New("DescribeQuorum: the response has no __cluster_metadata-0")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, kafkaErr(err, deref(p.ErrorMessage))
	}
	return resp, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// quorumView is the quorum's partition with the leader's own state.
type quorumView struct {
	p      kmsg.DescribeQuorumResponseTopicPartition
	leader kmsg.DescribeQuorumResponseTopicPartitionReplicaState
	nodes  map[int32][]string // endpoints (LISTENER://host:port) by node
}

func newQuorumView(resp *kmsg.DescribeQuorumResponse) quorumView {
	v := quorumView{p: resp.Topics[0].Partitions[0], nodes: map[int32][]string{}}
	v.leader.ReplicaID, v.leader.LogEndOffset, v.leader.LastCaughtUpTimestamp = v.p.LeaderID, -1, -1
	for _, r := range v.p.CurrentVoters {
		if r.ReplicaID == v.p.LeaderID {
			v.leader = r
		}
	}
	for _, n := range resp.Nodes {
		for _, l := range n.Listeners {
			v.nodes[n.NodeID] = append(v.nodes[n.NodeID], fmt.Sprintf("%s://%s:%d", l.Name, l.Host, l.Port))
		}
	}
	return v
}

// lag is how far r's log is behind the leader's (all of it when r's log
// end offset is unknown).
func (v quorumView) lag(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState) int64 {
	return v.leader.LogEndOffset - max(r.LogEndOffset, 0)
}

// maxLag is the largest follower lag in offsets and, for the follower
// with it, how long ago (against the leader's own time) it was caught
// up: -1 when unknown.
func (v quorumView) maxLag() (int64, int64) {
	var worst *kmsg.DescribeQuorumResponseTopicPartitionReplicaState
	for _, rs := range [][]kmsg.DescribeQuorumResponseTopicPartitionReplicaState{v.p.CurrentVoters, v.p.Observers} {
		for i := range rs {
			if worst == nil || v.lag(rs[i]) > v.lag(*worst) {
				worst = &rs[i]
			}
		}
	}
	if worst == nil {
		return 0, -1
	}
	lagMs := int64(-1)
	if worst.LastCaughtUpTimestamp >= 0 && v.leader.LastCaughtUpTimestamp >= 0 {
		lagMs = max(v.leader.LastCaughtUpTimestamp-worst.LastCaughtUpTimestamp, 0)
	}
	return v.lag(*worst), lagMs
}

// writeQuorumStatus prints --status.
func writeQuorumStatus(w io.Writer, clusterID string, resp *kmsg.DescribeQuorumResponse) {
	v := newQuorumView(resp)
	lag, lagMs := v.maxLag()
	line := func(k string, val any) { fmt.Fprintf(w, "%-24s%v\n", k+":", val) }
	line("ClusterId", clusterID)
	line("LeaderId", v.p.LeaderID)
	line("LeaderEpoch", v.p.LeaderEpoch)
	line("HighWatermark", v.p.HighWatermark)
	line("MaxFollowerLag", lag)
	line("MaxFollowerLagTimeMs", lagMs)
	line("CurrentVoters", v.members(v.p.CurrentVoters, true))
	line("CurrentObservers", v.members(v.p.Observers, false))
}

// members prints replicas as kafka-metadata-quorum does: a JSON-like
// list of {"id", "directoryId"[, "endpoints"]}.
func (v quorumView) members(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, endpoints bool) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		s := fmt.Sprintf(`{"id": %d, "directoryId": "%s"`, r.ReplicaID, directoryID(r.ReplicaDirectoryID))
		if endpoints {
			eps := make([]string, 0, len(v.nodes[r.ReplicaID]))
			for _, e := range v.nodes[r.ReplicaID] {
				eps = append(eps, `"`+e+`"`)
			}
			s += fmt.Sprintf(`, "endpoints": [%s]`, strings.Join(eps, ", "))
		}
		parts = append(parts, s+"}")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// directoryID is a Kafka Uuid as Kafka prints it (URL-safe base64).
func directoryID(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// writeQuorumReplication prints --replication: the leader, then the
// other voters, then the observers.
func writeQuorumReplication(w io.Writer, resp *kmsg.DescribeQuorumResponse) {
	v := newQuorumView(resp)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NodeId\tDirectoryId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus")
	row := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, status string) {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ReplicaID, directoryID(r.ReplicaDirectoryID),
			r.LogEndOffset, v.lag(r), r.LastFetchTimestamp, r.LastCaughtUpTimestamp, status)
	}
	for _, r := range v.p.CurrentVoters {
		if r.ReplicaID == v.p.LeaderID {
			row(r, "Leader")
		}
	}
	for _, r := range v.p.CurrentVoters {
		if r.ReplicaID != v.p.LeaderID {
			row(r, "Follower")
		}
	}
	for _, r := range v.p.Observers {
		row(r, "Observer")
	}
	tw.Flush()
}
