package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allocatedBy returns the bytes allocated while f runs.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// KAFKA-14063: a tiny request claiming a huge array must not make the
// decoder allocate from the claim. kmsg v1.15.1 checks each array count
// against the bytes remaining (times the element's minimum wire size) before
// allocating, so these fail fast with a few bytes allocated.
func TestHugeArrayClaim(t *testing.T) {
	huge := []byte{0x7f, 0xff, 0xff, 0xff}
	frames := map[string][]byte{
		"metadata v1 topics":         rawFrame(3, 1, 1, huge),
		"metadata v12 compact":       rawFrame(3, 12, 1, []byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f}),
		"produce v7 topics":          rawFrame(0, 7, 1, append([]byte{0xff, 0xff, 0, 1, 0, 0, 0, 0}, huge...)),
		"produce v7 partitions":      rawFrame(0, 7, 1, append([]byte{0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'x'}, huge...)),
		"fetch v4 topics":            rawFrame(1, 4, 1, append(make([]byte, 4+4+4+4+1), huge...)),
		"delete records partitions":  rawFrame(21, 0, 1, append([]byte{0, 0, 0, 1, 0, 1, 'x'}, huge...)),
		"produce v7 records length":  rawFrame(0, 7, 1, append([]byte{0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'x', 0, 0, 0, 1, 0, 0, 0, 0}, huge...)),
		"describe configs resources": rawFrame(32, 0, 1, huge),
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocatedBy(func() { _, _, err = decodeRequest(frame[4:]) })
			if err == nil || errors.Is(err, errPanic) {
				t.Fatalf("decode: %v", err)
			}
			if n > 64<<10 {
				t.Fatalf("decoding a %d-byte frame allocated %d bytes", len(frame), n)
			}
		})
	}

	// And over TCP: the server closes the connection and stays up.
	_, addr := startServer(t, Config{}, &fakeHandler{})
	for _, frame := range frames {
		c := dial(t, addr)
		c.write(frame)
		c.expectClosed()
	}
	c := dial(t, addr)
	c.send(1, metadataRequest(1))
	if corr, _ := c.recv(metadataRequest(1), 1); corr != 1 {
		t.Fatal("server not answering after huge claims")
	}
}

// What kmsg can still do is amplify: a valid request of many minimal
// elements decodes into Go structs bigger than their wire form. This
// measures the factor for the worst simple case we know (Metadata v0 with
// empty topic names: 2 wire bytes each) so the bound stays visible; memory
// per connection is this factor times MaxRequestBytes at most.
func TestDecodeAmplification(t *testing.T) {
	const topics = 100000
	body := binary.BigEndian.AppendUint32(nil, topics)
	body = append(body, make([]byte, 2*topics)...)
	frame := rawFrame(3, 0, 1, body)[4:]
	var err error
	n := allocatedBy(func() { _, _, err = decodeRequest(frame) })
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(n) / float64(len(frame))
	t.Logf("metadata v0, %d empty topics: %d frame bytes -> %d bytes allocated (%.1fx)", topics, len(frame), n, ratio)
	if ratio > 64 {
		t.Fatalf("amplification %.1fx", ratio)
	}
}

func TestParseHeaderControlledShutdownV0(t *testing.T) {
	frame := []byte{0, 7, 0, 0, 0, 0, 0, 9, 0, 0, 0, 5}
	h, req, err := decodeRequest(frame)
	if err != nil || h.correlationID != 9 || h.clientID != nil {
		t.Fatalf("%+v %v", h, err)
	}
	if cs := req.(*kmsg.ControlledShutdownRequest); cs.BrokerID != 5 {
		t.Fatalf("broker id %d", cs.BrokerID)
	}
}

func TestSizeClass(t *testing.T) {
	for _, n := range []int{1, 1024, 1025, 4096, 4097, 1 << 20} {
		p := getFrame(n)
		if len(*p) != n || cap(*p) < n || cap(*p) > 2*max(n, 1024) {
			t.Fatalf("getFrame(%d): len %d cap %d", n, len(*p), cap(*p))
		}
		putFrame(p)
	}
}

// FuzzDecodeRequest feeds arbitrary header fields and bodies through the
// decode step. It must never panic (a panic recovered by decodeBody is
// reported as a failure, since it would mean kmsg trusts its input).
func FuzzDecodeRequest(f *testing.F) {
	fm := kmsg.NewRequestFormatter(kmsg.FormatterClientID("c"))
	for _, req := range []kmsg.Request{metadataRequest(1, "a"), metadataRequest(12, "b"), kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrProduceRequest(), kmsg.NewPtrFetchRequest()} {
		b := fm.AppendRequest(nil, req, 1)
		f.Add(req.Key(), req.GetVersion(), b[12:])
	}
	f.Fuzz(func(t *testing.T, key, version int16, rest []byte) {
		frame := binary.BigEndian.AppendUint16(nil, uint16(key))
		frame = binary.BigEndian.AppendUint16(frame, uint16(version))
		frame = append(frame, 0, 0, 0, 1)
		frame = append(frame, rest...)
		if _, _, err := decodeRequest(frame); errors.Is(err, errPanic) {
			t.Fatal(err)
		}
	})
}

// fuzzConn is a net.Conn whose input is a fixed byte stream and whose
// output is discarded.
type fuzzConn struct{ r *bytes.Reader }

func (c *fuzzConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *fuzzConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *fuzzConn) Close() error                     { return nil }
func (c *fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzFrameReader runs a whole connection (reader, Handler calls, writer)
// over an arbitrary input stream: no panic, no hang, memory bounded by the
// 1 MiB frame limit.
func FuzzFrameReader(f *testing.F) {
	fm := kmsg.NewRequestFormatter(kmsg.FormatterClientID("c"))
	var seed []byte
	seed = fm.AppendRequest(seed, metadataRequest(9, "x"), 1)
	seed = fm.AppendRequest(seed, kmsg.NewPtrApiVersionsRequest(), 2)
	f.Add(seed)
	f.Add(rawFrame(18, 77, 3, []byte{0}))
	f.Add(rawFrame(3, 1, 1, []byte{0x7f, 0xff, 0xff, 0xff}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, input []byte) {
		s := New(Config{MaxRequestBytes: 1 << 20, MaxInFlight: 4, IdleTimeout: -1}, &fakeHandler{})
		c := newConn(s, &fuzzConn{r: bytes.NewReader(input)}, "FUZZ", Security{}.withDefaults())
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.serve()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("connection did not finish")
		}
		s.Close()
	})
}
