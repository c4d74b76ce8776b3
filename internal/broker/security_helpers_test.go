package broker

// Helpers of security_badinput_test.go: a node with SASL listeners, raw
// Kafka-protocol connections and SASL steps. The tests there check bad
// input against a node's SASL listeners (issue 10; DESIGN.md §1 "Bad
// input" and "Security"): wrong passwords, unknown users, mechanisms a
// listener does not enable, requests before authentication, plaintext on
// the TLS port, oversize and garbage SASL tokens, the kafka-python bare
// token path, silent clients, and re-authentication (KIP-368). Every case
// asserts Kafka's error code or a closed connection, every read is bounded
// by a deadline, and after each case the node still serves a franz-go
// producer and consumer.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	kscram "github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/goleak"
)

// The node's users and limits.
const (
	secAdminPassword = "admin-secret"
	secAlicePassword = "alice-secret" // PLAIN user, no ACLs
	secScramUser     = "sam"          // SCRAM user, created through the protocol
	secScramPassword = "sam-secret"
	secTopic         = "sec-health"

	secMaxAuth    = 4096    // sasl.server.max.receive.size (SASL_PLAINTEXT)
	secTLSMaxAuth = 2 << 20 // listener.name.sasl_ssl.sasl.server.max.receive.size
	secReauth     = 1000    // listener.name.sasl_plaintext.connections.max.reauth.ms
	secAuthWait   = 10 * time.Second
)

const secJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="` +
	secAdminPassword + `" user_admin="` + secAdminPassword + `" user_alice="` + secAlicePassword + `";`

// The mechanisms each listener enables.
var (
	secTLSMechanisms   = []string{sasl.Plain, sasl.ScramSHA256, sasl.ScramSHA512}
	secPlainMechanisms = []string{sasl.Plain, sasl.ScramSHA256}
)

// secNode is an in-process node with a SASL_SSL and a SASL_PLAINTEXT
// listener.
type secNode struct {
	*Broker
	tlsAddr, plainAddr string
	pki                tlsconf.PKI
	tlsCfg             *tls.Config // trusts the test CA
	admin              *kadm.Client
}

// startSecNode starts the node. At the end of the test it is closed and
// the test fails if a goroutine started since is still running.
func startSecNode(t *testing.T) *secNode {
	t.Helper()
	baseline := goleak.IgnoreCurrent()
	pki, err := tlsconf.GeneratePKI(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.NewBroker(map[string]string{
		"listeners":                      "SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"listener.security.protocol.map": "SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":     "SASL_SSL",
		"sasl.jaas.config":               secJAAS,
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms":   strings.Join(secPlainMechanisms, ","),
		"sasl.server.max.receive.size":                           fmt.Sprint(secMaxAuth),
		"listener.name.sasl_ssl.sasl.server.max.receive.size":    fmt.Sprint(secTLSMaxAuth),
		"listener.name.sasl_plaintext.connections.max.reauth.ms": fmt.Sprint(secReauth),
		"ssl.keystore.type":                                      "PEM",
		"ssl.keystore.location":                                  pki.Server,
		"ssl.truststore.type":                                    "PEM",
		"ssl.truststore.location":                                pki.CA,
		"authorizer.class.name":                                  "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":                                            "User:admin",
		"auto.create.topics.enable":                              "false",
		"log.dirs":                                               t.TempDir(),
		"log.retention.check.interval.ms":                        "3600000",
	})
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	b, err := Start(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
		goleak.VerifyNone(t, baseline)
	})
	s := &secNode{Broker: b, tlsAddr: b.Addr("SASL_SSL"), plainAddr: b.Addr("SASL_PLAINTEXT"), pki: pki}
	if s.tlsAddr == "" || s.plainAddr == "" {
		t.Fatalf("listeners bound: SASL_SSL %q, SASL_PLAINTEXT %q", s.tlsAddr, s.plainAddr)
	}
	ca, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	s.tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	s.admin = kadm.NewClient(s.client(t, s.tlsAddr, s.saslOpts(t, clientsec.SASLSSL, sasl.Plain, "admin", secAdminPassword)...))
	return s
}

