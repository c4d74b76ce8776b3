package group

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnSpec describes one TxnOffsetCommit.
type txnSpec struct {
	group, member string
	gen           int32
	pid           int64
	epoch         int16
	topic         string
	offsets       map[int32]int64
	metadata      string
}

func (h *harness) txnCommit(s txnSpec) RequestID {
	h.t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group = 3, "tx", s.group
	req.ProducerID, req.ProducerEpoch, req.MemberID, req.Generation = s.pid, s.epoch, s.member, s.gen
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = orString(s.topic, "t")
	for p := int32(0); p < 64; p++ {
		if o, ok := s.offsets[p]; ok {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			meta := s.metadata
			if meta == "" {
				meta = fmt.Sprintf("x%d", o)
			}
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, o, 3, &meta
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	req.Topics = append(req.Topics, rt)
	id := h.id()
	eff, err := h.c.Handle(h.now, id, Client{}, req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.apply(eff)
	return id
}

// simpleTxn commits offsets of "t" for group "g" as producer pid without
// group membership.
func (h *harness) simpleTxn(pid int64, offsets map[int32]int64) RequestID {
	h.t.Helper()
	return h.txnCommit(txnSpec{group: "g", gen: -1, pid: pid, epoch: 1, offsets: offsets})
}

func txnCodes(r *kmsg.TxnOffsetCommitResponse) []int16 {
	var codes []int16
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

// marker writes the marker of pid's transaction.
func (h *harness) marker(pid int64, commit bool) RequestID {
	h.t.Helper()
	id := h.id()
	h.apply(h.c.CompleteTxn(h.now, id, record.Marker{ProducerID: pid, ProducerEpoch: 1, Commit: commit, CoordinatorEpoch: 4}))
	return id
}

// markerCode returns the code CompleteTxn id was answered with.
func (h *harness) markerCode(id RequestID) int16 {
	h.t.Helper()
	code, ok := h.codes[id]
	if !ok {
		h.t.Fatalf("marker %d not answered", id)
	}
	return code
}

// offsetOf fetches g's committed offset of t-p (-1 none) and whether a
// stable fetch calls it unstable.
func (h *harness) offsetOf(p int32) (int64, bool) {
	h.t.Helper()
	plain := h.fetchOne("g", "t", p, false)
	stable := h.fetchOne("g", "t", p, true)
	return plain.Offset, stable.ErrorCode == kerr.UnstableOffsetCommit.Code
}

func (h *harness) wantOffset(p int32, offset int64, unstable bool) {
	h.t.Helper()
	if got, u := h.offsetOf(p); got != offset || u != unstable {
		h.t.Fatalf("t-%d: offset %d unstable %v, want %d unstable %v", p, got, u, offset, unstable)
	}
}

func TestTxnOffsetsPendingUntilCommitMarker(t *testing.T) {
	h := newHarness(t)
	h.manual = true
	c := h.simpleTxn(7, map[int32]int64{0: 10, 1: 11})
	if h.answered(c) || len(h.held) != 1 {
		t.Fatal("TxnOffsetCommit must wait for its batch")
	}
	a := h.held[0]
	if a.Producer == nil || *a.Producer != (Producer{ID: 7, Epoch: 1}) || a.Marker != nil || len(a.Records) != 2 {
		t.Fatalf("batch %+v, want 2 records of producer 7 epoch 1", a)
	}
	h.wantOffset(0, -1, true) // being written
	h.completeHeld(nil)
	if codes := txnCodes(reply[*kmsg.TxnOffsetCommitResponse](h, c)); !reflect.DeepEqual(codes, []int16{0, 0}) {
		t.Fatalf("codes %v", codes)
	}
	h.wantOffset(0, -1, true) // durable, awaiting the marker
	m := h.marker(7, true)
	if len(h.held) != 1 || h.held[0].Marker == nil || len(h.held[0].Records) != 0 || !h.held[0].Marker.Commit {
		t.Fatalf("marker append %+v", h.held)
	}
	if h.answered(m) {
		t.Fatal("marker answered before it is durable")
	}
	h.wantOffset(0, -1, true)
	h.completeHeld(nil)
	if code := h.markerCode(m); code != 0 {
		t.Fatalf("marker code %d", code)
	}
	h.wantOffset(0, 10, false)
	h.wantOffset(1, 11, false)
	if p := h.fetchOne("g", "t", 1, true); *p.Metadata != "x11" || p.LeaderEpoch != 3 {
		t.Fatalf("committed %+v", p)
	}
}

func TestTxnAbortDropsOffsets(t *testing.T) {
	h := newHarness(t)
	h.commit("g", "", -1, "t", map[int32]int64{0: 5})
	h.simpleTxn(7, map[int32]int64{0: 10, 1: 11})
	h.simpleTxn(8, map[int32]int64{2: 12}) // another transaction, still open
	if code := h.markerCode(h.marker(7, false)); code != 0 {
		t.Fatalf("abort marker code %d", code)
	}
	h.wantOffset(0, 5, false)
	h.wantOffset(1, -1, false)
	h.wantOffset(2, -1, true)
	h.marker(8, true)
	h.wantOffset(2, 12, false)
}

// A transaction's offset replaces the committed one only if its record
// comes later in the log: a plain commit written between the
// transaction's record and its marker wins.
func TestTxnCommitLogOffsetRule(t *testing.T) {
	h := newHarness(t)
	h.simpleTxn(7, map[int32]int64{0: 10})
	h.commit("g", "", -1, "t", map[int32]int64{0: 20, 1: 21}) // after the transaction's record
	h.simpleTxn(7, map[int32]int64{1: 11})                    // after the plain commit
	h.marker(7, true)
	h.wantOffset(0, 20, false)
	h.wantOffset(1, 11, false)
	r := newHarness(t)
	h.replayInto(r)
	r.wantOffset(0, 20, false)
	r.wantOffset(1, 11, false)
}

// A TxnOffsetCommit written after its producer's marker belongs to the
// next transaction, even when it is issued before the marker is durable.
func TestTxnCommitAfterMarkerStaysPending(t *testing.T) {
	h := newHarness(t)
	h.simpleTxn(7, map[int32]int64{0: 10})
	h.manual = true
	m := h.marker(7, true)
	c := h.simpleTxn(7, map[int32]int64{0: 20})
	h.completeHeld(nil)
	if h.markerCode(m) != 0 || txnCodes(reply[*kmsg.TxnOffsetCommitResponse](h, c))[0] != 0 {
		t.Fatal("marker or commit failed")
	}
	h.wantOffset(0, 10, true)
	r := newHarness(t)
	h.replayInto(r)
	r.wantOffset(0, 10, true)
	h.manual = false
	h.marker(7, true)
	h.wantOffset(0, 20, false)
}

func TestTxnOffsetCommitValidation(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a")
	cases := []struct {
		name string
		spec txnSpec
		want int16
	}{
		{"unknown group with generation", txnSpec{group: "new", gen: 1, pid: 1}, kerr.IllegalGeneration.Code},
		{"unknown group, simple", txnSpec{group: "new", gen: -1, pid: 1}, 0},
		{"member", txnSpec{group: "g", member: ids["a"], gen: gen, pid: 1}, 0},
		{"stale generation", txnSpec{group: "g", member: ids["a"], gen: gen - 1, pid: 1}, kerr.IllegalGeneration.Code},
		{"unknown member", txnSpec{group: "g", member: "nobody", gen: gen, pid: 1}, kerr.UnknownMemberID.Code},
		{"no member in a stable group", txnSpec{group: "g", gen: -1, pid: 1}, 0},
		{"no producer id", txnSpec{group: "g", gen: -1, pid: -1}, kerr.InvalidProducerIDMapping.Code},
	}
	for _, tc := range cases {
		tc.spec.offsets = map[int32]int64{0: 1}
		id := h.txnCommit(tc.spec)
		if code := txnCodes(reply[*kmsg.TxnOffsetCommitResponse](h, id))[0]; code != tc.want {
			t.Errorf("%s: code %d, want %d", tc.name, code, tc.want)
		}
	}
	if s := h.state("new"); s != "Empty" {
		t.Errorf("simple group created by the commit is %s", s)
	}
	big := string(make([]byte, 5000))
	id := h.txnCommit(txnSpec{group: "g", gen: -1, pid: 2, offsets: map[int32]int64{0: 1}, metadata: big})
	if code := txnCodes(reply[*kmsg.TxnOffsetCommitResponse](h, id))[0]; code != kerr.OffsetMetadataTooLarge.Code {
		t.Errorf("oversized metadata: %d", code)
	}
	// Unlike OffsetCommit, accepted during CompletingRebalance.
	j := h.join(joinSpec{group: "g", version: 3, member: ids["a"], client: "a", topics: []string{"t"}})
	jr := reply[*kmsg.JoinGroupResponse](h, j)
	if s := h.state("g"); s != "CompletingRebalance" {
		t.Fatalf("state %s", s)
	}
	id = h.txnCommit(txnSpec{group: "g", member: ids["a"], gen: jr.Generation, pid: 3, offsets: map[int32]int64{0: 1}})
	if code := txnCodes(reply[*kmsg.TxnOffsetCommitResponse](h, id))[0]; code != 0 {
		t.Errorf("commit while completing a rebalance: %d", code)
	}
}

func TestTxnOffsetCommitAppendFailure(t *testing.T) {
	h := newHarness(t)
	h.manual = true
	c := h.simpleTxn(7, map[int32]int64{0: 10})
	h.completeHeld(kerr.NotEnoughReplicas)
	if code := txnCodes(reply[*kmsg.TxnOffsetCommitResponse](h, c))[0]; code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("code %d", code)
	}
	h.wantOffset(0, -1, false)
	h.manual = false
	if code := deleteGroup(h, "g"); code != 0 {
		t.Fatalf("delete after the failed commit: %d", code)
	}
}

func TestCompleteTxnFailures(t *testing.T) {
	h := newHarness(t)
	h.simpleTxn(7, map[int32]int64{0: 10})
	h.manual = true
	for _, err := range []error{kerr.NotLeaderForPartition, fmt.Errorf("disk"), kerr.InvalidProducerEpoch} {
		m := h.marker(7, true)
		h.completeHeld(err)
		want := kerr.NotLeaderForPartition.Code
		if err == kerr.InvalidProducerEpoch {
			want = kerr.InvalidProducerEpoch.Code
		}
		if code := h.markerCode(m); code != want {
			t.Errorf("marker failing with %v: code %d, want %d", err, code, want)
		}
	}
	h.wantOffset(0, -1, true)
	m := h.marker(7, true)
	for _, r := range h.c.Unload() {
		h.apply(Effects{Replies: []Reply{r}})
	}
	if code := h.markerCode(m); code != kerr.NotLeaderForPartition.Code {
		t.Errorf("marker pending at unload: code %d", code)
	}
}

func deleteGroup(h *harness, group string) int16 {
	h.t.Helper()
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version, req.Groups = 2, []string{group}
	id := h.id()
	h.apply(h.c.DeleteGroups(h.now, id, req))
	return reply[*kmsg.DeleteGroupsResponse](h, id).Groups[0].ErrorCode
}

func TestDeleteGroupRefusedWithOpenTxn(t *testing.T) {
	h := newHarness(t)
	h.commit("g", "", -1, "t", map[int32]int64{0: 5})
	h.manual = true
	h.simpleTxn(7, map[int32]int64{1: 10})
	if code := deleteGroup(h, "g"); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete with a transactional commit being written: %d", code)
	}
	h.completeHeld(nil)
	h.manual = false
	if code := deleteGroup(h, "g"); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete with an open transaction: %d", code)
	}
	h.marker(7, false)
	if code := deleteGroup(h, "g"); code != 0 {
		t.Fatalf("delete after the abort: %d", code)
	}
}

// Pending transactional offsets never expire, and keep their group.
func TestTxnOffsetsSkipExpiry(t *testing.T) {
	h := newHarness(t)
	h.advance(0)
	h.commit("g", "", -1, "t", map[int32]int64{0: 5, 1: 6})
	h.simpleTxn(7, map[int32]int64{0: 10})
	h.simpleTxn(8, map[int32]int64{3: 30}) // only pending: no committed offset
	h.advance(h.c.cfg.OffsetsRetention + time.Hour)
	h.wantOffset(0, 5, true)
	h.wantOffset(1, -1, false) // expired
	h.marker(8, false)
	h.advance(h.c.cfg.RetentionCheckInterval)
	h.wantOffset(0, 5, true)
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("group with an open transaction removed: %s", s)
	}
	h.marker(7, false)
	h.advance(h.c.cfg.RetentionCheckInterval)
	if s := h.state("g"); s != "Dead" {
		t.Fatalf("group state %s after its transactions ended", s)
	}
}

