package main

// fjord broker: retire and fence brokers. drain moves every replica off
// a broker (after cordoning it, KIP-1066, so new topics avoid it);
// unregister removes a stopped broker's registration (Kafka's
// kafka-cluster unregister, UnregisterBroker 64).

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerTimeout bounds the admin requests of `fjord broker`.
var brokerTimeout time.Duration

func init() {
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Drain, cordon and unregister brokers",
		Long: "Retire a broker: `fjord broker drain N --wait` cordons it (no new\n" +
			"replicas go there) and moves every replica it holds to the least loaded\n" +
			"other brokers; stop it; then `fjord broker unregister N` (or drain\n" +
			"--unregister, which waits for the broker to stop).",
	}
	cmd.PersistentFlags().DurationVar(&brokerTimeout, "timeout", 30*time.Second, "deadline for the admin requests")
	cmd.AddCommand(newBrokerDrainCmd(), newBrokerCordonCmd(true), newBrokerCordonCmd(false), newBrokerUnregisterCmd())
	rootCmd.AddCommand(cmd)
}

// parseBrokerID parses a broker id argument.
func parseBrokerID(s string) (int32, error) {
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("invalid broker id %q", s)
	}
	return int32(id), nil
}

func newBrokerDrainCmd() *cobra.Command {
	var o execOpts
	var unregister bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "drain ID [--wait] [--throttle BYTES_PER_SEC] [--unregister] [--dry-run]",
		Short: "Cordon a broker and move every replica off it",
		Long: "Cordon broker ID (cordoned.log.dirs=*: the controller places no new\n" +
			"topic or partition replicas on it, KIP-1066) and move each of its\n" +
			"replicas to the least loaded live, uncordoned broker that does not\n" +
			"hold the partition, keeping replicas on distinct racks where it can.\n" +
			"The plan is printed as by `fjord cluster rebalance`. With --wait the\n" +
			"command waits for the moves, elects preferred leaders and clears the\n" +
			"--throttle. --unregister (implies --wait) then waits for the broker\n" +
			"to be stopped and unregisters it. The broker stays cordoned; `fjord\n" +
			"broker uncordon ID` undoes that.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBrokerID(args[0])
			if err != nil {
				return err
			}
			o.reqTimeout = brokerTimeout
			o.wait = o.wait || unregister
			if err := o.check(); err != nil {
				return err
			}
			return withKafka(cmd, o.overall(waitTimeout), func(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
				return runBrokerDrain(ctx, cl, adm, cmd.OutOrStdout(), id, o, unregister)
			})
		},
	}
	addExecFlags(cmd, &o, &waitTimeout)
	cmd.Flags().BoolVar(&unregister, "unregister", false, "after the moves, wait for the broker to stop and unregister it (implies --wait)")
	return cmd
}

func runBrokerDrain(ctx context.Context, cl *kgo.Client, adm *kadm.Client, w io.Writer, id int32, o execOpts, unregister bool) error {
	cs, err := loadClusterState(ctx, cl, adm, o.reqTimeout)
	if err != nil {
		return err
	}
	live := slices.Contains(cs.ca.liveBrokers(), id)
	if !o.dryRun {
		if live {
			if err := setCordon(ctx, adm, w, id, true, o.reqTimeout); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(w, "Broker %d is not live: not cordoned.\n", id)
		}
	}
	p := makePlan(cs.planInput(planScope{vacate: []int32{id}}))
	if err := executePlan(ctx, cl, adm, w, p, o); err != nil {
		return err
	}
	if len(p.Stuck) > 0 && !o.dryRun {
		return fmt.Errorf("broker %d still holds replicas of %d partitions", id, len(p.Stuck))
	}
	if !unregister || o.dryRun {
		return nil
	}
	if err := waitBrokerGone(ctx, adm, w, id, o); err != nil {
		return err
	}
	return unregisterBroker(ctx, cl, w, id, o.reqTimeout)
}

// waitBrokerGone waits until broker id is no longer live.
func waitBrokerGone(ctx context.Context, adm *kadm.Client, w io.Writer, id int32, o execOpts) error {
	said := false
	for {
		rctx, cancel := context.WithTimeout(ctx, o.reqTimeout)
		bs, err := adm.ListBrokers(rctx)
		cancel()
		if err == nil && !slices.Contains(bs.NodeIDs(), id) {
			return nil
		}
		if !said {
			fmt.Fprintf(w, "Waiting for broker %d to stop (stop its process now)...\n", id)
			said = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for broker %d to stop: %w", id, ctx.Err())
		case <-time.After(o.poll):
		}
	}
}

// setCordon cordons (cordoned.log.dirs=*) or uncordons broker id.
func setCordon(ctx context.Context, adm *kadm.Client, w io.Writer, id int32, cordon bool, reqTimeout time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, reqTimeout)
	defer cancel()
	op := kadm.AlterConfig{Op: kadm.DeleteConfig, Name: cordonConfig}
	if cordon {
		op = kadm.AlterConfig{Op: kadm.SetConfig, Name: cordonConfig, Value: kadm.StringPtr("*")}
	}
	rs, err := adm.AlterBrokerConfigs(rctx, []kadm.AlterConfig{op}, id)
	if err := alterErr(fmt.Sprintf("setting %s of broker %d", cordonConfig, id), rs, err); err != nil {
		return err
	}
	writeCordon(w, id, cordon)
	return nil
}

func writeCordon(w io.Writer, id int32, cordon bool) {
	if cordon {
		fmt.Fprintf(w, "Broker %d cordoned: no new replicas are placed on it.\n", id)
	} else {
		fmt.Fprintf(w, "Broker %d uncordoned.\n", id)
	}
}

func newBrokerCordonCmd(cordon bool) *cobra.Command {
	use, short := "cordon ID", "Place no new topic or partition replicas on a broker (cordoned.log.dirs=*)"
	if !cordon {
		use, short = "uncordon ID", "Let a cordoned broker take new replicas again"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBrokerID(args[0])
			if err != nil {
				return err
			}
			return withKafka(cmd, brokerTimeout, func(ctx context.Context, _ *kgo.Client, adm *kadm.Client) error {
				return setCordon(ctx, adm, cmd.OutOrStdout(), id, cordon, brokerTimeout)
			})
		},
	}
}

func newBrokerUnregisterCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unregister ID",
		Short: "Remove a stopped broker's registration (kafka-cluster unregister)",
		Long: "Send UnregisterBroker for broker ID: it leaves every ISR, partitions it\n" +
			"led elect new leaders, and it is no longer listed. Stop the broker\n" +
			"first (a running broker registers again) and move its replicas away\n" +
			"first (fjord broker drain): partitions still naming it keep it as an\n" +
			"offline replica.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBrokerID(args[0])
			if err != nil {
				return err
			}
			return withKafka(cmd, brokerTimeout, func(ctx context.Context, cl *kgo.Client, _ *kadm.Client) error {
				return unregisterBroker(ctx, cl, cmd.OutOrStdout(), id, brokerTimeout)
			})
		},
	}
}

// unregisterBroker sends UnregisterBroker(id).
func unregisterBroker(ctx context.Context, cl *kgo.Client, w io.Writer, id int32, reqTimeout time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, reqTimeout)
	defer cancel()
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = id
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return fmt.Errorf("unregistering broker %d: %w", id, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("unregistering broker %d: %w", id, kafkaErr(err, deref(resp.ErrorMessage)))
	}
	writeUnregistered(w, id)
	return nil
}

func writeUnregistered(w io.Writer, id int32) { fmt.Fprintf(w, "Broker %d unregistered.\n", id) }
