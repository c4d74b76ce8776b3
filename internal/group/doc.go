// Package group is the consumer group coordinator of Kafka's classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
// OffsetFetch, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete) as a
// pure state machine over one __consumer_offsets partition.
//
// A Coordinator owns the groups whose id hashes to one partition
// (PartitionFor). It starts no goroutines, does no IO and reads no clock:
// every call carries `now`. It is not safe for concurrent use; the IO shell
// (handlers plus the __consumer_offsets replica) serializes all calls.
//
// # Shell contract
//
//  1. Becoming leader of __consumer_offsets-P: create New(cfg), then call
//     Load(now, key, value) for every record of the partition in offset order,
//     from the log start offset to the log end offset (tombstones have a nil
//     value). Meanwhile answer group requests with COORDINATOR_LOAD_IN_PROGRESS
//     (Heartbeat: NONE; SyncGroup: REBALANCE_IN_PROGRESS, as Kafka does).
//  2. Give every request an opaque, unique RequestID and pass it with the
//     decoded kmsg request to the matching method (or Handle). Every request
//     is answered exactly once, by a Reply carrying its RequestID, possibly in
//     the Effects of a later call (JoinGroup waits for the rebalance, a
//     follower's SyncGroup for the leader's). Replies may answer earlier
//     requests of other clients; the server keeps per-connection order.
//  3. Effects.Replies are ready now. Effects.Append, when set, holds records
//     to append to __consumer_offsets-P as ONE batch, in the order the
//     coordinator returned the Appends. Once the high watermark passes the
//     batch, call Appended(now, id); if the append or its replication fails,
//     call AppendFailed(now, id, err). Both return Effects like any other
//     call: the replies that waited for those records (OffsetCommit,
//     SyncGroup completion, DeleteGroups, OffsetDelete, a static member's
//     rejoin) and perhaps new records. Report completions in append order.
//  4. Call Tick(now) at least every NextDeadline() (or on a fixed cadence of
//     about 100ms-1s): it runs session, rebalance, sync and initial-delay
//     timeouts and, every RetentionCheckInterval, offset expiry.
//  5. Losing leadership: call Unload() and deliver its replies (all waiting
//     requests get NOT_COORDINATOR), then drop the Coordinator. Records of
//     batches not yet appended are abandoned.
//
// The shell also owns: routing (NOT_COORDINATOR for groups of another
// partition; batched OffsetFetch/DescribeGroups/DeleteGroups may be split per
// coordinator and merged), authorization, topic existence
// (UNKNOWN_TOPIC_OR_PARTITION), version caps (OffsetCommit/OffsetFetch up to
// v9: topic names, not topic ids) and throttling.
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
// Deletions (DeleteGroups, OffsetDelete) apply at once and are reverted if
// their tombstones fail to append.
package group
