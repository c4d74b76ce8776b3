// Command fjord is the single Fjord binary: it runs a broker/controller node
// (server, dev; `dev --secure` with TLS, SASL and ACLs) and offers
// Kafka-style command-line tools (topic, produce, consume, group, cluster,
// quorum, bench, user, acl) that talk to any Kafka-compatible cluster purely over
// the Kafka wire protocol.
//
// The client tools mirror Kafka's own scripts: `fjord topic` behaves like
// kafka-topics/kafka-configs, `fjord produce` and `fjord consume` like the
// console producer and consumer, `fjord group` like kafka-consumer-groups,
// `fjord bench` like kafka-producer-perf-test and kafka-consumer-perf-test,
// `fjord user` like kafka-configs --entity-type users (SCRAM credentials),
// `fjord acl` like kafka-acls and `fjord reassign` like
// kafka-reassign-partitions; `fjord cluster rebalance` and `fjord broker
// drain` plan and run reassignments that even out or empty brokers. Every client command takes
// --command-config FILE, a client properties file in the Java client's or
// librdkafka's names, for secured clusters.
package main

import (
	"os"

	"github.com/spf13/cobra"
)

// rootCmd is the top-level command. Subcommands register themselves from
// their own files with `func init() { rootCmd.AddCommand(...) }`.
var rootCmd = &cobra.Command{
	Use:   "fjord",
	Short: "Fjord: a Kafka-wire-compatible replicated commit log",
	Long: "Fjord is a partitioned, replicated commit log that speaks the Apache Kafka\n" +
		"wire protocol. This binary runs nodes and provides Kafka-style client tools.",
	SilenceUsage: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
