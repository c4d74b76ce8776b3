package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Bounds of the dev panel test's waits. A killed or paused node keeps its
// leaderships until the controller fences it: the dev nodes' broker
// session (the default 9 s), then an election, the canary's retry and a
// live refresh (2 s), on a machine that may be busy.
const (
	devUpBound    = 90 * time.Second // dev's announcement, the console and its canary
	failoverBound = 45 * time.Second // leaders moved, ISRs shrunk, the window closed
	recoverBound  = 60 * time.Second // a started or resumed node back in every ISR
	devStopBound  = 30 * time.Second // SIGINT to exit
)

// TestDevPanel runs `fjord dev` (3 nodes as child processes, the console
// with its node panel) with an acks=all producer of the test's own, and
// in Chromium kills, starts, pauses and resumes nodes through the panel's
// buttons: the live region (no reload) shows the state of each node, its
// leaders moving away and back, the ISRs shrinking and recovering, and,
// for each action, the unavailability window the console's canary
// producers saw. It logs those windows (the panel's text and /api/nodes),
// saves a screenshot of each step, and stops dev with SIGINT: status 0,
// no node process left.
func TestDevPanel(t *testing.T) {
	if chromiumBin == "" {
		t.Skip(errNoChromium)
	}
	t0 := time.Now()
	dev := startDevCluster(t)
	t.Logf("fjord dev up with its console and canary producing after %v", time.Since(t0).Round(time.Millisecond))
	prod := startOrdersProducer(t, dev)

	shots := screenshotDir(t)
	tb := newTab(t, dev.base, shots)
	t.Logf("screenshots in %s", shots)
	all := []int32{1, 2, 3}

	// 1. The panel: three running nodes, each canary partition led and
	// acking with its whole ISR.
	step := time.Now()
	tb.nav(t, "/")
	tb.await(t, failoverBound, "the panel to show 3 running nodes and every canary partition led and acking", panelHealthy(all, "")...)
	if n := tb.count(t, "#nodes tr.node.running"); n != 3 {
		t.Fatalf("the panel lists %d running nodes, want 3", n)
	}
	if n := tb.count(t, "#canary-partitions tr.canary-partition"); n != 3 {
		t.Fatalf("the panel lists %d canary partitions, want 3 (one per node)", n)
	}
	t.Logf("the panel showed the healthy cluster %v after navigation", time.Since(step).Round(time.Millisecond))
	tb.shot(t, "dev-panel")
	st := readPanel(t, tb)
	victim := st.pick(func(n panelNode) bool { return n.ID > 0 })
	led := st.ledBy(victim)
	t.Logf("killing node %d (active controller %d), leader of canary partitions %v", victim, st.controller(), led)

	// 2. Kill it from the panel: it is stopped, its leaders move, the
	// ISRs shrink, and the kill's line reports the producers' window.
	row := nodeRow(victim)
	kill := actionLine(victim, "kill")
	clicked := tb.click(t, victim, "kill")
	refreshed := markNoReload(t, tb)
	wants := []want{
		is(row, "stopped").inAttr("data-state"), is(row+" td.state", "stopped"),
		is(row+" td.last-exit", "killed"), is(row+" td.pid", "—"),
		is(row, "0").inAttr("data-leaders"), is(row+" td.leaders", "0"),
		isNot(row, "0").inAttr("data-out-of-isr"), isNot("#under-replicated .n", "0"),
		present(kill), gone(kill + " li.canary-window.open"),
	}
	for _, p := range led {
		wants = append(wants, leaderOtherThan(p, victim))
	}
	others := slices.DeleteFunc(slices.Clone(all), func(id int32) bool { return id == victim })
	for p := range int32(3) {
		wants = append(wants, sameIDs(canaryRow(p), others).inAttr("data-isr"), sameIDs(canaryRow(p)+" td.isr", others))
	}
	tb.await(t, failoverBound, fmt.Sprintf("the panel to show node %d killed, its leaders moved, the ISRs shrunk and the producers' window closed", victim), wants...)
	t.Logf("the panel showed node %d killed, its leaders moved and the ISRs shrunk %v after the click", victim, time.Since(clicked).Round(time.Millisecond))
	checkNoReload(t, tb, refreshed, wants...)
	// The controller fences a killed broker as soon as its listeners
	// refuse connections, so the canary may see no wait over its
	// threshold: the line says so instead of naming windows.
	checkActionLine(t, tb, kill, victim, "kill", false)
	prod.logWorst(t, "kill", clicked)
	tb.shot(t, "dev-panel-killed")

	// 3. Start it again: running, back in every ISR.
	start := actionLine(victim, "start")
	clicked = tb.click(t, victim, "start")
	refreshed = markNoReload(t, tb)
	wants = append(panelHealthy(all, start), isNot(row+" td.pid", "—"))
	tb.await(t, recoverBound, fmt.Sprintf("the panel to show node %d running and every ISR full again", victim), wants...)
	t.Logf("the panel showed node %d back in every ISR %v after the click", victim, time.Since(clicked).Round(time.Millisecond))
	checkNoReload(t, tb, refreshed, wants...)
	checkActionLine(t, tb, start, victim, "start", false)
	prod.logWorst(t, "start", clicked)
	tb.shot(t, "dev-panel-started")

	// 4. Pause another node, then resume it.
	st = readPanel(t, tb)
	paused := st.pick(func(n panelNode) bool { return n.ID != victim })
	row = nodeRow(paused)
	pause := actionLine(paused, "pause")
	t.Logf("pausing node %d (active controller %d), leader of canary partitions %v", paused, st.controller(), st.ledBy(paused))
	clicked = tb.click(t, paused, "pause")
	refreshed = markNoReload(t, tb)
	wants = []want{is(row, "paused").inAttr("data-state"), is(row+" td.state", "paused"),
		is(row, "0").inAttr("data-leaders"), isNot(row, "0").inAttr("data-out-of-isr"),
		present(pause + " li.canary-window"), gone(pause + " li.canary-window.open")}
	tb.await(t, failoverBound, fmt.Sprintf("the panel to show node %d paused, its leaders moved, out of the ISRs and the producers' window closed", paused), wants...)
	t.Logf("the panel showed node %d paused, its leaders moved and the window closed %v after the click", paused, time.Since(clicked).Round(time.Millisecond))
	checkNoReload(t, tb, refreshed, wants...)
	checkActionLine(t, tb, pause, paused, "pause", true)
	prod.logWorst(t, "pause", clicked)
	// The README's picture: a node paused, its leaders moved, the ISRs
	// shrunk, and the windows the producers saw after each action.
	tb.shot(t, "dev-panel-paused")
	readme := tb.shotAbove(t, "dev-panel-readme", "#node-panel")
	t.Logf("the node panel for the README (docs/console-dev.png, 1280 px wide): %s", readme)

	resume := actionLine(paused, "resume")
	clicked = tb.click(t, paused, "resume")
	refreshed = markNoReload(t, tb)
	wants = panelHealthy(all, resume)
	tb.await(t, recoverBound, fmt.Sprintf("the panel to show node %d running and every ISR full again", paused), wants...)
	t.Logf("the panel showed node %d back in every ISR %v after the click", paused, time.Since(clicked).Round(time.Millisecond))
	checkNoReload(t, tb, refreshed, wants...)
	checkActionLine(t, tb, resume, paused, "resume", false)
	prod.logWorst(t, "resume", clicked)
	tb.shot(t, "dev-panel-resumed")

	// The same windows as JSON.
	logWindows(t, dev.panel(t))
	prod.stop(t)

	// 6. Ctrl-C: status 0, no node left.
	dev.interrupt(t)
	t.Logf("TestDevPanel took %v", time.Since(t0).Round(time.Millisecond))
}

