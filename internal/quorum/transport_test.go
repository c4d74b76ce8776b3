package quorum

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func TestIsTransport(t *testing.T) {
	if !IsTransport([]byte("FJRF")) || !IsTransport([]byte("FJRFxx")) {
		t.Error("magic not recognised")
	}
	// A Kafka frame starts with its size: small, never "FJRF".
	if IsTransport([]byte{0, 0, 0, 42}) || IsTransport([]byte("FJR")) {
		t.Error("non-magic recognised")
	}
}

func hello(version byte, from, to int32, cluster string) []byte {
	b := []byte{version}
	b = binary.BigEndian.AppendUint32(b, uint32(from))
	b = binary.BigEndian.AppendUint32(b, uint32(to))
	b = binary.BigEndian.AppendUint16(b, uint16(len(cluster)))
	return append(b, cluster...)
}

// serve runs ServeConn on one end of a pipe and returns the other.
func serve(t *testing.T, r *Raft) (net.Conn, chan struct{}) {
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.ServeConn(server)
	}()
	t.Cleanup(func() { client.Close(); <-done })
	client.SetDeadline(time.Now().Add(5 * time.Second))
	return client, done
}

func TestServeConnHandshake(t *testing.T) {
	c := newCluster(t, 2, nil)
	r := c.start(0)
	for name, tc := range map[string]struct {
		hello []byte
		want  byte
	}{
		"ok":             {hello(1, 1, 0, "test-cluster"), hsOK},
		"cluster id":     {hello(1, 1, 0, "other"), hsClusterID},
		"wrong receiver": {hello(1, 1, 5, "test-cluster"), hsWrongNode},
		"unknown sender": {hello(1, 7, 0, "test-cluster"), hsOK}, // a member this node has not learned of yet
		"self as sender": {hello(1, 0, 0, "test-cluster"), hsUnknownSender},
		"version":        {hello(9, 1, 0, "test-cluster"), hsBadVersion},
	} {
		t.Run(name, func(t *testing.T) {
			conn, done := serve(t, r)
			go conn.Write(tc.hello)
			var status [1]byte
			if _, err := io.ReadFull(conn, status[:]); err != nil || status[0] != tc.want {
				t.Fatalf("status %d, %v; want %d", status[0], err, tc.want)
			}
			if tc.want != hsOK {
				<-done // refused connections are closed
			}
		})
	}
}

// Bad frames end the connection without reaching Raft or allocating from
// an unchecked length.
func TestServeConnBadFrames(t *testing.T) {
	c := newCluster(t, 2, nil)
	r := c.start(0)
	good, _ := (&raftpb.Message{Type: raftpb.MsgHeartbeat, From: 2, To: 1}).Marshal()
	spoofed, _ := (&raftpb.Message{Type: raftpb.MsgHeartbeat, From: 3, To: 1}).Marshal()
	frame := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	for name, payload := range map[string][]byte{
		"huge length":  binary.BigEndian.AppendUint32(nil, 1<<31),
		"zero length":  binary.BigEndian.AppendUint32(nil, 0),
		"garbage":      frame([]byte{0xff, 0xff, 0xff}),
		"wrong sender": append(frame(good), frame(spoofed)...),
	} {
		t.Run(name, func(t *testing.T) {
			conn, done := serve(t, r)
			go func() {
				conn.Write(hello(1, 1, 0, "test-cluster"))
				conn.Write(payload)
			}()
			var status [1]byte
			if _, err := io.ReadFull(conn, status[:]); err != nil || status[0] != hsOK {
				t.Fatalf("handshake: %d %v", status[0], err)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("connection not closed")
			}
		})
	}
}

func TestServeConnAfterClose(t *testing.T) {
	c := newCluster(t, 1, nil)
	r := c.start(0)
	c.stop(0)
	conn, done := serve(t, r)
	<-done
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after Close")
	}
}
