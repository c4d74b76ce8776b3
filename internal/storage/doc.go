// Package storage is Fjord's per-partition commit log, laid out on disk the
// way Apache Kafka lays it out so that an operator recognises every file:
//
//	<log.dir>/<topic>-<partition>/
//	    00000000000000000000.log        record batches v2, exactly as received
//	    00000000000000000000.index      sparse offset index (int32 rel. offset, int32 position)
//	    00000000000000000000.timeindex  sparse time index (int64 timestamp, int32 rel. offset)
//	    00000000000000000000.txnindex   aborted transactions, only when there are any (txnindex.go)
//	    leader-epoch-checkpoint         KIP-101 epoch -> start offset history
//	    partition.metadata              topic id
//	<log.dir>/recovery-point-offset-checkpoint
//	<log.dir>/log-start-offset-checkpoint
//	<log.dir>/replication-offset-checkpoint
//	<log.dir>/cleaner-offset-checkpoint     log compaction progress (compact.go)
//	<log.dir>/.kafka_cleanshutdown
//
// A Log is one partition's log: a list of segments, the last of which (the
// active segment) takes appends. Appends only rewrite the two batch header
// fields outside the CRC (baseOffset, partitionLeaderEpoch) and write the
// bytes; reads locate a position through the sparse offset index and return
// whole stored batches. Nothing on these paths decodes individual records.
//
// Indexes are kept in memory, encoded exactly as in their files, and written
// to the files when a segment rolls, on Flush and on Close. After an unclean
// stop, Open rescans (and CRC-checks) every batch from the segment holding the
// recovery point onwards, cuts the log at the first torn or corrupt batch and
// rebuilds those segments' indexes; index files of earlier segments are
// checked and rebuilt when missing or inconsistent.
//
// Errors: argument errors (ErrOffsetOutOfRange, ErrNonContiguous, invalid
// batches) leave the Log usable. Any I/O error is fail-stop: the Log records
// it and from then on every call returns an error wrapping ErrLogFailed.
//
// A Manager owns the log directories of one node and their per-directory
// checkpoint files and clean-shutdown markers. It opens the log of a
// partition new to the node lazily (lazy.go): no directory or file exists
// until the first batch is written, so creating thousands of partitions
// costs no disk work and an idle partition no file descriptor.
//
// Every file is reached through a vfs.FS (Options.FS, OpenManagerFS),
// vfs.Default in production. Segment files are *os.File there, so a
// Range's File can be sent with sendfile(2); tests run the log on
// vfs.NewStrictMem to crash it (crash_test.go) and on vfs.Inject to fail
// its IO (inject_test.go). A directory the log creates is fsynced into its
// parent (vfs.MkdirAllSynced), so a crash cannot take a log directory, and
// the synced batches in it, away.
package storage
