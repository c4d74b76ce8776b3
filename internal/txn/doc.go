// Package txn is Kafka's transaction coordinator (InitProducerId with a
// transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
// DescribeTransactions, ListTransactions, the transaction timeout and
// transactional.id expiry) as a pure state machine over one
// __transaction_state partition, following Kafka 4.0 (KIP-98, KIP-360,
// KIP-890 parts 1 and 2); docs/transactions-reference.md is the fact sheet.
//
// One deliberate difference from Kafka: an AddPartitionsToTxn or
// AddOffsetsToTxn of the transaction's current producer that meets a
// transition in flight (a concurrent add, or the previous transaction's
// markers) waits for it, up to a second, instead of getting
// CONCURRENT_TRANSACTIONS at once (park.go); adds parked together are
// written as one record.
//
// A Coordinator owns the transactional ids that hash to one partition
// (PartitionFor). It starts no goroutines, does no IO and reads no clock:
// every call carries `now`. It is not safe for concurrent use; the IO
// shell (internal/coordinator) serializes all calls on one goroutine.
//
// # Shell contract
//
//  1. Becoming leader of __transaction_state-P at leader epoch E: create
//     New(cfg, E), call Load(now, key, value) for every record of the
//     partition in offset order, from the log start offset to the log end
//     offset (tombstones have a nil value), then Loaded(now) and apply its
//     Effects (markers of transactions left in PrepareCommit/PrepareAbort).
//     Meanwhile answer transaction requests with
//     COORDINATOR_LOAD_IN_PROGRESS.
//  2. Give every request an opaque, unique RequestID and pass it with the
//     decoded kmsg request to the matching method (or Handle). Every request
//     is answered exactly once, by a Reply carrying its RequestID, possibly
//     in the Effects of a later call (most wait for their record to be
//     durable). ListTransactions is synchronous and returns this
//     partition's entries for the shell to merge.
//  3. Effects.Replies are ready now. Effects.Append, when set, holds records
//     to append to __transaction_state-P as ONE batch (acks=all,
//     uncompressed, no producer id), in the order the coordinator returned
//     the Appends. A batch may carry several records (one per transition,
//     e.g. a Tick's timeout aborts and tombstones); its outcome applies to
//     all of them. Once the high watermark passes the batch, call
//     Appended(now, id); if the append or its replication fails (or times
//     out), call AppendFailed(now, id, err). Report completions in append
//     order. Both return Effects like any other call.
//  4. Effects.Markers ask for transaction markers: group the partitions per
//     leader into WriteTxnMarkers v1 requests carrying the given producer
//     id, epoch, result and coordinator epoch, retry retriable errors
//     (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER,
//     NOT_ENOUGH_REPLICAS(_AFTER_APPEND), REQUEST_TIMED_OUT,
//     KAFKA_STORAGE_ERROR, connection loss) on the current leader, and
//     report each partition's final outcome once with MarkerDone: 0 when
//     written or when the partition no longer exists (no leader), else the
//     error (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED stop the
//     transaction's markers; stop sending the rest for it).
//  5. Call Tick(now) at least every NextDeadline() (or on a fixed cadence
//     of about 100ms): it re-appends Complete records that failed with
//     COORDINATOR_NOT_AVAILABLE, aborts timed-out transactions every
//     AbortCheckInterval and expires idle transactional ids every
//     ExpirationCheckInterval.
//  6. Losing leadership: call Unload() and deliver its replies (all
//     requests waiting for a record get NOT_COORDINATOR), drop the markers
//     still being written for the partition, then drop the Coordinator.
//
// The shell also owns: routing (NOT_COORDINATOR for ids of another
// partition; AddPartitionsToTxn v4+ and DescribeTransactions split per
// coordinator and merged), authorization (TRANSACTIONAL_ID_/TOPIC_/
// GROUP_/CLUSTER_AUTHORIZATION_FAILED), topic existence
// (UNKNOWN_TOPIC_OR_PARTITION, OPERATION_NOT_ATTEMPTED for the others),
// null transactional ids of InitProducerId (idempotent producers), version
// caps (ListTransactions v1) and throttling. EndTxn v5 is served
// whatever Config.TransactionVersion is (a v5 request is transaction
// version 2, as in Kafka); at levels 0 and 1 the records written (values
// v0/v1) do not keep every TV2 field, as in Kafka.
//
// # State and durability
//
// Every transactional id has one state (Empty, Ongoing, PrepareCommit,
// PrepareAbort, CompleteCommit, CompleteAbort). A change is a transition
// whose record is appended first: it is pending meanwhile (any request
// meeting it gets CONCURRENT_TRANSACTIONS) and applied only once Appended;
// a failed append clears it. Between PrepareCommit/PrepareAbort and the
// Complete record the Complete transition stays pending while the markers
// are written. Replaying the log rebuilds every id as of its last record
// (the epoch of a previous bump, which only a KIP-360 retry of that bump
// uses, is not persisted, as in Kafka).
package txn
