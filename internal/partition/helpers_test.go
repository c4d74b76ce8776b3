package partition

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/fakeclock"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/storage"
	"go.uber.org/goleak"
)

// Shared test scaffolding: a fake clock, a replica over a real storage log
// in t.TempDir() with recorded AlterISR proposals and a configurable
// eligibility, and helpers to produce, fetch and replicate.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var discard = slog.New(slog.DiscardHandler)

// lag is replica.lag.time.max.ms in these tests.
const lag = 10 * time.Second

// fakeClock is a manually advanced clock.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock { return fakeclock.New(time.UnixMilli(1_700_000_000_000)) }

func testConfig(minISR int) Config {
	return Config{
		MinInsyncReplicas: minISR, MaxMessageBytes: 1 << 20,
		ReplicaLagTimeMax: lag, Storage: storage.DefaultConfig(),
	}
}

// env is one replica (node id) with its log, clock and recorded proposals.
type env struct {
	t   *testing.T
	id  int32
	clk *fakeClock
	log *storage.Log
	p   *Partition

	mu         sync.Mutex
	proposals  []AlterISR
	ineligible map[int32]bool
	seq        int
}

// newEnv opens a fresh log for node id; clk may be shared between replicas.
func newEnv(t *testing.T, id int32, clk *fakeClock, cfg Config) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "t-0")
	l, err := storage.Open(dir, storage.Options{Config: cfg.Storage, Logger: discard, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	e := &env{t: t, id: id, clk: clk, log: l, ineligible: map[int32]bool{}}
	e.p = New(Options{
		Topic: "t", Index: 0, LocalID: id, Log: l, Config: cfg, Now: clk.Now, Logger: discard,
		AlterISR: e.recordAlter, Eligible: e.isEligible,
	})
	return e
}

func (e *env) recordAlter(a AlterISR) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.proposals = append(e.proposals, a)
}

func (e *env) isEligible(id int32) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.ineligible[id]
}

func (e *env) setEligible(id int32, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ineligible[id] = !ok
}

// alters returns the proposals sent so far.
func (e *env) alters() []AlterISR {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.proposals)
}

// lastAlter returns the latest proposal, failing if there is none.
func (e *env) lastAlter() AlterISR {
	e.t.Helper()
	a := e.alters()
	if len(a) == 0 {
		e.t.Fatal("no AlterISR proposal recorded")
	}
	return a[len(a)-1]
}

func (e *env) lead(leaderEpoch, partitionEpoch int32, replicas, isr []int32) {
	e.p.SetState(State{Leader: e.id, LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch, Replicas: replicas, ISR: isr})
}

func (e *env) follow(leader, leaderEpoch, partitionEpoch int32, replicas, isr []int32) {
	e.p.SetState(State{Leader: leader, LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch, Replicas: replicas, ISR: isr})
}

// batch builds a producer batch (base offset 0) of n records with distinct
// values.
func (e *env) batch(n int) []byte {
	e.t.Helper()
	e.mu.Lock()
	e.seq++
	tag := fmt.Sprintf("n%d-b%d", e.id, e.seq)
	e.mu.Unlock()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Key: []byte(tag), Value: fmt.Appendf(nil, "%s-r%d", tag, i), TimestampDelta: int64(i)}
	}
	b, err := record.BuildBatch(record.CompressionNone, e.clk.Now().UnixMilli(), recs)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// produce appends one batch of n records as leader with acks.
func (e *env) produce(n int, acks int16) AppendResult {
	e.t.Helper()
	res, err := e.p.AppendAsLeader(e.batch(n), acks)
	if err != nil {
		e.t.Fatalf("AppendAsLeader(%d records, acks=%d): %v", n, acks, err)
	}
	return res
}

// produceBatches appends n one-record batches with acks=1.
func (e *env) produceBatches(n int) {
	e.t.Helper()
	for range n {
		e.produce(1, 1)
	}
}

// followerFetch is a follower fetch in the current epoch without a
// divergence check.
func (e *env) followerFetch(id int32, offset int64) FollowerFetch {
	return FollowerFetch{
		ReplicaID: id, FetchOffset: offset, CurrentEpoch: e.p.LeaderEpoch(),
		LastFetchedEpoch: -1, MaxBytes: 1 << 20,
	}
}

