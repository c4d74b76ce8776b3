package broker

// Bad input against a node's SASL listeners (issue 10; DESIGN.md §1 "Bad
// input" and "Security"): wrong passwords, unknown users, mechanisms a
// listener does not enable, requests before authentication, plaintext on
// the TLS port, oversize and garbage SASL tokens, the kafka-python bare
// token path, silent clients, and re-authentication (KIP-368). Every case
// asserts Kafka's error code or a closed connection, every read is bounded
// by a deadline, and after each case the node still serves a franz-go
// producer and consumer.

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSecurityBadInput runs every case against one node, checking after
// each that the node still serves franz-go clients; clients that never
// authenticate are opened first and checked last (the server cuts them
// off after its 10 s authentication timeout), and the goroutine count must
// come back to its level before the cases.
func TestSecurityBadInput(t *testing.T) {
	start := time.Now()
	s := startSecNode(t)
	s.setup(t)
	s.checkServes(t)
	t.Logf("node up and set up in %v", time.Since(start).Round(time.Millisecond))

	waitGoroutinesSettle()
	baseline := runtime.NumGoroutine()
	silent := s.openSilentClients(t)

	cases := []struct {
		name string
		fn   func(*testing.T, *secNode)
	}{
		{"credentials/PLAIN wrong password and unknown user", testSecPlainBadCredentials},
		{"credentials/SCRAM wrong password and unknown user", testSecScramBadCredentials},
		{"credentials/franz-go clients", testSecClientBadCredentials},
		{"credentials/good logins", testSecGoodLogins},
		{"mechanism/not enabled", testSecMechanismNotEnabled},
		{"state/authenticate without handshake", testSecAuthenticateWithoutHandshake},
		{"state/second handshake", testSecSecondHandshake},
		{"before auth/requests close", testSecRequestsBeforeAuth},
		{"before auth/ApiVersions answered", testSecApiVersionsBeforeAuth},
		{"tls/plaintext client on the TLS port", testSecPlaintextOnTLS},
		{"tls/TLS client on the plaintext port", testSecTLSOnPlaintext},
		{"frame/over sasl.server.max.receive.size", testSecOversizeFrame},
		{"frame/per-listener sasl.server.max.receive.size", testSecPerListenerMaxReceive},
		{"scram/garbage tokens", testSecScramGarbage},
		{"kafka-python/bare PLAIN token", testSecBareTokenPlain},
		{"kafka-python/bare SCRAM tokens", testSecBareTokenScram},
		{"kafka-python/bad bare tokens", testSecBareTokenFailures},
		{"reauth/lifetime and expiry", testSecReauthExpiry},
		{"reauth/same user keeps the connection", testSecReauthSameUser},
		{"reauth/different user or mechanism", testSecReauthOtherUser},
		{"reauth/franz-go client across lifetimes", testSecReauthClient},
	}
	for _, tc := range cases {
		caseStart := time.Now()
		if !t.Run(tc.name, func(t *testing.T) { tc.fn(t, s) }) {
			continue
		}
		s.checkServes(t)
		t.Logf("%s: %v", tc.name, time.Since(caseStart).Round(time.Millisecond))
	}

	t.Run("silent clients cut off after the authentication timeout", func(t *testing.T) { silent.check(t) })
	s.checkServes(t)

	// Every connection of the cases is closed (by the node or by the test's
	// clients); the node's goroutines come back to their level before them.
	deadline := time.Now().Add(10 * time.Second)
	for n := runtime.NumGoroutine(); n > baseline+5; n = runtime.NumGoroutine() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the cases:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("goroutines: %d before the cases, %d after; total %v", baseline, runtime.NumGoroutine(), time.Since(start).Round(time.Millisecond))
}

// waitGoroutinesSettle gives goroutines of closed clients a moment to end:
// until the count is unchanged over 100 ms, for at most 3 s.
func waitGoroutinesSettle() {
	deadline := time.Now().Add(3 * time.Second)
	for prev := -1; time.Now().Before(deadline); {
		n := runtime.NumGoroutine()
		if n == prev {
			return
		}
		prev = n
		time.Sleep(100 * time.Millisecond)
	}
}

// --- credentials ---