// saslOpts are kgo options for protocol (SASL_SSL or SASL_PLAINTEXT) as
// user with mechanism, trusting the test CA.
func (s *secNode) saslOpts(t *testing.T, protocol, mechanism, user, password string) []kgo.Opt {
	t.Helper()
	opts, err := clientsec.Props{
		"security.protocol": protocol, "sasl.mechanism": mechanism,
		"sasl.username": user, "sasl.password": password, "ssl.ca.location": s.pki.CA,
	}.Options()
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// client returns a franz-go client of addr, closed at the end of the test
// (closing it twice is harmless).
func (s *secNode) client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DialTimeout(3 * time.Second),
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MetadataMinAge(10 * time.Millisecond),
		kgo.RetryTimeout(5 * time.Second),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// setup creates the SCRAM user (both mechanisms) as the PLAIN admin, the
// health topic, and the SCRAM user's read ACLs on it.
func (s *secNode) setup(t *testing.T) {
	t.Helper()
	ctx := secCtx(t, 30*time.Second)
	res, err := s.admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: secScramUser, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: secScramPassword},
		{User: secScramUser, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: secScramPassword},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("creating SCRAM user: %v", err)
	}
	if _, err := s.admin.CreateTopic(ctx, 1, 1, nil, secTopic); err != nil {
		t.Fatalf("create %s: %v", secTopic, err)
	}
	acl := kadm.NewACLs().Allow("User:"+secScramUser).AllowHosts().Topics(secTopic).
		Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	results, err := s.admin.CreateACLs(ctx, acl)
	if err != nil {
		t.Fatalf("CreateACLs: %v", err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("CreateACLs %+v: %v", r, r.Err)
		}
	}
	// The credentials and ACLs are in this node's image once it has
	// applied the records AlterUserScramCredentials and CreateAcls wrote.
	for _, m := range []string{sasl.ScramSHA256, sasl.ScramSHA512} {
		secWaitFor(t, "SCRAM credential "+m, func() bool {
			_, ok := s.Image().ScramCredential(secScramUser, sasl.MechanismID(m))
			return ok
		})
	}
	secWaitFor(t, "ACLs", func() bool { return len(s.Image().ACLSet().ByID) > 0 })
}

// secWaitFor polls cond until it holds, failing after 10 s.
func secWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func secCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkServes produces a record as the PLAIN admin over SASL_SSL and
// consumes it back as the SCRAM user over SASL_PLAINTEXT (re-authenticating
// every second there).
func (s *secNode) checkServes(t *testing.T) {
	t.Helper()
	ctx := secCtx(t, 15*time.Second)
	value := fmt.Appendf(nil, "sec-health-%d", time.Now().UnixNano())
	prod := s.client(t, s.tlsAddr, append(s.saslOpts(t, clientsec.SASLSSL, sasl.Plain, "admin", secAdminPassword),
		kgo.DefaultProduceTopic(secTopic))...)
	defer prod.Close()
	r, err := prod.ProduceSync(ctx, &kgo.Record{Value: value}).First()
	if err != nil {
		t.Fatalf("node no longer serves produce: %v", err)
	}
	cons := s.client(t, s.plainAddr, append(s.saslOpts(t, clientsec.SASLPlaintext, sasl.ScramSHA256, secScramUser, secScramPassword),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{secTopic: {r.Partition: kgo.NewOffset().At(r.Offset)}}))...)
	defer cons.Close()
	for {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("node no longer serves fetch: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		var got []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
		if len(got) > 0 {
			if got[0].Offset != r.Offset || !bytes.Equal(got[0].Value, value) {
				t.Fatalf("consumed offset %d %q, produced offset %d %q", got[0].Offset, got[0].Value, r.Offset, value)
			}
			return
		}
	}
}

// dialPlain opens a raw connection to the SASL_PLAINTEXT listener.
func (s *secNode) dialPlain(t *testing.T) *rawConn {
	t.Helper()
	return secDialTCP(t, s.plainAddr)
}

func secDialTCP(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc}
}

// dialTLS opens a raw connection over TLS to the SASL_SSL listener.
func (s *secNode) dialTLS(t *testing.T) *rawConn {
	t.Helper()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: s.tlsCfg}
	nc, err := d.DialContext(secCtx(t, 5*time.Second), "tcp", s.tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc}
}

// --- SASL over a raw connection ---

func (c *rawConn) saslHandshake(version int16, mechanism string) *kmsg.SASLHandshakeResponse {
	c.t.Helper()
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = version, mechanism
	return c.roundTrip(req).(*kmsg.SASLHandshakeResponse)
}

