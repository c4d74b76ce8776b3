package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/console"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consoleOpts are the flags of `fjord console`.
type consoleOpts struct {
	addr    string
	metrics []string
	timeout time.Duration
}

func init() {
	var o consoleOpts
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve Fjord Console, a web UI of the cluster (any Kafka-protocol cluster)",
		Long: "Serve Fjord Console at --addr: the brokers, topics, partitions (leader,\n" +
			"ISR, eligible leader replicas, offsets, sizes), consumer groups with lag,\n" +
			"and a message browser with a live tail; create and delete topics, change\n" +
			"topic configs and reset a group's offsets; on a secured cluster, ACLs and\n" +
			"SCRAM users. It speaks only the Kafka protocol (use --bootstrap-server and\n" +
			"--command-config as for the other commands) and signs in as the principal\n" +
			"of those settings, showing only what it may describe; --metrics adds\n" +
			"request rates from Fjord's Prometheus endpoints.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			return runConsole(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "host:port to serve the console on")
	f.StringSliceVar(&o.metrics, "metrics", nil, "Prometheus endpoints of the nodes (http://host:port/metrics), comma-separated")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "deadline of each page's Kafka requests")
	rootCmd.AddCommand(cmd)
}

func runConsole(ctx context.Context, o consoleOpts) error {
	opts, err := clientOpts()
	if err != nil {
		return err
	}
	srv, ln, err := listenConsole(o.addr, console.Options{ClientOpts: opts, MetricsURLs: o.metrics, RequestTimeout: o.timeout,
		Logger: newLogger("warn")})
	if err != nil {
		return err
	}
	fmt.Printf("Fjord Console at %s (cluster %s). Ctrl-C to stop.\n", consoleURL(ln), bootstrapServers)
	return srv.Serve(ctx, ln)
}

// listenConsole creates the console server and binds its listener.
func listenConsole(addr string, opts console.Options) (*console.Server, net.Listener, error) {
	srv, err := console.New(opts)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	return srv, ln, nil
}

func consoleURL(ln net.Listener) string {
	return "http://" + ln.Addr().String() + "/"
}

// devConsoleAddr is `fjord dev --console-addr`.
var devConsoleAddr string

// addDevConsoleFlag adds --console-addr to `fjord dev`.
func addDevConsoleFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&devConsoleAddr, "console-addr", "127.0.0.1:8080",
		`serve Fjord Console here ("" disables it)`)
}

// startDevConsole serves the console of a dev cluster, with the nodes'
// /metrics endpoints and, with --secure, the super user's client.properties.
// It returns the function that stops it (and waits for it); a console
// that cannot start is reported and the cluster runs on without it.
// nodes, if not nil, is the node panel's control of the node processes.
func startDevConsole(o devOpts, nodes console.NodeControl) func() {
	if strings.TrimSpace(devConsoleAddr) == "" {
		return func() {}
	}
	opts, err := devConsoleClientOpts(o)
	if err == nil {
		var srv *console.Server
		var ln net.Listener
		if srv, ln, err = listenConsole(devConsoleAddr, console.Options{ClientOpts: opts, MetricsURLs: devMetricsURLs(o), Nodes: nodes}); err == nil {
			fmt.Printf("Fjord Console: %s\n", consoleURL(ln))
			return serveInBackground(srv, ln)
		}
	}
	fmt.Fprintf(os.Stderr, "warning: console not started: %v (use --console-addr)\n", err)
	return func() {}
}

func devConsoleClientOpts(o devOpts) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(strings.Split(bootstrapList(o.port, o.nodes), ",")...)}
	if !o.secure {
		return opts, nil
	}
	sec, err := commandConfigOpts(filepath.Join(o.dataDir, devClientProps))
	return append(opts, sec...), err
}

func devMetricsURLs(o devOpts) []string {
	urls := make([]string, o.nodes)
	for i := range urls {
		urls[i] = "http://" + devProps(o.dataDir, o.port, o.nodes, i+1)["metrics.http.listener"] + "/metrics"
	}
	return urls
}

// serveInBackground runs srv on ln until the returned stop is called;
// stop waits for Serve to return.
func serveInBackground(srv *console.Server, ln net.Listener) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			fmt.Fprintf(os.Stderr, "console: %v\n", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