func testSecPlainBadCredentials(t *testing.T, s *secNode) {
	c := s.dialPlain(t)
	wrong := wantAuthFailed(t, "PLAIN wrong password", c, c.loginPlain(2, "alice", "wrong"))
	c = s.dialPlain(t)
	unknown := wantAuthFailed(t, "PLAIN unknown user", c, c.loginPlain(2, "nobody", secAlicePassword))
	if wrong != unknown {
		t.Errorf("messages tell an unknown user (%q) from a wrong password (%q)", unknown, wrong)
	}
	c = s.dialTLS(t)
	wantAuthFailed(t, "PLAIN over TLS, wrong password", c, c.loginPlain(0, "admin", "wrong"))
	// authzid differing from the user, an empty password, no separators.
	for _, tok := range []string{"admin\x00alice\x00" + secAlicePassword, "\x00alice\x00", "alice"} {
		c = s.dialPlain(t)
		c.handshakeOK(1, sasl.Plain)
		wantAuthFailed(t, fmt.Sprintf("PLAIN token %q", tok), c, c.saslAuthenticate(1, []byte(tok)))
	}
}

func testSecScramBadCredentials(t *testing.T, s *secNode) {
	c := s.dialPlain(t)
	wrong := wantAuthFailed(t, "SCRAM-SHA-256 wrong password", c, c.loginScram(sasl.ScramSHA256, secScramUser, "wrong"))
	c = s.dialPlain(t)
	unknown := wantAuthFailed(t, "SCRAM-SHA-256 unknown user", c, c.loginScram(sasl.ScramSHA256, "nobody", "x"))
	if wrong != unknown {
		t.Errorf("messages tell an unknown user (%q) from a wrong password (%q)", unknown, wrong)
	}
	c = s.dialTLS(t)
	wantAuthFailed(t, "SCRAM-SHA-512 over TLS, wrong password", c, c.loginScram(sasl.ScramSHA512, secScramUser, "wrong"))
	// A PLAIN user has no SCRAM credential.
	c = s.dialTLS(t)
	wantAuthFailed(t, "SCRAM-SHA-512 as a PLAIN-only user", c, c.loginScram(sasl.ScramSHA512, "alice", secAlicePassword))
}

// franz-go clients with bad credentials get SASL_AUTHENTICATION_FAILED.
func testSecClientBadCredentials(t *testing.T, s *secNode) {
	for _, tc := range []struct{ name, proto, addr, mech, user, pass string }{
		{"PLAIN wrong password", clientsec.SASLSSL, s.tlsAddr, sasl.Plain, "alice", "wrong"},
		{"PLAIN unknown user", clientsec.SASLPlaintext, s.plainAddr, sasl.Plain, "nobody", "x"},
		{"SCRAM-SHA-256 wrong password", clientsec.SASLPlaintext, s.plainAddr, sasl.ScramSHA256, secScramUser, "wrong"},
		{"SCRAM-SHA-512 unknown user", clientsec.SASLSSL, s.tlsAddr, sasl.ScramSHA512, "nobody", "x"},
	} {
		cl := s.client(t, tc.addr, append(s.saslOpts(t, tc.proto, tc.mech, tc.user, tc.pass), kgo.RequestRetries(0))...)
		_, err := kadm.NewClient(cl).ListTopics(secCtx(t, 10*time.Second))
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED", tc.name, err)
		}
		cl.Close()
	}
}

// The good logins of every mechanism on each listener, as a contrast to
// the failures, with the session lifetime of each listener.
func testSecGoodLogins(t *testing.T, s *secNode) {
	c := s.dialTLS(t)
	wantLoggedIn(t, "PLAIN over TLS", c.loginPlain(1, "admin", secAdminPassword), 0)
	c.metadataOK()
	for _, m := range secTLSMechanisms[1:] {
		c = s.dialTLS(t)
		wantLoggedIn(t, m+" over TLS", c.loginScram(m, secScramUser, secScramPassword), 0)
		c.metadataOK()
	}
	c = s.dialPlain(t)
	wantLoggedIn(t, "SCRAM-SHA-256", c.loginScram(sasl.ScramSHA256, secScramUser, secScramPassword), secReauth)
	c.metadataOK()
}

// --- mechanisms and states ---

