package txn

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const coordEpoch = 7

// harness drives a Coordinator like the shell would: it hands out request
// ids and producer ids, keeps the durable log, writes markers, and checks
// every request is answered once.
type harness struct {
	t       *testing.T
	cfg     Config
	c       *Coordinator
	now     time.Time
	nextID  RequestID
	nextPID int64
	pidErr  error // returned by NewProducerID when set
	replies map[RequestID]kmsg.Response
	asked   map[RequestID]bool
	log     []Record        // durable records, in order
	held    []*Append       // appends not yet completed (manualAppends)
	markers []MarkerRequest // markers not yet written (manualMarkers)
	sent    []MarkerRequest // every marker request, in order
	// manualAppends / manualMarkers: when false, appends complete and
	// markers are written at once.
	manualAppends bool
	manualMarkers bool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, func(*Config) {})
}

// newHarnessWith builds a harness whose Config is DefaultConfig changed
// by edit (NewProducerID is the harness's).
func newHarnessWith(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, now: t0, nextPID: 1000, replies: map[RequestID]kmsg.Response{}, asked: map[RequestID]bool{}}
	h.cfg = DefaultConfig()
	h.cfg.NewProducerID = func() (int64, error) {
		if h.pidErr != nil {
			return -1, h.pidErr
		}
		h.nextPID++
		return h.nextPID, nil
	}
	edit(&h.cfg)
	h.c = New(h.cfg, coordEpoch)
	h.apply(h.c.Loaded(h.now))
	return h
}

func (h *harness) id() RequestID {
	h.nextID++
	h.asked[h.nextID] = true
	return h.nextID
}

// apply records replies, completes appends and writes markers (unless
// manual).
func (h *harness) apply(eff Effects) {
	h.t.Helper()
	for _, r := range eff.Replies {
		if !h.asked[r.ID] {
			h.t.Fatalf("reply for unknown request %d", r.ID)
		}
		if _, dup := h.replies[r.ID]; dup {
			h.t.Fatalf("request %d answered twice", r.ID)
		}
		h.replies[r.ID] = r.Response
	}
	h.sent = append(h.sent, eff.Markers...)
	if eff.Append != nil {
		if h.manualAppends {
			h.held = append(h.held, eff.Append)
		} else {
			h.log = append(h.log, eff.Append.Records...)
			h.apply(h.c.Appended(h.now, eff.Append.ID))
		}
	}
	if h.manualMarkers {
		h.markers = append(h.markers, eff.Markers...)
		return
	}
	for _, m := range eff.Markers {
		h.writeMarker(m, 0)
	}
}

// completeHeld completes the held appends in order; err nil means durable.
func (h *harness) completeHeld(err error) {
	h.t.Helper()
	held := h.held
	h.held = nil
	for _, a := range held {
		if err == nil {
			h.log = append(h.log, a.Records...)
			h.apply(h.c.Appended(h.now, a.ID))
		} else {
			h.apply(h.c.AppendFailed(h.now, a.ID, err))
		}
	}
}

// writeHeldMarkers reports every held marker partition with code.
func (h *harness) writeHeldMarkers(code int16) {
	h.t.Helper()
	ms := h.markers
	h.markers = nil
	for _, m := range ms {
		h.writeMarker(m, code)
	}
}

func (h *harness) writeMarker(m MarkerRequest, code int16) {
	h.t.Helper()
	for _, tp := range m.Partitions {
		h.apply(h.c.MarkerDone(h.now, m.TransactionalID, m.ProducerID, m.ProducerEpoch, tp, code))
	}
}

func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.now = h.now.Add(d)
	h.apply(h.c.Tick(h.now))
}

// reload replaces the coordinator by one loaded from the durable log, as
// a new leader would, and applies Loaded's effects.
func (h *harness) reload() {
	h.t.Helper()
	for _, r := range h.c.Unload() {
		h.apply(Effects{Replies: []Reply{r}})
	}
	h.held, h.markers = nil, nil
	h.c = New(h.cfg, coordEpoch+1)
	for _, r := range h.log {
		if err := h.c.Load(h.now, r.Key, r.Value); err != nil {
			h.t.Fatalf("load: %v", err)
		}
	}
	h.apply(h.c.Loaded(h.now))
}

func (h *harness) answered(id RequestID) bool {
	_, ok := h.replies[id]
	return ok
}

func reply[T kmsg.Response](h *harness, id RequestID) T {
	h.t.Helper()
	r, ok := h.replies[id]
	if !ok {
		h.t.Fatalf("request %d not answered", id)
	}
	return r.(T)
}

func str(s string) *string { return &s }

// initReq sends InitProducerId; pid/epoch -1 for none.
func (h *harness) initReq(txnID string, version int16, timeoutMs int32, pid int64, epoch int16) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis = version, str(txnID), timeoutMs
	req.ProducerID, req.ProducerEpoch = pid, epoch
	id := h.id()
	h.apply(h.c.InitProducerID(h.now, id, req))
	return id
}

// init runs a v5 InitProducerId (60s timeout) and returns the answer.
func (h *harness) init(txnID string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	h.t.Helper()
	return reply[*kmsg.InitProducerIDResponse](h, h.initReq(txnID, 5, 60000, pid, epoch))
}

