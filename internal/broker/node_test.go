package broker

// Shared helpers for tests that run a real node in-process and talk to it
// over TCP: startNode, a raw protocol connection (rawConn) for hand-made
// requests, and a franz-go health check (checkServes).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// testNode is an in-process node started by startNode.
type testNode struct {
	*Broker
	addr string // PLAINTEXT host:port
}

// startNode starts a single node with a PLAINTEXT listener on a free
// loopback port and its data in a temporary directory; props override or
// add broker configs. At the end of the test (after every cleanup
// registered later, e.g. clients) the node is closed and the test fails if
// any goroutine started since startNode is still running.
//
// Tests that use startNode must not run in parallel with other tests of
// the package: the leak check compares against the goroutines alive when
// the node started.
func startNode(t *testing.T, props map[string]string) *testNode {
	t.Helper()
	return startNodeWith(t, props, Options{})
}

// startNodeWith is startNode with Options.
func startNodeWith(t *testing.T, props map[string]string, o Options) *testNode {
	t.Helper()
	baseline := goleak.IgnoreCurrent()
	all := map[string]string{
		"listeners":                       "PLAINTEXT://127.0.0.1:0",
		"log.dirs":                        t.TempDir(),
		"log.retention.check.interval.ms": "3600000",
	}
	for k, v := range props {
		all[k] = v
	}
	cfg, err := config.NewBroker(all)
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	b, err := StartWith(cfg, logger, o)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{Broker: b, addr: b.Addr("PLAINTEXT")}
	if n.addr == "" {
		b.Close()
		t.Fatal("no PLAINTEXT listener bound")
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
		goleak.VerifyNone(t, baseline)
	})
	return n
}

// client returns a franz-go client for the node; the caller closes it.
// Idempotence is off: the node does not advertise InitProducerId.
func (n *testNode) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(n.addr),
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.MetadataMinAge(10 * time.Millisecond),
		kgo.RetryTimeout(5 * time.Second),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// createTopic creates a topic with the given partitions and configs over a
// raw connection and fails the test unless it succeeds.
func (n *testNode) createTopic(t *testing.T, name string, partitions int32, configs map[string]string) {
	t.Helper()
	c := n.dial(t)
	defer c.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(5)
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	for k, v := range configs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, cfg)
	}
	req.Topics = append(req.Topics, rt)
	resp := c.roundTrip(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		t.Fatalf("create %s: %d topics in response", name, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

// checkServes produces one record to topic (which must exist, partition 0)
// with a fresh franz-go client, consumes it back, and closes the client.
func (n *testNode) checkServes(t *testing.T, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	value := fmt.Appendf(nil, "health-%d", time.Now().UnixNano())
	cl := n.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	r, err := cl.ProduceSync(ctx, &kgo.Record{Value: value, Partition: 0}).First()
	if err != nil {
		t.Fatalf("node no longer serves produce: %v", err)
	}
	cons := n.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().At(r.Offset)},
	}))
	defer cons.Close()
	for {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("node no longer serves fetch: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		var got []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
		if len(got) > 0 {
			if got[0].Offset != r.Offset || !bytes.Equal(got[0].Value, value) {
				t.Fatalf("consumed offset %d %q, produced offset %d %q", got[0].Offset, got[0].Value, r.Offset, value)
			}
			return
		}
	}
}

// rawConn is a raw protocol connection: size-prefixed kmsg requests out,
// size-prefixed responses in.
type rawConn struct {
	t    *testing.T
	nc   net.Conn
	corr int32
}

// dial opens a raw connection to the node with a 10 s deadline; it is
// closed at the end of the test if the test does not close it first.
func (n *testNode) dial(t *testing.T) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc}
}

func (c *rawConn) Close() error { return c.nc.Close() }

// write sends raw bytes.
func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes req (at the version set on it) with the next correlation id
// and returns that id.
func (c *rawConn) send(req kmsg.Request) int32 {
	c.t.Helper()
	c.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("badinput-test"))
	c.write(f.AppendRequest(nil, req, c.corr))
	return c.corr
}

// frame builds a request frame by hand: size, then key, version,
// correlation id, client id "t", then body as given (for flexible
// versions the caller must include the header's empty tag section).
func frame(key, version int16, corr int32, body []byte) []byte {
	b := make([]byte, 4, 64+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 't')
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readFrame reads one response frame (without its size).
func (c *rawConn) readFrame() ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("response frame of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(c.nc, b)
	return b, err
}

// recv reads the response to a request of req's kind sent with corr and
// decodes it at version (the request's, or 0 for the KIP-511 answer).
func (c *rawConn) recv(req kmsg.Request, corr int32, version int16) kmsg.Response {
	c.t.Helper()
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read response to key %d: %v", req.Key(), err)
	}
	if len(b) < 4 {
		c.t.Fatalf("response frame of %d bytes", len(b))
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		c.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	b = b[4:]
	resp := req.ResponseKind()
	resp.SetVersion(version)
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		if len(b) == 0 || b[0] != 0 {
			c.t.Fatalf("flexible response header: want an empty tag section")
		}
		b = b[1:]
	}
	if err := resp.ReadFrom(b); err != nil {
		c.t.Fatalf("decode response to key %d v%d: %v", req.Key(), version, err)
	}
	return resp
}

// roundTrip sends req and returns its decoded response.
func (c *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	corr := c.send(req)
	return c.recv(req, corr, req.GetVersion())
}

// expectClosed asserts that the node closes the connection without sending
// anything (more): the next read sees EOF or a reset within the deadline.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [512]byte
	n, err := c.nc.Read(buf[:])
	switch {
	case n > 0:
		c.t.Fatalf("expected the connection to close, got %d bytes: %x", n, buf[:n])
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatal("expected the connection to close; it is still open")
	case err == nil:
		c.t.Fatal("expected the connection to close; read returned nothing and no error")
	}
}