func testSecMechanismNotEnabled(t *testing.T, s *secNode) {
	for _, tc := range []struct {
		listener string
		dial     func(*testing.T) *rawConn
		version  int16
		mech     string
		enabled  []string
	}{
		{"SASL_SSL", s.dialTLS, 1, "GSSAPI", secTLSMechanisms},
		{"SASL_SSL", s.dialTLS, 1, "OAUTHBEARER", secTLSMechanisms},
		{"SASL_SSL", s.dialTLS, 0, "OAUTHBEARER", secTLSMechanisms},
		{"SASL_SSL", s.dialTLS, 1, "plain", secTLSMechanisms}, // names are case-sensitive, as in Kafka
		{"SASL_SSL", s.dialTLS, 1, "", secTLSMechanisms},
		{"SASL_PLAINTEXT", s.dialPlain, 1, sasl.ScramSHA512, secPlainMechanisms}, // removed by listener.name.*
		{"SASL_PLAINTEXT", s.dialPlain, 0, sasl.ScramSHA512, secPlainMechanisms},
		{"SASL_PLAINTEXT", s.dialPlain, 1, "GSSAPI", secPlainMechanisms},
	} {
		what := fmt.Sprintf("%s SaslHandshake v%d %q", tc.listener, tc.version, tc.mech)
		c := tc.dial(t)
		resp := c.saslHandshake(tc.version, tc.mech)
		wantCode(t, what, resp.ErrorCode, kerr.UnsupportedSaslMechanism)
		if !slices.Equal(resp.SupportedMechanisms, tc.enabled) {
			t.Errorf("%s: mechanisms %q, want %q", what, resp.SupportedMechanisms, tc.enabled)
		}
		c.expectClosed()
	}
	// franz-go asking for the removed mechanism gets the error.
	cl := s.client(t, s.plainAddr, append(s.saslOpts(t, clientsec.SASLPlaintext, sasl.ScramSHA512, secScramUser, secScramPassword),
		kgo.RequestRetries(0))...)
	if _, err := kadm.NewClient(cl).ListTopics(secCtx(t, 10*time.Second)); !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Errorf("franz-go SCRAM-SHA-512 on SASL_PLAINTEXT: %v, want UNSUPPORTED_SASL_MECHANISM", err)
	}
	cl.Close()
}

func testSecAuthenticateWithoutHandshake(t *testing.T, s *secNode) {
	for _, v := range []int16{0, 1, 2} {
		c := s.dialPlain(t)
		resp := c.saslAuthenticate(v, plainToken("admin", secAdminPassword))
		wantCode(t, fmt.Sprintf("SaslAuthenticate v%d without handshake", v), resp.ErrorCode, kerr.IllegalSaslState)
		c.expectClosed()
	}
	// After ApiVersions, still no handshake.
	c := s.dialTLS(t)
	c.roundTrip(apiVersions(3))
	wantCode(t, "SaslAuthenticate after ApiVersions only", c.saslAuthenticate(2, plainToken("admin", secAdminPassword)).ErrorCode,
		kerr.IllegalSaslState)
	c.expectClosed()
}

// A second handshake while an exchange is in progress is refused.
func testSecSecondHandshake(t *testing.T, s *secNode) {
	c := s.dialPlain(t)
	c.handshakeOK(1, sasl.Plain)
	wantCode(t, "second SaslHandshake", c.saslHandshake(1, sasl.Plain).ErrorCode, kerr.IllegalSaslState)
	c.expectClosed()
	// v0 on an authenticated connection (no re-authentication with bare
	// tokens).
	c = s.dialPlain(t)
	wantLoggedIn(t, "PLAIN", c.loginPlain(2, "alice", secAlicePassword), secReauth)
	wantCode(t, "SaslHandshake v0 after authentication", c.saslHandshake(0, sasl.Plain).ErrorCode, kerr.IllegalSaslState)
	c.expectClosed()
}

// --- before authentication ---

