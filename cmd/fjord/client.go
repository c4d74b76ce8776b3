package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	defaultBootstrap = "127.0.0.1:9092"
	bootstrapEnv     = "FJORD_BOOTSTRAP"
	commandConfigEnv = "FJORD_COMMAND_CONFIG"
	cliClientID      = "fjord-cli"
)

// bootstrapServers holds the value of the global --bootstrap-server flag.
var bootstrapServers string

// commandConfig holds the value of the global --command-config flag.
var commandConfig string

func init() {
	rootCmd.PersistentFlags().StringVarP(&bootstrapServers, "bootstrap-server", "b",
		bootstrapDefault(os.Getenv(bootstrapEnv)),
		"comma-separated host:port list of brokers to bootstrap from (env "+bootstrapEnv+")")
	rootCmd.PersistentFlags().StringVar(&commandConfig, "command-config", os.Getenv(commandConfigEnv),
		"Kafka client properties file (security.protocol, sasl.*, ssl.*; Java or librdkafka names) (env "+commandConfigEnv+")")
}

// bootstrapDefault returns the flag default: the environment value if set.
func bootstrapDefault(env string) string {
	if strings.TrimSpace(env) != "" {
		return env
	}
	return defaultBootstrap
}

// parseSeeds splits a comma-separated broker list, dropping empty entries.
func parseSeeds(s string) ([]string, error) {
	var seeds []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			seeds = append(seeds, part)
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no bootstrap servers given (use --bootstrap-server or %s)", bootstrapEnv)
	}
	return seeds, nil
}

// clientOpts returns the base kgo options every command uses (seeds, client
// id, the security of --command-config) followed by extra.
func clientOpts(extra ...kgo.Opt) ([]kgo.Opt, error) {
	seeds, err := parseSeeds(bootstrapServers)
	if err != nil {
		return nil, err
	}
	sec, err := commandConfigOpts(commandConfig)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID(cliClientID)}
	opts = append(opts, sec...)
	return append(opts, extra...), nil
}

// commandConfigOpts returns the TLS and SASL options of the client
// properties file at path; none if path is empty.
func commandConfigOpts(path string) ([]kgo.Opt, error) {
	if strings.TrimSpace(path) == "" {
		return nil, nil
	}
	props, err := clientsec.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--command-config: %w", err)
	}
	opts, err := props.Options()
	if err != nil {
		return nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	return opts, nil
}

// newClient builds a kgo client from the global flags plus extra options.
func newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := clientOpts(extra...)
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(opts...)
}

// newAdmin builds an admin client. Closing the returned kadm client closes
// the underlying kgo client.
func newAdmin() (*kadm.Client, error) {
	cl, err := newClient()
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// brokerWait bounds how long produce and consume wait for the first
// answer of a broker: long enough for a cluster that is still starting,
// short enough that a wrong address or a stopped cluster is reported
// instead of waited on in silence (kafka-console-producer gives up on
// metadata after max.block.ms).
const brokerWait = 10 * time.Second

// brokerRetryInterval is the pause between attempts of waitForBroker.
const brokerRetryInterval = 250 * time.Millisecond

// waitForBroker returns once a broker of cl answers a Metadata request. It
// retries for up to wait, then fails with "no broker reachable at
// <bootstrap servers>" and the last error; an error no retry can fix (a
// refused authentication, an untrusted certificate) fails at once, and
// ctx ending (an interrupt) returns ctx's error.
func waitForBroker(ctx context.Context, cl *kgo.Client, wait time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	last := errors.New("no answer")
	for {
		err := cl.Ping(pctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			last = err
		}
		if !retryableReach(err) {
			return fmt.Errorf("connecting to %s: %w", bootstrapServers, err) // it answered, and said no
		}
		t := time.NewTimer(brokerRetryInterval)
		select {
		case <-pctx.Done():
		case <-t.C:
		}
		t.Stop()
		if pctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("no broker reachable at %s (tried for %v): %w; is the cluster running? (set --bootstrap-server or %s)",
		bootstrapServers, wait, last, bootstrapEnv)
}

// retryableReach tells errors that waiting may cure (nothing listening
// yet, a broker starting up) from those it cannot.
func retryableReach(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	var cert *tls.CertificateVerificationError
	return !errors.As(err, &cert)
}

// signalContext returns the command's context, canceled on SIGINT/SIGTERM.
func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// parseAcks maps a Kafka acks setting (all, -1, 1, 0) to kgo.Acks.
func parseAcks(s string) (kgo.Acks, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "0":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("invalid acks %q: want all, -1, 1 or 0", s)
}

// parseCompression maps a Kafka compression.type name to a kgo codec.
func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("invalid compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// parseKeyValue splits "k=v" at the first '='. The key must be non-empty; the
// value may be empty or contain further '=' and ',' characters.
func parseKeyValue(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return "", "", fmt.Errorf("invalid config %q: want key=value", s)
	}
	return k, v, nil
}

// parseConfigs turns repeated k=v flags into a CreateTopics config map. A
// key given twice is an error, as in kafka-topics.
func parseConfigs(kvs []string) (map[string]*string, error) {
	configs := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, err := parseKeyValue(kv)
		if err != nil {
			return nil, err
		}
		if _, dup := configs[k]; dup {
			return nil, fmt.Errorf("config %q given more than once", k)
		}
		configs[k] = kadm.StringPtr(v)
	}
	return configs, nil
}