// OffsetDelete's tombstone drops the partition's pending transactional
// offsets, live as in replay.
func TestOffsetDeleteDropsTxnOffsets(t *testing.T) {
	h := newHarness(t)
	h.simpleTxn(7, map[int32]int64{0: 10, 1: 11})
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic, rt.Partitions = "t", []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	req.Topics = append(req.Topics, rt)
	id := h.id()
	h.apply(h.c.OffsetDelete(h.now, id, req))
	if r := reply[*kmsg.OffsetDeleteResponse](h, id); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete %+v", r)
	}
	h.wantOffset(0, -1, false)
	r := newHarness(t)
	h.replayInto(r)
	if a, b := snapshot(h.c), snapshot(r.c); !reflect.DeepEqual(a, b) {
		t.Fatalf("state:\n live   %+v\n replay %+v", a, b)
	}
	h.marker(7, true)
	h.wantOffset(0, -1, false)
	h.wantOffset(1, 11, false)
}

// Replaying a log with committed, aborted and open transactions (and a
// group with members) rebuilds the same offsets and pending offsets; the
// open transaction can still be decided by the new coordinator.
func TestTxnReplay(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a")
	h.commit("g", ids["a"], gen, "t", map[int32]int64{0: 1, 1: 1, 2: 1})
	h.txnCommit(txnSpec{group: "g", member: ids["a"], gen: gen, pid: 7, epoch: 1, offsets: map[int32]int64{0: 10}})
	h.simpleTxn(8, map[int32]int64{1: 20})
	h.simpleTxn(9, map[int32]int64{2: 30})
	h.txnCommit(txnSpec{group: "other", gen: -1, pid: 9, epoch: 1, offsets: map[int32]int64{0: 31}})
	h.marker(7, true)
	h.marker(8, false)
	h.simpleTxn(7, map[int32]int64{1: 40}) // pid 7's next transaction, open
	h.marker(5, true)                      // a marker without offsets

	r := newHarness(t)
	r.now = h.now
	h.replayInto(r)
	if a, b := snapshot(h.c), snapshot(r.c); !reflect.DeepEqual(a, b) {
		t.Fatalf("state:\n live   %+v\n replay %+v", a, b)
	}
	r.wantOffset(0, 10, false)
	r.wantOffset(1, 1, true)
	r.wantOffset(2, 1, true)
	r.marker(9, true)
	r.wantOffset(2, 30, false)
	if p := r.fetchOne("other", "t", 0, true); p.Offset != 31 {
		t.Fatalf("other group's offset %d", p.Offset)
	}
	r.marker(7, false)
	r.wantOffset(1, 1, false)
	if code := deleteGroup(r, "other"); code != 0 {
		t.Fatalf("delete after every transaction ended: %d", code)
	}
}