// Metadata, Produce, Fetch and others before authentication close the
// connection without a response, also after the handshake and after a
// token of a SCRAM exchange; the produce writes nothing.
func testSecRequestsBeforeAuth(t *testing.T, s *secNode) {
	before := s.endOffset(t)
	reqs := map[string]kmsg.Request{
		"metadata":       secMetadataReq(),
		"produce":        produceReq(-1, produceVersion, produceTP{secTopic, 0, validBatch(t, "unauthenticated")}),
		"produce acks=0": produceReq(0, produceVersion, produceTP{secTopic, 0, validBatch(t, "unauthenticated")}),
		"fetch":          fetchReq(secTopic, 0, 0, -1, 100, 1),
		"list offsets":   listOffsetsReq(secTopic, 0, -1),
		"create topics":  &kmsg.CreateTopicsRequest{Version: createTopicsVer, TimeoutMillis: 1000},
	}
	prefixes := map[string]func(*testing.T, *rawConn){
		"fresh":           func(*testing.T, *rawConn) {},
		"after handshake": func(_ *testing.T, c *rawConn) { c.handshakeOK(1, sasl.Plain) },
		"mid SCRAM": func(t *testing.T, c *rawConn) {
			c.handshakeOK(1, sasl.ScramSHA256)
			_, first := scramSession(t, sasl.ScramSHA256, secScramUser, secScramPassword)
			wantCode(t, "client-first", c.saslAuthenticate(2, first).ErrorCode, nil)
		},
	}
	dials := map[string]func(*testing.T) *rawConn{"SASL_PLAINTEXT": s.dialPlain, "SASL_SSL": s.dialTLS}
	for pname, prefix := range prefixes {
		for rname, req := range reqs {
			for lname, dial := range dials {
				t.Run(lname+"/"+pname+"/"+rname, func(t *testing.T) {
					c := dial(t)
					prefix(t, c)
					c.send(req)
					c.expectClosed()
				})
			}
		}
	}
	// Pipelined behind a good ApiVersions: that one is answered, then the
	// connection closes.
	c := s.dialPlain(t)
	b := kmsg.NewRequestFormatter().AppendRequest(nil, apiVersions(3), 1)
	b = append(b, kmsg.NewRequestFormatter().AppendRequest(nil, secMetadataReq(), 2)...)
	c.write(b)
	c.recv(apiVersions(3), 1, 3)
	c.expectClosed()
	if after := s.endOffset(t); after != before {
		t.Errorf("unauthenticated produce moved the log end from %d to %d", before, after)
	}
}

// endOffset is the health topic's end offset, asked as the admin.
func (s *secNode) endOffset(t *testing.T) int64 {
	t.Helper()
	offs, err := s.admin.ListEndOffsets(secCtx(t, 10*time.Second), secTopic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	o, _ := offs.Lookup(secTopic, 0)
	return o.Offset
}

// ApiVersions before authentication is answered (at every version, and
// KIP-511's v0 answer to an unknown one), and authentication follows on
// the same connection.
func testSecApiVersionsBeforeAuth(t *testing.T, s *secNode) {
	for _, dial := range []func(*testing.T) *rawConn{s.dialPlain, s.dialTLS} {
		c := dial(t)
		for _, v := range []int16{0, 1, 2, 3} {
			resp := c.roundTrip(apiVersions(v)).(*kmsg.ApiVersionsResponse)
			if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
				t.Fatalf("ApiVersions v%d before auth: error %d, %d keys", v, resp.ErrorCode, len(resp.ApiKeys))
			}
		}
		c.write(frame(18, 99, 42, []byte{0, 5, 'f', 'a', 'k', 'e', 3, '9', '9', 0}))
		wantCode(t, "ApiVersions v99", c.recv(kmsg.NewPtrApiVersionsRequest(), 42, 0).(*kmsg.ApiVersionsResponse).ErrorCode,
			kerr.UnsupportedVersion)
		wantLoggedIn(t, "PLAIN after ApiVersions", c.loginPlain(2, "admin", secAdminPassword), -1)
		if resp := c.metadataOK(); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			t.Errorf("metadata as admin: %+v", resp.Topics)
		}
	}
}

// --- TLS ---

// A plaintext Kafka client on the TLS port: no Kafka response, the
// connection closes, and franz-go gives up with an error.
func testSecPlaintextOnTLS(t *testing.T, s *secNode) {
	for _, req := range []kmsg.Request{apiVersions(3), secMetadataReq(), kmsg.NewPtrSASLHandshakeRequest()} {
		c := secDialTCP(t, s.tlsAddr)
		c.send(req)
		expectClosedNoKafka(t, c)
	}
	c := secDialTCP(t, s.tlsAddr)
	c.write(bytes.Repeat([]byte{0x16, 3, 1, 0, 0}, 4)) // TLS-looking garbage
	expectClosedNoKafka(t, c)

	cl := s.client(t, s.tlsAddr, append(s.saslOpts(t, clientsec.SASLPlaintext, sasl.Plain, "admin", secAdminPassword),
		kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))...)
	ctx := secCtx(t, 8*time.Second)
	if _, err := kadm.NewClient(cl).ListTopics(ctx); err == nil {
		t.Error("a plaintext client was served on the SASL_SSL port")
	} else if ctx.Err() != nil {
		t.Errorf("a plaintext client on the SASL_SSL port hung until the deadline: %v", err)
	}
	cl.Close()
}