// panelHealthy wants every node running and in every ISR it should be,
// every canary partition led, acking and with its whole ISR, and, unless
// line is "", the action line line shown.
func panelHealthy(all []int32, line string) []want {
	var ws []want
	for _, id := range all {
		row := nodeRow(id)
		ws = append(ws, is(row, "running").inAttr("data-state"), is(row+" td.state", "running"),
			present(row+"[data-leaders]"), is(row, "0").inAttr("data-out-of-isr"))
	}
	for p := range int32(len(all)) {
		row := canaryRow(p)
		ws = append(ws, leaderOtherThan(p, -1), sameIDs(row, all).inAttr("data-isr"), sameIDs(row+" td.isr", all),
			isNot(row+" td:nth-child(5)", "never"))
	}
	ws = append(ws, has("#canary-status", "producing to 3 partitions"), present("#canary-open li.none"),
		is("#under-replicated .n", "0"))
	if line != "" {
		ws = append(ws, present(line))
	}
	return ws
}

func nodeRow(id int32) string  { return fmt.Sprintf("#nodes tr#node-%d", id) }
func canaryRow(p int32) string { return fmt.Sprintf("#canary-partitions tr#canary-p%d", p) }

// actionLine is the panel's line for the latest action a on node id.
func actionLine(id int32, a string) string {
	return fmt.Sprintf(`#node-actions-log li.node-action-result[data-node="%d"][data-action="%s"]`, id, a)
}

