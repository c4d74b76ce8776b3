package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeHandler supports every key up to kmsg's max version except where
// maxVersion says otherwise, and answers with handle or, by default, with
// an empty response of the request's kind and version.
type fakeHandler struct {
	maxVersion map[int16]int16
	handle     func(ctx context.Context, req *Request) Reply
}

func (h *fakeHandler) Supported(key, version int16) bool {
	req := kmsg.RequestForKey(key)
	if req == nil || version < 0 {
		return false
	}
	if v, ok := h.maxVersion[key]; ok {
		return version <= v
	}
	return version <= req.MaxVersion()
}

func (h *fakeHandler) Handle(ctx context.Context, req *Request) Reply {
	if h.handle != nil {
		return h.handle(ctx, req)
	}
	return Reply{Response: defaultResponse(req)}
}

func defaultResponse(req *Request) kmsg.Response {
	resp := req.Body.ResponseKind()
	resp.SetVersion(req.Body.GetVersion())
	if av, ok := resp.(*kmsg.ApiVersionsResponse); ok {
		av.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MinVersion: 0, MaxVersion: 3}, {ApiKey: 3, MaxVersion: 12}}
	}
	return resp
}

// startServer serves h on a loopback port and returns the address; the
// server is closed at the end of the test.
func startServer(t *testing.T, cfg Config, h Handler) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, h)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln, "PLAINTEXT") }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return s, ln.Addr().String()
}

type client struct {
	t  *testing.T
	nc net.Conn
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc}
}

func (c *client) send(corr int32, req kmsg.Request) {
	c.t.Helper()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test-client"))
	c.write(f.AppendRequest(nil, req, corr))
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// readFrame reads one response frame.
func (c *client) readFrame() ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c.nc, b)
	return b, err
}

// recv reads one response to req and decodes it with kmsg, checking the
// header layout: a tag byte only for flexible non-ApiVersions responses.
func (c *client) recv(req kmsg.Request, version int16) (int32, kmsg.Response) {
	c.t.Helper()
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	resp := req.ResponseKind()
	resp.SetVersion(version)
	if resp.IsFlexible() && resp.Key() != 18 {
		if b[0] != 0 {
			c.t.Fatalf("header tag byte %d", b[0])
		}
		b = b[1:]
	}
	if err := resp.ReadFrom(b); err != nil {
		c.t.Fatalf("decoding response: %v", err)
	}
	return corr, resp
}

// expectClosed asserts the server closes the connection without writing.
func (c *client) expectClosed() {
	c.t.Helper()
	b, err := c.readFrame()
	if err == nil {
		c.t.Fatalf("got a %d-byte response, want the connection closed", len(b))
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatal("connection still open")
	}
}

// appendRequest appends one request frame to b. (kmsg's AppendRequest
// writes the size at b[0], so it only works on an empty b.)
func appendRequest(b []byte, req kmsg.Request, corr int32) []byte {
	return append(b, kmsg.NewRequestFormatter().AppendRequest(nil, req, corr)...)
}

func metadataRequest(version int16, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	for _, name := range topics {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, t)
	}
	return req
}

func firstTopic(req *Request) string {
	m, ok := req.Body.(*kmsg.MetadataRequest)
	if !ok || len(m.Topics) == 0 || m.Topics[0].Topic == nil {
		return ""
	}
	return *m.Topics[0].Topic
}

func metadataResponse(req *Request, name string) kmsg.Response {
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = req.Body.GetVersion()
	t := kmsg.NewMetadataResponseTopic()
	t.Topic = kmsg.StringPtr(name)
	resp.Topics = append(resp.Topics, t)
	return resp
}

func respTopic(t *testing.T, resp kmsg.Response) string {
	m := resp.(*kmsg.MetadataResponse)
	if len(m.Topics) != 1 || m.Topics[0].Topic == nil {
		t.Fatalf("bad metadata response %+v", m)
	}
	return *m.Topics[0].Topic
}

// An earlier request's Wait completing after later requests' immediate
// responses still answers in request order.
func TestPipelinedInOrder(t *testing.T) {
	release := make(chan kmsg.Response, 1)
	handled := make(chan string, 3)
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		name := firstTopic(req)
		handled <- name
		if name == "slow" {
			return Reply{Wait: release}
		}
		return Reply{Response: metadataResponse(req, name)}
	}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	for i, name := range []string{"slow", "b", "c"} {
		c.send(int32(i+1), metadataRequest(12, name))
	}
	for range 3 {
		<-handled // all three handled before the first is answered
	}
	c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.readFrame(); err == nil {
		t.Fatal("a response overtook the pending first one")
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	release <- metadataResponse(&Request{Body: metadataRequest(12)}, "slow")
	for i, want := range []string{"slow", "b", "c"} {
		corr, resp := c.recv(metadataRequest(12), 12)
		if corr != int32(i+1) || respTopic(t, resp) != want {
			t.Fatalf("response %d: corr %d topic %q, want %d %q", i, corr, respTopic(t, resp), i+1, want)
		}
	}
}

