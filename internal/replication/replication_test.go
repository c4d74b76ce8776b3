package replication

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	tp0     = TopicPartition{Topic: "t", Partition: 0}
	discard = slog.New(slog.DiscardHandler)
)

const (
	testBackoff = 50 * time.Millisecond
	testMaxWait = 100 * time.Millisecond
)

// openLog opens a log in a fresh directory, closed at the end of the test
// (after the manager, which is registered later).
func openLog(t *testing.T) *storage.Log {
	t.Helper()
	l, err := storage.Open(filepath.Join(t.TempDir(), "t-0"), storage.Options{Config: storage.DefaultConfig(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// replica wraps l as node id's replica of tp0.
func replica(id int32, l *storage.Log) *partition.Partition {
	return partition.New(partition.Options{
		Topic: tp0.Topic, Index: tp0.Partition, LocalID: id, Log: l, Logger: discard,
		Config: partition.Config{
			MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20,
			ReplicaLagTimeMax: time.Minute, Storage: storage.DefaultConfig(),
		},
	})
}

// leaderReplica makes a leader replica (node id, epoch) over l.
func leaderReplica(id, epoch int32, l *storage.Log) *partition.Partition {
	p := replica(id, l)
	p.SetState(partition.State{Leader: id, LeaderEpoch: epoch, Replicas: []int32{1, id}, ISR: []int32{1, id}})
	return p
}

// followerReplica makes node 1's replica over l, following leader in epoch.
func followerReplica(leader, epoch int32, l *storage.Log) *partition.Partition {
	p := replica(1, l)
	p.SetState(partition.State{Leader: leader, LeaderEpoch: epoch, Replicas: []int32{1, leader}, ISR: []int32{1, leader}})
	return p
}

// batch builds a batch of n records at base offset and epoch; tag makes
// the contents distinct.
func batch(t *testing.T, base int64, epoch int32, n int, tag string) []byte {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i].Value = fmt.Appendf(nil, "%s-%d", tag, base+int64(i))
	}
	b, err := record.BuildBatch(record.CompressionNone, 1700000000000, recs)
	if err != nil {
		t.Fatal(err)
	}
	record.SetBaseOffset(b, base)
	record.SetPartitionLeaderEpoch(b, epoch)
	return b
}

// appendRaw appends batches to a log as fetched (offsets and epochs kept).
func appendRaw(t *testing.T, l *storage.Log, batches ...[]byte) {
	t.Helper()
	for _, b := range batches {
		if _, err := l.AppendAsFollower(bytes.Clone(b)); err != nil {
			t.Fatal(err)
		}
	}
}

// produce appends n batches of 3 records to a leader replica.
func produce(t *testing.T, p *partition.Partition, n int, tag string) {
	t.Helper()
	for i := range n {
		if _, err := p.AppendAsLeader(batch(t, 0, -1, 3, fmt.Sprintf("%s%d", tag, i)), 1); err != nil {
			t.Fatal(err)
		}
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

// cluster is node 1's view: its replicas and the leaders' addresses.
type cluster struct {
	mu       sync.Mutex
	addrs    map[int32]string
	replicas map[TopicPartition]*partition.Partition
}

func newCluster(leaders ...*fakeLeader) *cluster {
	c := &cluster{addrs: map[int32]string{}, replicas: map[TopicPartition]*partition.Partition{}}
	for _, l := range leaders {
		c.addrs[l.id] = l.addr
	}
	return c
}

func (c *cluster) setAddr(id int32, addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addrs[id] = addr
}

func (c *cluster) addr(id int32) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.addrs[id]
	return a, ok
}

func (c *cluster) partition(topic string, idx int32) *partition.Partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replicas[TopicPartition{topic, idx}]
}

// manager starts node 1's Manager over c, closed at the end of the test.
func (c *cluster) manager(t *testing.T) *Manager {
	m := NewManager(Options{
		NodeID: 1, Addr: c.addr, Partition: c.partition,
		MaxWait: testMaxWait, Backoff: testBackoff, Logger: discard,
	})
	t.Cleanup(m.Close)
	return m
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitInSync waits until the follower's log is byte-identical to the
// leader's and its HW equals the leader's log end.
func waitInSync(t *testing.T, leader, follower *partition.Partition) {
	t.Helper()
	waitFor(t, "follower to catch up", func() bool {
		leo := leader.Log().LogEndOffset()
		return follower.Log().LogEndOffset() == leo && follower.HighWatermark() == leo
	})
	if !bytes.Equal(logBytes(t, leader.Log()), logBytes(t, follower.Log())) {
		t.Fatal("follower log differs from the leader's")
	}
	if fs, ls := follower.Log().LogStartOffset(), leader.Log().LogStartOffset(); fs != ls {
		t.Fatalf("follower log start %d, leader %d", fs, ls)
	}
}

// setup starts a fake leader 2 with leader replica lp of tp0 in epoch 5,
// and node 1's follower replica fp over fl, in a cluster.
func setup(t *testing.T, ll, fl *storage.Log) (*fakeLeader, *partition.Partition, *partition.Partition, *cluster) {
	leader := startLeader(t, 2)
	lp := leaderReplica(2, 5, ll)
	leader.add(tp0, lp)
	fp := followerReplica(2, 5, fl)
	c := newCluster(leader)
	c.replicas[tp0] = fp
	return leader, lp, fp, c
}

func TestCopiesLeaderLogAndHW(t *testing.T) {
	leader, lp, fp, c := setup(t, openLog(t), openLog(t))
	produce(t, lp, 3, "a")
	m := c.manager(t)
	m.Assign(tp0, 2, 5)
	waitInSync(t, lp, fp)
	if got := lp.HighWatermark(); got != lp.Log().LogEndOffset() {
		t.Fatalf("leader HW %d, want %d (follower progress not reported)", got, lp.Log().LogEndOffset())
	}

	produce(t, lp, 2, "b") // picked up by the long poll
	waitInSync(t, lp, fp)

	r := leader.last()
	p := r.Topics[0].Partitions[0]
	switch {
	case r.Version != 12, r.ReplicaID != 1, r.SessionID != 0, r.SessionEpoch != 0, r.IsolationLevel != 0: // asks for a session; the fake leader has none
		t.Errorf("fetch v%d replica %d session %d/%d isolation %d", r.Version, r.ReplicaID, r.SessionID, r.SessionEpoch, r.IsolationLevel)
	case r.MaxWaitMillis != int32(testMaxWait.Milliseconds()), r.MinBytes != 1, r.MaxBytes != DefaultMaxBytes:
		t.Errorf("fetch wait %d min %d max %d", r.MaxWaitMillis, r.MinBytes, r.MaxBytes)
	case r.Topics[0].Topic != "t", p.CurrentLeaderEpoch != 5, p.LastFetchedEpoch != 5, p.PartitionMaxBytes != DefaultPartitionMaxBytes:
		t.Errorf("fetch partition %+v", p)
	}
}

// TestDivergenceTruncates: the follower holds an uncommitted epoch-4
// suffix the leader (epoch 5) never had; it truncates it and copies the
// leader's epoch-5 batches.
func TestDivergenceTruncates(t *testing.T) {
	ll, fl := openLog(t), openLog(t)
	common := [][]byte{batch(t, 0, 3, 5, "c"), batch(t, 5, 3, 5, "c")}
	appendRaw(t, ll, common...)
	appendRaw(t, fl, common...)
	appendRaw(t, fl, batch(t, 10, 4, 3, "lost"), batch(t, 13, 4, 3, "lost"))
	_, lp, fp, c := setup(t, ll, fl)
	produce(t, lp, 3, "new")

	c.manager(t).Assign(tp0, 2, 5)
	waitInSync(t, lp, fp)
	if e, end := fp.Log().EndOffsetForEpoch(4); e == 4 {
		t.Fatalf("follower still has epoch 4 (end %d)", end)
	}
}

// TestOutOfRangeAheadTruncates: an older leader (no divergence check)
// answers OFFSET_OUT_OF_RANGE to a follower ahead of its log end; the
// follower asks ListOffsets and truncates to the leader's end.
func TestOutOfRangeAheadTruncates(t *testing.T) {
	ll, fl := openLog(t), openLog(t)
	common := batch(t, 0, 5, 10, "c")
	appendRaw(t, ll, common)
	appendRaw(t, fl, common, batch(t, 10, 5, 5, "extra"))
	leader, lp, fp, c := setup(t, ll, fl)
	leader.noDivergence = true

	c.manager(t).Assign(tp0, 2, 5)
	waitInSync(t, lp, fp)
	if leader.listCount() == 0 {
		t.Fatal("follower did not ask the leader's offsets")
	}
	produce(t, lp, 2, "more")
	waitInSync(t, lp, fp)
}

// TestBehindLogStartResets: the leader's log starts at 100; an empty
// follower restarts its log there and copies the rest.
func TestBehindLogStartResets(t *testing.T) {
	ll := openLog(t)
	if err := ll.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	_, lp, fp, c := setup(t, ll, openLog(t))
	produce(t, lp, 3, "a")

	c.manager(t).Assign(tp0, 2, 5)
	waitInSync(t, lp, fp)
	if got := fp.Log().LogStartOffset(); got != 100 {
		t.Fatalf("follower log start %d, want 100", got)
	}
}

// aheadOfFollower gives leader 2 a replica of tp0 in epoch 6 with two
// batches, and node 1 a follower replica still in epoch 5.
func aheadOfFollower(t *testing.T, leader *fakeLeader) (lp, fp *partition.Partition, c *cluster) {
	lp = leaderReplica(2, 6, openLog(t))
	produce(t, lp, 2, "a")
	leader.add(tp0, lp)
	fp = followerReplica(2, 5, openLog(t))
	c = newCluster(leader)
	c.replicas[tp0] = fp
	return lp, fp, c
}

// TestFencedStopsUntilNewEpoch: a leader in epoch 6 fences our epoch-5
// fetch; the partition is not fetched again until assigned in a new epoch.
func TestFencedStopsUntilNewEpoch(t *testing.T) {
	leader := startLeader(t, 2)
	lp, fp, c := aheadOfFollower(t, leader)
	m := c.manager(t)

	m.Assign(tp0, 2, 5)
	waitFor(t, "a fetch", func() bool { return leader.fetchCount(tp0) > 0 })
	m.Assign(tp0, 2, 5) // same pair: no-op, stays stopped
	time.Sleep(4 * (testBackoff + testMaxWait))
	if n := leader.fetchCount(tp0); n != 1 {
		t.Fatalf("fenced partition fetched %d times, want 1", n)
	}

	fp.SetState(partition.State{Leader: 2, LeaderEpoch: 6, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	m.Assign(tp0, 2, 6)
	waitInSync(t, lp, fp)
}

// A connection the leader closed while the fetcher had nothing to fetch
// (here its idle timeout, while the partition waited for a new epoch) is
// replaced at once: the leader is not reported unreachable and the
// partition does not back off.
func TestLeaderClosedIdleConnection(t *testing.T) {
	var closed atomic.Int32
	leader := startLeaderWith(t, 2, server.Config{Logger: discard, IdleTimeout: 200 * time.Millisecond,
		OnClose: func(*server.Session) { closed.Add(1) }})
	lp, fp, c := aheadOfFollower(t, leader)
	var unreachable atomic.Int32
	m := NewManager(Options{
		NodeID: 1, Addr: c.addr, Partition: c.partition, MaxWait: testMaxWait, Backoff: time.Hour, Logger: discard,
		OnLeaderUnreachable: func(int32) { unreachable.Add(1) },
	})
	t.Cleanup(m.Close)

	m.Assign(tp0, 2, 5) // fenced: the fetcher idles with its connection open
	waitFor(t, "a fetch", func() bool { return leader.fetchCount(tp0) > 0 })
	waitFor(t, "the leader to close the idle connection", func() bool { return closed.Load() > 0 })
	fp.SetState(partition.State{Leader: 2, LeaderEpoch: 6, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	m.Assign(tp0, 2, 6)
	waitInSync(t, lp, fp) // an hour's backoff would time this out
	if n := unreachable.Load(); n != 0 {
		t.Fatalf("leader reported unreachable %d times", n)
	}
}

// TestLeaderChangeMovesPartition: a new leader (3, epoch 6) takes over;
// the partition moves to a fetcher for broker 3 and broker 2's fetcher
// stops.
func TestLeaderChangeMovesPartition(t *testing.T) {
	old, lp2, fp, c := setup(t, openLog(t), openLog(t))
	produce(t, lp2, 2, "a")
	m := c.manager(t)
	m.Assign(tp0, 2, 5)
	waitInSync(t, lp2, fp)

	l3 := openLog(t)
	appendRaw(t, l3, logBytes(t, lp2.Log()))
	lp3 := leaderReplica(3, 6, l3)
	produce(t, lp3, 2, "b")
	leader3 := startLeader(t, 3)
	leader3.add(tp0, lp3)
	c.setAddr(3, leader3.addr)

	fp.SetState(partition.State{Leader: 3, LeaderEpoch: 6, Replicas: []int32{1, 3}, ISR: []int32{1, 3}})
	m.Assign(tp0, 3, 6)
	waitInSync(t, lp3, fp)
	m.mu.Lock()
	_, has2 := m.fetchers[2]
	n := len(m.fetchers)
	m.mu.Unlock()
	if has2 || n != 1 {
		t.Fatalf("fetchers after the move: broker 2 %v, %d in all", has2, n)
	}
	before := old.fetchCount(tp0)
	time.Sleep(2 * testMaxWait)
	if after := old.fetchCount(tp0); after != before {
		t.Fatalf("old leader still fetched from: %d -> %d", before, after)
	}
}

// TestUnreachableLeaderRetries: with no address, then a dead one, the
// fetcher backs off and retries; once the leader is reachable it copies.
func TestUnreachableLeaderRetries(t *testing.T) {
	leader, lp, fp, c := setup(t, openLog(t), openLog(t))
	produce(t, lp, 2, "a")
	delete(c.addrs, 2)
	m := c.manager(t)
	m.Assign(tp0, 2, 5)
	time.Sleep(3 * testBackoff)
	c.setAddr(2, deadAddr(t))
	time.Sleep(3 * testBackoff)
	if fp.Log().LogEndOffset() != 0 {
		t.Fatal("copied without a reachable leader")
	}
	c.setAddr(2, leader.addr)
	waitInSync(t, lp, fp)
}

// TestErrorsBackOff: a leader answering NOT_LEADER_OR_FOLLOWER (it has
// not applied the metadata that made it leader yet) is asked again soon,
// after leaderNotReadyWait, then after doubling waits up to Backoff, never
// in a tight loop; another error waits Backoff each time.
func TestErrorsBackOff(t *testing.T) {
	for _, tc := range []struct {
		code     int16
		firstGap time.Duration
	}{{kerr.NotLeaderForPartition.Code, leaderNotReadyWait}, {kerr.KafkaStorageError.Code, testBackoff}} {
		leader, _, _, c := setup(t, openLog(t), openLog(t))
		leader.setError(tp0, tc.code)
		m := c.manager(t)
		start := time.Now()
		m.Assign(tp0, 2, 5)
		time.Sleep(10 * testBackoff)
		n := leader.fetchCount(tp0)
		if limit := int(time.Since(start)/tc.firstGap) + 1; n < 2 || n > limit {
			t.Fatalf("error %d: %d fetches in %v (first gap %v, backoff %v)", tc.code, n, time.Since(start), tc.firstGap, testBackoff)
		}
	}
}

// TestStaleAssignmentNotFetched: a partition whose replica is in another
// epoch than assigned is not fetched.
func TestStaleAssignmentNotFetched(t *testing.T) {
	leader, _, _, c := setup(t, openLog(t), openLog(t))
	m := c.manager(t)
	m.Assign(tp0, 2, 4)
	time.Sleep(4 * testBackoff)
	if n := leader.fetchCount(tp0); n != 0 {
		t.Fatalf("stale assignment fetched %d times", n)
	}
	m.Assign(tp0, 1, 6) // we lead now: nothing to fetch
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.fetchers) != 0 || len(m.parts) != 0 {
		t.Fatalf("after becoming leader: %d fetchers, %d partitions", len(m.fetchers), len(m.parts))
	}
}

// TestRemoveStopsFetcher: removing the last partition stops the fetcher
// goroutine and closes its connections.
func TestRemoveStopsFetcher(t *testing.T) {
	leader, lp, fp, c := setup(t, openLog(t), openLog(t))
	produce(t, lp, 1, "a")
	baseline := goleak.IgnoreCurrent()
	m := c.manager(t)
	m.Assign(tp0, 2, 5)
	waitInSync(t, lp, fp)
	m.Remove(tp0)
	goleak.VerifyNone(t, baseline)
	n := leader.fetchCount(tp0)
	produce(t, lp, 1, "b")
	time.Sleep(2 * testMaxWait)
	if leader.fetchCount(tp0) != n || fp.Log().LogEndOffset() == lp.Log().LogEndOffset() {
		t.Fatal("removed partition still fetched")
	}
	m.Close()
	m.Assign(tp0, 2, 5) // after Close: nothing starts
	goleak.VerifyNone(t, baseline)
}

func TestWholeBatches(t *testing.T) {
	a, b := batch(t, 0, 1, 2, "x"), batch(t, 2, 1, 2, "y")
	both := append(bytes.Clone(a), b...)
	for _, tc := range []struct {
		in   []byte
		want int
	}{
		{nil, 0}, {a, len(a)}, {both, len(both)}, {both[:len(both)-1], len(a)},
		{both[:len(a)+10], len(a)}, {a[:10], 0},
	} {
		if got := len(wholeBatches(tc.in)); got != tc.want {
			t.Errorf("wholeBatches(%d bytes) = %d bytes, want %d", len(tc.in), got, tc.want)
		}
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A partition assigned while the fetcher's long poll is in flight joins
// the next request at once: the in-flight Fetch is dropped, so the new
// partition does not wait out replica.fetch.wait.max.ms (here 10 s).
func TestAssignDuringLongPollFetchesAtOnce(t *testing.T) {
	leader, lp, fp, c := setup(t, openLog(t), openLog(t))
	tp1 := TopicPartition{Topic: "u", Partition: 0}
	at := func(id int32, l *storage.Log) *partition.Partition {
		return partition.New(partition.Options{Topic: tp1.Topic, Index: tp1.Partition, LocalID: id, Log: l, Logger: discard,
			Config: partition.Config{MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, ReplicaLagTimeMax: time.Minute, Storage: storage.DefaultConfig()}})
	}
	lp1, fp1 := at(2, openLog(t)), at(1, openLog(t))
	lp1.SetState(partition.State{Leader: 2, LeaderEpoch: 5, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	fp1.SetState(partition.State{Leader: 2, LeaderEpoch: 5, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	leader.add(tp1, lp1)
	c.mu.Lock()
	c.replicas[tp1] = fp1
	c.mu.Unlock()
	m := NewManager(Options{NodeID: 1, Addr: c.addr, Partition: c.partition, MaxWait: 10 * time.Second, Backoff: testBackoff, Logger: discard})
	t.Cleanup(m.Close)
	produce(t, lp, 3, "a")
	m.Assign(tp0, 2, 5)
	waitInSync(t, lp, fp)
	fetched := leader.fetchCount(tp0)
	waitFor(t, "the next long poll", func() bool { return leader.fetchCount(tp0) > fetched })
	produce(t, lp1, 2, "b")
	start := time.Now()
	m.Assign(tp1, 2, 5)
	waitInSync(t, lp1, fp1)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("new partition replicated after %v: it waited for the long poll", took)
	}
}
