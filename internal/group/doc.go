// Package group is the consumer group coordinator of Kafka's classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
// OffsetFetch, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete) and
// of transactional offset commits (TxnOffsetCommit, and the transaction
// markers WriteTxnMarkers writes to its partition) as a pure state machine
// over one __consumer_offsets partition.
//
// A Coordinator owns the groups whose id hashes to one partition
// (PartitionFor). It starts no goroutines, does no IO and reads no clock:
// every call carries `now`. It is not safe for concurrent use; the IO shell
// (handlers plus the __consumer_offsets replica) serializes all calls.
//
// # Shell contract
//
//  1. Becoming leader of __consumer_offsets-P: create New(cfg), then call
//     LoadBatch(now, b) for every batch of the partition in offset order,
//     from the log start offset to the log end offset: a data batch with
//     its records and their log offsets (tombstones have a nil value) and,
//     if it is transactional, its Producer; a control batch with its
//     transaction marker (record.ParseMarker; skip other control batches).
//     Meanwhile answer group requests with COORDINATOR_LOAD_IN_PROGRESS
//     (Heartbeat: NONE; SyncGroup: REBALANCE_IN_PROGRESS, as Kafka does;
//     CompleteTxn: NOT_LEADER_OR_FOLLOWER, for the transaction coordinator
//     to retry).
//  2. Give every request an opaque, unique RequestID and pass it with the
//     decoded kmsg request to the matching method (or Handle). Every request
//     is answered exactly once, by a Reply carrying its RequestID, possibly in
//     the Effects of a later call (JoinGroup waits for the rebalance, a
//     follower's SyncGroup for the leader's). Replies may answer earlier
//     requests of other clients; the server keeps per-connection order.
//  3. Effects.Replies are ready now. Effects.Append, when set, is ONE batch
//     to append to __consumer_offsets-P (with acks=all, fenced by the
//     leader epoch), in the order the coordinator returned the Appends:
//     its Records, transactional when Producer is set (the batch carries
//     that producer id and epoch and base sequence -1:
//     record.SetProducer(b, id, epoch, -1, true)), or, when Marker is set,
//     the control batch of that transaction marker. Once the high
//     watermark passes the batch, call Appended(now, id, baseOffset) with
//     the log offset of its first record; if the append or its replication
//     fails, call AppendFailed(now, id, err). Both return Effects like any
//     other call: the replies that waited for that batch (OffsetCommit,
//     TxnOffsetCommit, CompleteTxn, SyncGroup completion, DeleteGroups,
//     OffsetDelete, a static member's rejoin) and perhaps a new batch.
//     Report completions in append order (the log order): transactional
//     offsets and markers are matched by it.
//  4. Call Tick(now) at least every NextDeadline() (or on a fixed cadence of
//     about 100ms-1s): it runs session, rebalance, sync and initial-delay
//     timeouts and, every RetentionCheckInterval, offset expiry.
//  5. WriteTxnMarkers for __consumer_offsets-P: call CompleteTxn(now, id,
//     marker) with a RequestID of its own. Its Reply has a nil Response
//     and a Code: 0 once the marker is durable, else the code to return
//     to the transaction coordinator for this partition.
//  6. Losing leadership: call Unload() and deliver its replies (all waiting
//     requests get NOT_COORDINATOR, markers NOT_LEADER_OR_FOLLOWER), then
//     drop the Coordinator. Records of batches not yet appended are
//     abandoned.
//
// The shell also owns: routing (NOT_COORDINATOR for groups of another
// partition; batched OffsetFetch/DescribeGroups/DeleteGroups may be split per
// coordinator and merged), authorization, topic existence
// (UNKNOWN_TOPIC_OR_PARTITION), version caps (OffsetCommit/OffsetFetch up to
// v9: topic names, not topic ids), throttling, and, for TxnOffsetCommit,
// the check with the transaction coordinator that the producer's
// transaction holds this partition (AddOffsetsToTxn, or TxnOffsetCommit
// v5's implicit add): the coordinator writes what it is given.
//
// # State and durability
//
// Committed offsets become visible only when their batch is Appended; until
// then they are pending (OffsetFetch with RequireStable answers
// UNSTABLE_OFFSET_COMMIT). Group membership changes in memory at once, as
// in Kafka: the group record written when a generation completes (after the
// leader's SyncGroup, once durable) or the group empties is what a new
// coordinator replays. Replaying the log rebuilds every group's generation,
// protocol, leader, members, assignments and offsets; a group loaded with
// members is Stable and its members' session timers restart at load time.
// DeleteGroups applies at once and is reverted if its tombstones fail to
// append; OffsetDelete applies once its tombstones are durable, to what
// was written before them.
//
// A transaction's offsets (TxnOffsetCommit) are pending from their durable
// record until their producer's marker is durable (see txn.go): invisible
// to OffsetFetch, kept from expiry, and keeping the group from deletion.
package group