// Non-flexible and flexible versions, and ApiVersions' always-v0 header,
// decode with kmsg on the client side.
func TestHeaderEncoding(t *testing.T) {
	var mu sync.Mutex
	var clientIDs []string
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		mu.Lock()
		clientIDs = append(clientIDs, req.ClientID)
		mu.Unlock()
		if _, ok := req.Body.(*kmsg.MetadataRequest); ok {
			return Reply{Response: metadataResponse(req, firstTopic(req))}
		}
		return Reply{Response: defaultResponse(req)}
	}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	for i, v := range []int16{0, 1, 8, 9, 12} {
		c.send(int32(100+i), metadataRequest(v, "t"))
		corr, resp := c.recv(metadataRequest(v), v)
		if corr != int32(100+i) || respTopic(t, resp) != "t" {
			t.Fatalf("v%d: corr %d", v, corr)
		}
	}
	for _, v := range []int16{0, 3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "fjord-test", "1"
		c.send(7, req)
		corr, resp := c.recv(req, v)
		av := resp.(*kmsg.ApiVersionsResponse)
		if corr != 7 || av.ErrorCode != 0 || len(av.ApiKeys) != 2 {
			t.Fatalf("ApiVersions v%d: corr %d %+v", v, corr, av)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range clientIDs {
		if id != "test-client" {
			t.Fatalf("client id %q", id)
		}
	}
}

// ApiVersions at a version the Handler does not support is answered as v0
// with UNSUPPORTED_VERSION and the Handler's key list (KIP-511), even when
// the body is not decodable.
func TestApiVersionsUnsupportedVersion(t *testing.T) {
	h := &fakeHandler{maxVersion: map[int16]int16{18: 3}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	for _, v := range []int16{4, 99} {
		frame := rawFrame(18, v, 42, []byte{0, 0xff, 0xfe, 0xfd}) // tags, then garbage
		c.write(frame)
		corr, resp := c.recv(kmsg.NewPtrApiVersionsRequest(), 0)
		av := resp.(*kmsg.ApiVersionsResponse)
		if corr != 42 || av.ErrorCode != kerr.UnsupportedVersion.Code || len(av.ApiKeys) != 2 {
			t.Fatalf("v%d: corr %d, %+v", v, corr, av)
		}
	}
}

// rawFrame builds a frame with a v1 request header and the given body.
func rawFrame(key, version int16, corr int32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func TestBadRequestsClose(t *testing.T) {
	h := &fakeHandler{maxVersion: map[int16]int16{3: 8}}
	_, addr := startServer(t, Config{MaxRequestBytes: 1 << 20}, h)
	sizeOnly := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	cases := map[string][]byte{
		"unknown key":          rawFrame(30000, 0, 1, nil),
		"unsupported version":  kmsg.NewRequestFormatter().AppendRequest(nil, metadataRequest(9), 1),
		"negative version":     rawFrame(3, -1, 1, []byte{0, 0, 0, 0}),
		"negative size":        sizeOnly(-1),
		"oversize":             sizeOnly(1<<20 + 1),
		"max int32 size":       sizeOnly(1<<31 - 1),
		"zero size":            sizeOnly(0),
		"too small for header": append(sizeOnly(6), 0, 3, 0, 1, 0, 0),
		"truncated body":       rawFrame(3, 1, 1, []byte{0, 0, 0, 5, 0, 1}),
		"client id too long":   append(sizeOnly(10), 0, 3, 0, 1, 0, 0, 0, 1, 0, 9),
		"bad header tags":      rawFrame(3, 9, 1, []byte{5, 1}),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			c.write(frame)
			c.expectClosed()
		})
	}
}

// A request after an earlier good one closes the connection only after the
// earlier response is written.
func TestBadRequestAfterGoodOne(t *testing.T) {
	_, addr := startServer(t, Config{}, &fakeHandler{})
	c := dial(t, addr)
	good := kmsg.NewRequestFormatter().AppendRequest(nil, metadataRequest(1, "a"), 5)
	c.write(append(good, rawFrame(30000, 0, 6, nil)...))
	if corr, _ := c.recv(metadataRequest(1), 1); corr != 5 {
		t.Fatalf("corr %d", corr)
	}
	c.expectClosed()
}

func TestReplyCloseAfterWriting(t *testing.T) {
	var handled sync.WaitGroup
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		handled.Done()
		return Reply{Response: metadataResponse(req, firstTopic(req)), Close: firstTopic(req) == "bye"}
	}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	handled.Add(2)
	b := appendRequest(nil, metadataRequest(1, "a"), 1)
	b = appendRequest(b, metadataRequest(1, "bye"), 2)
	b = appendRequest(b, metadataRequest(1, "never"), 3)
	c.write(b)
	for i, want := range []string{"a", "bye"} {
		if corr, resp := c.recv(metadataRequest(1), 1); corr != int32(i+1) || respTopic(t, resp) != want {
			t.Fatalf("corr %d", corr)
		}
	}
	c.expectClosed()
	handled.Wait() // the third request was never handled (Done would go negative)
}

