package e2e

// TestConsoleSecurity runs `fjord console` against a SASL_SSL cluster with
// the StandardAuthorizer, once as alice (who may describe and read topics
// prefixed a- and group g-a only) and once as the super user admin: alice
// sees only what her ACLs allow and every page degrades instead of
// failing; admin sees everything and manages ACLs and SCRAM users through
// the forms. The message browser's live tail streams a record produced
// after it connected.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestConsoleSecurity(t *testing.T) {
	sc := startSecureCluster(t)
	waitAgreed(t, sc.nodes, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	adm := sc.admin(t)
	createUser(t, adm, "alice", "alice-secret", kadm.ScramSha512)
	createUser(t, adm, "admin", adminPassword, kadm.ScramSha256)
	for _, topic := range []string{"a-1", "b-1"} {
		if _, err := adm.CreateTopic(ctxT(t), 2, 3, nil, topic); err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
	}
	createACLs(t, adm, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("a-").
		Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	createACLs(t, adm, kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("g-a").
		Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	prod := sc.client(t, addrs(sc.nodes), sc.saslOpts(t, "PLAIN", "admin", adminPassword)...)
	produceAll(t, prod, "a-1", "a-one", "a-two")
	produceAll(t, prod, "b-1", "b-one")
	commitGroup(t, adm, "g-a", "a-1", 2, 1)
	commitGroup(t, adm, "g-b", "b-1", 2, 1)

	alice := startSecureConsole(t, sc, map[string]string{"sasl.mechanism": "SCRAM-SHA-512",
		"sasl.username": "alice", "sasl.password": "alice-secret"})
	admin := startSecureConsole(t, sc, map[string]string{"sasl.mechanism": "SCRAM-SHA-256",
		"sasl.username": "admin", "sasl.password": adminPassword})
	t.Run("alice", func(t *testing.T) { checkConsoleAsAlice(t, alice) })
	t.Run("tail", func(t *testing.T) { checkConsoleTail(t, alice, prod) })
	t.Run("admin", func(t *testing.T) { checkConsoleAsAdmin(t, admin, adm, prod, sc) })
}

// startSecureConsole runs `fjord console` with a client properties file
// (--command-config) of SASL_SSL with props; stopped when the test ends.
func startSecureConsole(t *testing.T, sc *secureCluster, props map[string]string) *consoleProc {
	t.Helper()
	var b strings.Builder
	b.WriteString("security.protocol=SASL_SSL\nssl.ca.location=" + sc.pki.CA + "\n")
	for k, v := range props {
		b.WriteString(k + "=" + v + "\n")
	}
	path := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	label := "fjord console (" + props["sasl.username"] + ")"
	return runConsole(t, label, "--command-config", path, "console", "-b", strings.Join(addrs(sc.nodes), ","))
}

// waitBody polls path until it answers want and its body satisfies cond
// (which returns "" when it does, else why not); it returns the body.
func (cp *consoleProc) waitBody(t *testing.T, path string, want int, cond func(string) string) string {
	t.Helper()
	var body string
	consoleWait(t, 15*time.Second, "GET "+path, func() string {
		var code int
		code, body, _ = cp.get(path)
		if code != want {
			return fmt.Sprintf("status %d, want %d: %.500s", code, want, body)
		}
		return cond(body)
	})
	return body
}

// has returns a condition: body holds every want and none of the avoid.
func has(want []string, avoid ...string) func(string) string {
	return func(body string) string {
		for _, w := range want {
			if !strings.Contains(body, w) {
				return fmt.Sprintf("no %q in the page", w)
			}
		}
		for _, a := range avoid {
			if strings.Contains(body, a) {
				return fmt.Sprintf("%q in the page", a)
			}
		}
		return ""
	}
}

func checkConsoleAsAlice(t *testing.T, cp *consoleProc) {
	cp.waitBody(t, "/topics", http.StatusOK, has([]string{`href="/topics/a-1"`, "signed in as User:alice"}, `href="/topics/b-1"`))
	cp.waitBody(t, "/groups", http.StatusOK, has([]string{`href="/groups/g-a"`}, `href="/groups/g-b"`))
	cp.waitBody(t, "/topics/b-1", http.StatusForbidden, has([]string{"not authorized to describe topic b-1"}))
	cp.waitBody(t, "/topics/b-1/messages", http.StatusForbidden, has([]string{"not authorized to describe topic b-1"}))
	cp.waitBody(t, "/topics/b-1/messages/tail", http.StatusForbidden, has([]string{"not authorized to describe topic b-1"}))
	cp.waitBody(t, "/groups/g-b", http.StatusForbidden, has([]string{"not authorized to describe group g-b"}))
	// alice may describe a-1 but not its configs: the page says so.
	cp.waitBody(t, "/topics/a-1", http.StatusOK, has([]string{"not authorized to describe the configs of topic a-1"}))
	cp.waitBody(t, "/topics/a-1/messages?from=beginning", http.StatusOK, has([]string{"a-one", "a-two"}))
	cp.waitBody(t, "/groups/g-a", http.StatusOK, has([]string{"a-1"}))
	// The cluster-wide parts (log dirs, quorum, broker configs) are refused.
	cp.waitBody(t, "/", http.StatusOK, has([]string{"not authorized"}))
	cp.waitBody(t, "/brokers/1", http.StatusOK, has([]string{"not authorized to describe the broker&#39;s configs"}))
	cp.waitBody(t, "/acls", http.StatusOK, has([]string{"Not authorized to describe the cluster&#39;s ACLs"}, `id="create-acl"`))
	cp.waitBody(t, "/users", http.StatusOK, has([]string{"Not authorized to describe the SCRAM users"}, `id="set-password"`))
	cp.waitBody(t, "/acls?type=nonsense", http.StatusBadRequest, has([]string{"type must be any or one of"}))
	cp.waitBody(t, "/topics/a-1/messages/tail?partition=x", http.StatusBadRequest, has([]string{"partition must be"}))
	cp.waitBody(t, "/topics/a-1/messages/tail?mode=json", http.StatusBadRequest, has([]string{"mode must be"}))
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ name, data string }

// checkConsoleTail opens the live tail of a-1 as alice, produces after
// the stream is ready and expects the record's row within 2 s.
func checkConsoleTail(t *testing.T, cp *consoleProc, prod *kgo.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cp.base+"/topics/a-1/messages/tail?partition=all&filter=tailed", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("tail: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 16)
	go readEvents(resp, events)
	next := func(within time.Duration) sseEvent {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the tail ended")
			}
			return ev
		case <-time.After(within):
			t.Fatalf("no event within %v", within)
		}
		return sseEvent{}
	}
	if ev := next(5 * time.Second); ev.name != "ready" {
		t.Fatalf("first event %+v, want ready", ev)
	}
	produceAll(t, prod, "a-1", "skipped by the filter", "tailed <record> 1")
	start := time.Now()
	ev := next(2 * time.Second)
	if ev.name != "record" || !strings.Contains(ev.data, "tailed &lt;record&gt; 1") || !strings.HasPrefix(ev.data, "<tr>") {
		t.Fatalf("event %+v, want the row of the tailed record", ev)
	}
	t.Logf("tailed record arrived %v after it was acknowledged", time.Since(start))
	select {
	case ev := <-events:
		if ev.name == "record" {
			t.Errorf("a record the filter excludes was sent: %+v", ev)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// readEvents parses the stream into events until it ends.
func readEvents(resp *http.Response, out chan<- sseEvent) {
	defer close(out)
	r := bufio.NewReader(resp.Body)
	var ev sseEvent
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" {
				ev.data = strings.Join(data, "\n")
				out <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

func checkConsoleAsAdmin(t *testing.T, cp *consoleProc, adm *kadm.Client, prod *kgo.Client, sc *secureCluster) {
	cp.waitBody(t, "/topics", http.StatusOK, has([]string{`href="/topics/a-1"`, `href="/topics/b-1"`, "signed in as User:admin"}))
	cp.waitBody(t, "/acls", http.StatusOK, has([]string{"User:alice", "<code>a-</code>", "PREFIXED", "<code>g-a</code>", `id="create-acl"`}))
	cp.waitBody(t, "/acls?principal=User:alice&resource=g-", http.StatusOK, has([]string{"1 of 3 bindings", "<code>g-a</code>"}, "<code>a-</code>"))
	cp.waitBody(t, "/users", http.StatusOK, has([]string{`data-user="alice"`, `data-user="admin"`, "SCRAM-SHA-512, 4096 iterations"}))

	// Create an ACL through the form, check it with kadm, delete it.
	binding := url.Values{"principal": {"User:bob"}, "host": {"*"}, "permission": {"ALLOW"}, "operation": {"WRITE"},
		"type": {"TOPIC"}, "name": {"b-1"}, "pattern": {"LITERAL"}}
	if code, loc, body := cp.post(t, "/acls", binding); code != http.StatusSeeOther {
		t.Fatalf("creating an ACL: status %d (%s): %.1000s", code, loc, body)
	}
	waitBobACLs(t, prod, 1, "after the create form")
	cp.waitBody(t, "/acls?principal=User:bob", http.StatusOK, has([]string{"1 of 4 bindings", "<code>b-1</code>"}))
	if code, loc, body := cp.post(t, "/acls/delete", binding); code != http.StatusSeeOther {
		t.Fatalf("deleting the ACL: status %d (%s): %.1000s", code, loc, body)
	}
	waitBobACLs(t, prod, 0, "after the delete button")
	if code, _, body := cp.post(t, "/acls/delete", binding); code != http.StatusNotFound {
		t.Errorf("deleting a deleted ACL: status %d, want 404: %.500s", code, body)
	}

	// Set a password through the form: the new user signs in with it.
	const pw = "carl-Secret-42"
	code, loc, body := cp.post(t, "/users", url.Values{"user": {"carl"}, "mechanism": {"SCRAM-SHA-256"}, "iterations": {"4096"}, "password": {pw}})
	if code != http.StatusSeeOther || strings.Contains(loc, pw) || strings.Contains(body, pw) {
		t.Fatalf("setting carl's password: status %d, Location %q: %.500s", code, loc, body)
	}
	if page := cp.mustGet(t, loc, http.StatusOK); strings.Contains(page, pw) {
		t.Errorf("the users page after the form shows the password")
	}
	cp.waitBody(t, "/users", http.StatusOK, has([]string{`data-user="carl"`, "SCRAM-SHA-256, 4096 iterations"}, pw))
	consoleWait(t, 10*time.Second, "carl signs in with the password set by the console", func() string {
		users, err := adm.DescribeUserSCRAMs(ctxT(t), "carl")
		if err != nil || len(users["carl"].CredInfos) != 1 || users["carl"].CredInfos[0].Mechanism != kadm.ScramSha256 {
			return fmt.Sprintf("kadm describes carl as %+v (%v)", users, err)
		}
		return signIn(t, sc, "carl", pw)
	})
	if code, _, body := cp.post(t, "/users/delete", url.Values{"user": {"carl"}, "mechanism": {"SCRAM-SHA-256"}}); code != http.StatusSeeOther {
		t.Fatalf("deleting carl's credential: status %d: %.500s", code, body)
	}
	consoleWait(t, 10*time.Second, "carl's credential is gone", func() string {
		users, err := adm.DescribeUserSCRAMs(ctxT(t))
		if err != nil {
			return err.Error()
		}
		if u, ok := users["carl"]; ok {
			return fmt.Sprintf("still listed: %+v", u)
		}
		return ""
	})
}

// signIn connects as user with password and lists the topics: "" when
// that works, else the error.
func signIn(t *testing.T, sc *secureCluster, user, password string) string {
	opts := append([]kgo.Opt{kgo.SeedBrokers(addrs(sc.nodes)...), kgo.RequestRetries(0)},
		sc.saslOpts(t, "SCRAM-SHA-256", user, password)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).ListTopics(ctxT(t)); err != nil {
		return err.Error()
	}
	return ""
}

// waitBobACLs waits until the cluster lists want ACLs of User:bob (the
// broker asked answers from its replica of the metadata log).
func waitBobACLs(t *testing.T, cl *kgo.Client, want int, when string) {
	t.Helper()
	consoleWait(t, 10*time.Second, when, func() string {
		if n := bobACLs(t, cl); n != want {
			return fmt.Sprintf("the cluster lists %d ACLs of User:bob, want %d", n, want)
		}
		return ""
	})
}

// bobACLs counts the ACLs of User:bob as the cluster describes them.
func bobACLs(t *testing.T, cl *kgo.Client) int {
	t.Helper()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	req.Principal = kmsg.StringPtr("User:bob")
	resp, err := req.RequestWith(ctxT(t), cl)
	if err == nil && resp.ErrorCode != 0 {
		err = fmt.Errorf("error code %d", resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("DescribeACLs: %v", err)
	}
	n := 0
	for _, r := range resp.Resources {
		n += len(r.ACLs)
	}
	return n
}
