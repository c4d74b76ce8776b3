package chaos

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The transactional workload (Config.Transactions): producer slots t0 and
// t1 run transactions of a few records spread over the topic's
// partitions, one in abortEvery aborted on purpose, and a consumer slot
// r0 reads every partition read_committed. A transaction ends ok
// (EndTransaction committed it), fail (it was never asked to commit, so
// it is aborted: on purpose, after a failed produce, or left open by a
// crashed client for the coordinator to abort) or info (the commit
// errored: it may or may not have committed).

// Transactional workload shape.
const (
	txnSlots     = 2               // transactional producer slots
	txnMinK      = 3               // records per transaction: txnMinK..txnMaxK
	txnMaxK      = 12              //
	abortEvery   = 4               // every abortEvery-th transaction is aborted on purpose
	txnTimeout   = 5 * time.Second // the producers' transaction.timeout.ms: a stranded transaction is aborted after it
	txnEndWithin = 20 * time.Second
	// stableWithin bounds the wait, once the producers stopped, for every
	// open transaction to end (the last stable offset to reach the high
	// watermark): the transaction timeout, the coordinator's abort check
	// (every second on chaos nodes) and the markers, with room to spare.
	stableWithin = 30 * time.Second
)

// deliberateAbort is the Err of a transaction aborted on purpose.
const deliberateAbort = "aborted on purpose"

// TxnValue is what a transactional record's value names: the producer
// incarnation, the transaction's number, and the record's index among the
// transaction's K records.
type TxnValue struct {
	Client string
	Txn    int64
	Index  int
	K      int
}

// EncodeTxnValue is the value of record i of the K records of
// transaction txn of producer incarnation client: "client-txn-i/K", e.g.
// "t0.1-5-2/7". It is unique per run, and its two dashes tell it from a
// plain producer's value ("p0.1-12", EncodeValue).
func EncodeTxnValue(client string, txn int64, i, k int) string {
	return fmt.Sprintf("%s-%d-%d/%d", client, txn, i, k)
}

// ParseTxnValue parses a value EncodeTxnValue made; ok is false for any
// other value (a plain producer's too).
func ParseTxnValue(v string) (tv TxnValue, ok bool) {
	parts := strings.Split(v, "-")
	if len(parts) != 3 || parts[0] == "" {
		return tv, false
	}
	idx, k, found := strings.Cut(parts[2], "/")
	if !found {
		return tv, false
	}
	txn, err1 := strconv.ParseInt(parts[1], 10, 64)
	i, err2 := strconv.Atoi(idx)
	n, err3 := strconv.Atoi(k)
	if err1 != nil || err2 != nil || err3 != nil || txn < 0 || i < 0 || i >= n {
		return tv, false
	}
	return TxnValue{Client: parts[0], Txn: txn, Index: i, K: n}, true
}

// TxnID is the transactional id of a transactional producer slot: the
// same for each of its incarnations, so a new one fences the one before.
func (w *Workload) TxnID(slot string) string { return "chaos-" + w.Topic + "-" + slot }

// TxnIDs lists the transactional ids of the workload (none without
// Transactions).
func (w *Workload) TxnIDs() []string { return txnIDs(w.Topic, w.Transactions) }

func txnIDs(topic string, on bool) []string {
	if !on {
		return nil
	}
	w := Workload{Topic: topic}
	var ids []string
	for i := range txnSlots {
		ids = append(ids, w.TxnID(fmt.Sprintf("t%d", i)))
	}
	return ids
}

// transact runs transactions until ctx ends, the client is closed, or a
// transaction could not be ended (the slot then starts a new incarnation,
// whose InitProducerId fences this one and aborts what it left open).
// The number of records of each transaction and the partition of its
// first record are drawn from a generator seeded by Workload.Seed and the
// incarnation's name.
func (w *Workload) transact(ctx context.Context, name string, cl *kgo.Client, _ *atomic.Int64) {
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(w.Seed, h.Sum64()))
	for seq := int64(0); ctx.Err() == nil; seq++ {
		k := txnMinK + rng.IntN(txnMaxK-txnMinK+1)
		first := int32(rng.IntN(w.Partitions))
		if !w.runTxn(name, cl, seq, k, first, seq%abortEvery == abortEvery-1) {
			sleep(ctx, 250*time.Millisecond) // not a hot loop of incarnations while the cluster is down
			return
		}
		sleep(ctx, w.Interval)
	}
}

