package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// devOpts are the flags of `fjord dev`.
type devOpts struct {
	dataDir  string // absolute
	port     int    // Kafka port of node 1
	nodes    int
	secure   bool   // SASL_SSL everywhere, see dev_secure.go
	logLevel string // the nodes' --log-level
}

func init() {
	var o devOpts
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a local development cluster",
		Long: "Start a local Fjord cluster for development: three nodes (each a broker\n" +
			"and a controller), each a `fjord server` child process of this one, with\n" +
			"Kafka on 127.0.0.1:9092-9094, controllers on 127.0.0.1:19092-19094,\n" +
			"Prometheus metrics on 127.0.0.1:29092-29094/metrics and data under\n" +
			"./fjord-data. With another --port P the ports move along (P+10000..,\n" +
			"P+20000..; all must be below 65536) and the data goes under\n" +
			"./fjord-data-P, as a data dir belongs to the ports (and node count) it\n" +
			"was made with.\n" +
			"Stop it with Ctrl-C. The nodes' output goes to stderr, prefixed \"node N: \",\n" +
			"and to <data dir>/logs/node-N/run-R.log (one file per start of the node).\n" +
			"The console's node panel stops, kills, pauses and starts the nodes.\n\n" +
			"With --secure every Kafka and controller listener is SASL_SSL: a CA and a\n" +
			"server certificate are made under <data dir>/tls (once; later starts reuse\n" +
			"them), brokers authenticate to each other with PLAIN as a generated user,\n" +
			"the StandardAuthorizer is on, and a SCRAM-SHA-512 super user \"admin\" with\n" +
			"a generated password is created. Ready client settings are printed and\n" +
			"written to <data dir>/client.properties (for fjord --command-config).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(devDataDir(o.dataDir, o.port))
			if err != nil {
				return err
			}
			o.dataDir = abs
			return runDev(o)
		},
	}
	cmd.Flags().StringVar(&o.dataDir, "data-dir", "", "directory for the nodes' data (default ./fjord-data, or ./fjord-data-PORT with a --port other than 9092)")
	cmd.Flags().IntVar(&o.port, "port", 9092, "Kafka port of the first node; node i uses port+i-1, its controller port+10000+i-1")
	cmd.Flags().IntVar(&o.nodes, "nodes", 3, "number of nodes")
	cmd.Flags().BoolVar(&o.secure, "secure", false, "SASL_SSL on every listener, an authorizer and a SCRAM super user (prints client settings)")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "warn", "the nodes' log level: debug, info, warn or error")
	addDevConsoleFlag(cmd) // --console-addr, console.go
	rootCmd.AddCommand(cmd)
}

// devProps returns node id's properties in a local cluster of n nodes.
func devProps(dataDir string, port, n, id int) map[string]string {
	voters := make([]string, n)
	for i := range voters {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, port+10000+i)
	}
	return map[string]string{
		"node.id":                          fmt.Sprint(id),
		"process.roles":                    "broker,controller",
		"listeners":                        devListeners("PLAINTEXT", port, id),
		"controller.listener.names":        "CONTROLLER",
		"controller.quorum.voters":         strings.Join(voters, ","),
		"log.dirs":                         filepath.Join(dataDir, fmt.Sprintf("node-%d", id)),
		"metrics.http.listener":            fmt.Sprintf("127.0.0.1:%d", port+20000+id-1),
		"default.replication.factor":       fmt.Sprint(min(n, 3)),
		"offsets.topic.replication.factor": fmt.Sprint(min(n, 3)),
	}
}

// devListeners returns node id's listeners: Kafka clients on listener
// name at port+id-1, the controller at port+10000+id-1.
func devListeners(name string, port, id int) string {
	return fmt.Sprintf("%s://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", name, port+id-1, port+10000+id-1)
}

func runDev(o devOpts) error {
	if o.nodes < 1 {
		return errors.New("--nodes must be at least 1")
	}
	if err := checkDevPorts(o.port, o.nodes); err != nil {
		return err
	}
	if err := checkDevLayout(o.dataDir, o.port, o.nodes); err != nil {
		return err
	}
	var sec *devSecurity
	if o.secure {
		var err error
		if sec, err = prepareDevSecurity(o.dataDir); err != nil {
			return err
		}
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	nodes, err := newDevNodes(bin, o, sec)
	if err != nil {
		return err
	}
	defer nodes.stopAll(devStopTimeout)
	return serveDev(ctx, o, sec, nodes)
}

// serveDev starts the nodes, announces the cluster and serves the console
// until ctx ends (Ctrl-C); the caller stops the nodes.
func serveDev(ctx context.Context, o devOpts, sec *devSecurity, nodes *devNodes) error {
	if err := nodes.startAll(ctx, sec); err != nil {
		if ctx.Err() != nil {
			fmt.Println("Stopping...")
			return nil
		}
		return devStartHint(o.dataDir, err)
	}
	if err := writeDevLayout(o.dataDir, o.port, o.nodes); err != nil {
		return err
	}
	if err := announceDev(o, sec); err != nil {
		return err
	}
	defer startDevConsole(o, nodes)() // Fjord Console beside the nodes (console.go); stops before them
	<-ctx.Done()
	fmt.Println("Stopping...")
	return nil
}

// announceDev prints that the cluster is up; a secure one first gets its
// super user and the client settings, printed after the same first line.
func announceDev(o devOpts, sec *devSecurity) error {
	bootstrap := bootstrapList(o.port, o.nodes)
	var extra string
	if sec != nil {
		var err error
		if extra, err = sec.finish(bootstrap, o.port); err != nil {
			return err
		}
	}
	fmt.Printf("Fjord dev cluster of %d nodes is up. Bootstrap: %s\nData in %s. Ctrl-C to stop.\n%s",
		o.nodes, bootstrap, o.dataDir, extra)
	return nil
}

func bootstrapList(port, n int) string {
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", port+i)
	}
	return strings.Join(addrs, ",")
}
