package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestIPTable(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	denied, extra := netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("fe80::1")
	tab := newIPTable(2, map[netip.Addr]int{denied: 0, netip.MustParseAddr("fe80::1%eth0"): 3})
	steps := []struct {
		op   string // "+" acquire, "-" release
		ip   netip.Addr
		want bool // acquire's answer
	}{
		{"+", a, true}, {"+", mapped, true}, {"+", a, false}, // mapped is a
		{"+", b, true}, {"+", b, true}, {"+", b, false}, // limits are per address
		{"-", a, false}, {"+", a, true}, {"+", mapped, false}, // a slot freed, taken again
		{"+", denied, false},                                                            // override 0
		{"+", extra, true}, {"+", extra, true}, {"+", extra, true}, {"+", extra, false}, // override 3, zone ignored
		{"+", netip.Addr{}, true}, {"+", netip.Addr{}, true}, {"+", netip.Addr{}, true}, // not IP: not limited
		{"-", denied, false}, // nothing counted: no-op
	}
	for i, st := range steps {
		if st.op == "-" {
			tab.release(st.ip)
			continue
		}
		if got := tab.acquire(st.ip); got != st.want {
			t.Fatalf("step %d: acquire(%v) = %v, want %v", i, st.ip, got, st.want)
		}
	}
	for ip, want := range map[netip.Addr]int{a: 2, b: 2, denied: 0, extra: 3, {}: 0} {
		if got := tab.count(ip); got != want {
			t.Errorf("count(%v) = %d, want %d", ip, got, want)
		}
	}
	for _, ip := range []netip.Addr{a, mapped, b, b, extra, extra, extra, {}} {
		tab.release(ip)
	}
	if len(tab.open) != 0 {
		t.Errorf("counts left after releasing everything: %v", tab.open)
	}
}

func TestLimiterSlots(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	l := newLimiter(Config{MaxConnections: 2, MaxListenerConnections: map[string]int{"client": 1, "replication": 2},
		InterBrokerListener: "REPLICATION", MaxConnectionsPerIP: 1 << 20}.withDefaults())
	l.addListener("CLIENT")
	try := func(listener string) verdict {
		_, v, freed := l.tryAdmit(listener, ip)
		if freed != nil {
			return -1 // full
		}
		return v
	}
	if v := try("CLIENT"); v != admitted {
		t.Fatalf("first client connection: %v", v)
	}
	if v := try("CLIENT"); v != -1 {
		t.Fatalf("client listener limit 1 not enforced: %v", v)
	}
	if v := try("REPLICATION"); v != admitted {
		t.Fatalf("replication connection: %v", v)
	}
	// Only one listener served so far: REPLICATION is not yet protected.
	if v := try("REPLICATION"); v != -1 {
		t.Fatalf("max.connections not enforced on the only served listener: %v", v)
	}
	l.addListener("REPLICATION")
	if v := try("REPLICATION"); v != admittedOver {
		t.Fatalf("inter-broker listener beyond max.connections: %v, want admittedOver", v)
	}
	if v := try("REPLICATION"); v != -1 {
		t.Fatalf("listener limit of the inter-broker listener not enforced: %v", v)
	}
	if v := try("CLIENT"); v != -1 {
		t.Fatalf("client listener admitted beyond max.connections: %v", v)
	}
	if st := l.stats(); st.Open != 3 || st.PerListener["REPLICATION"] != 2 || st.PerListener["CLIENT"] != 1 {
		t.Errorf("stats %+v", st)
	}
	l.release(slot{listener: "CLIENT", ip: ip})
	if v := try("CLIENT"); v != -1 {
		t.Fatalf("client listener admitted at max.connections: %v", v)
	}
	l.release(slot{listener: "REPLICATION", ip: ip})
	if v := try("CLIENT"); v != admitted {
		t.Fatalf("client listener after releases: %v", v)
	}
}

