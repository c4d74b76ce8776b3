package browser

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestConsoleInBrowser drives Fjord Console in headless Chromium against
// a real 3-node cluster: every page by its URL with its data on screen
// within a second, the forms used by typing and clicking, bad URLs, and a
// node killed and started again while the overview watches live.
func TestConsoleInBrowser(t *testing.T) {
	if chromiumBin == "" {
		t.Skip(errNoChromium)
	}
	e := startEnv(t)
	shots := screenshotDir(t)
	tb := newTab(t, e.base, shots)
	if os.Getenv("FJORD_SCREENSHOTS") == "" {
		t.Logf("screenshots in %s (removed with the test's temporary directory; set FJORD_SCREENSHOTS=dir to keep them)", shots)
	} else {
		t.Logf("screenshots in %s", shots)
	}
	defer tb.summary(t)

	t.Run("pages", func(t *testing.T) { checkPages(t, e, tb) })
	t.Run("topic-forms", func(t *testing.T) { checkTopicForms(t, e, tb) })
	t.Run("messages", func(t *testing.T) { checkMessages(t, tb) })
	t.Run("group-reset", func(t *testing.T) { checkGroupReset(t, e, tb) })
	t.Run("bad-input", func(t *testing.T) { checkBadInput(t, tb) })
	t.Run("failover", func(t *testing.T) { checkFailover(t, e, tb) })
}

// metadata returns the cluster's metadata of every topic.
func (e *env) metadata(t *testing.T) kadm.Metadata {
	t.Helper()
	md, err := e.c.Metadata(context.Background())
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	return md
}

func itoa[T ~int | ~int32 | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// brokersUp wants every broker row of the overview to read up.
func brokersUp() []want {
	var ws []want
	for id := 1; id <= 3; id++ {
		ws = append(ws, is(fmt.Sprintf(`#brokers tr[data-broker="%d"] td.state`, id), "up"))
	}
	return ws
}

// partitionWants wants topic's page to show, for every partition, the
// leader and ISR that Metadata reports.
func partitionWants(md kadm.Metadata, topic string) []want {
	var ws []want
	for _, p := range md.Topics[topic].Partitions.Sorted() {
		row := fmt.Sprintf(`#partitions tr[data-partition="%d"]`, p.Partition)
		ws = append(ws, is(row+" td.leader", itoa(p.Leader)), sameIDs(row+" td.isr", p.ISR))
	}
	return ws
}

// checkPages loads every page by its URL and checks its data.
func checkPages(t *testing.T, e *env, tb *tab) {
	md := e.metadata(t)
	tb.open(t, "/", append(brokersUp(), is("#controller", itoa(md.Controller)),
		is("#under-replicated .n", "0"), is("#offline .n", "0"))...)
	tb.shot(t, "overview")

	var topics []want
	for name, n := range map[string]int{"orders": ordersParts, "events": 1, "payments": 3} {
		row := fmt.Sprintf(`#topics tr[data-topic="%s"]`, name)
		topics = append(topics, is(row+" td:first-child a", name), is(row+" td:nth-child(2)", itoa(n)), is(row+" td:nth-child(3)", "3"))
	}
	tb.open(t, "/topics", topics...)
	tb.shot(t, "topics")

	orders := partitionWants(md, "orders")
	for p := range ordersParts {
		orders = append(orders, is(fmt.Sprintf(`#partitions tr[data-partition="%d"] td.hw`, p), itoa(ordersPerPart)))
	}
	tb.open(t, "/topics/orders", orders...)
	tb.shot(t, "topic")

	tb.open(t, "/topics/events/messages", has("#messages", "k-json"), has("#messages", "k-bin"), has("#messages", "plain words"))
	tb.shot(t, "messages")

	e.awaitBilling(t)
	tb.open(t, "/groups", is(`#groups tr[data-group="g1"] td.lag`, itoa(ordersParts*(ordersPerPart-groupCommitAt))),
		is(`#groups tr[data-group="g1"] td:nth-child(2)`, "Empty"),
		is(`#groups tr[data-group="billing"] td:nth-child(2)`, "Stable"),
		is(`#groups tr[data-group="billing"] td:nth-child(6)`, "1"))
	tb.shot(t, "groups")

	g1 := []want{is("#state", "Empty"), is("#total-lag", itoa(ordersParts*(ordersPerPart-groupCommitAt))), has("#members", "No members.")}
	for p := range ordersParts {
		g1 = append(g1, is(fmt.Sprintf(`#lag tr[data-tp="orders-%d"] td.lag`, p), itoa(ordersPerPart-groupCommitAt)))
	}
	tb.open(t, "/groups/g1", g1...)
	tb.shot(t, "group")

	tb.open(t, "/groups/billing", is("#state", "Stable"), has("#members tbody tr:first-child td:first-child", "billing-worker"),
		has("#lag", "payments"))
	tb.shot(t, "group-with-member")

	led := 0
	for _, p := range md.Topics["orders"].Partitions {
		if p.Leader == 1 {
			led++
		}
	}
	tb.open(t, "/brokers/1", is("#live p.meta span.ok", "up"),
		is(`#broker-topics tr[data-topic="orders"] td.leaders`, itoa(led)),
		is(`#broker-topics tr[data-topic="orders"] td:nth-child(2)`, itoa(ordersParts)))
	tb.shot(t, "broker")
}

// awaitBilling waits until the billing group is Stable and has
// committed offsets (its consumer commits every second).
func (e *env) awaitBilling(t *testing.T) {
	t.Helper()
	waitUntil(t, 20*time.Second, "group billing to be Stable with commits", func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dg, err := e.adm.DescribeGroups(ctx, "billing")
		if err != nil {
			return err.Error()
		}
		if st := dg["billing"].State; st != "Stable" {
			return "state " + st
		}
		offs, err := e.adm.FetchOffsets(ctx, "billing")
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			return err.Error()
		}
		if len(offs) == 0 {
			return "no commits yet"
		}
		return ""
	})
}

