package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/chaos"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker liveness of the test cluster: short, so that a killed node is
// reported down in seconds rather than after the default 9 s session.
const (
	sessionTimeout = 4 * time.Second
	// downBound is how long the console may take to show a killed node
	// down: the session, the controller fencing it, and a live refresh.
	downBound = sessionTimeout + 8*time.Second
)

// env is what the browser test runs against: a 3-node cluster with
// topics, records and groups, `fjord console` in front of it, and a
// client of the test's own.
type env struct {
	c    *chaos.Cluster
	base string // the console's URL, without the trailing slash
	cl   *kgo.Client
	adm  *kadm.Client
}

// Fixtures: what setup creates.
const (
	ordersParts   = 6
	ordersPerPart = 20
	groupCommitAt = 5 // g1's commit on every orders partition
)

// startEnv starts the cluster, fills it, starts a producer and a
// consumer that keep running (so the charts and a group's members have
// something to show) and starts the console. Everything stops when the
// test ends.
func startEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	c, err := chaos.NewCluster(fjordBin, dir, 3, []string{
		fmt.Sprintf("broker.session.timeout.ms=%d", sessionTimeout.Milliseconds()),
		"broker.heartbeat.interval.ms=500",
		"replica.lag.time.max.ms=4000",
		"offsets.topic.num.partitions=3",
		"offsets.topic.replication.factor=3",
		"group.initial.rebalance.delay.ms=200",
		"min.insync.replicas=2",
		"leader.imbalance.check.interval.seconds=5", // leaders return to a restarted node
	})
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 4)
	var metrics []string
	for i, nd := range c.Nodes {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
		nd.Overrides = append(nd.Overrides, "metrics.http.listener="+addr)
		metrics = append(metrics, "http://"+addr+"/metrics")
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for _, nd := range c.Nodes {
				t.Logf("node %d, last lines of run %d:\n%s", nd.ID, nd.Run(), nd.Tail(30))
			}
		}
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e := &env{c: c}
	e.cl, err = kgo.NewClient(kgo.SeedBrokers(c.AllAddrs()...), kgo.ClientID("browser-test"),
		kgo.DialTimeout(time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cl.Close)
	e.adm = kadm.NewClient(e.cl)
	waitUntil(t, 30*time.Second, "the cluster to list 3 brokers and a controller", func() string {
		md, err := c.Metadata(context.Background())
		if err != nil {
			return err.Error()
		}
		if len(md.Brokers) != 3 || md.Controller < 0 {
			return fmt.Sprintf("%d brokers, controller %d", len(md.Brokers), md.Controller)
		}
		return ""
	})
	e.createTopic(t, "orders", ordersParts, nil)
	e.createTopic(t, "events", 1, nil)
	e.createTopic(t, "payments", 3, map[string]*string{"retention.ms": kadm.StringPtr("604800000")})
	e.fill(t)
	e.background(t)
	e.base = startConsole(t, c.AllAddrs(), metrics, ports[3])
	return e
}

func (e *env) createTopic(t *testing.T, name string, parts int32, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.adm.CreateTopic(ctx, parts, 3, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	waitUntil(t, 20*time.Second, name+" to have leaders and full ISRs on every node", func() string {
		return e.c.Healthy(context.Background(), name, int(parts))
	})
}

// fill produces orders (ordersPerPart text records on each partition:
// pNN-OOOOOOOO), three records on events-0 (a JSON value, a binary value
// with a header, a text value) and commits g1 at groupCommitAt on every
// orders partition: an Empty group lagging 6 × 15.
func (e *env) fill(t *testing.T) {
	t.Helper()
	var recs []*kgo.Record
	for p := range int32(ordersParts) {
		for o := range ordersPerPart {
			recs = append(recs, &kgo.Record{Topic: "orders", Partition: p,
				Key: fmt.Appendf(nil, "customer-%d", o%4), Value: fmt.Appendf(nil, "p%02d-%08d", p, o)})
		}
	}
	recs = append(recs,
		&kgo.Record{Topic: "events", Key: []byte("k-json"), Value: []byte(`{"n":1,"msg":"hello"}`)},
		&kgo.Record{Topic: "events", Key: []byte("k-bin"), Value: []byte{0, 1, 2, 0xff, 0xfe},
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}},
		&kgo.Record{Topic: "events", Key: []byte("k-text"), Value: []byte("plain words")},
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
	var offs kadm.Offsets
	for p := range int32(ordersParts) {
		offs.AddOffset("orders", p, groupCommitAt, -1)
	}
	if err := e.adm.CommitAllOffsets(ctx, "g1", offs); err != nil {
		t.Fatalf("committing g1: %v", err)
	}
}

// background starts a producer writing JSON payments, 10 to 40 a second,
// and a consumer in group "billing" reading them, until the test ends.
func (e *env) background(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	prod, err := kgo.NewClient(kgo.SeedBrokers(e.c.AllAddrs()...), kgo.ClientID("payments-producer"),
		kgo.DialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(e.c.AllAddrs()...), kgo.ClientID("billing-worker"),
		kgo.DialTimeout(time.Second), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("payments"),
		kgo.SessionTimeout(20*time.Second), kgo.AutoCommitInterval(time.Second))
	if err != nil {
		prod.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		prod.Close()
		cons.Close()
	})
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// 10 to 40 records/s, changing every 3 s: the rate charts
			// have a shape.
			for i := range 1 + n/30%4 {
				v := fmt.Sprintf(`{"payment":%d,"amount_cents":%d,"currency":"EUR"}`, n, 100+(n+i)*37%9000)
				prod.Produce(ctx, &kgo.Record{Topic: "payments", Key: fmt.Appendf(nil, "acct-%d", (n+i)%7), Value: []byte(v)}, nil)
			}
		}
	})
	wg.Go(func() {
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			if fs.IsClientClosed() {
				return
			}
		}
	})
}

// startConsole runs `fjord console` on port against the nodes, waits
// until it answers, and stops it (SIGINT) when the test ends. It returns
// the console's base URL.
func startConsole(t *testing.T, brokers, metrics []string, port int) string {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var out bytes.Buffer
	cmd := exec.Command(fjordBin, "console", "-b", strings.Join(brokers, ","), "--addr", addr,
		"--metrics", strings.Join(metrics, ","))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fjord console exited with %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("fjord console did not stop within 10 s of SIGINT")
		}
		if t.Failed() {
			t.Logf("fjord console output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	hc := &http.Client{Timeout: 5 * time.Second}
	waitUntil(t, 20*time.Second, "the console to answer", func() string {
		resp, err := hc.Get(base + "/api/overview")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
		return ""
	})
	return base
}

// waitUntil polls cond (which returns "" when satisfied, else why not)
// every 100 ms until timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %s", timeout, what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// screenshotDir returns $FJORD_SCREENSHOTS (created) or a temporary
// directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FJORD_SCREENSHOTS")
	if dir == "" {
		return filepath.Join(t.TempDir(), "screenshots")
	}
	return dir
}

var errNoChromium = errors.New("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