// leaderOtherThan wants canary partition p to show a leader, not node.
func leaderOtherThan(p, node int32) want {
	return want{sel: canaryRow(p), attr: "data-leader", desc: fmt.Sprintf("a leader other than %d", node), ok: func(s *string) bool {
		if s == nil {
			return false
		}
		n, err := strconv.ParseInt(*s, 10, 32)
		return err == nil && n >= 0 && int32(n) != node
	}}
}

// click presses node id's button for action and checks the page it
// lands on (the overview, with the action's result); it returns when the
// click was sent.
func (tb *tab) click(t *testing.T, id int32, action string) time.Time {
	t.Helper()
	status, clicked := tb.press(t, fmt.Sprintf(`#nodes form[action="/nodes/%d/%s"] button`, id, action))
	if status != http.StatusOK {
		t.Fatalf("%s node %d: the page after the click has status %d, want 200", action, id, status)
	}
	tb.await(t, settleTimeout, fmt.Sprintf("the result of %s node %d", action, id),
		has("p.flash", fmt.Sprintf("%s node %d: done", action, id)))
	t.Logf("%s node %d: %s", action, id, tb.textOf(t, "p.flash"))
	return clicked
}

// checkActionLine logs the panel's line sel for action on node id and
// checks that it names the action and either the producers' wait (a
// window, which stalled wants) or that they saw no stall.
func checkActionLine(t *testing.T, tb *tab, sel string, id int32, action string, stalled bool) {
	t.Helper()
	text := tb.textOf(t, sel)
	t.Logf("the panel's line for the %s: %s", action, text)
	ok := strings.HasPrefix(text, fmt.Sprintf("%s node %d at ", action, id))
	if stalled {
		ok = ok && strings.Contains(text, "waited") && tb.count(t, sel+" li.canary-window") > 0
	} else {
		ok = ok && (strings.Contains(text, "waited") || strings.Contains(text, "producers saw no stall"))
	}
	if !ok {
		t.Errorf("the %s's line reads %q, want the producers' wait", action, text)
	}
}

