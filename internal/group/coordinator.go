package group

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequestID is the shell's opaque handle for one request; the coordinator
// only echoes it in the Reply that answers the request.
type RequestID uint64

// BatchID names one Append returned by the coordinator.
type BatchID uint64

// Client identifies the connection a JoinGroup came from: the request
// header's client.id and the peer's host (Kafka shows "/10.0.0.1").
type Client struct {
	ID   string
	Host string
}

// Reply answers the request with ID. Response has the request's version.
// A CompleteTxn is answered with a nil Response and Code: 0 once its
// marker is durable, otherwise the Kafka error code for the transaction
// coordinator (see CompleteTxn).
type Reply struct {
	ID       RequestID
	Response kmsg.Response
	Code     int16
}

// Record is one __consumer_offsets record in Kafka's key/value format. A nil
// Value is a tombstone.
type Record struct {
	Key   []byte
	Value []byte
}

// Append is a batch to append to the coordinator's partition: records,
// or a transaction marker.
type Append struct {
	ID      BatchID
	Records []Record
	// Producer, when set, makes the batch transactional: the shell writes
	// it with this producer id and epoch and base sequence -1 (a
	// TxnOffsetCommit's offsets).
	Producer *Producer
	// Marker, when set, makes the Append a control batch holding this
	// transaction marker; Records and Producer are then empty (CompleteTxn).
	Marker *record.Marker
}

// Producer is the transactional producer a batch is written for.
type Producer struct {
	ID    int64
	Epoch int16
}

// Effects is what one call produced: replies to send now and, optionally,
// records to append (see the package doc for the contract).
type Effects struct {
	Replies []Reply
	Append  *Append
}

// Config holds the broker's group settings (Kafka names in comments).
type Config struct {
	InitialRebalanceDelay  time.Duration // group.initial.rebalance.delay.ms (3s)
	MinSessionTimeout      time.Duration // group.min.session.timeout.ms (6s)
	MaxSessionTimeout      time.Duration // group.max.session.timeout.ms (30m)
	MaxSize                int           // group.max.size (unlimited)
	OffsetsRetention       time.Duration // offsets.retention.minutes (7d)
	RetentionCheckInterval time.Duration // offsets.retention.check.interval.ms (10m)
	MaxMetadataSize        int           // offset.metadata.max.bytes (4096)
	// NewMemberJoinTimeout bounds how long a new member's JoinGroup may
	// wait in a rebalance (Kafka's fixed 5 minutes).
	NewMemberJoinTimeout time.Duration
	// UUID returns the random suffix of new member ids (client.id + "-" +
	// UUID). Default: a random UUID from crypto/rand. Tests inject a
	// deterministic one.
	UUID func() string
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		InitialRebalanceDelay:  3 * time.Second,
		MinSessionTimeout:      6 * time.Second,
		MaxSessionTimeout:      30 * time.Minute,
		MaxSize:                math.MaxInt32,
		OffsetsRetention:       7 * 24 * time.Hour,
		RetentionCheckInterval: 10 * time.Minute,
		MaxMetadataSize:        4096,
		NewMemberJoinTimeout:   5 * time.Minute,
		UUID:                   randomUUID,
	}
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Coordinator is the state of the groups of one __consumer_offsets
// partition. Not safe for concurrent use.
type Coordinator struct {
	cfg           Config
	now           time.Time // time of the call being processed
	groups        map[string]*group
	pending       map[BatchID][]doneFunc
	nextBatch     BatchID
	lastRetention time.Time
	// txnGroups lists, per producer id, the groups that may hold its
	// pending transactional offsets (a superset: entries are removed at
	// the producer's markers only).
	txnGroups map[int64]map[string]bool
}

// doneFunc runs when the batch that carried a record completes; code is
// the append's Kafka error code (0 on success, when o.base is the log
// offset of the batch's first record).
type doneFunc func(o *out, code int16)

// out collects the effects of one call.
type out struct {
	batch    BatchID // id the records of this call will carry
	replies  []Reply
	records  []Record
	producer *Producer      // the records' transactional producer, if any
	marker   *record.Marker // a marker to write instead of records
	done     []doneFunc
	// base is, in a call reporting a batch durable, the log offset of
	// that batch's first record; -1 otherwise.
	base int64
}

func (o *out) reply(id RequestID, r kmsg.Response) {
	o.replies = append(o.replies, Reply{ID: id, Response: r})
}

func (o *out) record(key, value []byte) {
	o.records = append(o.records, Record{Key: key, Value: value})
}

// New returns an empty Coordinator; zero Config fields take Kafka's
// defaults.
func New(cfg Config) *Coordinator {
	cfg = withDefaults(cfg)
	return &Coordinator{cfg: cfg, groups: map[string]*group{}, pending: map[BatchID][]doneFunc{}, nextBatch: 1,
		txnGroups: map[int64]map[string]bool{}}
}

