package quorum

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
)

// testSM records every applied (index, data) and serializes that list as
// its snapshot.
type testSM struct {
	mu       sync.Mutex
	recs     []rec
	restores int
	bad      string // first ordering violation seen
}

type rec struct {
	Index uint64
	Data  string
}

func (s *testSM) Apply(index uint64, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.recs); n > 0 && s.recs[n-1].Index >= index && s.bad == "" {
		s.bad = fmt.Sprintf("apply %d after %d", index, s.recs[n-1].Index)
	}
	s.recs = append(s.recs, rec{index, string(data)})
}

func (s *testSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.recs)
}

func (s *testSM) Restore(index uint64, data []byte) error {
	var recs []rec
	if err := json.Unmarshal(data, &recs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(recs); n > 0 && recs[n-1].Index > index {
		return fmt.Errorf("snapshot at %d holds entry %d", index, recs[n-1].Index)
	}
	s.recs = recs
	s.restores++
	return nil
}

func (s *testSM) snapshot() ([]rec, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rec(nil), s.recs...), s.restores, s.bad
}

// logBuf collects a node's log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testNode is one member: a listener that survives restarts, its
// directory, and the running Raft (nil while stopped).
type testNode struct {
	id   int32
	dir  string
	ln   net.Listener
	cur  atomic.Pointer[Raft]
	sm   *testSM
	logs *logBuf
	cfg  RaftConfig
}

type cluster struct {
	t     *testing.T
	nodes []*testNode
	wg    sync.WaitGroup // accept loops and their connections
}

// newCluster creates n members with listeners on loopback; start them
// with c.start. tweak may adjust each config.
func newCluster(t *testing.T, n int, tweak func(*RaftConfig)) *cluster {
	t.Helper()
	c := &cluster{t: t}
	voters := make(map[int32]string)
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		nd := &testNode{id: int32(i), dir: t.TempDir(), ln: ln, logs: &logBuf{}}
		voters[nd.id] = ln.Addr().String()
		c.nodes = append(c.nodes, nd)
		c.wg.Add(1)
		go c.accept(nd)
	}
	for _, nd := range c.nodes {
		nd.cfg = RaftConfig{
			NodeID:        nd.id,
			Voters:        voters,
			Dir:           nd.dir,
			ClusterID:     "test-cluster",
			TickInterval:  20 * time.Millisecond,
			ElectionTicks: 10,
			Logger:        slog.New(slog.NewTextHandler(nd.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		}
		if tweak != nil {
			tweak(&nd.cfg)
		}
	}
	t.Cleanup(c.shutdown)
	return c
}

func (c *cluster) accept(nd *testNode) {
	defer c.wg.Done()
	for {
		conn, err := nd.ln.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			serveTest(nd, conn)
		}()
	}
}

// serveTest is the listener's job in the broker: read the magic, hand the
// connection to the running Raft.
func serveTest(nd *testNode, conn net.Conn) {
	var magic [4]byte
	conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err := io.ReadFull(conn, magic[:])
	r := nd.cur.Load()
	if err != nil || !IsTransport(magic[:]) || r == nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	r.ServeConn(conn)
}

func (c *cluster) shutdown() {
	for _, nd := range c.nodes {
		c.stop(nd.id)
		nd.ln.Close()
	}
	c.wg.Wait()
	if c.t.Failed() || os.Getenv("QUORUM_TEST_LOGS") != "" {
		for _, nd := range c.nodes {
			c.t.Logf("node %d log:\n%s", nd.id, nd.logs.String())
		}
	}
}

// start starts node i with a fresh state machine.
func (c *cluster) start(i int32) *Raft {
	c.t.Helper()
	nd := c.nodes[i]
	nd.sm = &testSM{}
	r, err := StartRaft(nd.cfg, nd.sm)
	if err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	nd.cur.Store(r)
	return r
}

func (c *cluster) startAll() {
	for _, nd := range c.nodes {
		c.start(nd.id)
	}
}

func (c *cluster) stop(i int32) {
	nd := c.nodes[i]
	if r := nd.cur.Swap(nil); r != nil {
		if err := r.Close(); err != nil {
			c.t.Errorf("close node %d: %v", i, err)
		}
	}
}

func (c *cluster) raft(i int32) *Raft { return c.nodes[i].cur.Load() }

// waitLeader waits until every running node in among agrees on one leader
// in among, and returns it.
func (c *cluster) waitLeader(among ...int32) int32 {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if l, ok := c.agreedLeader(among); ok {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no leader among %v", among)
	return -1
}

func (c *cluster) agreedLeader(among []int32) (int32, bool) {
	leader := c.raft(among[0]).Leader()
	inSet := false
	for _, i := range among {
		if c.raft(i).Leader() != leader {
			return -1, false
		}
		inSet = inSet || leader == i
	}
	return leader, inSet
}

// propose proposes data on whichever of among leads, retrying through
// elections, and returns the index. A retry after ErrProposalDropped may
// commit the data twice; callers compare logs, not counts.
func (c *cluster) propose(data string, among ...int32) uint64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		l := c.waitLeader(among...)
		idx, err := c.raft(l).Propose(ctx, []byte(data))
		if err == nil {
			return idx
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrProposalDropped) {
			c.t.Fatalf("propose %q on %d: %v", data, l, err)
		}
	}
	c.t.Fatalf("propose %q: timed out", data)
	return 0
}

// waitApplied waits until the nodes have applied index.
func (c *cluster) waitApplied(index uint64, nodes ...int32) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, i := range nodes {
		if err := c.raft(i).WaitApplied(ctx, index); err != nil {
			c.t.Fatalf("node %d: applied %d, want %d: %v", i, c.raft(i).AppliedIndex(), index, err)
		}
	}
}

// sameState checks that the nodes' state machines hold identical logs
// without ordering violations, and returns that log.
func (c *cluster) sameState(nodes ...int32) []rec {
	c.t.Helper()
	var want []rec
	for n, i := range nodes {
		got, _, bad := c.nodes[i].sm.snapshot()
		if bad != "" {
			c.t.Errorf("node %d: %s", i, bad)
		}
		if n == 0 {
			want = got
			continue
		}
		if !equalRecs(got, want) {
			c.t.Fatalf("node %d state differs from node %d:\n%v\n%v", i, nodes[0], got, want)
		}
	}
	return want
}

func equalRecs(a, b []rec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func others(all []int32, skip int32) []int32 {
	var out []int32
	for _, i := range all {
		if i != skip {
			out = append(out, i)
		}
	}
	return out
}

func walFile(t *testing.T, dir string) string {
	t.Helper()
	seqs, err := listWAL(vfs.Default, dir)
	if err != nil || len(seqs) != 1 {
		t.Fatalf("WAL files in %s: %v %v", dir, seqs, err)
	}
	return dir + string(os.PathSeparator) + walName(seqs[0])
}
