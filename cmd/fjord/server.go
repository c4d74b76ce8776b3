package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/broker"
	"github.com/fjordlog/fjord/internal/config"
	"github.com/spf13/cobra"
)

func init() {
	var propsFile, logLevel string
	var overrides []string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Fjord node",
		Long: "Run a Fjord node. Configuration uses Kafka's property names: read from a\n" +
			"server.properties file (--config) and overridden by --override key=value.\n" +
			"With no configuration it runs a single node with Kafka on 127.0.0.1:9092\n" +
			"and data in ./fjord-data.\n\n" +
			"Environment:\n" +
			"  " + clockSkewEnv + "  offset of the node's wall clock from the host's, a Go\n" +
			"                    duration such as -90s or 2h (fault injection: every\n" +
			"                    timestamp, retention and session the node computes\n" +
			"                    follows the skewed clock; durations do not change).\n" +
			"  GOGC              Go's garbage collector target; unset, the node uses\n" +
			"                    " + fmt.Sprint(serverGCPercent) + ", not Go's 100: fewer collections for a larger\n" +
			"                    heap. GOMEMLIMIT caps the heap as usual.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			props, err := loadProperties(propsFile, overrides)
			if err != nil {
				return err
			}
			skew, err := clockSkew(os.Getenv(clockSkewEnv))
			if err != nil {
				return err
			}
			setServerGC(os.Getenv("GOGC"))
			return runNode(props, broker.Options{ClockSkew: skew}, newLogger(logLevel))
		},
	}
	cmd.Flags().StringVar(&propsFile, "config", "", "server.properties file")
	cmd.Flags().StringArrayVar(&overrides, "override", nil, "key=value overriding a property (repeatable)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	rootCmd.AddCommand(cmd)
}

// loadProperties reads the properties file, if any, then applies overrides.
func loadProperties(file string, overrides []string) (map[string]string, error) {
	props := map[string]string{}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if props, err = config.ReadProperties(f); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--override %q: expected key=value", o)
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return props, nil
}

// serverGCPercent is a node's garbage collector target (GOGC) unless the
// environment sets one, as Kafka's start scripts tune the JVM's collector
// for a broker. A node's live heap is small (a few MB with thousands of
// partitions' metadata: record bytes live in pooled buffers and the page
// cache) while every request allocates a little, so at Go's default of 100
// the collector ran about 5 times a second per node at 5 MB/s of acks=all
// produce, adding its pauses and assists to produce latency. At 400 it
// runs a quarter as often for a heap of about five times the live one;
// GOMEMLIMIT, if set, still bounds it.
const serverGCPercent = 400

// setServerGC applies serverGCPercent unless gogc (the GOGC environment
// variable) is set, in which case the runtime already applied it.
func setServerGC(gogc string) {
	if strings.TrimSpace(gogc) == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}

// clockSkewEnv names the environment variable that offsets a node's wall
// clock (broker.Options.ClockSkew); it is not a Kafka property.
const clockSkewEnv = "FJORD_CLOCK_SKEW"

// clockSkew parses FJORD_CLOCK_SKEW's value: empty means none.
func clockSkew(v string) (time.Duration, error) {
	if strings.TrimSpace(v) == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", clockSkewEnv, err)
	}
	return d, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// runNode starts a node and runs it until SIGINT or SIGTERM, then shuts
// it down cleanly — or until a storage failure (broker.Fatal), when it
// returns at once without a shutdown, as Kafka halts, and the process
// exits with status 1.
func runNode(props map[string]string, o broker.Options, logger *slog.Logger) error {
	cfg, err := config.NewBroker(props)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	b, err := broker.StartWith(cfg, logger, o)
	if err != nil {
		return err
	}
	logger.Info("fjord node started", "node.id", cfg.Int("node.id"), "bootstrap", b.Addr("PLAINTEXT"))
	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String())
		signal.Stop(sig)
		return b.Shutdown()
	case err := <-b.Fatal():
		return fmt.Errorf("halting: %w", err)
	}
}
