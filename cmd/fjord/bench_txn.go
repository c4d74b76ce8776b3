package main

// Transactional `fjord bench produce`: with --transactional-id every
// producer client is transactional (kgo.TransactionalID) and commits a
// transaction every --transaction-records records (BeginTransaction,
// produce, Flush, EndTransaction(TryCommit)); the result adds the
// committed transactions and commits per second. A failed transaction is
// aborted and ends that producer's run.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// txnAbortTimeout bounds the abort after a failed transaction, which runs
// even when the run's context is canceled.
const txnAbortTimeout = 10 * time.Second

// validateBenchTxn checks the transactional flags of bench produce.
func validateBenchTxn(o benchProduceOpts) error {
	if o.transactionalID == "" {
		if o.txnRecords != 0 {
			return errors.New("--transaction-records needs --transactional-id")
		}
		return nil
	}
	if o.txnRecords <= 0 {
		return errors.New("--transactional-id needs --transaction-records N with N > 0")
	}
	if a, err := parseAcks(o.acks); err == nil && a != kgo.AllISRAcks() {
		return errors.New("--transactional-id requires --acks all")
	}
	return nil
}

// benchTxnID is the transactional id of producer i: the flag's value, or
// ID-i when there are several producers (they would fence each other).
func benchTxnID(o benchProduceOpts, i int) string {
	if o.producers == 1 {
		return o.transactionalID
	}
	return fmt.Sprintf("%s-%d", o.transactionalID, i)
}

// newBenchClients builds the producer clients of a run, each with its own
// transactional id when the run is transactional.
func newBenchClients(o benchProduceOpts, opts []kgo.Opt) ([]*kgo.Client, error) {
	if o.transactionalID == "" {
		return newClients(o.producers, opts)
	}
	var clients []*kgo.Client
	for i := range o.producers {
		cl, err := newClient(append(slices.Clip(opts), kgo.TransactionalID(benchTxnID(o, i)))...)
		if err != nil {
			closeClients(clients)
			return nil, err
		}
		clients = append(clients, cl)
	}
	return clients, nil
}

// produceTxnN produces n records in transactions of perTxn records,
// stopping at the first failed transaction.
func produceTxnN(ctx context.Context, cl *kgo.Client, n, perTxn int64, payloads [][]byte, stats *produceStats) {
	for done := int64(0); done < n && ctx.Err() == nil; {
		k := min(perTxn, n-done)
		if err := produceTxn(ctx, cl, done, k, payloads, stats); err != nil {
			if ctx.Err() == nil {
				stats.txnErr.CompareAndSwap(nil, &err)
			}
			return
		}
		stats.commits.Add(1)
		done += k
	}
}

// produceTxn produces records from..from+k-1 in one transaction and
// commits it, or aborts it if a record or the commit failed.
func produceTxn(ctx context.Context, cl *kgo.Client, from, k int64, payloads [][]byte, stats *produceStats) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	var failed atomic.Int64
	for i := from; i < from+k && ctx.Err() == nil; i++ {
		value := payloads[i%int64(len(payloads))]
		start := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
			stats.done(time.Since(start), len(r.Value), err)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return abortTxn(cl, fmt.Errorf("flushing a transaction: %w", err))
	}
	switch {
	case ctx.Err() != nil:
		return abortTxn(cl, ctx.Err())
	case failed.Load() > 0:
		return abortTxn(cl, fmt.Errorf("aborted a transaction: %d of its records failed", failed.Load()))
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return abortTxn(cl, fmt.Errorf("committing a transaction: %w", err))
	}
	return nil
}

// abortTxn aborts the client's transaction, best effort, and returns
// cause (with the abort's error, if that failed too).
func abortTxn(cl *kgo.Client, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), txnAbortTimeout)
	defer cancel()
	if err := cl.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("%w (and dropping its buffered records: %v)", cause, err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("%w (and aborting it: %v)", cause, err)
	}
	return cause
}

// withCommits adds the committed transactions to a produce result.
func withCommits(r produceResult, commits int64) produceResult {
	r.Transactions = commits
	if r.Seconds > 0 {
		r.CommitsPerSec = float64(commits) / r.Seconds
	}
	return r
}

// txnSummaryLine is the human line of a transactional run's commits.
func txnSummaryLine(r produceResult) string {
	return fmt.Sprintf("%d transactions committed, %.1f commits/sec.", r.Transactions, r.CommitsPerSec)
}