// checkTopicForms creates a topic through /topics' form, changes one of
// its configs and deletes it, typing into the forms and clicking.
func checkTopicForms(t *testing.T, e *env, tb *tab) {
	const name = "made-in-browser"
	tb.nav(t, "/topics")
	tb.act(t, "create a topic", "create-topic", 200, []field{typeIn("name", name), typeIn("partitions", "4"),
		typeIn("replication", "3"), typeIn("configs", "retention.ms=3600000\ncleanup.policy=delete")},
		is("p.flash", "created topic "+name), has("#live p.meta", "4 partitions · replication factor 3"),
		has("#configs", "retention.ms\t3600000\ttopic"))
	if n := tb.count(t, "#partitions tr[data-partition]"); n != 4 {
		t.Errorf("the new topic's page shows %d partitions, want 4", n)
	}
	var md kadm.Metadata
	waitUntil(t, 10*time.Second, name+" to have a leader on every partition", func() string {
		md = e.metadata(t)
		td := md.Topics[name]
		if len(td.Partitions) != 4 || td.Partitions.NumReplicas() != 3 {
			return fmt.Sprintf("%+v", td)
		}
		for _, p := range td.Partitions {
			if p.Leader < 0 || len(p.ISR) != 3 {
				return fmt.Sprintf("partition %d: leader %d, ISR %v", p.Partition, p.Leader, p.ISR)
			}
		}
		return ""
	})
	tb.nav(t, "/topics/"+name)
	tb.await(t, settleTimeout, "the new topic's partitions", partitionWants(md, name)...)
	tb.shot(t, "topic-created")

	tb.act(t, "change a config", "alter-config", 200, []field{typeIn("key", "retention.ms"), typeIn("value", "7200000"), choose("op", "set")},
		is("p.flash", "set retention.ms=7200000"), has("#configs", "retention.ms\t7200000\ttopic"))
	if got := e.topicConfig(t, name, "retention.ms"); got != "7200000" {
		t.Errorf("retention.ms of %s after the form: %q, want 7200000", name, got)
	}
	tb.shot(t, "topic-config-changed")

	tb.act(t, "delete with the wrong name", "delete-topic", 400, []field{typeIn("confirm", "made-in-brows")},
		has("p.status", "HTTP 400"), has("p.errmsg", "type the topic's name to confirm deleting "+name))
	tb.shot(t, "topic-delete-refused")
	if got := e.topicConfig(t, name, "retention.ms"); got != "7200000" {
		t.Errorf("after a refused delete %s reads retention.ms %q", name, got)
	}
	tb.nav(t, "/topics/"+name)
	tb.act(t, "delete the topic", "delete-topic", 200, []field{typeIn("confirm", name)},
		is("p.flash", "deleted topic "+name), has("#topics", "orders"))
	tb.await(t, settleTimeout, "the deleted topic to leave /topics", gone(fmt.Sprintf(`#topics tr[data-topic="%s"]`, name)))
	tb.shot(t, "topic-deleted")
	waitUntil(t, 10*time.Second, name+" to be gone from Metadata", func() string {
		if _, ok := e.metadata(t).Topics[name]; ok {
			return "still listed"
		}
		return ""
	})
}

