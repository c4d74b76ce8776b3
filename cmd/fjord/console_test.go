package main

import (
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/console"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDevMetricsURLsFollowDevProps(t *testing.T) {
	got := devMetricsURLs(devOpts{dataDir: "/d", port: 9092, nodes: 3})
	want := []string{"http://127.0.0.1:29092/metrics", "http://127.0.0.1:29093/metrics", "http://127.0.0.1:29094/metrics"}
	if !slices.Equal(got, want) {
		t.Errorf("devMetricsURLs = %v, want %v", got, want)
	}
}

func TestDevConsoleDisabledByEmptyAddr(t *testing.T) {
	old := devConsoleAddr
	defer func() { devConsoleAddr = old }()
	devConsoleAddr = " "
	startDevConsole(devOpts{port: 9092, nodes: 1}, nil)() // nothing to start or stop
}

// TestDevConsoleServesAndStops starts the dev console on a free port
// (against no cluster: pages then say the cluster is unreachable) and
// stops it.
func TestDevConsoleServesAndStops(t *testing.T) {
	old := devConsoleAddr
	defer func() { devConsoleAddr = old }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	devConsoleAddr = ln.Addr().String()
	ln.Close()
	stop := startDevConsole(devOpts{port: 9092, nodes: 1}, nil)
	resp, err := http.Get("http://" + devConsoleAddr + "/static/console.css")
	if err != nil {
		stop()
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Fjord Console") {
		t.Errorf("console.css: status %d", resp.StatusCode)
	}
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the dev console did not stop")
	}
}

func TestListenConsoleReportsABusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, _, err = listenConsole(ln.Addr().String(), console.Options{ClientOpts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}})
	if err == nil || !strings.Contains(err.Error(), "console:") {
		t.Errorf("listenConsole on a busy address: %v", err)
	}
}