// A control batch that is not a transaction marker, or a marker of a
// producer without offsets here, changes nothing.
func TestLoadBatchMarkerWithoutOffsets(t *testing.T) {
	h := newHarness(t)
	key := offsetKey("g", topicPartition{"t", 0})
	val := offsetValue(offset{offset: 3, leaderEpoch: -1, expireMs: -1})
	load := func(b LoadedBatch) {
		t.Helper()
		if err := h.c.LoadBatch(h.now, b); err != nil {
			t.Fatal(err)
		}
	}
	load(LoadedBatch{Records: []LoadedRecord{{Offset: 0, Key: key, Value: val}}})
	load(LoadedBatch{Marker: &record.Marker{ProducerID: 4, Commit: true}})
	load(LoadedBatch{Records: []LoadedRecord{{Offset: 2, Key: key, Value: offsetValue(offset{offset: 9, expireMs: -1})}}, Producer: &Producer{ID: 4}})
	h.wantOffset(0, 3, true)
	load(LoadedBatch{Marker: &record.Marker{ProducerID: 4, Commit: true}})
	h.wantOffset(0, 9, false)
}

// TestTxnScriptReplays drives random, seeded sequences of plain and
// transactional commits, markers, offset deletions and append
// completions (some failing), then checks that every request was
// answered once and that replaying the log rebuilds the same committed
// and pending offsets.
func TestTxnScriptReplays(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		h := newHarness(t)
		h.manual = true
		rng := rand.New(rand.NewPCG(seed, 11))
		for step := 0; step < 200; step++ {
			txnScriptStep(h, rng)
		}
		h.completeHeld(nil)
		for id := range h.asked {
			if !h.answered(id) {
				t.Fatalf("seed %d: request %d never answered", seed, id)
			}
		}
		r := newHarness(t)
		h.replayInto(r)
		if a, b := offsetSnapshot(h.c), offsetSnapshot(r.c); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d:\n live   %+v\n replay %+v", seed, a, b)
		}
	}
}

