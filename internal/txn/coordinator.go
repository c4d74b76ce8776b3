package txn

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequestID is the shell's opaque handle for one request; the coordinator
// only echoes it in the Reply that answers the request.
type RequestID uint64

// BatchID names one Append returned by the coordinator.
type BatchID uint64

// Reply answers the request with ID. Response has the request's version.
type Reply struct {
	ID       RequestID
	Response kmsg.Response
}

// Record is one __transaction_state record in Kafka's key/value format. A
// nil Value is a tombstone.
type Record struct {
	Key   []byte
	Value []byte
}

// Append is ONE batch to append to the coordinator's partition: acks=all,
// uncompressed, no producer id.
type Append struct {
	ID      BatchID
	Records []Record
}

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// MarkerRequest asks the shell to write a transaction marker to each of
// Partitions (grouped by the shell per leader into WriteTxnMarkers v1
// requests). The shell retries retriable errors itself and reports each
// partition's final outcome with MarkerDone.
type MarkerRequest struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TopicPartition
}

// Effects is what one call produced: replies to send now, optionally one
// batch to append, and markers to write (see the package doc).
type Effects struct {
	Replies []Reply
	Append  *Append
	Markers []MarkerRequest
}

// Config holds the broker's transaction settings (Kafka names in comments).
type Config struct {
	MaxTimeout              time.Duration // transaction.max.timeout.ms (15m)
	IDExpiration            time.Duration // transactional.id.expiration.ms (7d)
	AbortCheckInterval      time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms (10s)
	ExpirationCheckInterval time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms (1h)
	// OffsetsPartitions is offsets.topic.num.partitions (50), for
	// AddOffsetsToTxn's group → __consumer_offsets partition.
	OffsetsPartitions int32
	// TransactionVersion is the cluster's finalized transaction.version
	// (0..2). It selects the record value version (0: v0, else v1) and the
	// coordinator's own aborts (timeouts, fencing) bump the epoch once more
	// at 2. Zero is a valid level: New keeps it as given.
	TransactionVersion int16
	// MaxBatchBytes bounds the records of one expiry batch
	// (max.message.bytes of __transaction_state, 1048588).
	MaxBatchBytes int
	// NewProducerID returns a fresh producer id. It is the shell's (it may
	// block on the controller); called only from the shell's goroutine,
	// during a method call. An error answers the request with the error's
	// Kafka code (COORDINATOR_NOT_AVAILABLE when it is not a kerr.Error).
	// A nil NewProducerID answers COORDINATOR_NOT_AVAILABLE.
	NewProducerID func() (int64, error)
}

// DefaultConfig returns Kafka's defaults; TransactionVersion is 2, what a
// new Kafka 4.0 cluster finalizes. NewProducerID is left nil.
func DefaultConfig() Config {
	return Config{
		MaxTimeout:              15 * time.Minute,
		IDExpiration:            7 * 24 * time.Hour,
		AbortCheckInterval:      10 * time.Second,
		ExpirationCheckInterval: time.Hour,
		OffsetsPartitions:       50,
		TransactionVersion:      2,
		MaxBatchBytes:           1048588,
	}
}

// withDefaults fills zero durations, counts and sizes with Kafka's
// defaults (not TransactionVersion, where 0 is meaningful).
func withDefaults(cfg Config) Config {
	d := DefaultConfig()
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = d.MaxTimeout
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = d.IDExpiration
	}
	if cfg.AbortCheckInterval <= 0 {
		cfg.AbortCheckInterval = d.AbortCheckInterval
	}
	if cfg.ExpirationCheckInterval <= 0 {
		cfg.ExpirationCheckInterval = d.ExpirationCheckInterval
	}
	if cfg.OffsetsPartitions <= 0 {
		cfg.OffsetsPartitions = d.OffsetsPartitions
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = d.MaxBatchBytes
	}
	return cfg
}

// Coordinator is the transaction state of one __transaction_state
// partition. Not safe for concurrent use.
type Coordinator struct {
	cfg        Config
	coordEpoch int32
	now        time.Time // time of the call being processed
	txns       map[string]*txnMeta
	retries    map[string]*txnMeta // Complete records waiting to be appended again
	pending    map[BatchID][]doneFunc
	parked     map[string][]parkedAdd // adds waiting for a transition (park.go)
	nextBatch  BatchID
	timers     timers
}

// doneFunc runs when the batch that carried a record completes; code is
// the append's raw Kafka error code (0 on success).
type doneFunc func(o *out, code int16)

// out collects the effects of one call.
type out struct {
	batch   BatchID // id the records of this call will carry
	replies []Reply
	records []Record
	done    []doneFunc
	markers []MarkerRequest
	bytes   int // size of records, for MaxBatchBytes
}

func (o *out) reply(id RequestID, r kmsg.Response) {
	o.replies = append(o.replies, Reply{ID: id, Response: r})
}