// expectClosedNoKafka reads until the node closes the connection (within
// 5 s) and fails if it sent anything but TLS alert records.
func expectClosedNoKafka(t *testing.T, c *rawConn) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c.nc)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("connection not closed: %v (read %d bytes)", err, len(got))
	}
	for len(got) > 0 {
		if len(got) < 5 || got[0] != 0x15 { // a TLS alert record
			t.Fatalf("the TLS port answered a plaintext client with %x", got)
		}
		n := 5 + int(binary.BigEndian.Uint16(got[3:5]))
		got = got[min(n, len(got)):]
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// A TLS client on the SASL_PLAINTEXT port: its ClientHello reads as a huge
// frame, the connection closes and the client's handshake fails.
func testSecTLSOnPlaintext(t *testing.T, s *secNode) {
	nc, err := net.DialTimeout("tcp", s.plainAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tls.Client(nc, s.tlsCfg.Clone()).Handshake(); err == nil {
		t.Fatal("TLS handshake with the SASL_PLAINTEXT listener succeeded")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("TLS handshake with the SASL_PLAINTEXT listener hung")
	}
}

// --- frame sizes ---

// Before authentication frames above sasl.server.max.receive.size close
// the connection (in both framings); a frame of exactly the limit is read;
// after authentication the limit no longer applies.
func testSecOversizeFrame(t *testing.T, s *secNode) {
	c := s.dialPlain(t)
	c.write(frame(18, 0, 1, make([]byte, secMaxAuth+1-11))) // ApiVersions v0 padded to limit+1
	c.expectClosed()

	c = s.dialPlain(t)
	c.write(binary.BigEndian.AppendUint32(nil, 1<<30)) // a claim only
	c.expectClosed()

	c = s.dialPlain(t)
	c.handshakeOK(1, sasl.Plain)
	c.send(&kmsg.SASLAuthenticateRequest{Version: 1, SASLAuthBytes: make([]byte, secMaxAuth)})
	c.expectClosed()

	c = s.dialPlain(t)
	f := frame(18, 0, 1, make([]byte, secMaxAuth-11))
	if len(f)-4 != secMaxAuth {
		t.Fatalf("frame of %d bytes", len(f)-4)
	}
	c.write(f)
	if resp := c.recv(kmsg.NewPtrApiVersionsRequest(), 1, 0).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions of %d bytes: error %d", secMaxAuth, resp.ErrorCode)
	}
	wantLoggedIn(t, "PLAIN", c.loginPlain(2, "admin", secAdminPassword), secReauth)
	c.write(frame(18, 0, 9, make([]byte, 4*secMaxAuth)))
	if resp := c.recv(kmsg.NewPtrApiVersionsRequest(), 9, 0).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions of %d bytes after authentication: error %d", 4*secMaxAuth, resp.ErrorCode)
	}
}

// listener.name.sasl_ssl.sasl.server.max.receive.size raises the limit of
// the SASL_SSL listener above the global one.
func testSecPerListenerMaxReceive(t *testing.T, s *secNode) {
	c := s.dialTLS(t)
	c.write(frame(18, 0, 1, make([]byte, 4*secMaxAuth)))
	b, err := c.readFrame()
	if err != nil {
		t.Fatalf("SASL_SSL closed a %d-byte frame before authentication (%v): listener.name.sasl_ssl.sasl.server.max.receive.size=%d not applied",
			4*secMaxAuth, err, secTLSMaxAuth)
	}
	if corr := binary.BigEndian.Uint32(b); corr != 1 {
		t.Fatalf("correlation id %d", corr)
	}
	c = s.dialTLS(t)
	c.write(binary.BigEndian.AppendUint32(nil, secTLSMaxAuth+1))
	c.expectClosed()
}

// --- garbage SCRAM tokens ---

