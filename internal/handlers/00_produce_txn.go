package handlers

// Transactional produce: partition verification (KIP-890 part 1). Before
// a transactional batch is appended to a partition where its producer has
// no open transaction, the partition's leader asks the transactional id's
// coordinator whether the partition is in the producer's transaction
// (AddPartitionsToTxn v4, VerifyOnly), so that a batch sent after its
// transaction ended, or to a partition the producer never added, is
// refused instead of opening a transaction that nothing would ever end
// (a hanging transaction holding back every read_committed consumer).
// The partition hands out a guard before the question and appends only
// with the same guard still current: a marker written in between voids
// it. The question is asked synchronously, on the connection's
// goroutine, so that the connection's later batches cannot overtake this
// one (Kafka mutes the connection meanwhile); it is asked at most once
// per partition per transaction.

import (
	"context"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/fjordlog/fjord/internal/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// verifyTimeout bounds one verification round trip.
const verifyTimeout = 5 * time.Second

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

// verifyTransactional verifies the request's transactional batches (nil
// when it has none).
func (h *Handlers) verifyTransactional(ctx context.Context, req *server.Request, r *kmsg.ProduceRequest) map[topicPartitionKey]txnCheck {
	if r.TransactionID == nil || !hasTransactionalRecords(r) {
		return nil
	}
	checks := map[topicPartitionKey]txnCheck{}
	var ask []topicPartitionKey
	var pid int64
	var epoch int16
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
				ask, pid, epoch = append(ask, k), bh.ProducerID, bh.ProducerEpoch
			}
		}
	}
	if len(ask) > 0 && h.d.Config.Bool("transaction.partition.verification.enable") {
		codes := h.askCoordinator(ctx, *r.TransactionID, pid, epoch, ask)
		for i, k := range ask {
			if code := verifyCode(codes[i], r.Version); code != 0 {
				checks[k] = txnCheck{err: kerr.ErrorForCode(code)}
			}
		}
	}
	return checks
}

// askCoordinator sends the verification to the transactional id's
// coordinator and returns its code for each partition.
func (h *Handlers) askCoordinator(ctx context.Context, transactionalID string, pid int64, epoch int16, tps []topicPartitionKey) []int16 {
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
	resp, err := h.d.Brokers.Request(ctx, leader, verifyRequest(transactionalID, pid, epoch, tps))
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

func verifyRequest(transactionalID string, pid int64, epoch int16, tps []topicPartitionKey) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(4)
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = transactionalID, pid, epoch, true
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

// verifyCode maps the coordinator's verification answer to the
// partition's produce error, as Kafka's partition leaders do.
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
	case kerr.ConcurrentTransactions.Code, kerr.NetworkException.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code, kerr.RequestTimedOut.Code, kerr.UnknownServerError.Code:
		return kerr.NotEnoughReplicas.Code // retriable; old clients retry it without a metadata refresh
	}
	return code
}
