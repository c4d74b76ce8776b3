package e2e

// TestConsole runs `fjord console` against a real 3-node cluster and
// checks every page over HTTP: broker rows, partitions' leaders and ISRs
// as Metadata reports them, lag numbers, the forms (create, change a
// config, delete a topic, reset a group), the message browser (JSON, a
// binary value, a 10 MB record), bad input, and a node's failure and
// return. The same pages in a real browser (headless Chromium: time to
// data, the forms typed into and clicked, the live refresh, screenshots)
// are tested in e2e/browser.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consoleProc is a `fjord console` process and its base URL.
type consoleProc struct {
	base string
	cmd  *exec.Cmd
	out  bytes.Buffer
}

// startConsole runs `fjord console` against nodes with their /metrics
// endpoints and waits until it answers; it is stopped (SIGINT) when the
// test ends.
func startConsole(t *testing.T, nodes []*clusterNode, metrics []string) *consoleProc {
	t.Helper()
	return runConsole(t, "fjord console", "console", "-b", strings.Join(addrs(nodes), ","), "--metrics", strings.Join(metrics, ","))
}

// runConsole runs fjord with args plus --addr on a free port, waits until
// the console answers, and stops it (SIGINT, expecting status 0) when the
// test ends; label names it in the output logged when the test failed.
func runConsole(t *testing.T, label string, args ...string) *consoleProc {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePorts(t, 1)[0]))
	cp := &consoleProc{base: "http://" + addr}
	cp.cmd = exec.Command(fjordBin, append(args, "--addr", addr)...)
	cp.cmd.Stdout, cp.cmd.Stderr = &cp.out, &cp.out
	if err := cp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.stop(t, label) })
	consoleWait(t, 20*time.Second, "the console answers", func() string {
		if code, body, _ := cp.get("/api/overview"); code != http.StatusOK {
			return fmt.Sprintf("status %d: %.300s", code, body)
		}
		return ""
	})
	return cp
}

// stop sends SIGINT and expects status 0 within 10 s.
func (cp *consoleProc) stop(t *testing.T, label string) {
	_ = cp.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cp.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s exited with %v", label, err)
		}
		if t.Failed() || os.Getenv("FJORD_CONSOLE_DEBUG") != "" {
			t.Logf("%s output:\n%s", label, cp.out.String())
		}
	case <-time.After(10 * time.Second):
		_ = cp.cmd.Process.Kill()
		<-done
		t.Errorf("%s did not stop within 10s of SIGINT", label)
	}
}

