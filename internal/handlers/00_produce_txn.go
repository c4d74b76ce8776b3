package handlers

// Transactional produce: partition verification (KIP-890 part 1) and,
// from Produce v12, the partition's implicit add to the transaction
// (KIP-890 part 2, transaction version 2). Before a transactional batch
// is appended to a partition where its producer has no open transaction
// of the batch's epoch, the partition's leader asks the transactional
// id's coordinator (AddPartitionsToTxn v4). Up to v11 the question is
// VerifyOnly, "is the partition in the producer's transaction?" (the
// client added it with AddPartitionsToTxn), so that a batch sent after
// its transaction ended, or to a partition the producer never added, is
// refused instead of opening a transaction that nothing would ever end (a
// hanging transaction holding back every read_committed consumer). From
// v12 the client sends no AddPartitionsToTxn: the question is an add
// (VerifyOnly false) that the coordinator writes, and that waits for the
// previous transaction to complete (its markers written). The partition
// hands out a guard before the question and appends only with the same
// guard still current: a marker written in between voids it. Under
// transaction version 2 the previous transaction's marker commonly lands
// while the add waits; a partition whose guard was voided so is asked
// again with a fresh guard (the coordinator answers at once: the
// partition is in the transaction now), a bounded number of times. The
// question is asked synchronously, on the connection's goroutine, so that
// the connection's later batches cannot overtake this one (Kafka mutes
// the connection meanwhile); it is asked once per partition per
// transaction. transaction.partition.verification.enable switches off the
// v11 question only, as in Kafka.
//
// The coordinator's answer is mapped as Kafka's partition leaders do:
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH; TRANSACTION_ABORTABLE stays
// for v11+ and is INVALID_TXN_STATE before; CONCURRENT_TRANSACTIONS stays
// for v12+ (KAFKA-18662); it and the other retriable coordinator errors
// are NOT_ENOUGH_REPLICAS before (old clients retry it without a metadata
// refresh); a top-level CLUSTER_AUTHORIZATION_FAILED is INVALID_TXN_STATE;
// UNSUPPORTED_VERSION skips the check.