func txnScriptStep(h *harness, rng *rand.Rand) {
	pid := int64(1 + rng.IntN(3))
	tps := map[int32]int64{int32(rng.IntN(3)): rng.Int64N(1000)}
	switch rng.IntN(8) {
	case 0, 1:
		h.simpleTxn(pid, tps)
	case 2:
		h.commit("g", "", -1, "t", tps)
	case 3:
		h.marker(pid, rng.IntN(2) == 0)
	case 4:
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = "g"
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic, rt.Partitions = "t", []kmsg.OffsetDeleteRequestTopicPartition{{Partition: int32(rng.IntN(3))}}
		req.Topics = append(req.Topics, rt)
		h.apply(h.c.OffsetDelete(h.now, h.id(), req))
	case 5, 6:
		h.completeHeld(nil)
	case 7:
		h.failFirstHeld(kerr.NotEnoughReplicas)
	}
}

// failFirstHeld fails the oldest held append (an append refused up
// front: the later ones may still succeed).
func (h *harness) failFirstHeld(err error) {
	h.t.Helper()
	if len(h.held) == 0 {
		return
	}
	a := h.held[0]
	h.held = h.held[1:]
	h.apply(h.c.AppendFailed(h.now, a.ID, err))
}

// offsetSnapshot is every group's committed and pending transactional
// offsets.
func offsetSnapshot(c *Coordinator) map[string][2]any {
	snap := map[string][2]any{}
	for id, g := range c.groups {
		if len(g.offsets) > 0 || len(g.txnOffsets) > 0 {
			snap[id] = [2]any{g.offsets, g.txnOffsets}
		}
	}
	return snap
}
