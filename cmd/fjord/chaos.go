package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/chaos"
	"github.com/spf13/cobra"
)

// chaosFlags are the flags of `fjord chaos`.
type chaosFlags struct {
	nodes, runs, partitions, producers, consumers int
	diskMB                                        int
	duration, quiet, hold, bound                  time.Duration
	seed                                          uint64
	faults, config, report, dir                   string
	group, verbose, history, netns, proxy, secure bool
	transactions                                  bool
	overrides                                     []string
}

func init() {
	var f chaosFlags
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run the fault-injection suite against a local cluster of fjord processes",
		Long: "Start a cluster of fjord nodes on loopback (this binary; with --netns each in\n" +
			"its own network namespace, with --proxy behind TCP proxies), run producers and\n" +
			"consumers that record every operation, inject faults on a seeded schedule,\n" +
			"heal, drain every partition and check the history for lost, duplicated,\n" +
			"reordered or inconsistent records. Faults: " + strings.Join(chaos.FaultNames(), ", ") + ".\n" +
			"Configs: safe (must report no violation) and the canaries acks1, minisr1,\n" +
			"unclean (must report loss). Exits non-zero if a run does not do what its\n" +
			"config demands.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runChaos(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.nodes, "nodes", 3, "number of nodes (each a broker and a controller)")
	fl.IntVar(&f.runs, "runs", 1, "number of runs; run i uses seed+i")
	fl.IntVar(&f.partitions, "partitions", 3, "partitions of the test topic")
	fl.IntVar(&f.producers, "producers", 3, "producer clients")
	fl.IntVar(&f.consumers, "consumers", 1, "consumers assigned every partition")
	fl.BoolVar(&f.group, "group", true, "also run a consumer in a group that commits after each poll")
	fl.DurationVar(&f.duration, "duration", 60*time.Second, "length of the fault schedule of a run")
	fl.DurationVar(&f.quiet, "quiet", 3*time.Second, "quiet time between faults (random in [quiet, 2*quiet))")
	fl.DurationVar(&f.hold, "hold", 8*time.Second, "how long a fault lasts before it is healed")
	fl.DurationVar(&f.bound, "bound", 60*time.Second, "liveness bound: time to recover after healing")
	fl.Uint64Var(&f.seed, "seed", uint64(time.Now().UnixNano()%1e6), "seed of the schedule")
	fl.StringVar(&f.faults, "faults", "kill-leader,pause-leader,pause-follower,bounce-controller,corrupt-tail,client-crash",
		"comma-separated faults to draw from")
	fl.StringVar(&f.config, "config", "safe", "safe, acks1, minisr1 or unclean")
	fl.StringVar(&f.report, "report", "", "write the JSON report of every run to this file")
	fl.StringVar(&f.dir, "dir", "", "keep node data and logs under this dir (default: a temp dir, removed if the run passes)")
	fl.StringArrayVar(&f.overrides, "override", nil, "extra node property key=value (repeatable)")
	fl.BoolVar(&f.netns, "netns", false, "run each node in its own network namespace (needs root, ip and nft); required by the\n"+
		"network faults isolate-*, partition-minority and oneway-leader")
	fl.BoolVar(&f.proxy, "proxy", false, "put every node's Kafka and controller listener behind a fault-injecting TCP proxy\n"+
		"(toxiproxy, in this process); required by the faults slow-*, throttle-* and reset-*")
	fl.BoolVar(&f.secure, "secure", false, "SASL_SSL on every listener (client, inter-broker, controller) with certificates made\n"+
		"for the run, PLAIN between nodes, an authorizer (super user admin) and the workload as a SCRAM-SHA-512\n"+
		"user with ACLs for exactly what it does")
	fl.BoolVar(&f.transactions, "transactions", false, "add transactional producers (transactions of 3-12 records over the partitions,\n"+
		"every 4th aborted on purpose) and a read_committed consumer, drain read_committed too, and check that\n"+
		"transactions are visible all at once or never and aborted records never; required by the faults *-txn-coordinator")
	fl.IntVar(&f.diskMB, "disk-mb", 0, "give each node's data dir its own tmpfs of this many MiB (needs root); required by\n"+
		"the fault disk-full")
	fl.BoolVar(&f.history, "history", false, "keep the history in the report of valid runs too")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log each fault as it happens")
	rootCmd.AddCommand(cmd)
}

// runChaos runs the requested runs and prints a summary of each.
func runChaos(cmd *cobra.Command, f chaosFlags) error {
	profile, ok := chaos.Profiles[f.config]
	if !ok {
		return fmt.Errorf("unknown --config %q (safe, acks1, minisr1, unclean)", f.config)
	}
	faults, err := chaos.Faults(strings.Split(f.faults, ","))
	if err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()
	var reports []*chaos.Report
	failed := 0
	for i := range f.runs {
		cfg := chaos.Config{Bin: bin, Nodes: f.nodes, Duration: f.duration, Seed: f.seed + uint64(i),
			Faults: faults, Profile: profile, Quiet: f.quiet, Hold: f.hold, Bound: f.bound,
			Partitions: f.partitions, Producers: f.producers, Consumers: f.consumers, Group: f.group,
			Overrides: f.overrides, History: f.history, Netns: f.netns, Proxy: f.proxy,
			DiskMB: f.diskMB, Secure: f.secure, Transactions: f.transactions}
		if f.dir != "" {
			cfg.Dir = fmt.Sprintf("%s/run-%d", f.dir, cfg.Seed)
		}
		if f.verbose {
			cfg.Log = func(format string, args ...any) { fmt.Fprintf(out, "  "+format+"\n", args...) }
		}
		rep, err := chaos.Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("run %d (seed %d): %w", i, cfg.Seed, err)
		}
		fmt.Fprint(out, rep.Summary())
		reports = append(reports, rep)
		if !rep.Passed() {
			failed++
		}
		if ctx.Err() != nil {
			break
		}
	}
	if f.report != "" {
		if err := chaos.WriteJSON(f.report, reports); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%d of %d runs did what config %s demands\n", len(reports)-failed, len(reports), f.config)
	if failed > 0 {
		return fmt.Errorf("%d runs failed", failed)
	}
	return nil
}