import (
	"context"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/fjordlog/fjord/internal/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// verifyTimeout bounds one verification round trip.
const verifyTimeout = 5 * time.Second

// addRounds bounds how often a v12 partition is asked again after a
// marker voided its guard while its add waited.
const addRounds = 3

// addPartitionVersion is the first Produce version whose verification
// adds the partition to the transaction (Kafka's ADD_PARTITION).
const addPartitionVersion = 12

type topicPartitionKey struct {
	topic string
	p     int32
}

// txnCheck is a transactional batch's verification outcome: the guard to
// append with, or the error its partition answers.
type txnCheck struct {
	guard uint64
	err   error
}

// txnBatch is a partition's transactional batch awaiting its answer.
type txnBatch struct {
	k topicPartitionKey
	p *partition.Partition
	h record.Header
}

// verifyTransactional verifies (or, v12+, adds) the partitions of the
// request's transactional batches (nil when it has none).
func (h *Handlers) verifyTransactional(ctx context.Context, req *server.Request, r *kmsg.ProduceRequest) map[topicPartitionKey]txnCheck {
	if r.TransactionID == nil || !hasTransactionalRecords(r) {
		return nil
	}
	checks, ask := h.takeGuards(r)
	add := r.Version >= addPartitionVersion
	if len(ask) == 0 || (!add && !h.d.Config.Bool("transaction.partition.verification.enable")) {
		return checks
	}
	for round := 1; len(ask) > 0; round++ {
		last := ask[len(ask)-1].h // the request's producer (Kafka refuses several)
		codes := h.askCoordinator(ctx, *r.TransactionID, last.ProducerID, last.ProducerEpoch, keysOf(ask), add)
		var again []txnBatch
		for i, b := range ask {
			if code := verifyCode(codes[i], r.Version); code != 0 {
				checks[b.k] = txnCheck{err: kerr.ErrorForCode(code)}
				continue
			}
			if !add || round == addRounds {
				continue
			}
			if guard, need := b.p.VerificationGuard(b.h.ProducerID, b.h.ProducerEpoch, b.h.BaseSequence); need && guard != checks[b.k].guard {
				checks[b.k] = txnCheck{guard: guard} // a marker voided the guard meanwhile
				again = append(again, b)
			}
		}
		ask = again
	}
	return checks
}

// takeGuards takes each transactional batch's verification guard; ask
// lists the partitions where the producer has no open transaction of the
// batch's epoch.
func (h *Handlers) takeGuards(r *kmsg.ProduceRequest) (map[topicPartitionKey]txnCheck, []txnBatch) {
	checks := map[topicPartitionKey]txnCheck{}
	var ask []txnBatch
	for _, t := range r.Topics {
		for _, tp := range t.Partitions {
			bh, err := record.ParseHeader(tp.Records)
			p := h.d.Partitions.Partition(t.Topic, tp.Partition)
			if err != nil || !bh.IsTransactional() || p == nil {
				continue
			}
			k := topicPartitionKey{t.Topic, tp.Partition}
			guard, need := p.VerificationGuard(bh.ProducerID, bh.ProducerEpoch, bh.BaseSequence)
			checks[k] = txnCheck{guard: guard}
			if need {
				ask = append(ask, txnBatch{k, p, bh})
			}
		}
	}
	return checks, ask
}

func keysOf(bs []txnBatch) []topicPartitionKey {
	ks := make([]topicPartitionKey, len(bs))
	for i, b := range bs {
		ks[i] = b.k
	}
	return ks
}

// askCoordinator sends the verification (or, with add, the add) to the
// transactional id's coordinator and returns its code for each partition.
func (h *Handlers) askCoordinator(ctx context.Context, transactionalID string, pid int64, epoch int16, tps []topicPartitionKey, add bool) []int16 {
	codes := make([]int16, len(tps))
	fill := func(code int16) []int16 {
		for i := range codes {
			codes[i] = code
		}
		return codes
	}
	leader, ok := h.txnCoordinatorID(transactionalID)
	if !ok || h.d.Brokers == nil {
		return fill(kerr.CoordinatorNotAvailable.Code)
	}
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	resp, err := h.d.Brokers.Request(ctx, leader, verifyRequest(transactionalID, pid, epoch, tps, add))
	if err != nil {
		return fill(kerr.NetworkException.Code)
	}
	return verifyCodes(resp.(*kmsg.AddPartitionsToTxnResponse), tps, fill)
}

// txnCoordinatorID is the leader of the id's __transaction_state
// partition.
func (h *Handlers) txnCoordinatorID(transactionalID string) (int32, bool) {
	t, ok := h.d.Image().Topic(TransactionTopic)
	if !ok || len(t.Partitions) == 0 {
		return -1, false
	}
	leader := t.Partitions[txn.PartitionFor(transactionalID, int32(len(t.Partitions)))].Leader
	return leader, leader >= 0
}

// verifyRequest is the broker's AddPartitionsToTxn v4 for tps:
// VerifyOnly unless add.
func verifyRequest(transactionalID string, pid int64, epoch int16, tps []topicPartitionKey, add bool) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(4)
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = transactionalID, pid, epoch, !add
	at := map[string]int{}
	for _, k := range tps {
		i, ok := at[k.topic]
		if !ok {
			i = len(t.Topics)
			at[k.topic] = i
			tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			tt.Topic = k.topic
			t.Topics = append(t.Topics, tt)
		}
		t.Topics[i].Partitions = append(t.Topics[i].Partitions, k.p)
	}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{t}
	return req
}

// verifyCodes reads the coordinator's answer for tps.
func verifyCodes(resp *kmsg.AddPartitionsToTxnResponse, tps []topicPartitionKey, fill func(int16) []int16) []int16 {
	if resp.ErrorCode != 0 {
		return fill(resp.ErrorCode)
	}
	got := map[topicPartitionKey]int16{}
	for _, t := range resp.Transactions {
		for _, tt := range t.Topics {
			for _, p := range tt.Partitions {
				got[topicPartitionKey{tt.Topic, p.Partition}] = p.ErrorCode
			}
		}
	}
	codes := fill(kerr.UnknownServerError.Code)
	for i, k := range tps {
		if code, ok := got[k]; ok {
			codes[i] = code
		}
	}
	return codes
}

// verifyCode maps the coordinator's answer to the partition's produce
// error, as Kafka's partition leaders do.
func verifyCode(code int16, produceVersion int16) int16 {
	switch code {
	case 0, kerr.UnsupportedVersion.Code: // a coordinator that cannot verify: the check is skipped
		return 0
	case kerr.ProducerFenced.Code:
		return kerr.InvalidProducerEpoch.Code
	case kerr.TransactionAbortable.Code:
		if produceVersion >= 11 {
			return code
		}
		return kerr.InvalidTxnState.Code
	case kerr.ClusterAuthorizationFailed.Code:
		return kerr.InvalidTxnState.Code
	case kerr.ConcurrentTransactions.Code:
		if produceVersion >= addPartitionVersion {
			return code // common while the previous transaction completes; TV2 clients retry it
		}
		return kerr.NotEnoughReplicas.Code
	case kerr.NetworkException.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code,
		kerr.NotCoordinator.Code, kerr.RequestTimedOut.Code, kerr.UnknownServerError.Code:
		return kerr.NotEnoughReplicas.Code // retriable; old clients retry it without a metadata refresh
	}
	return code
}
