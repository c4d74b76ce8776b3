package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/chaos"
	"github.com/spf13/cobra"
)

// benchFailoverOpts are the flags of `fjord bench failover`.
type benchFailoverOpts struct {
	nodes, partitions, runs int
	faults                  string
	configs                 []string
	interval, poll, bound   time.Duration
	settle                  time.Duration
	dir                     string
	jsonOut, verbose        bool
	clientTimeouts          bool
}

func newBenchFailoverCmd() *cobra.Command {
	var o benchFailoverOpts
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Measure how long partitions stay unavailable when a broker or the controller fails",
		Long: "Start a cluster of fjord server processes (this binary) on loopback, create a topic\n" +
			"(RF=3), keep an acks=all producer writing a small record to every partition, inject\n" +
			"a fault and measure, per partition, the time from the fault to its first acknowledged\n" +
			"write (p50/p99/max over the partitions the victim led, those it followed in the ISR,\n" +
			"and all), and from the fence decision (the first survivor whose Metadata shows the\n" +
			"victim fenced) to every survivor's Metadata showing it. Faults: kill-broker,\n" +
			"pause-broker, isolate-broker (cut off from the other nodes and the clients; runs the\n" +
			"nodes in network namespaces, so needs root, ip and nft) against a broker that leads\n" +
			"partitions and is not the active controller, and kill-controller (also: time until\n" +
			"a new active controller commits a CreateTopics). The victim is restarted or healed;\n" +
			"each run also measures, from then, until the ISRs are full again and, after a preferred\n" +
			"leader election of every partition (as kafka-leader-election would ask), until the\n" +
			"victim leads its preferred partitions again, and with --settle watches every node's\n" +
			"Metadata for fences, leaderless partitions and shrunk ISRs. Also reports how long the\n" +
			"topic took to be created, led and written, and fully replicated. Runs the default\n" +
			"configuration unless --config says otherwise.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchFailover(cmd, o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 3, "number of nodes (each a broker and a controller voter)")
	f.IntVar(&o.partitions, "partitions", 1000, "partitions of the test topic")
	f.IntVar(&o.runs, "runs", 1, "injections of each fault")
	f.StringVar(&o.faults, "fault", "kill-broker", "fault(s) to inject, comma-separated: "+strings.Join(chaos.FailoverFaults, ", "))
	f.StringArrayVar(&o.configs, "config", nil, "node property key=value passed to every server (repeatable)")
	f.DurationVar(&o.interval, "interval", 0, "time between two records to one partition (0: 20 ms, longer above 400 partitions so the\n"+
		"load stays at 20,000 records/s: 50 ms for 1,000 partitions, 500 ms for 10,000)")
	f.DurationVar(&o.poll, "poll", 0, "time between two Metadata requests to one survivor (0: 20 ms, longer above 4,000 partitions)")
	f.DurationVar(&o.bound, "bound", 0, "how long one fault is measured at most (0: 60 s plus twice the session timeout)")
	f.DurationVar(&o.settle, "settle", 0, "after each run, once the victim is back with full ISRs and its preferred leaderships,\n"+
		"watch every node's Metadata this long for fenced brokers, leaderless partitions and shrunk ISRs (0: skip)")
	f.StringVar(&o.dir, "dir", "", "keep node data and logs under this dir (default: a temp dir, removed)")
	f.BoolVar(&o.clientTimeouts, "client-timeouts", false, "let the load client notice a paused or isolated victim by its own\n"+
		"timeouts (1.5 s) instead of cutting its connections to it at the fault")
	f.BoolVar(&o.jsonOut, "json", false, "print the report as JSON only")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print progress to stderr")
	return cmd
}

func runBenchFailover(cmd *cobra.Command, o benchFailoverOpts) error {
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	cfg := chaos.FailoverConfig{Bin: bin, Dir: o.dir, Nodes: o.nodes, Partitions: o.partitions, Runs: o.runs,
		Faults: strings.Split(o.faults, ","), Overrides: o.configs, Interval: o.interval, Poll: o.poll, Bound: o.bound,
		ClientTimeouts: o.clientTimeouts, Settle: o.settle}
	if !o.jsonOut {
		cfg.OnRun = func(r chaos.FailoverRun, runs int) { fmt.Fprintln(out, r.Line(runs)) }
	}
	if o.verbose {
		cfg.Log = func(format string, args ...any) { fmt.Fprintf(errOut, format+"\n", args...) }
	}
	rep, runErr := chaos.RunFailover(ctx, cfg)
	if rep != nil {
		if o.jsonOut {
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(out, string(b))
		} else {
			rep.WriteText(out)
		}
	}
	if runErr != nil {
		if rep != nil { // the report says why, with the nodes' warnings
			return fmt.Errorf("stopped early: %w", runErr)
		}
		return runErr
	}
	if n := rep.Unrecovered(); n > 0 {
		return fmt.Errorf("%d runs left partitions without an acknowledged write within the bound", n)
	}
	return nil
}