// A Wait channel closed by the Handler closes the connection after the
// responses before it.
func TestWaitClosedCloses(t *testing.T) {
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		if firstTopic(req) == "close" {
			ch := make(chan kmsg.Response)
			close(ch)
			return Reply{Wait: ch}
		}
		return Reply{Response: metadataResponse(req, firstTopic(req))}
	}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	c.write(appendRequest(appendRequest(nil, metadataRequest(1, "x"), 1), metadataRequest(1, "close"), 2))
	if corr, _ := c.recv(metadataRequest(1), 1); corr != 1 {
		t.Fatalf("corr %d", corr)
	}
	c.expectClosed()
}

// acks=0: a Reply with neither Response nor Wait writes nothing, and so
// does a nil value on Wait.
func TestNoResponse(t *testing.T) {
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		switch req.Body.(type) {
		case *kmsg.ProduceRequest:
			return Reply{}
		case *kmsg.MetadataRequest:
			ch := make(chan kmsg.Response, 1)
			ch <- nil
			return Reply{Wait: ch}
		}
		return Reply{Response: defaultResponse(req)}
	}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	produce := kmsg.NewPtrProduceRequest()
	produce.Version, produce.Acks = 9, 0
	c.send(1, produce)
	c.send(2, metadataRequest(4))
	av := kmsg.NewPtrApiVersionsRequest()
	c.send(3, av)
	if corr, _ := c.recv(av, 0); corr != 3 {
		t.Fatalf("first response has corr %d, want 3", corr)
	}
}

// A frame bigger than the pooled sizes is read whole and its records reach
// the Handler intact.
func TestLargeFrame(t *testing.T) {
	records := make([]byte, 3<<20+17)
	for i := range records {
		records[i] = byte(i * 7)
	}
	got := make(chan int, 1)
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		p := req.Body.(*kmsg.ProduceRequest)
		r := p.Topics[0].Partitions[0].Records
		ok := len(r) == len(records) && r[len(r)-1] == records[len(records)-1] && r[12345] == records[12345]
		if ok {
			got <- len(r)
		} else {
			got <- -1
		}
		return Reply{Response: defaultResponse(req)}
	}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks = 7, 1
	tp := kmsg.NewProduceRequestTopicPartition()
	tp.Records = records
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic, topic.Partitions = "big", []kmsg.ProduceRequestTopicPartition{tp}
	req.Topics = []kmsg.ProduceRequestTopic{topic}
	c.send(1, req)
	if n := <-got; n != len(records) {
		t.Fatalf("handler saw %d bytes of records", n)
	}
	if corr, _ := c.recv(req, 7); corr != 1 {
		t.Fatalf("corr %d", corr)
	}
}

func TestIdleTimeout(t *testing.T) {
	release := make(chan kmsg.Response, 1)
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		if firstTopic(req) == "wait" {
			return Reply{Wait: release}
		}
		return Reply{Response: metadataResponse(req, firstTopic(req))}
	}}
	_, addr := startServer(t, Config{IdleTimeout: 150 * time.Millisecond}, h)

	idle := dial(t, addr)
	start := time.Now()
	idle.expectClosed()
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}

	// A connection with a response outstanding is not idle.
	busy := dial(t, addr)
	busy.send(1, metadataRequest(1, "wait"))
	time.Sleep(400 * time.Millisecond)
	release <- metadataResponse(&Request{Body: metadataRequest(1)}, "wait")
	if corr, _ := busy.recv(metadataRequest(1), 1); corr != 1 {
		t.Fatalf("corr %d", corr)
	}
}

