package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// recordsFile writes n random bytes to a file in a test directory.
func recordsFile(t testing.TB, n int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// fileFetch builds a response mixing file-backed partitions (small ones
// copied through the write buffer, large ones sent with sendfile) with a
// partition whose bytes are inline and partitions without records.
func fileFetch(f *os.File, version int16) *FetchResponse {
	r := &FetchResponse{FetchResponse: kmsg.NewPtrFetchResponse()}
	r.Version = version
	for ti, parts := range [][]FileRecords{
		{{File: f, Pos: 10, Len: 1000}, {}, {File: f, Pos: 5000, Len: 100 << 10}, {}},
		{{File: f, Pos: 0, Len: 40 << 10}, {File: f, Pos: 7, Len: sendfileMin - 1}},
	} {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(rune('a' + ti))
		for pi, fr := range parts {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(pi)
			p.HighWatermark = int64(1000 * pi)
			if fr.Len > 0 {
				r.Files = append(r.Files, PartitionFile{Topic: ti, Partition: pi, FileRecords: fr})
			} else if pi == 1 {
				p.RecordBatches = []byte("inline batches")
			}
			t.Partitions = append(t.Partitions, p)
		}
		r.Topics = append(r.Topics, t)
	}
	return r
}

// expected returns what a client must decode from fileFetch.
func expectedFetch(t *testing.T, f *os.File, version int16) *kmsg.FetchResponse {
	t.Helper()
	plain, err := fileFetch(f, version).Materialize()
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// A response whose records come from files decodes, over plain TCP
// (sendfile) and TLS (copied), in every version (int32 and compact
// length prefixes), exactly as the same response encoded by kmsg.
func TestFetchResponseFromFiles(t *testing.T) {
	f, _ := recordsFile(t, 200<<10)
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		return Reply{Response: fileFetch(f, req.Body.GetVersion())}
	}}
	_, plainAddr := startServer(t, Config{}, h)
	tlsAddr := startTLSServer(t, h)
	for _, tc := range []struct {
		name string
		dial func(t *testing.T) *client
	}{
		{"plain", func(t *testing.T) *client { return dial(t, plainAddr) }},
		{"tls", func(t *testing.T) *client { return dialTLS(t, tlsAddr) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.dial(t)
			for corr, v := range []int16{4, 11, 12, 13, 16} {
				req := kmsg.NewPtrFetchRequest()
				req.Version = v
				c.send(int32(corr), req)
				gotCorr, resp := c.recv(req, v)
				want := expectedFetch(t, f, v)
				if gotCorr != int32(corr) || !bytes.Equal(resp.AppendTo(nil), want.AppendTo(nil)) {
					t.Fatalf("v%d: response differs from kmsg's encoding of the same records", v)
				}
			}
		})
	}
}

// A file closed or shorter than its range when the response is written
// closes the connection: a client never gets wrong bytes.
func TestFetchResponseFileGoneCloses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(f *os.File) error
	}{
		{"closed", func(f *os.File) error { return f.Close() }},
		{"truncated", func(f *os.File) error { return os.Truncate(f.Name(), 50<<10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := recordsFile(t, 200<<10)
			h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
				r := fileFetch(f, req.Body.GetVersion())
				if err := tc.damage(f); err != nil {
					t.Error(err)
				}
				return Reply{Response: r}
			}}
			_, addr := startServer(t, Config{}, h)
			c := dial(t, addr)
			req := kmsg.NewPtrFetchRequest()
			req.Version = 12
			c.send(1, req)
			if b, err := c.readFrame(); err == nil {
				t.Fatalf("got a whole %d-byte response from a damaged file", len(b))
			}
		})
	}
}

// testServerCert makes a PKI in a test directory and returns the server's
// certificate.
func testServerCert(t *testing.T) tls.Certificate {
	t.Helper()
	pki, err := tlsconf.GeneratePKI(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pki.Server, pki.Server)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// startTLSServer serves h on a TLS listener with a generated certificate.
func startTLSServer(t *testing.T, h Handler) string {
	t.Helper()
	cert := testServerCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{}, h)
	done := make(chan error, 1)
	go func() {
		done <- s.ServeSecure(ln, "SSL", Security{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	}()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("ServeSecure returned %v", err)
		}
	})
	return ln.Addr().String()
}

func dialTLS(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc}
}

// The placeholder search finds each partition's records after the fields
// kmsg encodes before them, whatever bytes those fields hold.
func TestSplitAtPlaceholders(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	f, _ := recordsFile(t, 4096)
	for v := int16(4); v <= kmsg.NewPtrFetchResponse().MaxVersion(); v++ {
		for range 50 {
			plain := randomFetchResponse(rng, v)
			r := &FetchResponse{FetchResponse: plain}
			for ti := range plain.Topics {
				for pi := range plain.Topics[ti].Partitions {
					if rng.IntN(2) == 0 {
						n := 1 + rng.IntN(4000)
						r.Files = append(r.Files, PartitionFile{Topic: ti, Partition: pi, FileRecords: FileRecords{File: f, Len: n}})
					}
				}
			}
			rng.Shuffle(len(r.Files), func(i, j int) { r.Files[i], r.Files[j] = r.Files[j], r.Files[i] })
			var out bytes.Buffer
			c := &conn{bw: bufio.NewWriter(&out), log: slog.New(slog.DiscardHandler)}
			if err := c.writeResponse(pending{key: 1, version: v, correlationID: 9}, r); err != nil {
				t.Fatal(err)
			}
			c.bw.Flush()
			want, err := r.Materialize()
			if err != nil {
				t.Fatal(err)
			}
			got := out.Bytes()
			if int(binary.BigEndian.Uint32(got)) != len(got)-4 {
				t.Fatalf("v%d: frame size %d for %d bytes", v, binary.BigEndian.Uint32(got), len(got)-4)
			}
			head := 8
			if want.IsFlexible() {
				head++
			}
			if !bytes.Equal(got[head:], want.AppendTo(nil)) {
				t.Fatalf("v%d: written response differs from kmsg's encoding", v)
			}
		}
	}
}

// BenchmarkWriteFetchFromFile writes a fetch response of 6 partitions of
// 256 KiB each from a file: through sendfile on a loopback TCP socket (the
// plain listener's path) and copied through the buffer (TLS's path).
func BenchmarkWriteFetchFromFile(b *testing.B) {
	f, _ := recordsFile(b, 6<<18)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, nc)
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	build := func() *FetchResponse {
		r := &FetchResponse{FetchResponse: kmsg.NewPtrFetchResponse()}
		r.Version = 13
		t := kmsg.NewFetchResponseTopic()
		for i := range 6 {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(i)
			t.Partitions = append(t.Partitions, p)
			r.Files = append(r.Files, PartitionFile{Partition: i, FileRecords: FileRecords{File: f, Pos: int64(i) << 18, Len: 1 << 18}})
		}
		r.Topics = append(r.Topics, t)
		return r
	}
	for _, mode := range []string{"sendfile", "copy"} {
		b.Run(mode, func(b *testing.B) {
			c := &conn{bw: bufio.NewWriterSize(nc, writeBufferSize), log: slog.New(slog.DiscardHandler)}
			if mode == "sendfile" {
				c.raw, _ = nc.(*net.TCPConn).SyscallConn()
			}
			p := pending{key: 1, version: 13, correlationID: 7}
			b.SetBytes(6 << 18)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.writeResponse(p, build()); err != nil {
					b.Fatal(err)
				}
			}
			c.bw.Flush()
		})
	}
}