// shotAbove saves a PNG screenshot of the page from its top to the
// bottom of the element matching sel, as NN-name.png, and returns its
// path.
func (tb *tab) shotAbove(t *testing.T, name, sel string) string {
	t.Helper()
	js, _ := json.Marshal(sel)
	bottom := eval[float64](t, tb, fmt.Sprintf(`document.querySelector(%s).getBoundingClientRect().bottom + window.scrollY + 12`, js))
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	full, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot of %s: %v", name, err)
		return ""
	}
	img, err := png.Decode(bytes.NewReader(full))
	if err != nil {
		t.Errorf("screenshot of %s: %v", name, err)
		return ""
	}
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		t.Errorf("screenshot of %s: a %T cannot be cropped", name, img)
		return ""
	}
	b := img.Bounds()
	b.Max.Y = min(b.Max.Y, b.Min.Y+int(bottom))
	var out bytes.Buffer
	if err := png.Encode(&out, sub.SubImage(b)); err != nil {
		t.Errorf("screenshot of %s: %v", name, err)
		return ""
	}
	tb.mu.Lock()
	tb.nshot++
	path := filepath.Join(tb.shots, fmt.Sprintf("%02d-%s.png", tb.nshot, name))
	tb.mu.Unlock()
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Errorf("saving %s: %v", path, err)
	}
	return path
}

// markNoReload marks the page (a reload would drop the mark) and returns
// its live region's refresh count.
func markNoReload(t *testing.T, tb *tab) int {
	t.Helper()
	eval[int](t, tb, `window.fjordNoReload = 1`)
	return liveRefreshes(t, tb)
}

func liveRefreshes(t *testing.T, tb *tab) int {
	t.Helper()
	n, _ := strconv.Atoi(eval[string](t, tb, `document.getElementById("live").dataset.refreshed || "0"`))
	return n
}

// checkNoReload waits, if need be, for the live region's next refresh
// after markNoReload (the page the click landed on may have shown
// everything already), checks that the refreshed region still satisfies
// wants, and that the page was not reloaded meanwhile.
func checkNoReload(t *testing.T, tb *tab, before int, wants ...want) {
	t.Helper()
	waitUntil(t, settleTimeout, "a refresh of the live region", func() string {
		if after := liveRefreshes(t, tb); after <= before {
			return fmt.Sprintf("its refresh count is still %d", after)
		}
		return ""
	})
	tb.await(t, settleTimeout, "the refreshed live region to show the same", wants...)
	if eval[int](t, tb, `window.fjordNoReload || 0`) != 1 {
		t.Errorf("the overview was reloaded; the live region should have updated in place")
	}
}

// textOf returns the rendered text of the first element matching sel.
func (tb *tab) textOf(t *testing.T, sel string) string {
	t.Helper()
	got, err := tb.texts([]want{{sel: sel}})
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	if got[0] == nil {
		t.Fatalf("the page has no %s", sel)
	}
	return strings.Join(strings.Fields(*got[0]), " ")
}

// panelNode and panelState are what the panel shows of the nodes and
// the canary partitions' leaders.
type panelNode struct {
	ID         int32 `json:"id"`
	Running    bool  `json:"running"`
	Controller bool  `json:"controller"`
}

type panelState struct {
	Nodes   []panelNode `json:"nodes"`
	Leaders []int32     `json:"leaders"` // by canary partition
}

func readPanel(t *testing.T, tb *tab) panelState {
	t.Helper()
	return eval[panelState](t, tb, `({
	nodes: Array.from(document.querySelectorAll("#nodes tr.node"), r => ({
		id: +r.dataset.node, running: r.dataset.state === "running",
		controller: r.querySelector("b.controller") !== null})),
	leaders: Array.from(document.querySelectorAll("#canary-partitions tr.canary-partition"), r => +r.dataset.leader),
})`)
}

func (s panelState) controller() int32 {
	for _, n := range s.Nodes {
		if n.Controller {
			return n.ID
		}
	}
	return -1
}

// ledBy returns the canary partitions node id leads.
func (s panelState) ledBy(id int32) []int32 {
	var ps []int32
	for p, l := range s.Leaders {
		if l == id {
			ps = append(ps, int32(p))
		}
	}
	return ps
}

