package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// fakeNodes is a NodeControl over three nodes that records the actions
// and changes the states as a real one would.
type fakeNodes struct {
	mu    sync.Mutex
	nodes []NodeStatus
	acts  []string
	err   error // returned by Act when set
}

func newFakeNodes() *fakeNodes {
	since := time.Now().Add(-time.Minute)
	return &fakeNodes{nodes: []NodeStatus{
		{ID: 1, State: "running", PID: 101, Addr: "127.0.0.1:9092", Since: since},
		{ID: 2, State: "paused", PID: 102, Addr: "127.0.0.1:9093", Since: since},
		{ID: 3, State: "stopped", Addr: "127.0.0.1:9094", Since: since, LastExit: "killed"},
	}}
}

func (f *fakeNodes) Nodes() []NodeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]NodeStatus(nil), f.nodes...)
}

func (f *fakeNodes) Act(_ context.Context, id int32, a NodeAction) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acts = append(f.acts, fmt.Sprintf("%s %d", a, id))
	if f.err != nil {
		return f.err
	}
	for i := range f.nodes {
		if f.nodes[i].ID == id && a == ActionKill {
			f.nodes[i].State, f.nodes[i].PID, f.nodes[i].LastExit = "stopped", 0, "killed"
		}
	}
	return nil
}

func (f *fakeNodes) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.acts...)
}

// newNodesServer is a console with nodes (nil: without a node panel) on
// an unreachable cluster; with snap, that snapshot is the cached one.
func newNodesServer(t *testing.T, nodes NodeControl, snap *snapshot) *Server {
	t.Helper()
	s, err := New(Options{ClientOpts: []kgo.Opt{kgo.SeedBrokers(deadSeed(t)), kgo.DialTimeout(100 * time.Millisecond)},
		RequestTimeout: 500 * time.Millisecond, SampleInterval: -1, CacheTTL: time.Hour, Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if snap != nil {
		s.snaps.store(snap)
	}
	return s
}

// panelSnap is a cluster of brokers 1 and 2 (3 is down), controller 1:
// topic t's partition 0 led by 1 with ISR 1, partition 1 led by 2 with
// ISR 1,2, and the canary's three partitions.
func panelSnap() *snapshot {
	sn := testSnap(time.Now(), 1, []int32{1, 2}, []int32{1, 2}, [][]int32{{1}, {1, 2}})
	td := kadm.TopicDetail{Topic: canaryTopic, Partitions: kadm.PartitionDetails{}}
	for i, l := range []int32{1, 2, 1} {
		td.Partitions[int32(i)] = kadm.PartitionDetail{Topic: canaryTopic, Partition: int32(i), Leader: l,
			Replicas: canaryAssignment([]int32{1, 2, 3})[i], ISR: []int32{1, 2}}
	}
	sn.meta.Topics[canaryTopic] = td
	return sn
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// nodeRowHTML returns the panel's row of node id.
func nodeRowHTML(t *testing.T, page string, id int) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr id="node-` + fmt.Sprint(id) + `".*?</tr>`).FindString(page)
	if m == "" {
		t.Fatalf("no row of node %d in %.2000s", id, page)
	}
	return m
}

// enabledButtons lists the row's enabled action buttons.
func enabledButtons(row string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<button [^>]*value="(\w+)"[^>]*>`).FindAllStringSubmatch(row, -1) {
		if !strings.Contains(m[0], " disabled") {
			out = append(out, m[1])
		}
	}
	return out
}

func TestNodePanelOnlyWithNodes(t *testing.T) {
	h := newNodesServer(t, nil, panelSnap()).Handler()
	rec := get(t, h, "/")
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "node-panel") {
		t.Errorf("without Nodes: status %d, panel present: %v", rec.Code, strings.Contains(rec.Body.String(), "node-panel"))
	}
	if rec := get(t, h, "/api/nodes"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /api/nodes without Nodes: %d, want 404", rec.Code)
	}
	if rec := postForm(h, "/nodes/1/kill", "action=x"); rec.Code != http.StatusNotFound {
		t.Errorf("POST /nodes/1/kill without Nodes: %d, want 404", rec.Code)
	}
}

