package main

// fjord cluster rebalance: even out replicas and preferred leaders over
// the live, uncordoned brokers (rebalance_plan.go), then move them
// (rebalance_exec.go).

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// addExecFlags registers the execution flags shared with broker drain.
func addExecFlags(cmd *cobra.Command, o *execOpts, waitTimeout *time.Duration) {
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the plan, change nothing")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait for the moves, keeping at most --max-in-flight partitions reassigning, then elect preferred leaders")
	cmd.Flags().Int64Var(&o.throttle, "throttle", -1, "replication throttle in bytes/s for the moving replicas while they copy (needs --wait; -1: none)")
	cmd.Flags().IntVar(&o.maxInFlight, "max-in-flight", 50, "with --wait, partitions reassigning at once")
	cmd.Flags().DurationVar(waitTimeout, "wait-timeout", time.Hour, "with --wait, how long to wait for the moves in all")
	o.poll = time.Second
}

// overall returns the deadline of a whole command run.
func (o execOpts) overall(waitTimeout time.Duration) time.Duration {
	if o.wait && !o.dryRun {
		return waitTimeout
	}
	return 4 * o.reqTimeout
}

func newClusterRebalanceCmd() *cobra.Command {
	var o execOpts
	var s planScope
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "rebalance [--dry-run] [--wait] [--throttle BYTES_PER_SEC] [--topics a,b] [--exclude-internal]",
		Short: "Even out replicas and preferred leaders across brokers",
		Long: "Plan and execute partition reassignments that even out, per topic and\n" +
			"in total, the replicas each live broker holds and the partitions it is\n" +
			"the preferred leader of, moving as few replicas as it can: each move\n" +
			"goes from the most loaded broker to the least loaded one that may take\n" +
			"it. Cordoned brokers (fjord broker drain, cordoned.log.dirs) receive\n" +
			"nothing. Where brokers carry broker.rack, a partition keeps its\n" +
			"replicas on distinct racks when there are enough. Preferred leaders\n" +
			"are evened out by reordering replicas, which moves no data.\n\n" +
			"The plan is printed (per broker: replicas and preferred leaders before\n" +
			"-> after, replicas in and out; then each partition's change). Without\n" +
			"--dry-run it is executed through AlterPartitionReassignments; with\n" +
			"--wait at most --max-in-flight partitions move at once, the command\n" +
			"waits until all completed, elects the preferred leaders and clears the\n" +
			"--throttle it set. Refused while reassignments are in progress.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.reqTimeout = clusterTimeout
			if err := o.check(); err != nil {
				return err
			}
			s.balance = true
			return withKafka(cmd, o.overall(waitTimeout), func(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
				cs, err := loadClusterState(ctx, cl, adm, o.reqTimeout)
				if err != nil {
					return err
				}
				return executePlan(ctx, cl, adm, cmd.OutOrStdout(), makePlan(cs.planInput(s)), o)
			})
		},
	}
	addExecFlags(cmd, &o, &waitTimeout)
	cmd.Flags().StringSliceVar(&s.topics, "topics", nil, "only these topics (default: all)")
	cmd.Flags().BoolVar(&s.excludeInternal, "exclude-internal", false, "leave internal topics (__consumer_offsets, __transaction_state) alone")
	return cmd
}