// pick returns a running node that ok accepts, preferring one that leads
// a canary partition and is not the active controller, then one that
// leads a canary partition.
func (s panelState) pick(ok func(panelNode) bool) int32 {
	best, score := int32(-1), -1
	for _, n := range s.Nodes {
		if !n.Running || !ok(n) {
			continue
		}
		sc := 0
		if len(s.ledBy(n.ID)) > 0 {
			sc += 2
		}
		if !n.Controller {
			sc++
		}
		if sc > score {
			best, score = n.ID, sc
		}
	}
	return best
}

// devCluster is a running `fjord dev` with its console.
type devCluster struct {
	cmd     *exec.Cmd
	outPath string
	port    int
	base    string // the console's URL
	exited  chan error
	done    bool
}

// startDevCluster starts `fjord dev` with 3 nodes on free ports and its
// console on a free port, and waits until the console's canary produces.
func startDevCluster(t *testing.T) *devCluster {
	t.Helper()
	port := devPort(t)
	cport := freePorts(t, 1)[0]
	for devUses(port, cport) {
		cport = freePorts(t, 1)[0]
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cport))
	d := &devCluster{outPath: filepath.Join(t.TempDir(), "dev.out"), port: port, base: "http://" + addr, exited: make(chan error, 1)}
	out, err := os.Create(d.outPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(fjordBin, "dev", "--port", strconv.Itoa(port), "--nodes", "3",
		"--data-dir", t.TempDir(), "--console-addr", addr)
	d.cmd.Stdout, d.cmd.Stderr = out, out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait(); out.Close() }()
	t.Cleanup(func() { d.cleanup(t) })

	waitUntil(t, devUpBound, "fjord dev to announce the cluster and the console", func() string {
		if d.hasExited() {
			t.Fatalf("fjord dev exited early:\n%s", d.tail(40))
		}
		o := d.output()
		if !strings.Contains(o, "is up. Bootstrap: ") || !strings.Contains(o, "Fjord Console: ") {
			return "no announcement yet"
		}
		return ""
	})
	waitUntil(t, devUpBound, "the console's canary to produce to 3 partitions", func() string {
		p, err := d.fetchPanel()
		if err != nil {
			return err.Error()
		}
		if !strings.HasPrefix(p.Canary.Status, "producing to 3 partitions") {
			return "canary: " + p.Canary.Status
		}
		return ""
	})
	return d
}

// devPort returns a --port P whose dev ports (P..P+2, P+10000..,
// P+20000..) are free now.
func devPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(20000)
		var lns []net.Listener
		free := true
		for _, base := range []int{p, p + 10000, p + 20000} {
			for i := range 3 {
				ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
				if err != nil {
					free = false
					break
				}
				lns = append(lns, ln)
			}
		}
		for _, ln := range lns {
			ln.Close()
		}
		if free {
			return p
		}
	}
	t.Fatal("no free port range for fjord dev")
	return 0
}

// devUses reports whether `fjord dev --port port` listens on p.
func devUses(port, p int) bool {
	for _, base := range []int{port, port + 10000, port + 20000} {
		if p >= base && p < base+3 {
			return true
		}
	}
	return false
}

func (d *devCluster) output() string {
	b, _ := os.ReadFile(d.outPath)
	return string(b)
}