func withDefaults(cfg Config) Config {
	d := DefaultConfig()
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = d.MinSessionTimeout
	}
	if cfg.MaxSessionTimeout == 0 {
		cfg.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = d.MaxSize
	}
	if cfg.OffsetsRetention == 0 {
		cfg.OffsetsRetention = d.OffsetsRetention
	}
	if cfg.RetentionCheckInterval == 0 {
		cfg.RetentionCheckInterval = d.RetentionCheckInterval
	}
	if cfg.MaxMetadataSize == 0 {
		cfg.MaxMetadataSize = d.MaxMetadataSize
	}
	if cfg.NewMemberJoinTimeout == 0 {
		cfg.NewMemberJoinTimeout = d.NewMemberJoinTimeout
	}
	if cfg.UUID == nil {
		cfg.UUID = d.UUID
	}
	return cfg
}

// begin starts a call at now.
func (c *Coordinator) begin(now time.Time) *out {
	c.now = now
	return &out{batch: c.nextBatch, base: -1}
}

// writes reports whether o has a batch to append.
func (o *out) writes() bool { return len(o.records) > 0 || o.marker != nil }

// finish turns o into Effects, parking o's callbacks until its batch
// completes. Callbacks without a batch to wait for run at once.
func (c *Coordinator) finish(o *out) Effects {
	for !o.writes() && len(o.done) > 0 {
		fns := o.done
		o.done, o.base = nil, -1
		for _, f := range fns {
			f(o, 0)
		}
	}
	if o.marker != nil && len(o.records) > 0 {
		panic("group: a transaction marker and records in one batch")
	}
	eff := Effects{Replies: o.replies}
	if o.writes() {
		c.pending[o.batch] = o.done
		c.nextBatch++
		eff.Append = &Append{ID: o.batch, Records: o.records, Producer: o.producer, Marker: o.marker}
	}
	return eff
}

// Appended reports that batch id is durable (the high watermark passed
// it); baseOffset is the log offset of its first record (of its marker,
// for a control batch).
func (c *Coordinator) Appended(now time.Time, id BatchID, baseOffset int64) Effects {
	return c.complete(now, id, 0, baseOffset)
}

// AppendFailed reports that batch id could not be appended or replicated.
// err is the partition's error; *kerr.Error values are mapped as Kafka does
// (NOT_LEADER_OR_FOLLOWER → NOT_COORDINATOR, NOT_ENOUGH_REPLICAS →
// COORDINATOR_NOT_AVAILABLE, ...); other errors count as
// COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) AppendFailed(now time.Time, id BatchID, err error) Effects {
	code := kerr.CoordinatorNotAvailable.Code
	var ke *kerr.Error
	if errors.As(err, &ke) && ke.Code != 0 {
		code = ke.Code
	}
	return c.complete(now, id, code, -1)
}

func (c *Coordinator) complete(now time.Time, id BatchID, code int16, base int64) Effects {
	o := c.begin(now)
	o.base = base
	fns, ok := c.pending[id]
	if !ok {
		return Effects{}
	}
	delete(c.pending, id)
	for _, f := range fns {
		f(o, code)
	}
	return c.finish(o)
}

// Unload answers every waiting request with NOT_COORDINATOR (or the error
// its pending batch maps to) and empties the coordinator. Call it when the
// partition's leadership is lost.
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
	for _, g := range c.sortedGroups() {
		for _, m := range g.memberList() {
			c.answerMember(o, g, m, kerr.NotCoordinator.Code)
		}
	}
	c.groups = map[string]*group{}
	c.pending = map[BatchID][]doneFunc{}
	c.txnGroups = map[int64]map[string]bool{}
	return o.replies
}

// Handle dispatches req to the method for its type. It returns an error
// only for request types the coordinator does not serve.
func (c *Coordinator) Handle(now time.Time, id RequestID, client Client, req kmsg.Request) (Effects, error) {
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		return c.JoinGroup(now, id, client, r), nil
	case *kmsg.SyncGroupRequest:
		return c.SyncGroup(now, id, r), nil
	case *kmsg.HeartbeatRequest:
		return c.Heartbeat(now, id, r), nil
	case *kmsg.LeaveGroupRequest:
		return c.LeaveGroup(now, id, r), nil
	case *kmsg.OffsetCommitRequest:
		return c.OffsetCommit(now, id, r), nil
	case *kmsg.TxnOffsetCommitRequest:
		return c.TxnOffsetCommit(now, id, r), nil
	case *kmsg.OffsetFetchRequest:
		return c.OffsetFetch(now, id, r), nil
	case *kmsg.DescribeGroupsRequest:
		return c.DescribeGroups(now, id, r), nil
	case *kmsg.ListGroupsRequest:
		return c.ListGroups(now, id, r), nil
	case *kmsg.DeleteGroupsRequest:
		return c.DeleteGroups(now, id, r), nil
	case *kmsg.OffsetDeleteRequest:
		return c.OffsetDelete(now, id, r), nil
	}
	return Effects{}, fmt.Errorf("group: request key %d is not a group request", req.Key())
}

// sortedGroups returns the groups ordered by id, for deterministic output.
func (c *Coordinator) sortedGroups() []*group {
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *group) int { return strings.Compare(a.id, b.id) })
	return gs
}

// appendErrorCode maps an append error to the code Kafka gives a group
// request (commit selects the OffsetCommit flavour).
func appendErrorCode(code int16, commit bool) int16 {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		if commit {
			return kerr.InvalidCommitOffsetSize.Code
		}
		return kerr.UnknownServerError.Code
	}
	return code
}