func TestLimiterWaitEndsWithContext(t *testing.T) {
	l := newLimiter(Config{MaxConnections: 1}.withDefaults())
	l.addListener("A")
	if _, v := l.admit(context.Background(), "A", netip.Addr{}); v != admitted {
		t.Fatal(v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- l.wait(ctx, "A") }()
	select {
	case <-done:
		t.Fatal("wait returned with the limit reached")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if <-done {
		t.Error("wait reported a slot after cancel")
	}
	if _, v := l.admit(ctx, "A", netip.Addr{}); v != stopped {
		t.Errorf("admit after cancel: %v", v)
	}
}

func TestRateLog(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newRateLog(10*time.Second, func() time.Time { return now })
	want := []struct {
		at   time.Duration
		key  string
		ok   bool
		held int
	}{
		{0, "a", true, 0}, {time.Second, "a", false, 0}, {2 * time.Second, "b", true, 0},
		{9 * time.Second, "a", false, 0}, {10 * time.Second, "a", true, 2}, {11 * time.Second, "a", false, 0},
	}
	start := now
	for i, w := range want {
		now = start.Add(w.at)
		if ok, held := r.allow(w.key); ok != w.ok || held != w.held {
			t.Errorf("event %d (%s at %v): allow = %v, %d; want %v, %d", i, w.key, w.at, ok, held, w.ok, w.held)
		}
	}
}

func TestResolveIPOverrides(t *testing.T) {
	got, err := ResolveIPOverrides(context.Background(), map[string]int{"127.0.0.1": 5, "::ffff:10.1.1.1": 0, "localhost": 9})
	if err != nil {
		t.Fatal(err)
	}
	if got[netip.MustParseAddr("127.0.0.1")] != 5 {
		t.Errorf("a literal address must win over a name resolving to it: %v", got)
	}
	if n, ok := got[netip.MustParseAddr("10.1.1.1")]; !ok || n != 0 {
		t.Errorf("mapped address not unmapped: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := ResolveIPOverrides(ctx, map[string]int{"no-such-host.invalid": 1}); err == nil {
		t.Error("unresolvable host accepted")
	}
}

// apiVersionsWork sends ApiVersions on c and checks the answer comes back.
func (c *client) apiVersionsWork(corr int32) {
	c.t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	c.send(corr, req)
	if got, _ := c.recv(req, 3); got != corr {
		c.t.Fatalf("correlation id %d, want %d", got, corr)
	}
}

// waitOpen waits until the server counts n open connections.
func waitOpen(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.ConnStats().Open != n {
		if time.Now().After(deadline) {
			t.Fatalf("server counts %d open connections, want %d", s.ConnStats().Open, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectNoAnswer checks that c gets nothing within a short while: the
// server has not accepted it yet.
func (c *client) expectNoAnswer() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	b, err := c.readFrame()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("got %d bytes, err %v; want no answer while the limit is reached", len(b), err)
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
}

func TestMaxConnectionsPerIP(t *testing.T) {
	s, addr := startServer(t, Config{MaxConnectionsPerIP: 2}, &fakeHandler{})
	c1, c2 := dial(t, addr), dial(t, addr)
	c1.apiVersionsWork(1)
	c2.apiVersionsWork(1)
	c3 := dial(t, addr)
	c3.expectClosed()
	c1.apiVersionsWork(2)
	c2.apiVersionsWork(2)
	if st := s.ConnStats(); st.RejectedPerIP != 1 || st.Open != 2 {
		t.Errorf("stats %+v", st)
	}
	c1.nc.Close()
	waitOpen(t, s, 1)
	c4 := dial(t, addr)
	c4.apiVersionsWork(1)
	c2.apiVersionsWork(3)
}

func TestMaxConnectionsPerIPOverride(t *testing.T) {
	cfg := Config{MaxConnectionsPerIP: 1, MaxConnectionsPerIPOverrides: map[netip.Addr]int{netip.MustParseAddr("127.0.0.1"): 5}}
	_, addr := startServer(t, cfg, &fakeHandler{})
	var cs []*client
	for i := range 5 {
		c := dial(t, addr)
		c.apiVersionsWork(int32(i))
		cs = append(cs, c)
	}
	dial(t, addr).expectClosed()
	for i, c := range cs {
		c.apiVersionsWork(int32(10 + i))
	}
}

// Kafka's max.connections.per.ip=0 with overrides: only the listed
// addresses may connect.
func TestMaxConnectionsPerIPZero(t *testing.T) {
	cfg := Config{MaxConnectionsPerIP: -1, MaxConnectionsPerIPOverrides: map[netip.Addr]int{netip.MustParseAddr("192.0.2.7"): 5}}
	_, addr := startServer(t, cfg, &fakeHandler{})
	dial(t, addr).expectClosed()
}

func TestMaxConnections(t *testing.T) {
	s, addr := startServer(t, Config{MaxConnections: 2}, &fakeHandler{})
	c1, c2 := dial(t, addr), dial(t, addr)
	c1.apiVersionsWork(1)
	c2.apiVersionsWork(1)
	c3 := dial(t, addr) // completes in the kernel's backlog
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	c3.send(7, req)
	c3.expectNoAnswer()
	c1.apiVersionsWork(2)
	c2.apiVersionsWork(2)
	c1.nc.Close()
	if got, _ := c3.recv(req, 3); got != 7 {
		t.Fatalf("correlation id %d", got)
	}
	c2.apiVersionsWork(3)
	if st := s.ConnStats(); st.Open != 2 {
		t.Errorf("stats %+v", st)
	}
}

// startListeners serves h on one loopback listener per name.
func startListeners(t *testing.T, cfg Config, h Handler, names ...string) (*Server, map[string]string) {
	t.Helper()
	s := New(cfg, h)
	addrs := map[string]string{}
	done := make(chan error, len(names))
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[name] = ln.Addr().String()
		go func() { done <- s.Serve(ln, name) }()
	}
	t.Cleanup(func() {
		s.Close()
		for range names {
			if err := <-done; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		}
		if st := s.ConnStats(); st.Open != 0 || len(st.PerListener) != 0 {
			t.Errorf("slots left after Close: %+v", st)
		}
	})
	return s, addrs
}

func TestListenerMaxConnections(t *testing.T) {
	cfg := Config{MaxListenerConnections: map[string]int{"external": 1}}
	_, addrs := startListeners(t, cfg, &fakeHandler{}, "EXTERNAL", "INTERNAL")
	c1 := dial(t, addrs["EXTERNAL"])
	c1.apiVersionsWork(1)
	c2 := dial(t, addrs["EXTERNAL"])
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	c2.send(7, req)
	c2.expectNoAnswer()
	for i := range 3 { // other listeners are not limited by it
		dial(t, addrs["INTERNAL"]).apiVersionsWork(int32(i))
	}
	c1.nc.Close()
	if got, _ := c2.recv(req, 3); got != 7 {
		t.Fatalf("correlation id %d", got)
	}
}

// The inter-broker listener is served beyond max.connections; the least
// recently active connection of another listener makes room.
func TestInterBrokerListenerExempt(t *testing.T) {
	cfg := Config{MaxConnections: 2, InterBrokerListener: "REPLICATION"}
	s, addrs := startListeners(t, cfg, &fakeHandler{}, "CLIENT", "REPLICATION")
	old, recent := dial(t, addrs["CLIENT"]), dial(t, addrs["CLIENT"])
	old.apiVersionsWork(1)
	recent.apiVersionsWork(1)
	time.Sleep(10 * time.Millisecond) // lastActive has nanoseconds, but be sure
	recent.apiVersionsWork(2)
	rep := dial(t, addrs["REPLICATION"])
	rep.apiVersionsWork(1)
	old.expectClosed()
	recent.apiVersionsWork(3)
	waitOpen(t, s, 2)
	if st := s.ConnStats(); st.Evicted != 1 {
		t.Errorf("stats %+v", st)
	}
	// Clients still wait for a slot.
	c := dial(t, addrs["CLIENT"])
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	c.send(7, req)
	c.expectNoAnswer()
}

// A connection that fails its TLS handshake gives its slot back.
func TestSlotReleasedOnTLSFailure(t *testing.T) {
	cert := testServerCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{MaxConnections: 1, MaxConnectionsPerIP: 1}, &fakeHandler{})
	done := make(chan error, 1)
	go func() {
		done <- s.ServeSecure(ln, "SSL", Security{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	}()
	defer func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeSecure returned %v", err)
		}
		if st := s.ConnStats(); st.Open != 0 {
			t.Errorf("slots left after Close: %+v", st)
		}
	}()
	for range 3 {
		bad := dial(t, ln.Addr().String())
		bad.write([]byte(strings.Repeat("not a TLS hello ", 8)))
		bad.expectClosed()
	}
	tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	(&client{t: t, nc: tc}).apiVersionsWork(1)
}

// Close ends connections waiting for a slot and releases every slot.
func TestCloseWhileAtLimit(t *testing.T) {
	s, addrs := startListeners(t, Config{MaxConnections: 1}, &fakeHandler{}, "A", "B")
	dial(t, addrs["A"]).apiVersionsWork(1)
	for _, name := range []string{"A", "B", "B"} {
		c := dial(t, addrs[name])
		c.write([]byte{0, 0})
	}
	waitOpen(t, s, 1)
	s.Close()
}

// A connection accepted as Close runs gives its slot back too.
func TestSlotReleasedWhenClosedAtStart(t *testing.T) {
	s := New(Config{MaxConnections: 1}, &fakeHandler{})
	s.limits.addListener("A")
	sl, v := s.limits.admit(context.Background(), "A", netip.MustParseAddr("192.0.2.1"))
	if v != admitted {
		t.Fatal(v)
	}
	s.Close()
	ours, peer := net.Pipe()
	defer peer.Close()
	s.startConn(ours, "A", Security{}, sl)
	if _, err := peer.Read(make([]byte, 1)); err == nil {
		t.Error("connection left open")
	}
	if st := s.ConnStats(); st.Open != 0 {
		t.Errorf("slot kept: %+v", st)
	}
}
