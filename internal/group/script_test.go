package group

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEveryRequestAnsweredOnce drives random, seeded sequences of client
// actions, append completions and failures and ticks, then unloads: every
// request must have exactly one reply (the harness fails on duplicates).
func TestEveryRequestAnsweredOnce(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		h := newHarness(t)
		h.manual = true
		rng := rand.New(rand.NewPCG(seed, 7))
		clients := []*scriptClient{{name: "a"}, {name: "b"}, {name: "c"}, {name: "s", static: true}}
		for step := 0; step < 300; step++ {
			cl := clients[rng.IntN(len(clients))]
			cl.learn(h)
			scriptStep(h, rng, cl)
		}
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
	name   string
	static bool
	member string
	gen    int32
	joins  []RequestID
}

// learn picks up member id and generation from answered joins.
func (cl *scriptClient) learn(h *harness) {
	for len(cl.joins) > 0 && h.answered(cl.joins[0]) {
		r := reply[*kmsg.JoinGroupResponse](h, cl.joins[0])
		cl.joins = cl.joins[1:]
		switch r.ErrorCode {
		case 0, kerr.MemberIDRequired.Code:
			cl.member, cl.gen = r.MemberID, r.Generation
		case kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code:
			cl.member = ""
		}
	}
}

func scriptStep(h *harness, rng *rand.Rand, cl *scriptClient) {
	var instance *string
	if cl.static {
		instance = str(cl.name)
	}
	switch rng.IntN(9) {
	case 0, 1:
		cl.joins = append(cl.joins, h.join(joinSpec{group: "g", version: int16(rng.IntN(10)), member: cl.member,
			instance: instance, client: cl.name, topics: []string{"t"}}))
	case 2:
		h.sync("g", cl.member, cl.gen, map[string]string{cl.member: "x"})
	case 3:
		h.heartbeat("g", cl.member, cl.gen, instance)
	case 4:
		h.commit("g", cl.member, cl.gen, "t", map[int32]int64{int32(rng.IntN(3)): rng.Int64N(100)})
	case 5:
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version, req.Group = 5, "g"
		req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: cl.member, InstanceID: instance}}
		h.apply(h.c.LeaveGroup(h.now, h.id(), req))
	case 6:
		h.advance(time.Duration(rng.IntN(8000)) * time.Millisecond)
	case 7:
		if rng.IntN(4) == 0 {
			h.completeHeld(kerr.NotEnoughReplicas)
		} else {
			h.completeHeld(nil)
		}
	case 8:
		h.fetchAll("g", true)
	}
}

func TestHandleDispatchesAndRejects(t *testing.T) {
	h := newHarness(t)
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group = "g"
	id := h.id()
	eff, err := h.c.Handle(h.now, id, Client{}, req)
	if err != nil || len(eff.Replies) != 1 || eff.Replies[0].ID != id {
		t.Fatalf("Handle heartbeat: %+v %v", eff, err)
	}
	if _, err := h.c.Handle(h.now, h.id(), Client{}, kmsg.NewPtrProduceRequest()); err == nil {
		t.Fatal("Handle accepted a produce request")
	}
}

func TestNextDeadline(t *testing.T) {
	h := newHarness(t)
	if !h.c.NextDeadline().IsZero() {
		t.Fatal("a fresh coordinator should ask for a tick now")
	}
	h.advance(0)
	if got := h.c.NextDeadline(); !got.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("idle deadline %v", got)
	}
	h.join(joinSpec{group: "g", version: 3, client: "a"})
	if got := h.c.NextDeadline(); !got.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("deadline %v, want the end of the initial delay", got)
	}
}

func TestCommitDuringRebalance(t *testing.T) {
	h := newHarness(t)
	ids, gen := stableGroup(h, "a", "b")
	h.join(joinSpec{group: "g", version: 3, member: ids["a"], client: "a"}) // PreparingRebalance
	c := h.commit("g", ids["b"], gen, "t", map[int32]int64{0: 1})
	if code := commitCodes(reply[*kmsg.OffsetCommitResponse](h, c))[0]; code != 0 {
		t.Fatalf("commit while preparing: %d", code)
	}
	j := h.join(joinSpec{group: "g", version: 3, member: ids["b"], client: "b"}) // CompletingRebalance
	c = h.commit("g", ids["b"], reply[*kmsg.JoinGroupResponse](h, j).Generation, "t", map[int32]int64{0: 2})
	if code := commitCodes(reply[*kmsg.OffsetCommitResponse](h, c))[0]; code != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit while completing: %d", code)
	}
}