func TestNodePanelRowsAndButtons(t *testing.T) {
	h := newNodesServer(t, newFakeNodes(), panelSnap()).Handler()
	for _, path := range []string{"/", "/?fragment=1"} {
		rec := get(t, h, path)
		page := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(page, `id="node-panel"`) {
			t.Fatalf("GET %s: status %d, no panel in %.500s", path, rec.Code, page)
		}
		for id, want := range map[int]struct{ state, buttons string }{
			1: {"running", "stop kill pause"}, 2: {"paused", "kill resume"}, 3: {"stopped", "start"},
		} {
			row := nodeRowHTML(t, page, id)
			if !strings.Contains(row, `data-state="`+want.state+`"`) {
				t.Errorf("node %d: no data-state=%q in %s", id, want.state, row)
			}
			if got := strings.Join(enabledButtons(row), " "); got != want.buttons {
				t.Errorf("node %d (%s): enabled buttons %q, want %q", id, want.state, got, want.buttons)
			}
			if !strings.Contains(row, fmt.Sprintf(`action="/nodes/%d/kill"`, id)) {
				t.Errorf("node %d: no kill form", id)
			}
		}
		row1 := nodeRowHTML(t, page, 1)
		for _, want := range []string{"active controller", `<td class="num leaders">3</td>`, `<td class="num in-isr">5</td>`, `<td class="num out-of-isr">0</td>`, ">101<"} {
			if !strings.Contains(row1, want) {
				t.Errorf("node 1's row lacks %q: %s", want, row1)
			}
		}
		row3 := nodeRowHTML(t, page, 3)
		for _, want := range []string{"not registered", `<td class="num leaders">0</td>`, `title="fjord-dev-canary-0, fjord-dev-canary-1, fjord-dev-canary-2, t-0, t-1"`, ">killed<"} {
			if !strings.Contains(row3, want) {
				t.Errorf("node 3's row lacks %q: %s", want, row3)
			}
		}
		for _, want := range []string{`id="canary-p1"`, `data-leader="2"`, "fjord-dev-canary", "No action yet"} {
			if !strings.Contains(page, want) {
				t.Errorf("GET %s: panel lacks %q", path, want)
			}
		}
	}
}

func TestNodeActionPost(t *testing.T) {
	f := newFakeNodes()
	s := newNodesServer(t, f, panelSnap())
	h := s.Handler()
	rec := postForm(h, "/nodes/1/kill", "action=x", "Sec-Fetch-Site", "same-origin")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST /nodes/1/kill: %d %s", rec.Code, rec.Body.String())
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if loc.Path != "/" || !strings.HasPrefix(loc.Query().Get("ok"), "kill node 1: done") {
		t.Errorf("redirect to %q", rec.Header().Get("Location"))
	}
	if got := f.actions(); len(got) != 1 || got[0] != "kill 1" {
		t.Errorf("Act calls = %v", got)
	}
	if evs := s.events.recent(5); len(evs) != 1 || evs[0].Kind != "node" || !strings.Contains(evs[0].Text, "kill node 1") {
		t.Errorf("events = %+v", evs)
	}
	s.snaps.store(panelSnap()) // the action dropped the cached one
	page := get(t, h, "/").Body.String()
	if row := nodeRowHTML(t, page, 1); !strings.Contains(row, `data-state="stopped"`) {
		t.Errorf("after the kill, node 1's row: %s", row)
	}
	if !regexp.MustCompile(`<li class="node-action-result" data-node="1" data-action="kill">kill node 1 at [0-9:.]+ — producers saw no stall`).MatchString(page) {
		t.Errorf("no action line in %s", page)
	}
	if !strings.Contains(page, `class="event node"`) {
		t.Error("the kill is not in the event feed")
	}
}

func TestNodeActionRefusals(t *testing.T) {
	f := newFakeNodes()
	s := newNodesServer(t, f, panelSnap())
	h := s.Handler()
	for path, want := range map[string]int{
		"/nodes/9/kill":    http.StatusNotFound,
		"/nodes/x/kill":    http.StatusBadRequest,
		"/nodes/-1/kill":   http.StatusBadRequest,
		"/nodes/1/explode": http.StatusBadRequest,
	} {
		if rec := postForm(h, path, "action=x"); rec.Code != want {
			t.Errorf("POST %s: %d, want %d", path, rec.Code, want)
		}
	}
	if rec := postForm(h, "/nodes/1/kill", "action=x", "Sec-Fetch-Site", "cross-site"); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", rec.Code)
	}
	if got := f.actions(); len(got) != 0 {
		t.Errorf("refused posts reached Act: %v", got)
	}
	f.err = errors.New("node 2 is paused: resume it first")
	rec := postForm(h, "/nodes/2/stop", "action=x")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), ">node 2 is paused: resume it first<") ||
		!strings.Contains(rec.Body.String(), `class="errmsg"`) {
		t.Errorf("Act error: %d %s", rec.Code, rec.Body.String())
	}
	if sums := s.canary.view(time.Now(), 10, 10).Actions; len(sums) != 0 {
		t.Errorf("a refused action was recorded: %+v", sums)
	}
}

