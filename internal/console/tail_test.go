package console

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTailBadInput: a bad partition, mode or filter is a 400 with a clear
// message, before the cluster is asked; an unknown topic of an
// unreachable cluster fails bounded with an error page, not a stream.
func TestTailBadInput(t *testing.T) {
	h := newTestServer(t).Handler()
	for path, want := range map[string]string{
		"/topics/t/messages/tail?partition=abc":                                 "partition must be a partition number or all",
		"/topics/t/messages/tail?partition=-1":                                  "partition must be a partition number or all",
		"/topics/t/messages/tail?partition=9e99":                                "partition must be",
		"/topics/t/messages/tail?mode=json":                                     "mode must be auto, text or hex",
		"/topics/t/messages/tail?filter=" + strings.Repeat("f", maxFilterLen+1): "filter is longer",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %.60s: status %d, want 400 saying %q", path, rec.Code, want)
		}
		if ct := rec.Header().Get("Content-Type"); strings.Contains(ct, "event-stream") {
			t.Errorf("GET %.60s: a refused tail answered %s", path, ct)
		}
	}
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/topics/t/messages/tail", nil))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a tail of an unreachable cluster took %v", took)
	}
	if rec.Code != http.StatusBadGateway && rec.Code != http.StatusGatewayTimeout {
		t.Errorf("a tail of an unreachable cluster: status %d, want 502 or 504", rec.Code)
	}
}

// TestTailTooMany: beyond maxTails at once a tail is a 503.
func TestTailTooMany(t *testing.T) {
	s := newTestServer(t)
	slots := make(chan struct{}, 1)
	slots <- struct{}{}
	rec := httptest.NewRecorder()
	s.tail(rec, httptest.NewRequest(http.MethodGet, "/topics/t/messages/tail", nil), slots, defaultTailLimits)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
}

// TestRateWindow: at most rate records a second; the rest are counted
// and reported once when the window rolls.
func TestRateWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := &rateWindow{rate: 3, start: t0}
	sent := 0
	for i := range 10 {
		if w.roll(t0.Add(time.Duration(i)*time.Millisecond)) != 0 {
			t.Fatal("rolled within the first second")
		}
		if w.admit() {
			sent++
		}
	}
	if sent != 3 {
		t.Errorf("sent %d in one second, want 3", sent)
	}
	if n := w.roll(t0.Add(time.Second)); n != 7 {
		t.Errorf("the window dropped %d, want 7", n)
	}
	if !w.admit() || w.roll(t0.Add(1500*time.Millisecond)) != 0 {
		t.Error("the new window does not admit, or rolled early")
	}
}

// TestSSEEvents: multi-line data becomes several data: lines; a carriage
// return cannot end a line early.
func TestSSEEvents(t *testing.T) {
	var out bytes.Buffer
	rec := httptest.NewRecorder()
	st := &sseStream{w: &out, rc: http.NewResponseController(rec)}
	st.event("record", "<tr>\n<td>a\rb</td></tr>")
	st.dropped(0, 5)
	st.dropped(2, 5)
	st.comment("keep-alive")
	if err := st.flush(); err != nil {
		t.Fatal(err)
	}
	want := "event: record\ndata: <tr>\ndata: <td>a&#13;b</td></tr>\n\n" +
		"event: dropped\ndata: 2 records skipped: the live tail shows at most 5 records a second\n\n" +
		": keep-alive\n\n"
	if out.String() != want {
		t.Errorf("stream:\n%q\nwant\n%q", out.String(), want)
	}
}