// record adds one record and the callback that runs when its batch
// completes.
func (o *out) record(key, value []byte, done doneFunc) {
	o.records = append(o.records, Record{Key: key, Value: value})
	o.done = append(o.done, done)
	o.bytes += len(key) + len(value) + recordOverhead
}

// New returns an empty Coordinator for a partition led at
// coordinatorEpoch (the partition's leader epoch, carried by every
// marker). Zero Config fields take Kafka's defaults (see withDefaults).
func New(cfg Config, coordinatorEpoch int32) *Coordinator {
	return &Coordinator{cfg: withDefaults(cfg), coordEpoch: coordinatorEpoch, txns: map[string]*txnMeta{},
		retries: map[string]*txnMeta{}, pending: map[BatchID][]doneFunc{}, parked: map[string][]parkedAdd{}, nextBatch: 1}
}

// begin starts a call at now.
func (c *Coordinator) begin(now time.Time) *out {
	c.now = now
	return &out{batch: c.nextBatch}
}

func (c *Coordinator) nowMs() int64 { return c.now.UnixMilli() }

// finish turns o into Effects, parking o's callbacks until its batch
// completes.
func (c *Coordinator) finish(o *out) Effects {
	eff := Effects{Replies: o.replies, Markers: o.markers}
	if len(o.records) > 0 {
		c.pending[o.batch] = o.done
		c.nextBatch++
		eff.Append = &Append{ID: o.batch, Records: o.records}
	}
	return eff
}

// Appended reports that batch id is durable (the high watermark passed it).
func (c *Coordinator) Appended(now time.Time, id BatchID) Effects {
	return c.complete(now, id, 0)
}

// AppendFailed reports that batch id could not be appended or replicated.
// err is the partition's error; a kerr.Error is mapped as Kafka does
// (appendErrorCode); any other error counts as COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) AppendFailed(now time.Time, id BatchID, err error) Effects {
	code := kerr.CoordinatorNotAvailable.Code
	var ke *kerr.Error
	if errors.As(err, &ke) && ke.Code != 0 {
		code = ke.Code
	}
	return c.complete(now, id, code)
}

func (c *Coordinator) complete(now time.Time, id BatchID, code int16) Effects {
	o := c.begin(now)
	fns, ok := c.pending[id]
	if !ok {
		return Effects{}
	}
	delete(c.pending, id)
	for _, f := range fns {
		f(o, code)
	}
	c.unpark(o)
	return c.finish(o)
}

// Unload answers every request waiting for an append with NOT_COORDINATOR
// and empties the coordinator. Call it when the partition's leadership is
// lost; markers still being written for it should be dropped by the shell.
func (c *Coordinator) Unload() []Reply {
	o := &out{}
	ids := make([]BatchID, 0, len(c.pending))
	for id := range c.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, f := range c.pending[id] {
			f(o, kerr.NotLeaderForPartition.Code)
		}
	}
	c.unloadParked(o)
	c.txns, c.retries = map[string]*txnMeta{}, map[string]*txnMeta{}
	c.pending = map[BatchID][]doneFunc{}
	c.timers = timers{}
	return o.replies
}

// Handle dispatches req to the method for its type. It returns an error
// only for request types the coordinator does not serve. ListTransactions
// is answered with this partition's transactions only.
func (c *Coordinator) Handle(now time.Time, id RequestID, req kmsg.Request) (Effects, error) {
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		return c.InitProducerID(now, id, r), nil
	case *kmsg.AddPartitionsToTxnRequest:
		return c.AddPartitionsToTxn(now, id, r), nil
	case *kmsg.AddOffsetsToTxnRequest:
		return c.AddOffsetsToTxn(now, id, r), nil
	case *kmsg.EndTxnRequest:
		return c.EndTxn(now, id, r), nil
	case *kmsg.DescribeTransactionsRequest:
		return c.DescribeTransactions(now, id, r), nil
	case *kmsg.ListTransactionsRequest:
		return Effects{Replies: []Reply{{ID: id, Response: c.listResponse(now, r)}}}, nil
	}
	return Effects{}, fmt.Errorf("txn: request key %d is not a transaction coordinator request", req.Key())
}

// sortedTxns returns the transactions ordered by id, for deterministic
// output.
func (c *Coordinator) sortedTxns() []*txnMeta {
	ms := make([]*txnMeta, 0, len(c.txns))
	for _, m := range c.txns {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *txnMeta) int { return strings.Compare(a.id, b.id) })
	return ms
}

// appendErrorCode maps an append error to the code Kafka gives a
// transaction request (reference §2, "Append error mapping").
func appendErrorCode(code int16) int16 {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code,
		kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code:
		return kerr.UnknownServerError.Code
	}
	return code
}

// newProducerID calls the shell's allocator; the code is the Kafka error
// for the request when it fails.
func (c *Coordinator) newProducerID() (int64, int16) {
	if c.cfg.NewProducerID == nil {
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	pid, err := c.cfg.NewProducerID()
	if err == nil {
		return pid, 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && ke.Code != 0 {
		return -1, ke.Code
	}
	return -1, kerr.CoordinatorNotAvailable.Code
}