func testSecScramGarbage(t *testing.T, s *secNode) {
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	firsts := map[string][]byte{
		"random bytes":          random(64),
		"empty":                 {},
		"invalid UTF-8 name":    []byte("n,,n=\xff\xfe\xfd,r=abcdefgh"),
		"invalid UTF-8 nonce":   []byte("n,,n=" + secScramUser + ",r=\xc3\x28"),
		"no nonce":              []byte("n,,n=" + secScramUser),
		"channel binding":       []byte("p=tls-server-end-point,,n=" + secScramUser + ",r=abc"),
		"bad escape":            []byte("n,,n=a=ZZb,r=abc"),
		"commas":                []byte(",,,,,,"),
		"final message first":   []byte("c=biws,r=abc,p=AAAA"),
		"NUL bytes":             make([]byte, 100),
		"mandatory extension m": []byte("m=x,n,,n=" + secScramUser + ",r=abc"),
	}
	for name, tok := range firsts {
		t.Run("client-first/"+name, func(t *testing.T) {
			c := s.dialPlain(t)
			c.handshakeOK(1, sasl.ScramSHA256)
			wantAuthFailed(t, "client-first "+name, c, c.saslAuthenticate(2, tok))
		})
	}
	t.Run("client-first/1 MiB within the SASL_SSL limit", func(t *testing.T) {
		c := s.dialTLS(t)
		c.handshakeOK(1, sasl.ScramSHA512)
		wantAuthFailed(t, "client-first of 1 MiB", c, c.saslAuthenticate(2, random(1<<20)))
	})

	// A good client-first, then a bad client-final.
	finals := map[string]func(serverFirst []byte) []byte{
		"nonce mismatch": func(sf []byte) []byte {
			return []byte("c=biws,r=" + "x" + nonceOf(sf) + ",p=" + base64.StdEncoding.EncodeToString(random(32)))
		},
		"client nonce only": func([]byte) []byte {
			return []byte("c=biws,r=clientnonce,p=" + base64.StdEncoding.EncodeToString(random(32)))
		},
		"bad proof": func(sf []byte) []byte {
			return []byte("c=biws,r=" + nonceOf(sf) + ",p=" + base64.StdEncoding.EncodeToString(random(32)))
		},
		"proof not base64": func(sf []byte) []byte { return []byte("c=biws,r=" + nonceOf(sf) + ",p=!!!") },
		"wrong binding":    func(sf []byte) []byte { return []byte("c=eSws,r=" + nonceOf(sf) + ",p=AAAA") },
		"random":           func([]byte) []byte { return random(200) },
		"empty":            func([]byte) []byte { return nil },
		"invalid UTF-8":    func(sf []byte) []byte { return []byte("c=biws,r=" + nonceOf(sf) + "\xff,p=AAAA") },
		"client-first again": func([]byte) []byte {
			return []byte("n,,n=" + secScramUser + ",r=abc")
		},
	}
	for name, final := range finals {
		t.Run("client-final/"+name, func(t *testing.T) {
			c := s.dialPlain(t)
			c.handshakeOK(1, sasl.ScramSHA256)
			_, first := scramSession(t, sasl.ScramSHA256, secScramUser, secScramPassword)
			resp := c.saslAuthenticate(2, first)
			wantCode(t, "client-first", resp.ErrorCode, nil)
			wantAuthFailed(t, "client-final "+name, c, c.saslAuthenticate(2, final(resp.SASLAuthBytes)))
		})
	}

	// A token after a completed exchange, without a new handshake.
	c := s.dialPlain(t)
	wantLoggedIn(t, "SCRAM", c.loginScram(sasl.ScramSHA256, secScramUser, secScramPassword), secReauth)
	wantCode(t, "token after success", c.saslAuthenticate(2, []byte("c=biws")).ErrorCode, kerr.IllegalSaslState)
	c.expectClosed()
}

// nonceOf returns the r= attribute of a server-first message.
func nonceOf(serverFirst []byte) string {
	for _, f := range strings.Split(string(serverFirst), ",") {
		if r, ok := strings.CutPrefix(f, "r="); ok {
			return r
		}
	}
	return ""
}

// --- the kafka-python path: SaslHandshake v0, then bare tokens ---

func testSecBareTokenPlain(t *testing.T, s *secNode) {
	for _, dial := range []func(*testing.T) *rawConn{s.dialPlain, s.dialTLS} {
		c := dial(t)
		c.handshakeOK(0, sasl.Plain)
		c.writeToken(plainToken("admin", secAdminPassword))
		if tok := c.readToken(); len(tok) != 0 {
			t.Fatalf("PLAIN bare token reply of %d bytes, want empty", len(tok))
		}
		if resp := c.metadataOK(); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			t.Errorf("metadata after bare-token login: %+v", resp.Topics)
		}
	}
}

func testSecBareTokenScram(t *testing.T, s *secNode) {
	c := s.dialPlain(t)
	c.handshakeOK(0, sasl.ScramSHA256)
	challenge, tok := scramSession(t, sasl.ScramSHA256, secScramUser, secScramPassword)
	for {
		c.writeToken(tok)
		done, next, err := challenge(c.readToken())
		if err != nil {
			t.Fatalf("SCRAM client step: %v", err)
		}
		if done {
			break
		}
		tok = next
	}
	if resp := c.metadataOK(); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Errorf("metadata after bare-token SCRAM login: %+v", resp.Topics)
	}
}