func (c *rawConn) saslAuthenticate(version int16, token []byte) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = version, token
	return c.roundTrip(req).(*kmsg.SASLAuthenticateResponse)
}

// handshakeOK runs SaslHandshake and fails the test on an error.
func (c *rawConn) handshakeOK(version int16, mechanism string) {
	c.t.Helper()
	if resp := c.saslHandshake(version, mechanism); resp.ErrorCode != 0 {
		c.t.Fatalf("SaslHandshake v%d %s: error %v", version, mechanism, kerr.ErrorForCode(resp.ErrorCode))
	}
}

func plainToken(user, password string) []byte { return []byte("\x00" + user + "\x00" + password) }

// loginPlain authenticates with PLAIN (handshake v1, authenticate at
// version) and returns the SaslAuthenticate response.
func (c *rawConn) loginPlain(version int16, user, password string) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	c.handshakeOK(1, sasl.Plain)
	return c.saslAuthenticate(version, plainToken(user, password))
}

// scramSession starts a franz-go SCRAM client exchange and returns it with
// its client-first message.
func scramSession(t *testing.T, mechanism, user, password string) (challenge func([]byte) (bool, []byte, error), first []byte) {
	t.Helper()
	auth := kscram.Auth{User: user, Pass: password}
	m := auth.AsSha256Mechanism()
	if mechanism == sasl.ScramSHA512 {
		m = auth.AsSha512Mechanism()
	}
	sess, first, err := m.Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return sess.Challenge, first
}

// loginScram authenticates with SCRAM (handshake v1, authenticate v2) and
// returns the first SaslAuthenticate response with an error, or the last
// one; a client-side failure to verify the server fails the test.
func (c *rawConn) loginScram(mechanism, user, password string) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	c.handshakeOK(1, mechanism)
	challenge, token := scramSession(c.t, mechanism, user, password)
	for {
		resp := c.saslAuthenticate(2, token)
		if resp.ErrorCode != 0 {
			return resp
		}
		done, next, err := challenge(resp.SASLAuthBytes)
		if err != nil {
			c.t.Fatalf("SCRAM client step: %v", err)
		}
		if done {
			return resp
		}
		token = next
	}
}

// writeToken writes a bare size-prefixed SASL token (after SaslHandshake v0).
func (c *rawConn) writeToken(token []byte) {
	c.t.Helper()
	c.write(append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...))
}

// readToken reads a bare size-prefixed SASL token.
func (c *rawConn) readToken() []byte {
	c.t.Helper()
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading a bare SASL token: %v", err)
	}
	return b
}

// metadataOK sends a Metadata request for the health topic and checks it is
// answered.
func (c *rawConn) metadataOK() *kmsg.MetadataResponse {
	c.t.Helper()
	return c.roundTrip(secMetadataReq()).(*kmsg.MetadataResponse)
}

func secMetadataReq() *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(metadataVersion)
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(secTopic)}}
	return req
}

// wantAuthFailed checks SASL_AUTHENTICATION_FAILED with a message, then the
// connection closing, and returns the message.
func wantAuthFailed(t *testing.T, what string, c *rawConn, resp *kmsg.SASLAuthenticateResponse) string {
	t.Helper()
	wantCode(t, what, resp.ErrorCode, kerr.SaslAuthenticationFailed)
	msg := ""
	if resp.ErrorMessage != nil {
		msg = *resp.ErrorMessage
	}
	if msg == "" {
		t.Errorf("%s: no error message", what)
	}
	if resp.SessionLifetimeMillis != 0 || len(resp.SASLAuthBytes) != 0 {
		t.Errorf("%s: failed authentication carries lifetime %d, %d token bytes", what, resp.SessionLifetimeMillis, len(resp.SASLAuthBytes))
	}
	c.expectClosed()
	return msg
}

// wantLoggedIn checks a successful authentication's response and, unless
// lifetime is negative, its session lifetime (v1+).
func wantLoggedIn(t *testing.T, what string, resp *kmsg.SASLAuthenticateResponse, lifetime int64) {
	t.Helper()
	wantCode(t, what, resp.ErrorCode, nil)
	if lifetime >= 0 && resp.Version >= 1 && resp.SessionLifetimeMillis != lifetime {
		t.Errorf("%s: session lifetime %d ms, want %d", what, resp.SessionLifetimeMillis, lifetime)
	}
}

// --- the test ---
