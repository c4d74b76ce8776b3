package console

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// deadSeed returns a loopback address nothing listens on.
func deadSeed(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{ClientOpts: []kgo.Opt{kgo.SeedBrokers(deadSeed(t)), kgo.DialTimeout(100 * time.Millisecond)},
		RequestTimeout: 500 * time.Millisecond, SampleInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestUnreachableClusterPagesFailBounded: with no broker to talk to every
// page answers within its timeout with an error page, never hangs.
func TestUnreachableClusterPagesFailBounded(t *testing.T) {
	h := newTestServer(t).Handler()
	for _, path := range []string{"/", "/topics", "/topics/x", "/groups", "/groups/g", "/brokers/1", "/topics/x/messages"} {
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("GET %s took %v", path, took)
		}
		if rec.Code != http.StatusBadGateway && rec.Code != http.StatusGatewayTimeout {
			t.Errorf("GET %s: status %d, want 502 or 504", path, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), `class="errmsg"`) {
			t.Errorf("GET %s: no error message in %.300s", path, rec.Body.String())
		}
	}
}

func TestRoutesWithoutCluster(t *testing.T) {
	h := newTestServer(t).Handler()
	for path, want := range map[string]int{
		"/static/console.css": http.StatusOK,
		"/static/console.js":  http.StatusOK,
		"/static/nothing":     http.StatusNotFound,
		"/no/such/page":       http.StatusNotFound,
		"/brokers/abc":        http.StatusBadRequest,
		"/brokers/-1":         http.StatusBadRequest,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: status %d, want %d", path, rec.Code, want)
		}
	}
}

// TestFormsValidateBeforeKafka: bad form input is a 400 without asking the
// (here unreachable) cluster; a cross-site post is refused.
func TestFormsValidateBeforeKafka(t *testing.T) {
	h := newTestServer(t).Handler()
	for path, form := range map[string]string{
		"/topics":              "name=&partitions=1",
		"/topics?":             "name=t&partitions=abc",
		"/topics?x":            "name=t&replication=0",
		"/topics?y":            "name=t&configs=novalue",
		"/topics/t/delete":     "confirm=other",
		"/topics/t/configs":    "key=",
		"/topics/t/configs?op": "key=a&op=explode",
	} {
		if rec := postForm(h, path, form); rec.Code != http.StatusBadRequest {
			t.Errorf("POST %s %q: status %d, want 400", path, form, rec.Code)
		}
	}
	if rec := postForm(h, "/topics/t/delete", "confirm=t", "Sec-Fetch-Site", "cross-site"); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site POST: status %d, want 403", rec.Code)
	}
}

// TestServeStopsWithItsContext: Serve returns nil once its context ends,
// and leaves no goroutine behind (sampler, shutdown watcher, client).
func TestServeStopsWithItsContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := New(Options{ClientOpts: []kgo.Opt{kgo.SeedBrokers(deadSeed(t))}, SampleInterval: 50 * time.Millisecond,
		RequestTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/static/console.css")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(150 * time.Millisecond) // a few sampler ticks
	cancel()
	awaitServe(t, done, 5*time.Second)
}

// awaitServe waits up to timeout for Serve's result on done, which must
// be nil (its context ended).
func awaitServe(t *testing.T, done <-chan error, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Serve did not return after its context ended")
	}
}

// postForm posts the form body to path through h, with header as
// name, value pairs, and returns the recorded answer.
func postForm(h http.Handler, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