// A failing bare token closes the connection with nothing written: there
// is no framing to carry an error.
func testSecBareTokenFailures(t *testing.T, s *secNode) {
	for name, tok := range map[string][]byte{
		"wrong password":  plainToken("admin", "wrong"),
		"unknown user":    plainToken("nobody", "x"),
		"empty":           {},
		"a Kafka request": kmsg.NewRequestFormatter().AppendRequest(nil, secMetadataReq(), 1)[4:],
	} {
		t.Run(name, func(t *testing.T) {
			c := s.dialPlain(t)
			c.handshakeOK(0, sasl.Plain)
			c.writeToken(tok)
			c.expectClosed()
		})
	}
	c := s.dialPlain(t)
	c.handshakeOK(0, sasl.Plain)
	c.writeToken(make([]byte, secMaxAuth+1))
	c.expectClosed()

	c = s.dialPlain(t)
	c.handshakeOK(0, sasl.ScramSHA256)
	c.writeToken([]byte("n,,n=\xff,r=x"))
	c.expectClosed()

	// A truncated token, then silence: closed by the authentication
	// timeout (checked with the silent clients), not here.
}

// --- re-authentication (KIP-368) ---

// loginAt authenticates with PLAIN on SASL_PLAINTEXT and returns when the
// session has expired at the latest (the node starts the lifetime before
// it answers).
func loginAt(t *testing.T, c *rawConn, user, password string) time.Time {
	t.Helper()
	c.handshakeOK(1, sasl.Plain)
	wantLoggedIn(t, "PLAIN "+user, c.saslAuthenticate(1, plainToken(user, password)), secReauth)
	return time.Now().Add(secReauth * time.Millisecond)
}

// sleepPast sleeps until t0 has passed (plus a margin for the node's
// clock reading): the condition here is the passage of time itself.
func sleepPast(t0 time.Time) { time.Sleep(time.Until(t0) + 50*time.Millisecond) }

func testSecReauthExpiry(t *testing.T, s *secNode) {
	c := s.dialPlain(t)
	expires := loginAt(t, c, "alice", secAlicePassword)
	c.metadataOK()
	sleepPast(expires)
	c.send(secMetadataReq())
	c.expectClosed()

	// ApiVersions is not a SASL request: after expiry it closes too.
	c = s.dialPlain(t)
	expires = loginAt(t, c, "alice", secAlicePassword)
	sleepPast(expires)
	c.send(apiVersions(3))
	c.expectClosed()
}

func testSecReauthSameUser(t *testing.T, s *secNode) {
	c := s.dialPlain(t)
	loginAt(t, c, "alice", secAlicePassword)
	c.metadataOK()
	// Before expiry and after it: re-authentication extends the session.
	expires2 := loginAt(t, c, "alice", secAlicePassword)
	c.metadataOK()
	sleepPast(expires2)
	expires3 := loginAt(t, c, "alice", secAlicePassword)
	c.metadataOK()
	sleepPast(expires3)
	c.send(secMetadataReq())
	c.expectClosed()

	// SCRAM re-authenticates as well.
	c = s.dialPlain(t)
	wantLoggedIn(t, "SCRAM", c.loginScram(sasl.ScramSHA256, secScramUser, secScramPassword), secReauth)
	wantLoggedIn(t, "SCRAM again", c.loginScram(sasl.ScramSHA256, secScramUser, secScramPassword), secReauth)
	c.metadataOK()
}

func testSecReauthOtherUser(t *testing.T, s *secNode) {
	c := s.dialPlain(t)
	loginAt(t, c, "alice", secAlicePassword)
	wantAuthFailed(t, "re-authentication as admin", c, c.loginPlain(1, "admin", secAdminPassword))

	c = s.dialPlain(t)
	loginAt(t, c, "alice", secAlicePassword)
	wantAuthFailed(t, "re-authentication with a wrong password", c, c.loginPlain(1, "alice", "wrong"))

	// Another mechanism than the session's.
	c = s.dialPlain(t)
	loginAt(t, c, "alice", secAlicePassword)
	resp := c.saslHandshake(1, sasl.ScramSHA256)
	wantCode(t, "re-authentication handshake with another mechanism", resp.ErrorCode, kerr.UnsupportedSaslMechanism)
	c.expectClosed()
}

