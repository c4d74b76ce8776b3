package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// withBootstrap points the global --bootstrap-server at addr for a test.
func withBootstrap(t *testing.T, addr string) {
	old := bootstrapServers
	bootstrapServers = addr
	t.Cleanup(func() { bootstrapServers = old })
}

func waitClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	withBootstrap(t, addr)
	cl, err := newClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// refusedAddr returns an address nothing listens on (a moment ago).
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// With nothing listening, produce and consume fail after the wait with a
// message naming the address and the dial error, instead of waiting on.
func TestWaitForBrokerRefused(t *testing.T) {
	addr := refusedAddr(t)
	cl := waitClient(t, addr)
	start := time.Now()
	err := waitForBroker(context.Background(), cl, 600*time.Millisecond)
	if err == nil {
		t.Fatal("no error with nothing listening")
	}
	for _, want := range []string{"no broker reachable at " + addr + " (tried for 600ms)", "connection refused", "--bootstrap-server"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v for a 600ms wait", d)
	}
}

// A listener that accepts but never answers is not a broker either.
func TestWaitForBrokerSilent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	cl := waitClient(t, ln.Addr().String())
	err = waitForBroker(context.Background(), cl, 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no broker reachable at "+ln.Addr().String()) {
		t.Fatalf("err = %v", err)
	}
}

// An interrupt ends the wait with the context's error, not a reachability
// verdict.
func TestWaitForBrokerInterrupted(t *testing.T) {
	cl := waitClient(t, refusedAddr(t))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := waitForBroker(ctx, cl, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A broker that comes up during the wait (a cluster still starting) is
// found; one answering at once returns at once.
func TestWaitForBrokerFindsLateBroker(t *testing.T) {
	addr := refusedAddr(t)
	cl := waitClient(t, addr)
	started := make(chan net.Listener, 1)
	time.AfterFunc(400*time.Millisecond, func() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			started <- nil
			return
		}
		started <- ln
		go serveFakeBroker(ln)
	})
	err := waitForBroker(context.Background(), cl, 10*time.Second)
	if ln := <-started; ln == nil {
		t.Skip("port taken meanwhile")
	} else {
		defer ln.Close()
	}
	if err != nil {
		t.Fatalf("late broker not found: %v", err)
	}
	start := time.Now()
	if err := waitForBroker(context.Background(), cl, 10*time.Second); err != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("second wait: %v after %v", err, time.Since(start))
	}
}

// serveFakeBroker answers ApiVersions and Metadata (no topics, itself as
// the only broker) on every connection of ln, enough for kgo's Ping.
func serveFakeBroker(ln net.Listener) {
	host, portStr, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for fakeBrokerAnswer(r, c, host, int32(port)) == nil {
			}
		}()
	}
}

// fakeBrokerAnswer reads one request and writes its response.
func fakeBrokerAnswer(r io.Reader, w io.Writer, host string, port int32) error {
	var size int32
	if err := binary.Read(r, binary.BigEndian, &size); err != nil {
		return err
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	key, ver := int16(binary.BigEndian.Uint16(buf)), int16(binary.BigEndian.Uint16(buf[2:]))
	corr := buf[4:8]
	idLen := int(int16(binary.BigEndian.Uint16(buf[8:])))
	body := buf[10+max(idLen, 0):]
	req := kmsg.RequestForKey(key)
	if req == nil {
		return errors.New("unknown key")
	}
	req.SetVersion(ver)
	if req.IsFlexible() {
		body = body[1:] // no tagged fields in the header
	}
	if err := req.ReadFrom(body); err != nil {
		return err
	}
	resp := req.ResponseKind()
	resp.SetVersion(ver)
	switch resp := resp.(type) {
	case *kmsg.ApiVersionsResponse:
		for _, k := range []int16{18, 3} {
			v := kmsg.NewApiVersionsResponseApiKey()
			v.ApiKey, v.MaxVersion = k, kmsg.RequestForKey(k).MaxVersion()
			resp.ApiKeys = append(resp.ApiKeys, v)
		}
	case *kmsg.MetadataResponse:
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 1, host, port
		resp.Brokers = []kmsg.MetadataResponseBroker{b}
	default:
		return errors.New("unexpected request")
	}
	out := append([]byte{0, 0, 0, 0}, corr...)
	if resp.IsFlexible() && key != 18 { // ApiVersions responses keep header v0
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	_, err := w.Write(out)
	return err
}
