package txn

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRandomScripts drives random, seeded sequences of producer requests
// (two producers share one transactional id, so they fence each other),
// append completions and failures, marker outcomes, ticks and reloads.
// After every step the state invariants hold; at the end every request
// has exactly one reply (the harness fails on duplicates) and a reload of
// the durable log describes every settled transaction as before.
func TestRandomScripts(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		tv := int16(seed % 3)
		h := newHarnessWith(t, func(c *Config) { c.TransactionVersion = tv })
		h.manualAppends, h.manualMarkers = true, true
		rng := rand.New(rand.NewPCG(seed, 11))
		clients := []*scriptClient{{txn: "a"}, {txn: "a"}, {txn: "b"}, {txn: "c"}}
		for step := 0; step < 400; step++ {
			cl := clients[rng.IntN(len(clients))]
			cl.learn(h)
			scriptStep(h, rng, cl)
			checkInvariants(t, seed, h.c)
		}
		settle(h)
		compareReload(t, seed, h)
		for _, r := range h.c.Unload() {
			h.apply(Effects{Replies: []Reply{r}})
		}
		for id := range h.asked {
			if !h.answered(id) {
				t.Fatalf("seed %d: request %d never answered", seed, id)
			}
		}
	}
}

type scriptClient struct {
	txn   string
	pid   int64
	epoch int16
	known bool
	asks  []RequestID // inits and v5 ends, whose answers carry pid/epoch
}

// learn picks up producer id and epoch from answered requests.
func (cl *scriptClient) learn(h *harness) {
	for len(cl.asks) > 0 && h.answered(cl.asks[0]) {
		switch r := h.replies[cl.asks[0]].(type) {
		case *kmsg.InitProducerIDResponse:
			if r.ErrorCode == 0 {
				cl.pid, cl.epoch, cl.known = r.ProducerID, r.ProducerEpoch, true
			}
		case *kmsg.EndTxnResponse:
			if r.ErrorCode == 0 {
				cl.pid, cl.epoch = r.ProducerID, r.ProducerEpoch
			}
		}
		cl.asks = cl.asks[1:]
	}
}

func scriptStep(h *harness, rng *rand.Rand, cl *scriptClient) {
	part := tp([]string{"t", "u"}[rng.IntN(2)], int32(rng.IntN(3)))
	switch rng.IntN(12) {
	case 0:
		pid, epoch := int64(-1), int16(-1)
		if cl.known && rng.IntN(2) == 0 {
			pid, epoch = cl.pid, cl.epoch
		}
		cl.asks = append(cl.asks, h.initReq(cl.txn, int16(3+rng.IntN(3)), int32(1000+rng.IntN(30000)), pid, epoch))
	case 1:
		h.addReq(cl.txn, cl.pid, cl.epoch, int16(rng.IntN(4)), part)
	case 2:
		h.addBrokerReq(brokerTxn{id: cl.txn, pid: cl.pid, epoch: cl.epoch, verify: rng.IntN(2) == 0, tps: []TopicPartition{part}})
	case 3:
		h.addOffsetsReq(cl.txn, cl.pid, cl.epoch, 3, "g")
	case 4:
		h.endReq(cl.txn, cl.pid, cl.epoch, rng.IntN(2) == 0, 3)
	case 5:
		cl.asks = append(cl.asks, h.endReq(cl.txn, cl.pid, cl.epoch, rng.IntN(2) == 0, 5))
	case 6:
		h.advance(time.Duration(rng.IntN(20000)) * time.Millisecond)
	case 7, 8:
		errs := []error{nil, nil, nil, kerr.NotEnoughReplicas, kerr.NotLeaderForPartition}
		h.completeHeld(errs[rng.IntN(len(errs))])
	case 9:
		codes := []int16{0, 0, 0, 0, 0, 0, 0, 0, 0, kerr.InvalidProducerEpoch.Code}
		h.writeHeldMarkers(codes[rng.IntN(len(codes))])
	case 10:
		h.describe("a", "b", "c")
	case 11:
		if rng.IntN(8) == 0 {
			h.reload()
		}
	}
}

// checkInvariants checks what must hold between any two calls.
func checkInvariants(t *testing.T, seed uint64, c *Coordinator) {
	t.Helper()
	for id, m := range c.txns {
		bad := ""
		switch {
		case m.epoch < noProducerEpoch:
			bad = "negative epoch"
		case m.state == stateEmpty && (len(m.partitions) > 0 || m.startMs != -1):
			bad = "Empty with partitions or a start"
		case m.state.isComplete() && len(m.partitions) > 0:
			bad = "Complete with partitions"
		case m.state == stateOngoing && m.startMs < 0:
			bad = "Ongoing without a start"
		case m.pending != nil && !canTransition(m.state, m.pending.state) &&
			!(m.state.isPrepare() && m.pending.state.isComplete()):
			bad = "invalid pending transition"
		case m.state > stateCompleteAbort:
			bad = "never-current state"
		}
		if bad != "" {
			t.Fatalf("seed %d: %s: %s: %+v", seed, id, bad, m)
		}
	}
}

// settle completes every append and marker until nothing is left.
func settle(h *harness) {
	h.t.Helper()
	for i := 0; i < 100 && (len(h.held) > 0 || len(h.markers) > 0); i++ {
		h.completeHeld(nil)
		h.writeHeldMarkers(0)
		h.advance(time.Second)
	}
}

// compareReload reloads the log and compares the descriptions of the
// transactions whose memory matches their last record: not Prepare* (a
// stopped marker phase keeps partial partitions), no failed fence (the
// bumped epoch is memory only), not a created id never written (-1).
func compareReload(t *testing.T, seed uint64, h *harness) {
	t.Helper()
	var ids []string
	for _, m := range h.c.sortedTxns() {
		if !m.state.isPrepare() && !m.failedFence && m.epoch >= 0 {
			ids = append(ids, m.id)
		}
	}
	if len(ids) == 0 {
		return
	}
	before := h.describe(ids...)
	h.reload()
	after := h.describe(ids...)
	for i := range ids {
		if !sameDescription(before[i], after[i]) {
			t.Fatalf("seed %d: %s before reload %+v\nafter %+v", seed, ids[i], before[i], after[i])
		}
	}
}