// fetch serves a follower fetch, failing on error.
func (e *env) fetch(id int32, offset int64) FollowerFetchResult {
	e.t.Helper()
	res, err := e.p.ReadForFollower(e.followerFetch(id, offset))
	if err != nil {
		e.t.Fatalf("ReadForFollower(replica %d, offset %d): %v", id, offset, err)
	}
	return res
}

func (e *env) wantHW(want int64) {
	e.t.Helper()
	if got := e.p.HighWatermark(); got != want {
		e.t.Fatalf("high watermark = %d, want %d", got, want)
	}
}

func (e *env) wantLEO(want int64) {
	e.t.Helper()
	if got := e.p.LogEndOffset(); got != want {
		e.t.Fatalf("log end offset = %d, want %d", got, want)
	}
}

// wantISR checks the committed ISR and whether a change is in flight.
func (e *env) wantISR(want []int32, pending bool) {
	e.t.Helper()
	isr, p := e.p.ISRState()
	if !slices.Equal(isr, want) || p != pending {
		e.t.Fatalf("ISR = %v (pending %v), want %v (pending %v)", isr, p, want, pending)
	}
}

func (e *env) wantAlters(n int) {
	e.t.Helper()
	if got := e.alters(); len(got) != n {
		e.t.Fatalf("%d AlterISR proposals %+v, want %d", len(got), got, n)
	}
}

// logBytes returns the whole log as stored.
func logBytes(t *testing.T, l *storage.Log) []byte {
	t.Helper()
	info, err := l.Read(l.LogStartOffset(), 1<<30, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	return info.Bytes
}

// batchRange is one batch's first and last offset and leader epoch.
type batchRange struct {
	base, last int64
	epoch      int32
}

// batches lists the batches of b.
func batches(t *testing.T, b []byte) []batchRange {
	t.Helper()
	var out []batchRange
	for len(b) > 0 {
		h, err := record.Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, batchRange{h.BaseOffset, h.LastOffset(), h.PartitionLeaderEpoch})
		b = b[h.Size():]
	}
	return out
}

// replicate runs one fetch round from follower f to leader l: f asks with
// its fetch state, l answers, f applies the answer (truncating on
// divergence). It returns the leader's answer.
func replicate(t *testing.T, l, f *env) FollowerFetchResult {
	t.Helper()
	st, ok := f.p.FollowerFetchState()
	if !ok {
		t.Fatal("follower has no fetch state")
	}
	res, err := l.p.ReadForFollower(FollowerFetch{
		ReplicaID: f.id, FetchOffset: st.FetchOffset, LogStartOffset: st.LogStartOffset,
		CurrentEpoch: st.LeaderEpoch, LastFetchedEpoch: st.LastFetchedEpoch, MaxBytes: 1 << 20,
	})
	if err != nil {
		t.Fatalf("leader %d serving follower %d at %d: %v", l.id, f.id, st.FetchOffset, err)
	}
	if res.Diverging != nil {
		if _, err := f.p.TruncateOnDivergence(st.LeaderEpoch, *res.Diverging); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if err := f.p.AppendFromLeader(st.LeaderEpoch, bytesOf(t, res.Records), res.HighWatermark, res.LogStartOffset); err != nil {
		t.Fatal(err)
	}
	return res
}

// catchUp replicates until a round brings nothing new: the follower has
// the leader's log and HW.
func catchUp(t *testing.T, l, f *env) {
	t.Helper()
	for range 100 {
		res := replicate(t, l, f)
		if res.Diverging == nil && res.Records.Size == 0 &&
			f.p.HighWatermark() == res.HighWatermark && l.p.HighWatermark() == res.HighWatermark {
			return
		}
	}
	t.Fatalf("follower %d did not catch up: LEO %d HW %d, leader LEO %d HW %d", f.id,
		f.p.LogEndOffset(), f.p.HighWatermark(), l.p.LogEndOffset(), l.p.HighWatermark())
}

// waitWatchers blocks until p has at least n watchers (a WaitForHW
// goroutine has registered), without sleeping.
func waitWatchers(t *testing.T, p *Partition, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		got := len(p.watchers)
		p.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d watchers, want %d", got, n)
		}
		runtime.Gosched()
	}
}

// bytesOf reads a read's located batches.
func bytesOf(t testing.TB, r storage.Range) []byte {
	t.Helper()
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