// initOK runs a fresh v5 InitProducerId that must succeed.
func (h *harness) initOK(txnID string) (int64, int16) {
	h.t.Helper()
	r := h.init(txnID, -1, -1)
	if r.ErrorCode != 0 {
		h.t.Fatalf("init %s: error %d", txnID, r.ErrorCode)
	}
	return r.ProducerID, r.ProducerEpoch
}

func tp(topic string, p int32) TopicPartition { return TopicPartition{topic, p} }

// addReq sends a client AddPartitionsToTxn (v0-v3 form).
func (h *harness) addReq(txnID string, pid int64, epoch int16, version int16, tps ...TopicPartition) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = version, txnID, pid, epoch
	for _, x := range tps {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = x.Topic, []int32{x.Partition}
		req.Topics = append(req.Topics, rt)
	}
	id := h.id()
	h.apply(h.c.AddPartitionsToTxn(h.now, id, req))
	return id
}

// add sends a v3 AddPartitionsToTxn and returns its (single) code.
func (h *harness) add(txnID string, pid int64, epoch int16, tps ...TopicPartition) int16 {
	h.t.Helper()
	return addCode(h, h.addReq(txnID, pid, epoch, 3, tps...))
}

// addCode returns the code of a v0-v3 answer, checking every partition
// got the same one.
func addCode(h *harness, id RequestID) int16 {
	h.t.Helper()
	r := reply[*kmsg.AddPartitionsToTxnResponse](h, id)
	code := int16(-100)
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if code != -100 && p.ErrorCode != code {
				h.t.Fatalf("mixed codes in %+v", r.Topics)
			}
			code = p.ErrorCode
		}
	}
	return code
}

// brokerTxn is one transaction of a v4+ AddPartitionsToTxn.
type brokerTxn struct {
	id     string
	pid    int64
	epoch  int16
	verify bool
	tps    []TopicPartition
}

// addBroker sends the brokers' v5 form and returns its answer.
func (h *harness) addBroker(txns ...brokerTxn) *kmsg.AddPartitionsToTxnResponse {
	h.t.Helper()
	return reply[*kmsg.AddPartitionsToTxnResponse](h, h.addBrokerReq(txns...))
}

// addBrokerReq sends the brokers' v5 form.
func (h *harness) addBrokerReq(txns ...brokerTxn) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	for _, x := range txns {
		rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
		rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = x.id, x.pid, x.epoch, x.verify
		for _, p := range x.tps {
			tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			tt.Topic, tt.Partitions = p.Topic, []int32{p.Partition}
			rt.Topics = append(rt.Topics, tt)
		}
		req.Transactions = append(req.Transactions, rt)
	}
	id := h.id()
	h.apply(h.c.AddPartitionsToTxn(h.now, id, req))
	return id
}

// brokerCodes flattens one transaction's result to codes in order.
func brokerCodes(r kmsg.AddPartitionsToTxnResponseTransaction) []int16 {
	var codes []int16
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

func (h *harness) addOffsetsReq(txnID string, pid int64, epoch int16, version int16, group string) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = version, txnID, pid, epoch, group
	id := h.id()
	h.apply(h.c.AddOffsetsToTxn(h.now, id, req))
	return id
}

func (h *harness) endReq(txnID string, pid int64, epoch int16, commit bool, version int16) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = version, txnID, pid, epoch, commit
	id := h.id()
	h.apply(h.c.EndTxn(h.now, id, req))
	return id
}

// end sends EndTxn and returns its answer.
func (h *harness) end(txnID string, pid int64, epoch int16, commit bool, version int16) *kmsg.EndTxnResponse {
	h.t.Helper()
	return reply[*kmsg.EndTxnResponse](h, h.endReq(txnID, pid, epoch, commit, version))
}

func (h *harness) describe(ids ...string) []kmsg.DescribeTransactionsResponseTransactionState {
	h.t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = ids
	id := h.id()
	h.apply(h.c.DescribeTransactions(h.now, id, req))
	return reply[*kmsg.DescribeTransactionsResponse](h, id).TransactionStates
}

// state is the described state of txnID ("" with its error when unknown).
func (h *harness) state(txnID string) string {
	h.t.Helper()
	return h.describe(txnID)[0].State
}

// lastValue decodes the last durable record of txnID (nil: tombstone or
// none).
func (h *harness) lastValue(txnID string) *kmsg.TxnMetadataValue {
	h.t.Helper()
	var v *kmsg.TxnMetadataValue
	for _, r := range h.log {
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			h.t.Fatalf("bad key %x: %v", r.Key, err)
		}
		if k.TransactionalID != txnID {
			continue
		}
		v = nil
		if r.Value != nil {
			v = new(kmsg.TxnMetadataValue)
			if err := v.ReadFrom(r.Value); err != nil {
				h.t.Fatalf("bad value %x: %v", r.Value, err)
			}
		}
	}
	return v
}

// ongoing builds an Ongoing transaction of txnID over tps (v3 adds) and
// returns its producer id and epoch.
func (h *harness) ongoing(txnID string, tps ...TopicPartition) (int64, int16) {
	h.t.Helper()
	pid, epoch := h.initOK(txnID)
	if code := h.add(txnID, pid, epoch, tps...); code != 0 {
		h.t.Fatalf("add: %d", code)
	}
	return pid, epoch
}
