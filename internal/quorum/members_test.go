package quorum

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
	"go.etcd.io/raft/v3/raftpb"
)

func TestEndpointsRoundTrip(t *testing.T) {
	for _, eps := range []map[int32]string{{}, {1: "a:1"}, {0: "127.0.0.1:9093", 4: "[::1]:9", 2: ""}} {
		got, err := decodeEndpoints(encodeEndpoints(eps))
		if err != nil || !maps.Equal(got, eps) {
			t.Errorf("%v: got %v, %v", eps, got, err)
		}
	}
	if got, err := decodeEndpoints(nil); err != nil || len(got) != 0 {
		t.Errorf("empty context: %v, %v", got, err)
	}
	for name, b := range map[string][]byte{
		"version":  {9, 0, 0},
		"short":    {1, 0},
		"count":    {1, 0, 1},
		"trailing": append(encodeEndpoints(map[int32]string{1: "a:1"}), 0),
		"negative": {1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0},
	} {
		if _, err := decodeEndpoints(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestSnapshotWrap(t *testing.T) {
	eps := map[int32]string{1: "a:1", 2: "b:2"}
	for _, data := range [][]byte{nil, []byte(`{"v":1}`), {0, 'F'}} {
		got, sm, err := unwrapSnapshot(wrapSnapshot(eps, data))
		if err != nil || !maps.Equal(got, eps) || !bytes.Equal(sm, data) {
			t.Errorf("%q: %v %q %v", data, got, sm, err)
		}
	}
	// Snapshots written before endpoints were recorded read as they are.
	old := []byte(`[{"Index":1}]`)
	if got, sm, err := unwrapSnapshot(old); err != nil || got != nil || !bytes.Equal(sm, old) {
		t.Errorf("old snapshot: %v %q %v", got, sm, err)
	}
	bad := wrapSnapshot(eps, nil)
	bad[len(snapMagic)] = 7
	if _, _, err := unwrapSnapshot(bad); err == nil {
		t.Error("unknown header version accepted")
	}
	if _, _, err := unwrapSnapshot(wrapSnapshot(eps, nil)[:8]); err == nil {
		t.Error("truncated header accepted")
	}
}

func FuzzDecodeEndpoints(f *testing.F) {
	f.Add(encodeEndpoints(map[int32]string{1: "a:1", 3: "127.0.0.1:9093"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		eps, err := decodeEndpoints(b)
		if err != nil {
			return
		}
		again, err := decodeEndpoints(encodeEndpoints(eps))
		if err != nil || !maps.Equal(again, eps) {
			t.Fatalf("re-encoding %v: %v %v", eps, again, err)
		}
	})
}

func FuzzUnwrapSnapshot(f *testing.F) {
	f.Add(wrapSnapshot(map[int32]string{1: "a:1"}, []byte("state")))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		eps, data, err := unwrapSnapshot(b)
		if err != nil || eps == nil {
			return
		}
		again, data2, err := unwrapSnapshot(wrapSnapshot(eps, data))
		if err != nil || !maps.Equal(again, eps) || !bytes.Equal(data, data2) {
			t.Fatalf("re-wrapping: %v %v", again, err)
		}
	})
}

// helloConn feeds a hello to acceptHello and swallows its answer.
type helloConn struct {
	net.Conn
	r *bytes.Reader
}

func (c helloConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c helloConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c helloConn) SetDeadline(time.Time) error      { return nil }
func (c helloConn) SetReadDeadline(time.Time) error  { return nil }
func (c helloConn) SetWriteDeadline(time.Time) error { return nil }

// The transport's hello (version 1, and 2 with the sender's endpoint)
// never panics or allocates from an unchecked length; an accepted
// endpoint is a valid one.
func FuzzAcceptHello(f *testing.F) {
	f.Add(hello(1, 1, 0, "c"))
	f.Add(append(hello(2, 1, 0, "c"), 0, 3, 'a', ':', '1'))
	f.Add(append(hello(2, 1, 0, "c"), 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &Raft{cfg: RaftConfig{NodeID: 0, ClusterID: "c"}, hints: map[int32]string{}}
		from, err := r.acceptHello(helloConn{r: bytes.NewReader(b)})
		if err != nil {
			return
		}
		if e, ok := r.hints[from]; ok && checkEndpoint(e) != nil {
			t.Fatalf("accepted endpoint %q", e)
		}
	})
}

// A dialer refused for hello version 2 (a node of an older release)
// speaks version 1 from its next attempt.
func TestHandshakeFallsBackToV1(t *testing.T) {
	r := &Raft{cfg: RaftConfig{NodeID: 1, ClusterID: "c", Addr: "127.0.0.1:1"}, hints: map[int32]string{}}
	p := newPeer(r, 2, "x:1")
	for _, want := range []byte{transportVersion, transportV1} {
		client, server := net.Pipe()
		got := make(chan byte, 1)
		go func() {
			defer server.Close()
			var hdr [5]byte
			if _, err := io.ReadFull(server, hdr[:]); err != nil {
				got <- 0
				return
			}
			got <- hdr[4]
			status := hsOK
			if hdr[4] != transportV1 {
				status = hsBadVersion
			}
			io.CopyN(io.Discard, server, 8+2+1) // ids, cluster id "c"
			if hdr[4] == transportVersion {
				var n [2]byte
				io.ReadFull(server, n[:])
				io.CopyN(io.Discard, server, int64(n[1])) // the endpoint
			}
			server.Write([]byte{status})
		}()
		err := p.handshake(client)
		client.Close()
		if v := <-got; v != want {
			t.Fatalf("hello version %d, want %d", v, want)
		}
		if (want == transportVersion) != (err != nil) {
			t.Fatalf("version %d: %v", want, err)
		}
	}
}

// While the voters are the bootstrap ones, snapshots are written as an
// older release wrote them (no endpoints header): a rolling upgrade's
// old follower can restore one. After a voter change they carry it.
func TestSnapshotHeaderOnlyAfterAChange(t *testing.T) {
	c := newCluster(t, 1, func(cfg *RaftConfig) { cfg.SnapshotEvery = 4 })
	c.startAll()
	var idx uint64
	for i := range 6 {
		idx = c.propose(fmt.Sprintf("e%d", i), 0)
	}
	c.waitApplied(idx, 0)
	if snap := newestSnapshot(t, c.nodes[0].dir); bytes.HasPrefix(snap.Data, snapMagic) {
		t.Fatal("snapshot of the bootstrap voters has the endpoints header")
	}
	n := c.addNode(nil)
	c.start(n)
	c.addVoter(n, 0)
	for i := range 6 {
		idx = c.propose(fmt.Sprintf("f%d", i), 0, n)
	}
	c.waitApplied(idx, 0, n)
	snap := newestSnapshot(t, c.nodes[0].dir)
	eps, _, err := unwrapSnapshot(snap.Data)
	if err != nil || eps[n] != c.nodes[n].ln.Addr().String() || eps[0] != c.nodes[0].ln.Addr().String() {
		t.Fatalf("snapshot after adding a voter: endpoints %v, %v", eps, err)
	}
}

// newestSnapshot reads the newest snapshot file of a running node's dir
// (without loadSnapshotFile's cleanup of temporaries, which are the
// node's to write).
func newestSnapshot(t *testing.T, dir string) raftpb.Snapshot {
	t.Helper()
	var err error
	for range 5 { // a newer snapshot may replace the one listed
		var names []string
		if names, err = readDirNames(vfs.Default, dir); err != nil {
			break
		}
		var newest string
		for _, n := range names {
			if strings.HasPrefix(n, "snap-") && strings.HasSuffix(n, ".snap") && n > newest {
				newest = n
			}
		}
		if newest == "" {
			t.Fatalf("no snapshot in %s", dir)
		}
		var s raftpb.Snapshot
		if s, err = readSnapshotFile(vfs.Default, filepath.Join(dir, newest)); err == nil {
			return s
		}
	}
	t.Fatal(err)
	return raftpb.Snapshot{}
}