// Close returns with Handle calls blocked on ctx and Waits never answered,
// and leaves no goroutines behind (checked by TestMain).
func TestCloseAbandonsWaits(t *testing.T) {
	entered := make(chan struct{}, 2)
	h := &fakeHandler{handle: func(ctx context.Context, req *Request) Reply {
		entered <- struct{}{}
		if firstTopic(req) == "block" {
			<-ctx.Done()
			return Reply{}
		}
		return Reply{Wait: make(chan kmsg.Response)}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{}, h)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln, "PLAINTEXT") }()
	a, b := dial(t, ln.Addr().String()), dial(t, ln.Addr().String())
	a.send(1, metadataRequest(1, "block"))
	b.send(1, metadataRequest(1, "wait"))
	<-entered
	<-entered
	s.Close()
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	a.expectClosed()
	b.expectClosed()
	if err := s.Serve(ln, "PLAINTEXT"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

// A full queue pauses reading: with MaxInFlight 2 and a first Wait held,
// the Handler sees no more than 1 (being written) + 2 (queued) + 1 (blocked
// pushing) requests.
func TestReadPausesWhenQueueFull(t *testing.T) {
	release := make(chan kmsg.Response, 1)
	var mu sync.Mutex
	handled := 0
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		mu.Lock()
		handled++
		first := handled == 1
		mu.Unlock()
		if first {
			return Reply{Wait: release}
		}
		return Reply{Response: metadataResponse(req, firstTopic(req))}
	}}
	_, addr := startServer(t, Config{MaxInFlight: 2}, h)
	c := dial(t, addr)
	var b []byte
	for i := range 20 {
		b = appendRequest(b, metadataRequest(1, "t"), int32(i))
	}
	c.write(b)
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	n := handled
	mu.Unlock()
	if n > 4 {
		t.Fatalf("handled %d requests while the first was pending", n)
	}
	release <- metadataResponse(&Request{Body: metadataRequest(1)}, "t")
	for i := range 20 {
		if corr, _ := c.recv(metadataRequest(1), 1); corr != int32(i) {
			t.Fatalf("corr %d, want %d", corr, i)
		}
	}
}

// BenchmarkPipelined measures a client pipelining small Metadata requests
// through one connection (server and client in this process; allocations
// include the client's decoding).
func BenchmarkPipelined(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{}, &fakeHandler{})
	go s.Serve(ln, "PLAINTEXT")
	defer s.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	const batch = 64
	var frames []byte
	for i := range batch {
		frames = appendRequest(frames, metadataRequest(12, "t"), int32(i))
	}
	buf := make([]byte, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N / batch {
		if _, err := nc.Write(frames); err != nil {
			b.Fatal(err)
		}
		for range batch {
			if _, err := io.ReadFull(nc, buf[:4]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(nc, buf[:binary.BigEndian.Uint32(buf)]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// OnClose gets the session of every ended connection, with the Peer the
// Handler set on it.
func TestOnCloseReportsPeer(t *testing.T) {
	closed := make(chan *Session, 2)
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		req.Session.Peer = firstTopic(req)
		return Reply{Response: metadataResponse(req, firstTopic(req))}
	}}
	_, addr := startServer(t, Config{OnClose: func(s *Session) { closed <- s }}, h)
	c := dial(t, addr)
	c.send(1, metadataRequest(1, "broker-7"))
	if corr, _ := c.recv(metadataRequest(1), 1); corr != 1 {
		t.Fatalf("corr %d", corr)
	}
	c.nc.Close()
	select {
	case s := <-closed:
		if s.Peer != "broker-7" {
			t.Fatalf("OnClose got peer %v", s.Peer)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose not called after the client closed")
	}
}

// A Later reply is computed by the writer in its turn: the responses
// before it are on the wire first (flushed before it blocks), the
// requests after it are handled while it blocks, and their responses
// follow its own.
func TestLaterInOrder(t *testing.T) {
	release := make(chan struct{})
	handled := make(chan string, 3)
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		name := firstTopic(req)
		handled <- name
		if name == "later" {
			return Reply{Later: func() kmsg.Response {
				<-release
				return metadataResponse(req, name)
			}}
		}
		return Reply{Response: metadataResponse(req, name)}
	}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	for i, name := range []string{"a", "later", "c"} {
		c.send(int32(i+1), metadataRequest(12, name))
	}
	for range 3 {
		<-handled // the third is handled while Later blocks
	}
	if corr, resp := c.recv(metadataRequest(12), 12); corr != 1 || respTopic(t, resp) != "a" {
		t.Fatalf("first response: corr %d topic %q", corr, respTopic(t, resp))
	}
	c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.readFrame(); err == nil {
		t.Fatal("a response overtook the blocked Later")
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	close(release)
	for i, want := range []string{"later", "c"} {
		corr, resp := c.recv(metadataRequest(12), 12)
		if corr != int32(i+2) || respTopic(t, resp) != want {
			t.Fatalf("response %d: corr %d topic %q, want %d %q", i+2, corr, respTopic(t, resp), i+2, want)
		}
	}
}

// Close ends a Later blocked on the Handle context, and the connection
// closes (no goroutine left behind, checked by TestMain).
func TestCloseEndsLater(t *testing.T) {
	entered := make(chan struct{}, 1)
	h := &fakeHandler{handle: func(ctx context.Context, req *Request) Reply {
		return Reply{Later: func() kmsg.Response {
			entered <- struct{}{}
			<-ctx.Done()
			return nil
		}}
	}}
	s, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	c.send(1, metadataRequest(12, "x"))
	<-entered
	s.Close()
	c.expectClosed()
}
