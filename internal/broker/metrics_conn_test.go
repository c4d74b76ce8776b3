package broker

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// /metrics counts the open connections per listener.
func TestMetricsConnectionCount(t *testing.T) {
	n := startNode(t, map[string]string{"metrics.http.listener": "127.0.0.1:0"})
	c := n.dial(t)
	defer c.Close()
	c2 := n.dial(t)
	defer c2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body := scrapeMetrics(t, n.metricsAddr)
		if strings.Contains(body, `kafka_server_socket_server_metrics_connection_count{listener="PLAINTEXT"} 2`) &&
			strings.Contains(body, "fjord_server_connections_rejected_per_ip_total 0") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection metrics missing or wrong:\n%s", grepLines(body, "connection"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The metrics listener also serves Go's execution trace, as the
// standard /debug/pprof handlers do.
func TestMetricsServesTrace(t *testing.T) {
	n := startNode(t, map[string]string{"metrics.http.listener": "127.0.0.1:0"})
	resp, err := http.Get("http://" + n.metricsAddr + "/debug/pprof/trace?seconds=0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Fatalf("trace: status %d, %d bytes starting %q, %v", resp.StatusCode, len(b), b[:min(len(b), 16)], err)
	}
}

func scrapeMetrics(t *testing.T, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
