package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecureCluster runs a 3-node cluster with SASL_SSL on the client,
// inter-broker and controller listeners and an mTLS (SSL, client auth
// required) listener, with the StandardAuthorizer: kcat with SCRAM-SHA-512
// over TLS, franz-go with SCRAM-SHA-256 and with mTLS, and kafka-python
// with PLAIN produce and consume; principals see only what their ACLs
// allow; SCRAM credentials and ACLs survive a controller failover and a
// full restart; a password change takes effect for new connections at
// once.
func TestSecureCluster(t *testing.T) {
	sc := startSecureCluster(t)
	waitAgreed(t, sc.nodes, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	adm := sc.admin(t)
	seeds := addrs(sc.nodes)
	createUser(t, adm, "alice", "alice-secret", kadm.ScramSha512)
	createUser(t, adm, "bob", "bob-secret", kadm.ScramSha256)
	for _, topic := range []string{"orders", "secret"} {
		if _, err := adm.CreateTopic(ctxT(t), 3, 3, nil, topic); err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
	}
	rw := []kadm.ACLOperation{kadm.OpRead, kadm.OpWrite, kadm.OpDescribe}
	for _, p := range []string{"User:alice", "User:bob", "User:carol", "User:dave"} {
		allowTopic(t, adm, p, "orders", rw...)
	}
	createACLs(t, adm, kadm.NewACLs().Allow("User:bob", "User:dave").AllowHosts().Groups("readers").Operations(kadm.OpRead))
	createACLs(t, adm, kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("billing-").Operations(kadm.OpRead).
		ResourcePatternType(kadm.ACLPatternPrefixed))

	t.Run("kcat SCRAM-SHA-512 over TLS", func(t *testing.T) { checkKcatSecure(t, sc, seeds) })
	t.Run("franz-go SCRAM-SHA-256", func(t *testing.T) {
		checkRoundTrip(t, sc, seeds, "readers", sc.saslOpts(t, "SCRAM-SHA-256", "bob", "bob-secret"))
	})
	t.Run("franz-go mTLS", func(t *testing.T) { checkRoundTrip(t, sc, sc.sslAddrs, "readers", sc.mtlsOpts(t, "dave")) })
	t.Run("kafka-python PLAIN", func(t *testing.T) { checkKafkaPython(t, sc, seeds) })
	t.Run("ACLs", func(t *testing.T) { checkACLsEnforced(t, sc, seeds) })
	t.Run("bad credentials", func(t *testing.T) { checkBadCredentials(t, sc, seeds) })
	t.Run("password change", func(t *testing.T) { checkPasswordChange(t, sc, seeds, adm) })
	t.Run("controller failover and full restart", func(t *testing.T) { checkSecurityDurable(t, sc, seeds) })
}

// checkRoundTrip produces through one client and consumes the records
// back in group.
func checkRoundTrip(t *testing.T, sc *secureCluster, seeds []string, group string, opts []kgo.Opt) {
	prod := sc.client(t, seeds, opts...)
	var want []string
	for i := range 50 {
		want = append(want, fmt.Sprintf("%s-%d", t.Name(), i))
	}
	produceAll(t, prod, "orders", want...)
	cons := sc.client(t, seeds, append(slices.Clone(opts), kgo.ConsumeTopics("orders"), kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	got := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	for missing(got, want) > 0 && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Fatalf("consuming: %v", e.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	if n := missing(got, want); n > 0 {
		t.Fatalf("%d of %d produced records not consumed", n, len(want))
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Errorf("committing offsets in group %s: %v", group, err)
	}
}

func missing(got map[string]bool, want []string) int {
	n := 0
	for _, w := range want {
		if !got[w] {
			n++
		}
	}
	return n
}

func checkKcatSecure(t *testing.T, sc *secureCluster, seeds []string) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat); .ci/run installs it")
	}
	sec := []string{"-b", strings.Join(seeds, ","), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=alice", "-X", "sasl.password=alice-secret", "-X", "ssl.ca.location=" + sc.pki.CA}
	var in bytes.Buffer
	var want []string
	for i := range 100 {
		line := fmt.Sprintf("kcat-secure-%03d", i)
		in.WriteString(line + "\n")
		want = append(want, line)
	}
	runKcat(t, kcat, &in, append(sec, "-P", "-t", "orders", "-X", "acks=all")...)
	out := runKcat(t, kcat, nil, append(sec, "-C", "-t", "orders", "-o", "beginning", "-e", "-q")...)
	got := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		got[l] = true
	}
	if n := missing(got, want); n > 0 {
		t.Errorf("kcat consumed back %d lines fewer than it produced", n)
	}
}

// kafkaPythonScript produces 20 records with PLAIN over TLS and reads
// them back; it prints "ok N" with the count read.
const kafkaPythonScript = `
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
boot, ca, user, pw = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
sec = dict(bootstrap_servers=boot, security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
           sasl_plain_username=user, sasl_plain_password=pw, ssl_cafile=ca)
p = KafkaProducer(acks="all", **sec)
futures = [p.send("orders", ("python-%d" % i).encode(), partition=0) for i in range(20)]
first = futures[0].get(timeout=30).offset
for f in futures:
    f.get(timeout=30)
p.close()
c = KafkaConsumer(consumer_timeout_ms=10000, **sec)
tp = TopicPartition("orders", 0)
c.assign([tp])
c.seek(tp, first)
seen = set()
for m in c:
    seen.add(m.value.decode())
    if len(seen) >= 20:
        break
print("ok", len([v for v in seen if v.startswith("python-")]))
`

func checkKafkaPython(t *testing.T, sc *secureCluster, seeds []string) {
	py := debianPython()
	if exec.Command(py, "-c", "import kafka").Run() != nil {
		t.Skip("kafka-python not installed (apt-get install python3-kafka); .ci/run installs it")
	}
	script := filepath.Join(t.TempDir(), "kp.py")
	if err := os.WriteFile(script, []byte(kafkaPythonScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, script, strings.Join(seeds, ","), sc.pki.CA, "carol", carolPassword).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok 20") {
		t.Fatalf("kafka-python PLAIN round trip: %v\n%s", err, out)
	}
}

// checkACLsEnforced: alice may use orders but not secret, which she cannot
// even see; a DENY beats her ALLOW; mallory's certificate maps to a
// principal with no ACLs at all.
func checkACLsEnforced(t *testing.T, sc *secureCluster, seeds []string) {
	alice := sc.client(t, seeds, sc.saslOpts(t, "SCRAM-SHA-512", "alice", "alice-secret")...)
	aliceAdm := kadm.NewClient(alice)
	topics, err := aliceAdm.ListTopics(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("secret") || !topics.Has("orders") {
		t.Errorf("alice lists topics %v: want orders and not secret", topics.Names())
	}
	err = alice.ProduceSync(ctxT(t), &kgo.Record{Topic: "secret", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice producing to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if _, err := aliceAdm.CreateTopic(ctxT(t), 1, 1, nil, "alices"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice creating a topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	adm := sc.admin(t)
	createACLs(t, adm, kadm.NewACLs().Deny("User:alice").DenyHosts().Topics("orders").Operations(kadm.OpWrite))
	// Not idempotent: with WRITE denied on her only topic, alice could not
	// get a producer id either (CLUSTER_AUTHORIZATION_FAILED, as in Kafka).
	alice = sc.client(t, seeds, append(sc.saslOpts(t, "SCRAM-SHA-512", "alice", "alice-secret"), kgo.DisableIdempotentWrite())...)
	err = alice.ProduceSync(ctxT(t), &kgo.Record{Topic: "orders", Value: []byte("denied")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice producing to orders with a DENY WRITE: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	res, err := adm.DeleteACLs(ctxT(t), kadm.NewACLs().Deny("User:alice").DenyHosts().Topics("orders").Operations(kadm.OpWrite))
	if err != nil || len(res) != 1 || len(res[0].Deleted) != 1 {
		t.Fatalf("deleting the DENY: %+v %v", res, err)
	}
	mallory := kadm.NewClient(sc.client(t, sc.sslAddrs, sc.mtlsOpts(t, "mallory")...))
	if topics, err := mallory.ListTopics(ctxT(t)); err != nil || len(topics) != 0 {
		t.Errorf("mallory (no ACLs) lists %v (%v), want nothing", topics.Names(), err)
	}
}

// checkBadCredentials: a wrong password, an unknown user and a plaintext
// client on the TLS port are refused; the cluster goes on serving.
func checkBadCredentials(t *testing.T, sc *secureCluster, seeds []string) {
	for name, opts := range map[string][]kgo.Opt{
		"wrong password": sc.saslOpts(t, "SCRAM-SHA-512", "alice", "wrong"),
		"unknown user":   sc.saslOpts(t, "SCRAM-SHA-256", "nobody", "x"),
		"wrong PLAIN":    sc.saslOpts(t, "PLAIN", "carol", "wrong"),
	} {
		cl := sc.client(t, seeds, append(opts, kgo.RequestRetries(0))...)
		_, err := kadm.NewClient(cl).ListTopics(ctxT(t))
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}
	plain := sc.client(t, seeds, kgo.RequestRetries(0), kgo.RetryTimeout(3*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(plain).ListTopics(ctx); err == nil {
		t.Error("a plaintext client was served on the SASL_SSL port")
	}
	if _, err := sc.admin(t).ListTopics(ctxT(t)); err != nil {
		t.Errorf("the cluster stopped serving after bad clients: %v", err)
	}
}

// checkPasswordChange: new connections need the new password at once.
func checkPasswordChange(t *testing.T, sc *secureCluster, seeds []string, adm *kadm.Client) {
	createUser(t, adm, "alice", "alice-new", kadm.ScramSha512)
	old := sc.client(t, seeds, append(sc.saslOpts(t, "SCRAM-SHA-512", "alice", "alice-secret"), kgo.RequestRetries(0))...)
	if _, err := kadm.NewClient(old).ListTopics(ctxT(t)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("the old password after the change: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	checkRoundTrip(t, sc, seeds, "billing-eu", sc.saslOpts(t, "SCRAM-SHA-512", "alice", "alice-new"))
}

// checkSecurityDurable: credentials and ACLs survive the loss of the
// active controller and then a full restart.
func checkSecurityDurable(t *testing.T, sc *secureCluster, seeds []string) {
	ctrl := waitController(t, sc.nodes, waitTimeout)
	sc.node(ctrl).kill9()
	survivors := withoutNode(sc.nodes, ctrl)
	alive := addrs(survivors)
	checkRoundTrip(t, sc, alive, "readers", sc.saslOpts(t, "SCRAM-SHA-256", "bob", "bob-secret"))
	sc.node(ctrl).start()
	waitAgreed(t, sc.nodes, readyTimeout, "the old controller is back", brokersAre(1, 2, 3))
	for _, nd := range sc.nodes {
		nd.kill9()
	}
	for _, nd := range sc.nodes {
		nd.start()
	}
	waitAgreed(t, sc.nodes, readyTimeout, "every node is back after a full restart", brokersAre(1, 2, 3))
	checkRoundTrip(t, sc, seeds, "billing-us", sc.saslOpts(t, "SCRAM-SHA-512", "alice", "alice-new"))
	alice := sc.client(t, seeds, sc.saslOpts(t, "SCRAM-SHA-512", "alice", "alice-new")...)
	err := alice.ProduceSync(ctxT(t), &kgo.Record{Topic: "secret", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("after the restart alice producing to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// debianPython is the interpreter Debian's python3-kafka installs for:
// /usr/bin/python3 where it exists (another python3 may come first on
// PATH), else python3.
func debianPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}