func (e *env) topicConfig(t *testing.T, topic, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rcs, err := e.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("describing %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatalf("describing %s: %v", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

// checkMessages browses events-0 through the message browser's form:
// from the beginning (the JSON value pretty-printed, the binary value in
// hex, a header), from an offset, with the text filter, as hex.
func checkMessages(t *testing.T, tb *tab) {
	tb.nav(t, "/topics/events/messages")
	tb.act(t, "browse from the beginning", "browse", 200, []field{choose("partition", "0"), choose("from", "beginning")},
		has("#live p.meta", "3 records shown"),
		is("#messages tbody tr:nth-child(1) td:nth-child(2)", "0"),
		is("#messages tbody tr:nth-child(1) td:nth-child(5) pre.payload.json", "{\n  \"n\": 1,\n  \"msg\": \"hello\"\n}"),
		has("#messages tbody tr:nth-child(2) td:nth-child(5) pre.payload.hex", "00000000  00 01 02 ff fe"),
		is("#messages tbody tr:nth-child(2) td:nth-child(6) code", "trace"),
		is("#messages tbody tr:nth-child(2) td:nth-child(6) pre.payload.text", "abc"),
		is("#messages tbody tr:nth-child(3) td:nth-child(5) pre.payload.text", "plain words"))
	tb.shot(t, "messages-beginning")

	tb.act(t, "browse from offset 1", "browse", 200, []field{choose("from", "offset"), typeIn("offset", "1")},
		has("#live p.meta", "2 records shown"),
		is("#messages tbody tr:nth-child(1) td:nth-child(2)", "1"),
		gone("#messages pre.payload.json"))

	tb.act(t, "filter by text", "browse", 200, []field{choose("from", "beginning"), typeIn("offset", ""), typeIn("filter", "hello")},
		has("#live p.meta", "1 records shown of 3 scanned"),
		has("#messages tbody tr:nth-child(1) pre.payload.json", `"msg": "hello"`),
		gone("#messages tbody tr:nth-child(2)"))
	tb.shot(t, "messages-filtered")

	tb.act(t, "show as hex", "browse", 200, []field{typeIn("filter", ""), choose("mode", "hex")},
		has("#messages tbody tr:nth-child(1) td:nth-child(5) pre.payload.hex", "00000000  7b 22 6e 22"),
		gone("#messages pre.payload.json"))
}

// checkGroupReset resets the Empty group g1 to earliest through its form:
// the lag shown grows back to every record of orders.
func checkGroupReset(t *testing.T, e *env, tb *tab) {
	tb.nav(t, "/groups/g1")
	full := []want{is("p.flash", "reset "+itoa(ordersParts)+" partitions of g1 to earliest"),
		is("#total-lag", itoa(ordersParts*ordersPerPart))}
	for p := range ordersParts {
		row := fmt.Sprintf(`#lag tr[data-tp="orders-%d"]`, p)
		full = append(full, is(row+" td.committed", "0"), is(row+" td.lag", itoa(ordersPerPart)))
	}
	tb.act(t, "reset g1 to earliest", "reset-group", 200, []field{choose("topic", "orders"), choose("to", "earliest")}, full...)
	tb.shot(t, "group-reset")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := e.adm.FetchOffsets(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == "orders" && o.At != 0 {
			t.Errorf("after the reset g1 has orders-%d committed at %d, want 0", o.Partition, o.At)
		}
	})
}

// checkBadInput opens URLs of things that do not exist: each is a page
// saying so, with its status.
func checkBadInput(t *testing.T, tb *tab) {
	for _, c := range []struct{ path, status, msg string }{
		{"/topics/no-such-topic", "HTTP 404", `the cluster has no topic named "no-such-topic"`},
		{"/topics/no-such-topic/messages", "HTTP 404", `no topic named "no-such-topic"`},
		{"/groups/no-such-group", "HTTP 404", `the cluster has no consumer group named "no-such-group"`},
		{"/brokers/99", "HTTP 404", "the cluster has no broker 99"},
		{"/topics/orders/messages?partition=77", "HTTP 404", "topic orders has no partition 77"},
		{"/topics/orders/messages?from=offset&offset=-1", "HTTP 400", "offset"},
	} {
		tb.open(t, c.path, is("p.status", c.status), has("p.errmsg", c.msg))
	}
	tb.shot(t, "bad-input")
}

// checkFailover kills a node that is not the active controller while the
// overview is open, and watches its live region (no reload) show the
// broker down, leaders moving away from it and partitions
// under-replicated; the topic page then shows the new leaders and ISRs.
// The node started again is shown back, with its ISRs expanded.
func checkFailover(t *testing.T, e *env, tb *tab) {
	md := e.metadata(t)
	victim := int32(1)
	for victim == md.Controller {
		victim++
	}
	tb.open(t, "/", brokersUp()...)
	refreshed := func() int {
		n, _ := strconv.Atoi(eval[string](t, tb, `document.getElementById("live").dataset.refreshed || "0"`))
		return n
	}
	eval[int](t, tb, `window.fjordNoReload = 1`)
	before := refreshed()
	row := fmt.Sprintf(`#brokers tr[data-broker="%d"]`, victim)
	killed := time.Now()
	e.c.Node(victim).Kill()
	tb.await(t, downBound, fmt.Sprintf("the overview to show broker %d down", victim),
		is(row+" td.state", "down or fenced"),
		has("#events", fmt.Sprintf("broker %d is down or fenced", victim)),
		has("#events", fmt.Sprintf("leader %d → ", victim)),
		isNot("#under-replicated .n", "0"),
		has("#problems", "under-replicated"))
	t.Logf("the overview showed broker %d down %v after the SIGKILL", victim, time.Since(killed).Round(time.Millisecond))
	if eval[int](t, tb, `window.fjordNoReload || 0`) != 1 {
		t.Errorf("the overview was reloaded; the live region should have updated in place")
	}
	if after := refreshed(); after <= before {
		t.Errorf("the live region's refresh count went from %d to %d", before, after)
	}
	tb.shot(t, "overview-node-down")

	waitUntil(t, 10*time.Second, "Metadata to move every orders leader off the killed node", func() string {
		md = e.metadata(t)
		for _, p := range md.Topics["orders"].Partitions {
			if p.Leader == victim || p.Leader < 0 || slices.Contains(p.ISR, victim) {
				return fmt.Sprintf("orders-%d: leader %d, ISR %v", p.Partition, p.Leader, p.ISR)
			}
		}
		return ""
	})
	tb.open(t, "/topics/orders", partitionWants(md, "orders")...)
	tb.shot(t, "topic-node-down")

	tb.open(t, "/", is(row+" td.state", "down or fenced"))
	eval[int](t, tb, `window.fjordNoReload = 1`)
	started := time.Now()
	if err := e.c.Node(victim).Start(); err != nil {
		t.Fatal(err)
	}
	tb.await(t, 40*time.Second, fmt.Sprintf("the overview to show broker %d back and every ISR full", victim),
		append(brokersUp(),
			has("#events", fmt.Sprintf("broker %d is up", victim)),
			has("#events", fmt.Sprintf("ISR expanded, with %d", victim)),
			is("#under-replicated .n", "0"),
			gone("#problems"))...)
	t.Logf("the overview showed broker %d back with full ISRs %v after its start", victim, time.Since(started).Round(time.Millisecond))
	if eval[int](t, tb, `window.fjordNoReload || 0`) != 1 {
		t.Errorf("the overview was reloaded; the live region should have updated in place")
	}
	tb.shot(t, "overview-node-back")
	// The README's picture: with FJORD_SCREENSHOT_HOLD the rate charts
	// gather that much more history first (and the preferred leaders
	// return to the restarted node).
	if hold, err := time.ParseDuration(os.Getenv("FJORD_SCREENSHOT_HOLD")); err == nil && hold > 0 {
		t.Logf("holding %v before the last overview screenshot", hold)
		time.Sleep(hold)
		tb.await(t, settleTimeout, "every broker up", brokersUp()...)
	}
	t.Logf("overview for the README (docs/console.png, 1280 px wide): %s", tb.shot(t, "overview"))
}
