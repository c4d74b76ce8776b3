package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/broker"
	"github.com/fjordlog/fjord/internal/config"
	"github.com/spf13/cobra"
)

// devOpts are the flags of `fjord dev`.
type devOpts struct {
	dataDir string // absolute
	port    int    // Kafka port of node 1
	nodes   int
	secure  bool // SASL_SSL everywhere, see dev_secure.go
}

func init() {
	var o devOpts
	var logLevel string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a local development cluster",
		Long: "Start a local Fjord cluster for development: three nodes (each a broker\n" +
			"and a controller) in this process, with Kafka on 127.0.0.1:9092-9094,\n" +
			"controllers on 127.0.0.1:19092-19094, Prometheus metrics on\n" +
			"127.0.0.1:29092-29094/metrics and data under ./fjord-data. With another\n" +
			"--port P the ports move along (P+10000.., P+20000..; all must be below\n" +
			"65536) and the data goes under ./fjord-data-P, as a data dir belongs to\n" +
			"the ports (and node count) it was made with.\n" +
			"Stop it with Ctrl-C.\n\n" +
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
			return runDev(o, newLogger(logLevel))
		},
	}
	cmd.Flags().StringVar(&o.dataDir, "data-dir", "", "directory for the nodes' data (default ./fjord-data, or ./fjord-data-PORT with a --port other than 9092)")
	cmd.Flags().IntVar(&o.port, "port", 9092, "Kafka port of the first node; node i uses port+i-1, its controller port+10000+i-1")
	cmd.Flags().IntVar(&o.nodes, "nodes", 3, "number of nodes")
	cmd.Flags().BoolVar(&o.secure, "secure", false, "SASL_SSL on every listener, an authorizer and a SCRAM super user (prints client settings)")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
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

func runDev(o devOpts, logger *slog.Logger) error {
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
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	nodes := make([]*broker.Broker, 0, o.nodes)
	defer func() { stopAll(nodes) }() // the nodes started by then, not the empty slice of now
	if err := startDevNodes(o, sec, logger, &nodes); err != nil {
		return devStartHint(o.dataDir, err)
	}
	if err := writeDevLayout(o.dataDir, o.port, o.nodes); err != nil {
		return err
	}
	if err := announceDev(o, sec); err != nil {
		return err
	}
	defer startDevConsole(o)() // Fjord Console beside the nodes (console.go); stops before them
	<-sig
	fmt.Println("Stopping...")
	return nil
}

// startDevNodes starts the nodes, appending each to *nodes as it starts,
// and waits until every one is ready.
func startDevNodes(o devOpts, sec *devSecurity, logger *slog.Logger, nodes *[]*broker.Broker) error {
	for id := 1; id <= o.nodes; id++ {
		props := devProps(o.dataDir, o.port, o.nodes, id)
		if sec != nil {
			sec.secureProps(props, o.port, id)
		}
		cfg, err := config.NewBroker(props)
		if err != nil {
			return err
		}
		b, err := broker.Start(cfg, logger.With("node", id))
		if err != nil {
			return fmt.Errorf("node %d: %w", id, err)
		}
		*nodes = append(*nodes, b)
	}
	for _, b := range *nodes {
		if err := b.WaitReady(30 * time.Second); err != nil {
			return err
		}
	}
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

// stopAll stops the nodes: controlled shutdowns all at once while the
// quorum is still whole, then closes.
func stopAll(nodes []*broker.Broker) {
	var wg sync.WaitGroup
	for _, b := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.ControlledShutdown(10 * time.Second)
		}()
	}
	wg.Wait()
	for _, b := range nodes {
		_ = b.Close()
	}
}
