package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"
)

// frameConn returns a conn reading frames from r, with no idle timeout.
func frameConn(r io.Reader) *conn {
	s := New(Config{IdleTimeout: -1}, nil)
	return &conn{srv: s, sess: &Session{}, log: slog.New(slog.DiscardHandler), br: bufio.NewReaderSize(r, readBufferSize)}
}

// sizedFrame is a frame of n body bytes with a recognisable pattern.
func sizedFrame(n int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	for i := range n {
		b = append(b, byte(i*7))
	}
	return b
}

// Frames above 1 MiB are read exactly, through the growing path and
// through a pooled buffer of their class once one is free.
func TestLargeFramesPooled(t *testing.T) {
	for _, n := range []int{maxPooled + 1, 3 << 20, 5<<20 + 123} {
		frame := sizedFrame(n)
		for round := range 3 { // growing, then pooled
			c := frameConn(bytes.NewReader(frame))
			p, err := c.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(*p, frame[4:]) {
				t.Fatalf("%d-byte frame, round %d: bytes differ", n, round)
			}
			putFrame(p)
		}
	}
}

// A peer that claims a large frame and stalls has a buffer of at most
// twice what it sent (1 MiB at first), not of the claimed size.
func TestLargeFrameGrowsWithArrivals(t *testing.T) {
	claim := 64 << 20
	sent := binary.BigEndian.AppendUint32(nil, uint32(claim))
	sent = append(sent, make([]byte, 3<<20)...) // 3 MiB, then the peer stalls
	pr, pw := io.Pipe()
	go func() {
		pw.Write(sent)
		time.Sleep(100 * time.Millisecond)
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	var biggest int
	c := frameConn(pr)
	c.onGrow = func(n int) { biggest = max(biggest, n) }
	if _, err := c.readFrame(); err == nil {
		t.Fatal("a truncated frame was read")
	}
	if biggest > 4<<20 {
		t.Fatalf("buffer grew to %d bytes for 3 MiB received", biggest)
	}
}

// BenchmarkReadLargeFrame reads a 4 MiB produce-sized frame as the
// connection's reader does, returning the buffer after each request.
func BenchmarkReadLargeFrame(b *testing.B) {
	frame := sizedFrame(4 << 20)
	r := bytes.NewReader(frame)
	c := frameConn(r)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame)
		c.br.Reset(r)
		p, err := c.readFrame()
		if err != nil {
			b.Fatal(err)
		}
		putFrame(p)
	}
}
