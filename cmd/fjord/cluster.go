package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// clusterTimeout bounds the admin requests made by `fjord cluster`.
var clusterTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster: brokers, the active controller, partition counts",
	}
	cmd.PersistentFlags().DurationVar(&clusterTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newClusterDescribeCmd(), newClusterLogDirsCmd(), newClusterRebalanceCmd())
	rootCmd.AddCommand(cmd)
}

func newClusterDescribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe",
		Short: "Print the cluster id, the active controller and every broker with its partition counts",
		Long: "Print the cluster id, the active controller and every broker: its id,\n" +
			"address, rack, how many partitions it leads and how many replicas it\n" +
			"holds. Brokers that hold replicas but are missing from the metadata\n" +
			"(fenced or down) are listed as offline.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminFor(cmd, clusterTimeout, func(ctx context.Context, adm *kadm.Client) error {
				return runClusterDescribe(ctx, adm, cmd.OutOrStdout())
			})
		},
	}
}

func runClusterDescribe(ctx context.Context, adm *kadm.Client, w io.Writer) error {
	md, err := adm.Metadata(ctx)
	if err != nil {
		return err
	}
	writeClusterDescribe(w, md)
	return nil
}

// brokerLoad is one broker's line of `cluster describe`.
type brokerLoad struct {
	id       int32
	addr     string // host:port, "-" when the broker is not in the metadata
	rack     string // "-" when none
	online   bool
	leaders  int
	replicas int
}

// clusterLoads counts, per broker, the partitions it leads and the
// replicas it holds across every loadable topic of md. Brokers named only
// as replicas (not listed in md.Brokers) are included as offline. The
// result is sorted by broker id.
func clusterLoads(md kadm.Metadata) []brokerLoad {
	byID := map[int32]*brokerLoad{}
	for _, b := range md.Brokers {
		rack := "-"
		if b.Rack != nil && *b.Rack != "" {
			rack = *b.Rack
		}
		addr := fmt.Sprintf("%s:%d", b.Host, b.Port)
		byID[b.NodeID] = &brokerLoad{id: b.NodeID, addr: addr, rack: rack, online: true}
	}
	get := func(id int32) *brokerLoad {
		if l, ok := byID[id]; ok {
			return l
		}
		l := &brokerLoad{id: id, addr: "-", rack: "-"}
		byID[id] = l
		return l
	}
	for _, td := range md.Topics {
		if td.Err != nil {
			continue
		}
		for _, pd := range td.Partitions {
			if pd.Leader >= 0 {
				get(pd.Leader).leaders++
			}
			for _, r := range pd.Replicas {
				get(r).replicas++
			}
		}
	}
	out := make([]brokerLoad, 0, len(byID))
	for _, l := range byID {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b brokerLoad) int { return cmp.Compare(a.id, b.id) })
	return out
}

// writeClusterDescribe prints md as `fjord cluster describe` does. It is
// pure so it can be tested with synthetic kadm values.
func writeClusterDescribe(w io.Writer, md kadm.Metadata) {
	cluster := md.Cluster
	if cluster == "" {
		cluster = "-"
	}
	controller := "none"
	if md.Controller >= 0 {
		controller = fmt.Sprint(md.Controller)
	}
	topics, partitions := 0, 0
	for _, td := range md.Topics {
		if td.Err == nil {
			topics++
			partitions += len(td.Partitions)
		}
	}
	fmt.Fprintf(w, "Cluster ID: %s\nController: %s\n", cluster, controller)
	fmt.Fprintf(w, "Topics: %d\tPartitions: %d\n", topics, partitions)
	fmt.Fprintln(w, "Brokers:")
	for _, l := range clusterLoads(md) {
		line := fmt.Sprintf("  %d\t%s\track=%s\tleaders=%d\treplicas=%d", l.id, l.addr, l.rack, l.leaders, l.replicas)
		if !l.online {
			line += "\toffline"
		}
		fmt.Fprintln(w, line)
	}
}
