// Package e2e is Fjord's black-box acceptance suite for a single node.
//
// TestMain builds the fjord binary once; each test starts it as a real
// process (fjord server) on a loopback port with a temporary log
// directory, kills and restarts it, and talks to it only through the
// Kafka protocol: franz-go's kgo and kadm clients and, when installed,
// kcat. The tests check the promises of DESIGN.md §1 and the storage
// guarantees of §4 from the outside:
//
//   - produce and consume with every acks level and compression codec,
//     order, offsets and content per partition, ListOffsets earliest,
//     latest and by timestamp (TestProduceConsumeAll);
//   - no acknowledged acks=all write is lost when the node is killed
//     (TestCrashKeepsAcknowledgedWrites, TestCrashDuringRetention);
//   - recovery cuts a corrupt or torn log tail (TestCorruptTailIsCutOff);
//   - retention by time and size and segment roll
//     (TestRetentionDeletesOldSegments);
//   - kcat interoperability (TestKcat, skipped without kcat);
//   - topics, configs and offsets survive restarts
//     (TestRestartKeepsTopicsAndConfigs, TestDeleteAndRecreateTopic);
//   - record edge cases, max.message.bytes, LogAppendTime, fetch long
//     polls (TestEdgeRecords, TestLongPollWakesOnProduce).
//
// Environment: FJORD_E2E_BIN=path runs a prebuilt binary instead of
// building one; FJORD_E2E_RACE=1 builds the node with the race detector
// (a node that reports a data race fails its test). Nodes run through
// internal/nodeproc, the process harness the chaos suite and fjord dev use
// too; a failing test (or FJORD_E2E_KEEP=1) prints the tail of each node
// run's output.
//
// The package holds no production code: everything but this comment is
// in _test.go files.
package e2e
