package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
)

func init() {
	var dataDir, logLevel string
	var port int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a local development node",
		Long: "Start a local Fjord for development: one node (combined broker and\n" +
			"controller) with Kafka on 127.0.0.1:9092 and data under ./fjord-data.\n" +
			"Stop it with Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			fmt.Printf("Fjord dev node: bootstrap 127.0.0.1:%d, data in %s (Ctrl-C to stop)\n", port, abs)
			props := map[string]string{
				"node.id":   "1",
				"listeners": fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", port),
				"log.dirs":  filepath.Join(abs, "node-1"),
			}
			return runNode(props, newLogger(logLevel))
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "./fjord-data", "directory for the nodes' data")
	cmd.Flags().IntVar(&port, "port", 9092, "Kafka port of the first node")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	rootCmd.AddCommand(cmd)
}