func (d *devCluster) tail(n int) string {
	lines := strings.Split(strings.TrimRight(d.output(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (d *devCluster) hasExited() bool {
	if d.done {
		return true
	}
	select {
	case err := <-d.exited:
		d.exited <- err
		return true
	default:
		return false
	}
}

// childPIDs returns the pids of dev's child processes (its nodes), from
// the kernel's list of each of its threads' children.
func (d *devCluster) childPIDs(t *testing.T) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// interrupt stops dev with SIGINT, wants status 0 within devStopBound,
// and every node process it had (by the panel's pids and the kernel's
// list of its children) gone.
func (d *devCluster) interrupt(t *testing.T) {
	t.Helper()
	var pids []int
	for _, n := range d.panel(t).Nodes {
		if n.PID > 0 {
			pids = append(pids, n.PID)
		}
	}
	if len(pids) != 3 {
		t.Errorf("the panel lists node pids %v before the Ctrl-C, want 3", pids)
	}
	for _, pid := range d.childPIDs(t) {
		if !slices.Contains(pids, pid) {
			pids = append(pids, pid)
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case err := <-d.exited:
		d.done = true
		if err != nil {
			t.Errorf("fjord dev exited with %v after SIGINT, want status 0", err)
		}
		t.Logf("fjord dev stopped %v after SIGINT", time.Since(start).Round(time.Millisecond))
	case <-time.After(devStopBound):
		t.Fatalf("fjord dev did not stop within %v of SIGINT", devStopBound)
	}
	waitUntil(t, 15*time.Second, fmt.Sprintf("dev's processes %v to be gone", pids), func() string {
		for _, pid := range pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				return fmt.Sprintf("pid %d still exists", pid)
			}
		}
		return ""
	})
}

func (d *devCluster) cleanup(t *testing.T) {
	if !d.done {
		_ = d.cmd.Process.Kill() // its nodes die with it (a parent-death signal)
		<-d.exited
		d.done = true
	}
	if t.Failed() {
		t.Logf("fjord dev output (tail):\n%s", d.tail(80))
	}
}

// devPanelJSON is GET /api/nodes.
type devPanelJSON struct {
	ClusterError string `json:"cluster_error"`
	Nodes        []struct {
		ID    int32  `json:"id"`
		State string `json:"state"`
		PID   int    `json:"pid"`
	} `json:"nodes"`
	Canary struct {
		Status  string `json:"status"`
		Actions []struct {
			At         time.Time      `json:"at"`
			Node       int32          `json:"node"`
			Action     string         `json:"action"`
			Partitions int            `json:"partitions"`
			Windows    []canaryWindow `json:"windows"`
		} `json:"actions"`
	} `json:"canary"`
}

type canaryWindow struct {
	Partition int32     `json:"partition"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Open      bool      `json:"open"`
	Failed    int       `json:"failed"`
}

func (d *devCluster) fetchPanel() (*devPanelJSON, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(d.base + "/api/nodes")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	var p devPanelJSON
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (d *devCluster) panel(t *testing.T) *devPanelJSON {
	t.Helper()
	p, err := d.fetchPanel()
	if err != nil {
		t.Fatalf("GET /api/nodes: %v", err)
	}
	return p
}

// logWindows logs every action of /api/nodes with its windows, oldest
// first.
func logWindows(t *testing.T, p *devPanelJSON) {
	t.Helper()
	var b strings.Builder
	acts := p.Canary.Actions
	for i := len(acts) - 1; i >= 0; i-- {
		a := acts[i]
		var worst time.Duration
		var ws []string
		var parts []int32
		for _, w := range a.Windows {
			d := w.End.Sub(w.Start)
			worst = max(worst, d)
			ws = append(ws, fmt.Sprintf("p%d %d ms (%d failed)", w.Partition, d.Milliseconds(), w.Failed))
			if !slices.Contains(parts, w.Partition) {
				parts = append(parts, w.Partition)
			}
		}
		fmt.Fprintf(&b, "\n  %-6s node %d at %s: %d windows on %d of %d partitions, worst %d ms: %s",
			a.Action, a.Node, a.At.UTC().Format("15:04:05.000"), len(a.Windows), len(parts), a.Partitions, worst.Milliseconds(), strings.Join(ws, ", "))
	}
	t.Logf("the canary's windows per action (/api/nodes):%s", b.String())
}

// ordersProducer is the test's own acks=all producer: a record to each
// partition of orders every 50 ms, one in flight per partition; it keeps
// the time between consecutive acks of each partition.
type ordersProducer struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cl     *kgo.Client
	once   sync.Once

	mu     sync.Mutex
	acked  int
	failed int
	waits  []ackWait
}

// ackWait is the time from one ack of a partition to its next.
type ackWait struct {
	p   int32
	end time.Time
	d   time.Duration
}

const (
	ordersPartitions = 3
	// stallOver is a wait for an ack worth listing: the canary's
	// threshold (three send intervals).
	stallOver = 150 * time.Millisecond
)

// startOrdersProducer creates orders (3 partitions, RF 3) and starts
// producing to it; it stops with the test at the latest.
func startOrdersProducer(t *testing.T, d *devCluster) *ordersProducer {
	t.Helper()
	seeds := []string{}
	for i := range 3 {
		seeds = append(seeds, fmt.Sprintf("127.0.0.1:%d", d.port+i))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("dev-panel-test"), kgo.DialTimeout(time.Second),
		kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.ProduceRequestTimeout(5*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, ordersPartitions, 3, nil, "orders")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		cl.Close()
		t.Fatalf("creating orders: %v", err)
	}
	waitUntil(t, 30*time.Second, "orders to have a leader and 3 in the ISR on every partition", func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := adm.Metadata(ctx, "orders")
		if err != nil {
			return err.Error()
		}
		ps := md.Topics["orders"].Partitions
		if len(ps) != ordersPartitions {
			return fmt.Sprintf("%d partitions", len(ps))
		}
		for _, p := range ps {
			if p.Leader < 0 || len(p.ISR) != 3 {
				return fmt.Sprintf("partition %d: leader %d, ISR %v", p.Partition, p.Leader, p.ISR)
			}
		}
		return ""
	})
	pctx, pcancel := context.WithCancel(context.Background())
	pr := &ordersProducer{cancel: pcancel, cl: cl}
	for p := range int32(ordersPartitions) {
		pr.wg.Go(func() { pr.run(pctx, p) })
	}
	t.Cleanup(func() { pr.stop(t) })
	return pr
}

func (pr *ordersProducer) run(ctx context.Context, p int32) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for n := 0; ctx.Err() == nil; n++ {
		err := pr.cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "order %d-%d", p, n)}).FirstErr()
		now := time.Now()
		pr.mu.Lock()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			pr.failed++
		default:
			pr.acked++
			pr.waits = append(pr.waits, ackWait{p, now, now.Sub(last)})
			last = now
		}
		pr.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// logWorst logs the test producer's longest wait for an ack that ended
// since from (the click of action).
func (pr *ordersProducer) logWorst(t *testing.T, action string, from time.Time) {
	t.Helper()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var worst ackWait
	for _, w := range pr.waits {
		if w.end.After(from) && w.d > worst.d {
			worst = w
		}
	}
	t.Logf("the test's acks=all producer since the %s's click: longest wait for an ack %d ms (partition %d of orders)",
		action, worst.d.Milliseconds(), worst.p)
}

// stop ends the producer (once) and logs what it saw.
func (pr *ordersProducer) stop(t *testing.T) {
	pr.once.Do(func() {
		pr.cancel()
		pr.wg.Wait()
		pr.cl.Close()
		pr.mu.Lock()
		defer pr.mu.Unlock()
		var stalls []string
		for _, w := range pr.waits {
			if w.d > stallOver {
				stalls = append(stalls, fmt.Sprintf("p%d %s–%s (%d ms)", w.p,
					w.end.Add(-w.d).UTC().Format("15:04:05.000"), w.end.UTC().Format("15:04:05.000"), w.d.Milliseconds()))
			}
		}
		t.Logf("the test's acks=all producer to orders: %d acked, %d failed; waits for an ack over %v: %s",
			pr.acked, pr.failed, stallOver, strings.Join(stalls, ", "))
		if pr.acked == 0 {
			t.Errorf("the test's producer had no record acked")
		}
	})
}
