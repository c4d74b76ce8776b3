package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSecurityInputRefusedBeforeKafka: bad /acls filters and bad ACL and
// user forms are a 400 with a message, without asking the (here
// unreachable) cluster.
func TestSecurityInputRefusedBeforeKafka(t *testing.T) {
	h := newTestServer(t).Handler()
	for _, path := range []string{"/acls?type=bogus", "/acls?type=MATCH", "/acls?principal=a%00b",
		"/acls?resource=%ff", "/acls?resource=" + strings.Repeat("x", maxFilterLen+1)} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `class="errmsg"`) {
			t.Errorf("GET %.80s: status %d, want 400 with a message", path, rec.Code)
		}
	}
	good := url.Values{"principal": {"User:alice"}, "host": {"*"}, "operation": {"READ"}, "permission": {"ALLOW"},
		"type": {"TOPIC"}, "name": {"a-"}, "pattern": {"PREFIXED"}}
	with := func(k, v string) string {
		f := url.Values{}
		for kk, vv := range good {
			f[kk] = vv
		}
		f.Set(k, v)
		return f.Encode()
	}
	cases := []struct{ path, form, want string }{
		{"/acls", with("principal", "alice"), "principal must be a type and a name"},
		{"/acls", with("principal", ":alice"), "principal must be a type and a name"},
		{"/acls", with("principal", "User:"), "principal must be a type and a name"},
		{"/acls", with("operation", "ANY"), "operation must be one of"},
		{"/acls", with("operation", "explode"), "operation must be one of"},
		{"/acls", with("permission", "maybe"), "permission must be ALLOW or DENY"},
		{"/acls", with("type", "ANY"), "resource type must be one of"},
		{"/acls", with("pattern", "MATCH"), "pattern must be LITERAL or PREFIXED"},
		{"/acls", with("name", ""), "resource name is required"},
		{"/acls", with("host", "a b"), "host must be"},
		{"/acls/delete", with("permission", "ANY"), "permission must be ALLOW or DENY"},
		{"/users", "user=&mechanism=SCRAM-SHA-256&password=x", "user is required"},
		{"/users", "user=bob&mechanism=PLAIN&password=x", "mechanism must be"},
		{"/users", "user=bob&mechanism=SCRAM-SHA-256&password=x&iterations=10", "iterations must be"},
		{"/users", "user=bob&mechanism=SCRAM-SHA-256&password=", "password is required"},
		{"/users", "user=+bob&mechanism=SCRAM-SHA-256&password=x", "spaces"},
		{"/users/delete", "user=bob&mechanism=MD5", "mechanism must be"},
	}
	for _, c := range cases {
		rec := postForm(h, c.path, c.form)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("POST %s %q: status %d, want 400 saying %q; body %.300s", c.path, c.form, rec.Code, c.want, rec.Body.String())
		}
	}
	// A cross-site post is refused like every other form.
	if rec := postForm(h, "/users", "user=bob&mechanism=SCRAM-SHA-256&password=x", "Sec-Fetch-Site", "cross-site"); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site POST /users: status %d, want 403", rec.Code)
	}
}

// TestParseBinding: a valid form gives the exact binding; a cluster
// binding's name defaults to kafka-cluster.
func TestParseBinding(t *testing.T) {
	form := url.Values{"principal": {"User:alice"}, "operation": {"describe"}, "permission": {"deny"},
		"type": {"CLUSTER"}, "pattern": {"LITERAL"}}
	req := httptest.NewRequest(http.MethodPost, "/acls", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c, b, err := parseBinding(req)
	if err != nil {
		t.Fatal(err)
	}
	want := aclBinding{Principal: "User:alice", Host: "*", Operation: "DESCRIBE", Permission: "DENY", Type: "CLUSTER",
		Name: "kafka-cluster", Pattern: "LITERAL"}
	if b != want || c.ResourceName != "kafka-cluster" || c.Host != "*" || c.Operation != kadm.OpDescribe {
		t.Errorf("parsed %+v / %+v, want %+v", b, c, want)
	}
}

// TestPrincipalFromSASL: the header names the SASL user of PLAIN and
// SCRAM clients, and never shows a password.
func TestPrincipalFromSASL(t *testing.T) {
	for name, mech := range map[string]kgo.Opt{
		"PLAIN":         kgo.SASL(plain.Auth{User: "alice", Pass: "pw-plain-secret"}.AsMechanism()),
		"SCRAM-SHA-512": kgo.SASL(scram.Auth{User: "al=ice,x", Pass: "pw-scram-secret"}.AsSha512Mechanism()),
	} {
		s, err := New(Options{ClientOpts: []kgo.Opt{kgo.SeedBrokers(deadSeed(t)), mech}, SampleInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/no/such/page", nil))
		s.Close()
		body := rec.Body.String()
		want := "signed in as User:alice"
		if name != "PLAIN" {
			want = "signed in as User:al=ice,x"
		}
		if !strings.Contains(body, want) {
			t.Errorf("%s: page lacks %q", name, want)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("%s: the page shows the password", name)
		}
	}
	rec := httptest.NewRecorder()
	newTestServer(t).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/no/such/page", nil))
	if strings.Contains(rec.Body.String(), "signed in as") {
		t.Error("a console without SASL claims a principal")
	}
}

func TestSecurityUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{kerr.SecurityDisabled, "no authorizer"},
		{&kadm.AuthError{Err: kerr.ClusterAuthorizationFailed}, "Not authorized to list (CLUSTER_AUTHORIZATION_FAILED)"},
		{fmt.Errorf("x: %w", kerr.ClusterAuthorizationFailed), "Not authorized"},
		{kerr.UnsupportedVersion, "does not support"},
		{errors.New("connection refused"), ""},
	} {
		if got := securityUnavailable("list", c.err); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("securityUnavailable(%v) = %q, want it to say %q", c.err, got, c.want)
		}
	}
}

// TestUnreachableSecurityPages: /acls and /users fail within their
// timeout with a 502/504 page when the cluster is down.
func TestUnreachableSecurityPages(t *testing.T) {
	h := newTestServer(t).Handler()
	for _, path := range []string{"/acls", "/users"} {
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("GET %s took %v", path, took)
		}
		if rec.Code != http.StatusBadGateway && rec.Code != http.StatusGatewayTimeout {
			t.Errorf("GET %s: status %d, want 502 or 504", path, rec.Code)
		}
	}
}