// A franz-go client keeps working across several session lifetimes: it
// re-authenticates before each expiry.
func testSecReauthClient(t *testing.T, s *secNode) {
	cl := s.client(t, s.plainAddr, s.saslOpts(t, clientsec.SASLPlaintext, sasl.ScramSHA256, secScramUser, secScramPassword)...)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	end := time.Now().Add(3 * secReauth * time.Millisecond)
	for i := 0; time.Now().Before(end); i++ {
		if _, err := adm.ListEndOffsets(secCtx(t, 10*time.Second), secTopic); err != nil {
			t.Fatalf("request %d across re-authentications: %v", i, err)
		}
		time.Sleep(200 * time.Millisecond) // spread requests over the lifetimes
	}
}

// --- silent clients ---

// silentClients are connections that never finish authenticating, opened
// before the cases; a goroutine per connection records when the node
// closes it, and check looks at those times after the cases.
type silentClients struct {
	conns []*silentConn
}

type silentConn struct {
	name   string
	opened time.Time
	closed chan silentEnd
}

type silentEnd struct {
	at  time.Time
	err error
}

// add watches nc, opened at opened, until the node closes it (reading a
// TLS close_notify or nothing before EOF) or a deadline well past the
// authentication timeout.
func (sc *silentClients) add(name string, opened time.Time, nc net.Conn) {
	c := &silentConn{name: name, opened: opened, closed: make(chan silentEnd, 1)}
	sc.conns = append(sc.conns, c)
	nc.SetDeadline(opened.Add(secAuthWait + 10*time.Second))
	go func() {
		var err error
		for err == nil {
			_, err = nc.Read(make([]byte, 512))
		}
		c.closed <- silentEnd{time.Now(), err}
	}()
}

func (s *secNode) openSilentClients(t *testing.T) *silentClients {
	t.Helper()
	sc := &silentClients{}
	tcp := func(name, addr string, send []byte) {
		opened := time.Now()
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		if _, err := nc.Write(send); err != nil {
			t.Fatal(err)
		}
		sc.add(name, opened, nc)
	}
	tcp("TLS port, no TLS handshake", s.tlsAddr, nil)
	tcp("TLS port, half a record header", s.tlsAddr, []byte{0x16, 3, 1}) // the start of a ClientHello
	tcp("SASL_PLAINTEXT, nothing sent", s.plainAddr, nil)
	tcp("half a frame", s.plainAddr, frame(18, 3, 1, nil)[:8])

	raw := func(name string, dial func(*testing.T) *rawConn, then func(*rawConn)) {
		opened := time.Now()
		c := dial(t)
		then(c)
		sc.add(name, opened, c.nc)
	}
	raw("TLS done, no SASL", s.dialTLS, func(*rawConn) {})
	raw("ApiVersions only", s.dialPlain, func(c *rawConn) { c.roundTrip(apiVersions(3)) })
	raw("handshake done, no token", s.dialPlain, func(c *rawConn) { c.handshakeOK(1, sasl.ScramSHA256) })
	raw("SCRAM client-first, no final", s.dialTLS, func(c *rawConn) {
		c.handshakeOK(1, sasl.ScramSHA256)
		_, first := scramSession(t, sasl.ScramSHA256, secScramUser, secScramPassword)
		wantCode(t, "client-first", c.saslAuthenticate(2, first).ErrorCode, nil)
	})
	raw("half a bare token", s.dialPlain, func(c *rawConn) {
		c.handshakeOK(0, sasl.Plain)
		c.write([]byte{0, 0, 0, 20, 0})
	})
	return sc
}

// check waits for the node to have closed each connection: no sooner than
// the authentication timeout after it connected, and within 2 s after it.
func (sc *silentClients) check(t *testing.T) {
	for _, c := range sc.conns {
		end := <-c.closed
		took := end.at.Sub(c.opened)
		switch {
		case errors.Is(end.err, os.ErrDeadlineExceeded):
			t.Errorf("%s: still open %v after it connected", c.name, took.Round(time.Millisecond))
		case took < secAuthWait:
			t.Errorf("%s: closed after %v, before the %v authentication timeout (%v)", c.name, took, secAuthWait, end.err)
		case took > secAuthWait+2*time.Second:
			t.Errorf("%s: closed only after %v (%v)", c.name, took, end.err)
		default:
			t.Logf("%s: closed after %v (%v)", c.name, took.Round(time.Millisecond), end.err)
		}
	}
}