var noRedirect = &http.Client{Timeout: 15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get fetches path and returns the status, the body and the Server-Timing
// duration in ms (-1 if absent).
func (cp *consoleProc) get(path string) (int, string, float64) {
	resp, err := noRedirect.Get(cp.base + path)
	if err != nil {
		return 0, err.Error(), -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), serverTiming(resp.Header.Get("Server-Timing"))
}

func serverTiming(h string) float64 {
	_, v, ok := strings.Cut(h, "dur=")
	if !ok {
		return -1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return -1
	}
	return f
}

// mustGet fetches path, requires status want and returns the body.
func (cp *consoleProc) mustGet(t *testing.T, path string, want int) string {
	t.Helper()
	code, body, ms := cp.get(path)
	if code != want {
		t.Fatalf("GET %s: status %d, want %d; body:\n%.2000s", path, code, want, body)
	}
	t.Logf("GET %s: %d in %.1f ms (server time)", path, code, ms)
	return body
}

// post submits a form and returns the status, the Location and the body.
func (cp *consoleProc) post(t *testing.T, path string, form url.Values) (int, string, string) {
	t.Helper()
	resp, err := noRedirect.PostForm(cp.base+path, form)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// consoleWait polls cond (which returns "" when satisfied, else why
// not) until timeout, with node_test.go's waitFor.
func consoleWait(t *testing.T, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	waitFor(t, timeout, what, func() (bool, string) {
		why := cond()
		return why == "", why
	})
}

// cell returns the first capture of re in s, or "".
func cell(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

func TestConsole(t *testing.T) {
	rc := startRepCluster(t, 3, 3*time.Second, "group.initial.rebalance.delay.ms=500", "min.insync.replicas=2",
		"message.max.bytes=12582912")
	c := rc.testCluster
	grpCreateTopic(t, c, "orders", 6, 3)
	grpCreateTopic(t, c, "events", 1, 1)
	cl := grpClient(t, c.nodes, kgo.ProducerBatchMaxBytes(12<<20), kgo.MaxBufferedBytes(64<<20),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	grpProduce(t, cl, "orders", 6, 20)
	produceEvents(t, cl)
	adm := kadm.NewClient(cl)
	commitGroup(t, adm, "g1", "orders", 6, 5)
	var metrics []string
	for id := int32(1); id <= 3; id++ {
		metrics = append(metrics, "http://"+rc.metrics[id]+"/metrics")
	}
	cp := startConsole(t, c.nodes, metrics)

	t.Run("overview", func(t *testing.T) { checkOverview(t, cp, c) })
	t.Run("topic", func(t *testing.T) { checkTopicPage(t, cp, c) })
	t.Run("groups", func(t *testing.T) { checkGroupPages(t, cp, adm) })
	t.Run("forms", func(t *testing.T) { checkTopicForms(t, cp, adm) })
	t.Run("messages", func(t *testing.T) { checkMessages(t, cp) })
	t.Run("bad-input", func(t *testing.T) { checkBadInput(t, cp) })
	t.Run("failover", func(t *testing.T) { checkFailover(t, cp, c) })
}

// produceEvents writes, to events-0: a JSON value, a binary value with a
// header, and a 10 MB value.
func produceEvents(t *testing.T, cl *kgo.Client) {
	t.Helper()
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	recs := []*kgo.Record{
		{Topic: "events", Key: []byte("k-json"), Value: []byte(`{"n":1,"msg":"hello"}`)},
		{Topic: "events", Key: []byte("k-bin"), Value: []byte{0, 1, 2, 0xff, 0xfe},
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}},
		{Topic: "events", Key: []byte("k-big"), Value: big},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing events: %v", err)
	}
}

// commitGroup commits offset at for every partition of topic in group
// (an Empty group: no members).
func commitGroup(t *testing.T, adm *kadm.Client, group, topic string, partitions int32, at int64) {
	t.Helper()
	var os kadm.Offsets
	for p := range partitions {
		os.AddOffset(topic, p, at, -1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
		t.Fatalf("committing %s: %v", group, err)
	}
}

var (
	reController = regexp.MustCompile(`id="controller">(\d+)<`)
	reUnder      = regexp.MustCompile(`id="under-replicated"><span class="n">(\d+)<`)
)

func checkOverview(t *testing.T, cp *consoleProc, c *testCluster) {
	body := cp.mustGet(t, "/", http.StatusOK)
	for id := 1; id <= 3; id++ {
		row := cell(regexp.MustCompile(`(?s)data-broker="`+strconv.Itoa(id)+`">(.*?)</tr>`), body)
		if !strings.Contains(row, ">up<") {
			t.Errorf("broker %d row is not up: %q", id, row)
		}
	}
	v, err := c.nodes[0].view()
	if err != nil {
		t.Fatal(err)
	}
	if got := cell(reController, body); got != strconv.Itoa(int(v.Controller)) {
		t.Errorf("overview names controller %q, Metadata %d", got, v.Controller)
	}
	if got := cell(reUnder, body); got != "0" {
		t.Errorf("under-replicated count %q, want 0", got)
	}
	for _, p := range []string{"/topics", "/groups", "/brokers/1", "/brokers/2", "/brokers/3", "/topics/__consumer_offsets"} {
		cp.mustGet(t, p, http.StatusOK)
	}
}

// checkTopicPage compares every partition row of /topics/orders with the
// cluster's Metadata: leader, ISR, and the high watermark (20 records).
func checkTopicPage(t *testing.T, cp *consoleProc, c *testCluster) {
	body := cp.mustGet(t, "/topics/orders", http.StatusOK)
	v, err := c.nodes[0].view()
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 6; p++ {
		row := cell(regexp.MustCompile(`(?s)<tr data-partition="`+strconv.Itoa(int(p))+`"[^>]*>(.*?)</tr>`), body)
		pv := v.Parts[clusterTP{"orders", p}]
		if got := cell(regexp.MustCompile(`class="num leader"><a href="/brokers/\d+">(\d+)<`), row); got != strconv.Itoa(int(pv.Leader)) {
			t.Errorf("orders-%d: page leader %q, Metadata %d", p, got, pv.Leader)
		}
		if got := cell(regexp.MustCompile(`class="isr">([^<]*)<`), row); got != idsText(pv.ISR) {
			t.Errorf("orders-%d: page ISR %q, Metadata %v", p, got, pv.ISR)
		}
		if got := cell(regexp.MustCompile(`class="num hw">(\d+)<`), row); got != "20" {
			t.Errorf("orders-%d: page high watermark %q, want 20", p, got)
		}
	}
}

func idsText(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ", ")
}

var (
	reTotalLag = regexp.MustCompile(`id="total-lag">(\d+)<`)
	reGroupLag = regexp.MustCompile(`(?s)data-group="g1">.*?class="num lag">(\d+)<`)
)

// checkGroupPages checks g1's lag (6 partitions × (20 − 5)), then resets
// it to earliest through the form and checks the commits and the lag.
func checkGroupPages(t *testing.T, cp *consoleProc, adm *kadm.Client) {
	if got := cell(reGroupLag, cp.mustGet(t, "/groups", http.StatusOK)); got != "90" {
		t.Errorf("/groups: g1 lag %q, want 90", got)
	}
	body := cp.mustGet(t, "/groups/g1", http.StatusOK)
	if got := cell(reTotalLag, body); got != "90" {
		t.Errorf("/groups/g1: total lag %q, want 90", got)
	}
	if n := strings.Count(body, `class="num lag">15<`); n != 6 {
		t.Errorf("/groups/g1: %d partitions with lag 15, want 6", n)
	}
	code, loc, resp := cp.post(t, "/groups/g1/reset", url.Values{"topic": {"orders"}, "to": {"earliest"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/groups/g1?ok=") {
		t.Fatalf("reset: status %d location %q; body %.500s", code, loc, resp)
	}
	committed, err := grpFetchCommitted(adm, "g1", "orders")
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range committed {
		if o.At != 0 {
			t.Errorf("after reset to earliest orders-%d is committed at %d", p, o.At)
		}
	}
	if got := cell(reTotalLag, cp.mustGet(t, loc, http.StatusOK)); got != "120" {
		t.Errorf("after reset: total lag %q, want 120", got)
	}
	code, _, _ = cp.post(t, "/groups/g1/reset", url.Values{"topic": {"orders"}, "to": {"offset"}, "offset": {"99999999999999999999"}})
	if code != http.StatusBadRequest {
		t.Errorf("reset to a huge offset: status %d, want 400", code)
	}
}

// checkTopicForms creates a topic through /topics' form, changes a config
// and deletes it.
func checkTopicForms(t *testing.T, cp *consoleProc, adm *kadm.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	code, loc, body := cp.post(t, "/topics", url.Values{"name": {"made-by-form"}, "partitions": {"4"},
		"replication": {"3"}, "configs": {"retention.ms=3600000"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/topics/made-by-form?ok=") {
		t.Fatalf("create: status %d location %q; body %.500s", code, loc, body)
	}
	page := cp.mustGet(t, loc, http.StatusOK)
	if n := strings.Count(page, `<tr data-partition=`); n != 4 {
		t.Errorf("new topic page shows %d partitions, want 4", n)
	}
	consoleWait(t, waitTimeout, "the topic created by the form to have 4 partitions of 3 replicas", func() string {
		td, err := adm.ListTopics(ctx, "made-by-form")
		if err != nil || len(td["made-by-form"].Partitions) != 4 || td["made-by-form"].Partitions.NumReplicas() != 3 {
			return fmt.Sprintf("%+v, %v", td["made-by-form"], err)
		}
		return ""
	})
	if code, _, _ := cp.post(t, "/topics", url.Values{"name": {"made-by-form"}}); code != http.StatusConflict {
		t.Errorf("creating it again: status %d, want 409", code)
	}
	code, _, body = cp.post(t, "/topics/made-by-form/configs", url.Values{"key": {"retention.ms"}, "value": {"7200000"}, "op": {"set"}})
	if code != http.StatusSeeOther {
		t.Fatalf("alter config: status %d; body %.500s", code, body)
	}
	// The controller committed the change; the broker kadm asks may apply
	// it a moment later.
	consoleWait(t, waitTimeout, "retention.ms to read 7200000 after the form", func() string {
		rcs, err := adm.DescribeTopicConfigs(ctx, "made-by-form")
		if rc, _ := rcs.On("made-by-form", nil); err != nil || configOf(rc, "retention.ms") != "7200000" {
			return fmt.Sprintf("retention.ms %q (%v)", configOf(rc, "retention.ms"), err)
		}
		return ""
	})
	if code, _, _ := cp.post(t, "/topics/made-by-form/delete", url.Values{"confirm": {"wrong"}}); code != http.StatusBadRequest {
		t.Errorf("delete with a wrong confirmation: status %d, want 400", code)
	}
	if code, loc, _ := cp.post(t, "/topics/made-by-form/delete", url.Values{"confirm": {"made-by-form"}}); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/topics?") {
		t.Errorf("delete: status %d location %q", code, loc)
	}
	consoleWait(t, waitTimeout, "the deleted topic's page to be a 404", func() string {
		if code, _, _ := cp.get("/topics/made-by-form"); code != http.StatusNotFound {
			return fmt.Sprintf("status %d", code)
		}
		return ""
	})
}

func configOf(rc kadm.ResourceConfig, key string) string {
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

// checkMessages browses events-0: the JSON value pretty-printed, the
// binary value as hex, the 10 MB value cut, a filter, and hex mode.
func checkMessages(t *testing.T, cp *consoleProc) {
	body := cp.mustGet(t, "/topics/events/messages?from=beginning&partition=0", http.StatusOK)
	for _, want := range []string{
		`<pre class="payload json">{
  &#34;n&#34;: 1,`,
		`<pre class="payload hex">00000000  00 01 02 ff fe`,
		`showing the first 64 KiB of 10.0 MiB`,
		`<code>trace</code>: <pre class="payload text">abc</pre>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("messages page lacks %q", want)
		}
	}
	if len(body) > 1<<20 {
		t.Errorf("messages page is %d bytes: the 10 MB record was not cut", len(body))
	}
	filtered := cp.mustGet(t, "/topics/events/messages?from=beginning&filter=hello", http.StatusOK)
	if n := strings.Count(filtered, `<pre class="payload json">`); n != 1 || !strings.Contains(filtered, "1 records shown of 3 scanned") {
		t.Errorf("filter=hello: %d JSON rows; page:\n%.1500s", n, filtered)
	}
	hexPage := cp.mustGet(t, "/topics/events/messages?from=offset&offset=0&partition=0&limit=1&mode=hex", http.StatusOK)
	if !strings.Contains(hexPage, `<pre class="payload hex">00000000  7b 22 6e 22`) {
		t.Errorf("mode=hex does not show the JSON value in hex")
	}
	tail := cp.mustGet(t, "/topics/orders/messages?from=end&limit=2", http.StatusOK)
	if n := strings.Count(tail, `<pre class="payload text">p0`); n != 2 {
		t.Errorf("from=end&limit=2 over 6 partitions: %d rows, want the newest 2", n)
	}
	tail = cp.mustGet(t, "/topics/orders/messages?from=end&limit=2&partition=3", http.StatusOK)
	if !strings.Contains(tail, ">p03-00000018<") || !strings.Contains(tail, ">p03-00000019<") {
		t.Errorf("from=end&limit=2 of partition 3 lacks its last two records")
	}
}

func checkBadInput(t *testing.T, cp *consoleProc) {
	for path, want := range map[string]int{
		"/topics/no-such-topic":          http.StatusNotFound,
		"/topics/no-such-topic/messages": http.StatusNotFound,
		"/groups/no-such-group":          http.StatusNotFound,
		"/brokers/99":                    http.StatusNotFound,
		"/brokers/x":                     http.StatusBadRequest,
		"/brokers/99999999999999":        http.StatusBadRequest,
		"/nowhere":                       http.StatusNotFound,
		"/topics/orders/messages?from=offset&offset=99999999999999999999": http.StatusBadRequest,
		"/topics/orders/messages?from=offset&offset=9223372036854775807":  http.StatusBadRequest,
		"/topics/orders/messages?from=offset&offset=-1":                   http.StatusBadRequest,
		"/topics/orders/messages?partition=77":                            http.StatusNotFound,
		"/topics/orders/messages?limit=100000":                            http.StatusBadRequest,
		"/topics/orders/messages?from=timestamp&ts=yesterday":             http.StatusBadRequest,
		"/topics/%00%ff": http.StatusNotFound,
	} {
		code, body, _ := cp.get(path)
		if code != want || !strings.Contains(body, `class="errmsg"`) {
			t.Errorf("GET %s: status %d, want %d with a message; body %.300s", path, code, want, body)
		}
	}
	if code, _, _ := cp.post(t, "/topics", url.Values{"name": {"x"}, "partitions": {"abc"}}); code != http.StatusBadRequest {
		t.Errorf("create with partitions=abc: status %d, want 400", code)
	}
	if code, _, _ := cp.post(t, "/topics", url.Values{"name": {"bad/name"}}); code != http.StatusBadRequest {
		t.Errorf("create with an invalid name: status %d, want 400", code)
	}
}

// checkFailover kills the node leading orders-0 and waits for the console
// to show it down, its partitions' leaders moved and the ISRs shrunk; then
// restarts it and waits for the ISRs to recover, and checks the overview's
// feed of recent changes told the story.
func checkFailover(t *testing.T, cp *consoleProc, c *testCluster) {
	v, err := c.nodes[0].view()
	if err != nil {
		t.Fatal(err)
	}
	victim := v.Parts[clusterTP{"orders", 0}].Leader
	c.node(victim).kill9()
	row := regexp.MustCompile(`(?s)data-broker="` + strconv.Itoa(int(victim)) + `">(.*?)</tr>`)
	consoleWait(t, clFailoverBound+5*time.Second, "the console to show the killed node down and partitions under-replicated", func() string {
		_, body, _ := cp.get("/")
		if !strings.Contains(cell(row, body), "down or fenced") {
			return "broker row still up"
		}
		if n, _ := strconv.Atoi(cell(reUnder, body)); n == 0 {
			return "no under-replicated partitions shown"
		}
		return ""
	})
	_, page, _ := cp.get("/topics/orders")
	if got := cell(regexp.MustCompile(`(?s)<tr data-partition="0"[^>]*>.*?class="num leader"><a href="/brokers/\d+">(\d+)<`), page); got == "" || got == strconv.Itoa(int(victim)) {
		t.Errorf("orders-0 leader after the kill: %q (the killed node is %d)", got, victim)
	}
	c.node(victim).start()
	consoleWait(t, 60*time.Second, "the console to show the node back and no partition under-replicated", func() string {
		_, body, _ := cp.get("/")
		if !strings.Contains(cell(row, body), ">up<") {
			return "broker row not up"
		}
		if n := cell(reUnder, body); n != "0" {
			return n + " under-replicated partitions"
		}
		return ""
	})
	_, feed, _ := cp.get("/")
	for _, want := range []string{
		fmt.Sprintf("broker %d is down or fenced", victim),
		fmt.Sprintf("leader %d → ", victim),
		fmt.Sprintf("ISR shrank, without %d", victim),
		fmt.Sprintf("broker %d is up", victim),
		fmt.Sprintf("ISR expanded, with %d", victim),
	} {
		if !strings.Contains(feed, want) {
			t.Errorf("the overview's recent changes lack %q", want)
		}
	}
}
