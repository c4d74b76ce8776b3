// Package chaos is Fjord's Jepsen-style fault-injection harness (issue 6,
// ../shared/reference/reliability.md). It drives the real `fjord` binary
// as processes and talks to them only over the Kafka protocol (franz-go):
//
//   - Cluster starts N `fjord server` processes on loopback ports, each a
//     broker and a controller voter, and kills (SIGKILL), terminates
//     (SIGTERM), pauses (SIGSTOP), resumes and restarts them; it finds
//     partition leaders and the active controller with kadm.
//   - Workload runs producers (acks=all or 1, idempotent or not; a value
//     names its producer incarnation and sequence number) and consumers
//     (assigned every partition, or in a group committing after each poll)
//     and records a History of every send, poll and commit with its outcome:
//     ok, fail (definitely not written) or info (indefinite).
//   - Faults (process faults against a leader, follower, the active
//     controller, a group or transaction coordinator or any node; torn
//     or corrupt segment tails; client crashes; the lone-leader canary)
//     are injected one at a time on a seeded schedule, each healed after
//     a hold.
//   - Run heals everything, waits for liveness (a leader and a full ISR on
//     every partition and an acknowledged produce on each), drains every
//     partition with a fresh consumer and runs Check.
//   - Check finds lost and unseen acknowledged writes, duplicates,
//     inconsistent offsets, aborted reads, non-monotonic or skipping polls,
//     reordered sends of an idempotent producer, and committed-offset
//     regressions, and reports recovery times per fault.
//
// With Config.Netns (`fjord chaos --netns`) every node runs in its own
// network namespace (Net: veths on a bridge, a private 10.233.x.0/24 that
// exists only there), and the network faults (leader, follower or
// controller isolated, a minority partitioned, one-way loss) are nftables
// drop rules inside the namespaces.
//
// With Config.Proxy (`fjord chaos --proxy`, NewProxyCluster) every node's
// Kafka and controller listener sits behind a toxiproxy TCP proxy run in
// this process (Proxies), which every connection to the node crosses, and
// the proxy faults (F14: latency, bandwidth limits, connection resets on a
// leader's or a follower's proxies) are toxics on them.
//
// With Config.Secure (`fjord chaos --secure`, Cluster.Secure; combines
// with the others) every listener, the inter-broker and controller ones
// too, is SASL_SSL with certificates made for the run, the nodes
// authenticate to each other with PLAIN as the super user admin, the
// StandardAuthorizer is on, and the workload runs as a SCRAM-SHA-512 user
// allowed only what it does; the harness's admin clients, observer and
// drain are admin.
//
// With Config.Transactions (`fjord chaos --transactions`) the workload
// also runs transactional producers (txn.go: slots t0 and t1, one
// transactional id each, so that an incarnation fences the one before;
// transactions of 3-12 records over the partitions, whose values name
// the incarnation, the transaction and the record's index of K; every
// 4th aborted on purpose) recording each transaction as committed,
// aborted or indefinite, and a read_committed consumer. Every consumer
// keeps transaction markers and records them as reads, so a
// read_uncommitted session still reads every offset. After healing, the
// run waits until no transaction is open and drains a second time
// read_committed; the checker (checker_txn.go) then finds transactions
// partly visible there (txn-partial), aborted records read read_committed
// (txn-aborted-read), committed transactions not visible at all
// (txn-lost), and read_committed polls skipping anything but the records
// of transactions that did not commit. The *-txn-coordinator faults hit
// the coordinator of one of the transactional ids.
//
// `fjord chaos` is the command users run.
package chaos