// runTxn runs transaction seq of incarnation name: k records, record i to
// partition (first+i) mod Partitions, then a commit, or an abort if abort
// is set or a produce failed. It records every record's send and the
// transaction's outcome, and reports whether the client may run another
// transaction. Its requests do not end with the workload's context: a
// transaction under way when the workload stops is finished.
func (w *Workload) runTxn(name string, cl *kgo.Client, seq int64, k int, first int32, abort bool) bool {
	op := Op{Kind: KindTxn, Client: name, Seq: seq, Records: k, Offset: -1, Start: w.H.Now()}
	done := func(out Outcome, msg string) {
		op.End, op.Outcome, op.Err = w.H.Now(), out, msg
		w.H.Add(op)
	}
	if err := cl.BeginTransaction(); err != nil {
		done(Fail, err.Error())
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), txnEndWithin)
	defer cancel()
	if err := w.produceTxn(ctx, name, cl, seq, k, first); err != nil || abort {
		why := deliberateAbort
		if err != nil {
			why = "produce failed: " + err.Error()
		}
		_ = cl.AbortBufferedRecords(ctx)
		if aerr := cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			// Never asked to commit, it cannot commit: the coordinator
			// aborts it on timeout or when the next incarnation starts.
			done(Fail, why+"; abort: "+aerr.Error())
			return false
		}
		done(Fail, why)
		return true
	}
	err := cl.EndTransaction(ctx, kgo.TryCommit)
	switch {
	case err == nil:
		done(OK, "")
		return true
	case errors.Is(err, kerr.OperationNotAttempted):
		done(Fail, "commit not attempted: "+err.Error()) // kgo sent no EndTxn
	default:
		done(Info, "commit: "+err.Error())
	}
	// kgo's documented way out of a failed commit is an abort; the next
	// incarnation fences whatever this one leaves anyway.
	_ = cl.EndTransaction(ctx, kgo.TryAbort)
	return false
}

// produceTxn produces the k records of transaction seq, records each
// send, and returns the first produce error once every record is
// acknowledged or failed.
func (w *Workload) produceTxn(ctx context.Context, name string, cl *kgo.Client, seq int64, k int, first int32) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range k {
		p := (first + int32(i)) % int32(w.Partitions)
		op := Op{Kind: KindTxnSend, Client: name, Partition: p, Seq: seq, Value: EncodeTxnValue(name, seq, i, k), Offset: -1}
		op.Start = w.H.Now()
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: w.Topic, Partition: p, Value: []byte(op.Value)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			op.End = w.H.Now()
			op.Outcome, op.Err = classify(err)
			if err == nil {
				op.Offset = r.Offset
			}
			w.H.Add(op)
			mu.Lock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return firstErr
}

// readOf is what a poll records of a fetched record: its value, or for a
// transaction marker (kept by kgo.KeepControlRecords) its kind.
func readOf(r *kgo.Record) Read {
	rd := Read{Partition: r.Partition, Offset: r.Offset}
	if !r.Attrs.IsControl() {
		rd.Value = string(r.Value)
		return rd
	}
	// A control record's key is a version and a type, two int16s: 0 is
	// an abort marker, 1 a commit marker.
	rd.Control = "unknown"
	if len(r.Key) >= 4 {
		switch binary.BigEndian.Uint16(r.Key[2:4]) {
		case 0:
			rd.Control = "abort"
		case 1:
			rd.Control = "commit"
		}
	}
	return rd
}

// txnCoordinator finds the transaction coordinator of one of the
// workload's transactional ids (drawn at random): the leader of its
// __transaction_state partition, as FindCoordinator (key type 1) names it.
func txnCoordinator(ctx context.Context, e *Env) (*Node, error) {
	ids := e.W.TxnIDs()
	if len(ids) == 0 {
		return nil, errors.New("no transactional workload (Config.Transactions, --transactions)")
	}
	id := ids[e.Rand.IntN(len(ids))]
	adm, done, err := e.C.Admin()
	if err != nil {
		return nil, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp := adm.FindTxnCoordinators(ctx, id)
	var nd *Node
	resp.Each(func(r kadm.FindCoordinatorResponse) {
		if r.Err == nil {
			nd = e.C.Node(r.NodeID)
		}
	})
	if nd == nil {
		return nil, fmt.Errorf("no coordinator found for transactional id %s: %v", id, resp.Error())
	}
	return nd, nil
}
