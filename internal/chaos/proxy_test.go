package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProxyFaultsNeedProxy: a run with a proxy fault and no proxies, or
// with both proxies and namespaces, is refused before any node starts.
func TestProxyFaultsNeedProxy(t *testing.T) {
	names := []string{"slow-leader", "throttle-leader", "reset-leader", "slow-follower", "throttle-follower", "reset-follower"}
	faults, err := Faults(names)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range faults {
		if !NeedsProxy(f) || NeedsNet(f) {
			t.Errorf("%s: NeedsProxy %v, NeedsNet %v", f.Name(), NeedsProxy(f), NeedsNet(f))
		}
	}
	_, err = Run(context.Background(), Config{Bin: "/nonexistent", Dir: t.TempDir(), Faults: faults[:1], Profile: Profiles["safe"]})
	if err == nil || !strings.Contains(err.Error(), "--proxy") {
		t.Errorf("Run without Proxy: %v", err)
	}
	_, err = Run(context.Background(), Config{Bin: "/nonexistent", Dir: t.TempDir(), Proxy: true, Netns: true, Profile: Profiles["safe"]})
	if err == nil || !strings.Contains(err.Error(), "--proxy") {
		t.Errorf("Run with Proxy and Netns: %v", err)
	}
}

// TestProxyClusterWiring: every node listens on its own ports, advertises
// its Kafka proxy and lists the controller proxies as voters; the proxies
// forward to the real listeners, and toxics on a node's proxies delay or
// reset its connections until healed.
func TestProxyClusterWiring(t *testing.T) {
	c, err := NewProxyCluster("/nonexistent", t.TempDir(), 3, []string{"x=y"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, nd := range c.Nodes {
		kafka, ctl := realListeners(t, nd)
		if !slices.Contains(nd.Overrides, "advertised.listeners=PLAINTEXT://"+nd.Addr) || nd.Overrides[len(nd.Overrides)-1] != "x=y" {
			t.Fatalf("node %d overrides %q", nd.ID, nd.Overrides)
		}
		echo(t, kafka)
		echo(t, ctl)
		if got := roundTrip(t, nd.Addr); got > 100*time.Millisecond {
			t.Errorf("node %d Kafka proxy: round trip %v without toxics", nd.ID, got)
		}
		if got := roundTrip(t, voter(t, c, nd.ID)); got > 100*time.Millisecond {
			t.Errorf("node %d controller proxy: round trip %v without toxics", nd.ID, got)
		}
	}
	testToxics(t, c)
}

// testToxics puts latency, then resets, on node 1's proxies and heals.
func testToxics(t *testing.T, c *Cluster) {
	px, addr := c.Proxies, c.Nodes[0].Addr
	if err := px.Add(1, Toxic{Type: "latency", Attributes: map[string]int64{"latency": 150}}); err != nil {
		t.Fatal(err)
	}
	if n := len(px.Toxics(1)); n != 4 || len(px.Toxics(2)) != 0 {
		t.Errorf("toxics %v on node 1, %v on node 2", px.Toxics(1), px.Toxics(2))
	}
	if got := roundTrip(t, addr); got < 300*time.Millisecond {
		t.Errorf("round trip %v with 150 ms latency each way", got)
	}
	if got := roundTrip(t, c.Nodes[1].Addr); got > 100*time.Millisecond {
		t.Errorf("node 2: round trip %v with toxics on node 1 only", got)
	}
	_ = px.Heal(1)
	if err := px.Add(1, Toxic{Type: "bandwidth", Attributes: map[string]int64{"rate": 16}}); err != nil {
		t.Fatal(err)
	}
	if got := bulkRoundTrip(t, addr, 16<<10); got < 800*time.Millisecond {
		t.Errorf("16 KiB took %v at 16 KB/s", got)
	}
	_ = px.Heal(1)
	if err := px.Add(1, Toxic{Type: "reset_peer", Attributes: map[string]int64{"timeout": 0}}); err != nil {
		t.Fatal(err)
	}
	if err := tryRoundTrip(addr); err == nil {
		t.Error("a round trip through reset_peer succeeded")
	}
	_ = px.Heal(1)
	if len(px.Toxics(1)) != 0 {
		t.Errorf("toxics after Heal: %v", px.Toxics(1))
	}
	if err := tryRoundTrip(addr); err != nil {
		t.Errorf("after Heal: %v", err)
	}
}

// realListeners returns the Kafka and controller addresses a node listens
// on (its listeners property).
func realListeners(t *testing.T, nd *Node) (string, string) {
	t.Helper()
	for _, o := range nd.Overrides {
		if l, ok := strings.CutPrefix(o, "listeners="); ok {
			k, ctl, _ := strings.Cut(l, ",")
			k, ctl = strings.TrimPrefix(k, "PLAINTEXT://"), strings.TrimPrefix(ctl, "CONTROLLER://")
			if k == nd.Addr || strings.Contains(voterList(t, nd), ctl) {
				t.Fatalf("node %d listens on its proxies' addresses: %s", nd.ID, o)
			}
			return k, ctl
		}
	}
	t.Fatalf("node %d has no listeners: %q", nd.ID, nd.Overrides)
	return "", ""
}

func voterList(t *testing.T, nd *Node) string {
	t.Helper()
	for _, o := range nd.Overrides {
		if v, ok := strings.CutPrefix(o, "controller.quorum.voters="); ok {
			return v
		}
	}
	t.Fatalf("node %d has no voters", nd.ID)
	return ""
}

// voter returns node id's address in the voters.
func voter(t *testing.T, c *Cluster, id int32) string {
	t.Helper()
	for _, v := range strings.Split(voterList(t, c.Nodes[0]), ",") {
		if n, addr, _ := strings.Cut(v, "@"); n == fmt.Sprint(id) {
			return addr
		}
	}
	t.Fatalf("node %d is not a voter", id)
	return ""
}

// echo serves an echo server on addr until the test ends.
func echo(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
}

// roundTrip returns how long a ping through addr takes to come back.
func roundTrip(t *testing.T, addr string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := tryRoundTrip(addr); err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return time.Since(start)
}

// bulkRoundTrip returns how long n bytes through addr take to come back.
func bulkRoundTrip(t *testing.T, addr string, n int) time.Duration {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	go func() { _, _ = conn.Write(make([]byte, n)) }()
	if _, err := io.ReadFull(conn, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// tryRoundTrip sends a ping to addr's echo server and reads it back.
func tryRoundTrip(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return err
	}
	if string(buf) != "ping" {
		return errors.New("echo returned " + string(buf))
	}
	return nil
}