// TestNodePanelWithoutCluster: with every node down the overview still
// shows the panel (to start them) and says why the rest is missing.
func TestNodePanelWithoutCluster(t *testing.T) {
	h := newNodesServer(t, newFakeNodes(), nil).Handler()
	rec := get(t, h, "/")
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(page, `id="cluster-error"`) || strings.Contains(page, `id="brokers"`) {
		t.Fatalf("status %d, page %.1500s", rec.Code, page)
	}
	row := nodeRowHTML(t, page, 3)
	if got := strings.Join(enabledButtons(row), " "); got != "start" || !strings.Contains(row, `<td class="num leaders">—</td>`) {
		t.Errorf("node 3 without a cluster: buttons %q, row %s", got, row)
	}
}

func TestNodePanelShowsWindows(t *testing.T) {
	s := newNodesServer(t, newFakeNodes(), panelSnap())
	now := time.Now()
	c := s.canary
	c.mu.Lock()
	c.tr.setPartitions(3)
	c.tr.action(now.Add(-3*time.Second), 2, ActionKill)
	c.tr.sent(1, now.Add(-3*time.Second))
	c.tr.acked(1, now.Add(-3*time.Second), now.Add(-2990*time.Millisecond))
	c.tr.sent(1, now.Add(-2950*time.Millisecond))
	c.tr.acked(1, now.Add(-2950*time.Millisecond), now.Add(-1760*time.Millisecond)) // a 1.23 s window
	c.tr.sent(2, now.Add(-900*time.Millisecond))                                    // open
	c.mu.Unlock()
	page := get(t, s.Handler(), "/?fragment=1").Body.String()
	for _, want := range []string{
		`<li class="canary-window" data-partition="1">partition 1: no ack for 1.23 s`,
		`<li class="canary-window open" data-partition="2">partition 2: no ack for 0.9`,
		"producers to 2 of 3 partitions have waited 1.23 s so far (p1: 1.23 s, p2: 0.9",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("panel lacks %q:\n%s", want, page)
		}
	}
	if !regexp.MustCompile(`<tr id="canary-p2" class="canary-partition trouble"`).MatchString(page) {
		t.Error("the stalled canary partition is not marked")
	}
}

func TestNodesJSON(t *testing.T) {
	s := newNodesServer(t, newFakeNodes(), panelSnap())
	s.canary.action(time.Now(), 1, ActionPause)
	rec := get(t, s.Handler(), "/api/nodes")
	var out struct {
		Nodes []struct {
			ID         int32    `json:"id"`
			State      string   `json:"state"`
			PID        int      `json:"pid"`
			Leaders    int      `json:"leaders"`
			Controller bool     `json:"controller"`
			OutOfISR   []string `json:"out_of_isr"`
		} `json:"nodes"`
		Canary struct {
			Topic   string `json:"topic"`
			Open    []canaryWindow
			Actions []struct {
				Node   int32  `json:"node"`
				Action string `json:"action"`
			} `json:"actions"`
		} `json:"canary"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("status %d, %v: %s", rec.Code, err, rec.Body.String())
	}
	if len(out.Nodes) != 3 || out.Nodes[0].State != "running" || out.Nodes[0].PID != 101 || !out.Nodes[0].Controller ||
		out.Nodes[0].Leaders != 3 || len(out.Nodes[2].OutOfISR) != 5 {
		t.Errorf("nodes = %+v", out.Nodes)
	}
	if out.Canary.Topic != canaryTopic || len(out.Canary.Actions) != 1 || out.Canary.Actions[0].Action != "pause" || out.Canary.Actions[0].Node != 1 {
		t.Errorf("canary = %+v", out.Canary)
	}
}

// TestServeWithNodesStopsWithItsContext: the canary producer (here
// waiting for an unreachable cluster) ends with Serve.
func TestServeWithNodesStopsWithItsContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := New(Options{ClientOpts: []kgo.Opt{kgo.SeedBrokers(deadSeed(t))}, SampleInterval: -1,
		RequestTimeout: 200 * time.Millisecond, Nodes: newFakeNodes()})
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
	deadline := time.Now().Add(5 * time.Second)
	for !strings.HasPrefix(s.canary.view(time.Now(), 0, 0).Status, "waiting to create") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the canary never started waiting for the cluster: %q", s.canary.view(time.Now(), 0, 0).Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	awaitServe(t, done, 10*time.Second)
}

// TestEventLogAdd: the panel's events join the feed in time order.
func TestEventLogAdd(t *testing.T) {
	l := newEventLog(3)
	l.add(event{At: ms(100), Kind: "node", Text: "b"})
	l.add(event{At: ms(300), Kind: "canary", Text: "d"})
	l.add(event{At: ms(200), Kind: "canary", Text: "c"})
	l.add(event{At: ms(0), Kind: "node", Text: "a"})
	var got []string
	for _, e := range l.recent(10) {
		got = append(got, e.Text)
	}
	if strings.Join(got, "") != "dcb" {
		t.Errorf("recent = %v, want d c b (newest first, capped at 3)", got)
	}
}
