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

func init() {
	var dataDir, logLevel string
	var port, nodes int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a local development cluster",
		Long: "Start a local Fjord cluster for development: three nodes (each a broker\n" +
			"and a controller) in this process, with Kafka on 127.0.0.1:9092-9094,\n" +
			"controllers on 127.0.0.1:19092-19094, Prometheus metrics on\n" +
			"127.0.0.1:29092-29094/metrics and data under ./fjord-data.\n" +
			"Stop it with Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			return runDev(abs, port, nodes, newLogger(logLevel))
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "./fjord-data", "directory for the nodes' data")
	cmd.Flags().IntVar(&port, "port", 9092, "Kafka port of the first node; node i uses port+i-1, its controller port+10000+i-1")
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
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
		"listeners":                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port+id-1, port+10000+id-1),
		"controller.listener.names":        "CONTROLLER",
		"controller.quorum.voters":         strings.Join(voters, ","),
		"log.dirs":                         filepath.Join(dataDir, fmt.Sprintf("node-%d", id)),
		"metrics.http.listener":            fmt.Sprintf("127.0.0.1:%d", port+20000+id-1),
		"default.replication.factor":       fmt.Sprint(min(n, 3)),
		"offsets.topic.replication.factor": fmt.Sprint(min(n, 3)),
	}
}

func runDev(dataDir string, port, n int, logger *slog.Logger) error {
	if n < 1 {
		return errors.New("--nodes must be at least 1")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	nodes := make([]*broker.Broker, 0, n)
	defer func() { stopAll(nodes) }() // the nodes started by then, not the empty slice of now
	for id := 1; id <= n; id++ {
		cfg, err := config.NewBroker(devProps(dataDir, port, n, id))
		if err != nil {
			return err
		}
		b, err := broker.Start(cfg, logger.With("node", id))
		if err != nil {
			return fmt.Errorf("node %d: %w", id, err)
		}
		nodes = append(nodes, b)
	}
	for _, b := range nodes {
		if err := b.WaitReady(30 * time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("Fjord dev cluster of %d nodes is up. Bootstrap: %s\nData in %s. Ctrl-C to stop.\n",
		n, bootstrapList(port, n), dataDir)
	<-sig
	fmt.Println("Stopping...")
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
