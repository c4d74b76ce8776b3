package sasl

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	franzsasl "github.com/twmb/franz-go/pkg/sasl"
	franzscram "github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/xdg-go/scram"
)

var mechanisms = []string{ScramSHA256, ScramSHA512}

// store is a Lookup over credentials made from passwords; it records the
// names it was asked for.
type store struct {
	creds map[string]Credential // mechanism+"/"+user
	asked []string
}

func newStore(t testing.TB, users map[string]string) *store {
	t.Helper()
	s := &store{creds: map[string]Credential{}}
	for _, m := range mechanisms {
		for user, pass := range users {
			c, err := NewCredential(m, pass, MinIterations)
			if err != nil {
				t.Fatal(err)
			}
			s.creds[m+"/"+user] = c
		}
	}
	return s
}

func (s *store) lookup(user, mechanism string) (Credential, bool) {
	s.asked = append(s.asked, user)
	c, ok := s.creds[mechanism+"/"+user]
	return c, ok
}

var scramUsers = map[string]string{"alice": "alice-secret", "a,b=c": "pw=,x"}

func franzMechanism(mech string, auth franzscram.Auth) franzsasl.Mechanism {
	if mech == ScramSHA512 {
		return auth.AsSha512Mechanism()
	}
	return auth.AsSha256Mechanism()
}

func newExchange(t testing.TB, mech string, s *store) Exchange {
	t.Helper()
	x, err := NewScram(mech, s.lookup)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// franzRound runs a whole exchange with franz-go's client; tamper, if
// set, rewrites the client-final-message. It returns the server's error.
func franzRound(t *testing.T, x Exchange, mech string, auth franzscram.Auth, tamper func(string) string) error {
	t.Helper()
	sess, first, err := franzMechanism(mech, auth).Authenticate(context.Background(), "broker:9092")
	if err != nil {
		t.Fatal(err)
	}
	serverFirst, done, err := x.Step(first)
	if err != nil || done {
		return stepErr(done, err)
	}
	_, final, err := sess.Challenge(serverFirst)
	if err != nil {
		t.Fatalf("client rejected server-first-message %q: %v", serverFirst, err)
	}
	if tamper != nil {
		final = []byte(tamper(string(final)))
	}
	serverFinal, done, err := x.Step(final)
	if err != nil || !done {
		return stepErr(done, err)
	}
	if ok, _, err := sess.Challenge(serverFinal); !ok || err != nil {
		t.Fatalf("client rejected server-final-message %q: %v", serverFinal, err)
	}
	return nil
}

func stepErr(done bool, err error) error {
	if err == nil {
		return errors.New("step neither failed nor ended as expected")
	}
	if done {
		return errors.New("done together with an error")
	}
	return err
}

func generic(mech string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
}

func TestScramRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		auth   franzscram.Auth
		tamper func(string) string
		msg    string // "" for success, "generic" for the invalid-credentials message
	}{
		{name: "good", auth: franzscram.Auth{User: "alice", Pass: "alice-secret"}},
		{name: "escaped name", auth: franzscram.Auth{User: "a,b=c", Pass: "pw=,x"}},
		{name: "authzid equal", auth: franzscram.Auth{User: "alice", Pass: "alice-secret", Zid: "alice"}},
		{name: "authzid other", auth: franzscram.Auth{User: "alice", Pass: "alice-secret", Zid: "admin"}, msg: msgAuthzID},
		{name: "wrong password", auth: franzscram.Auth{User: "alice", Pass: "nope"}, msg: "generic"},
		{name: "unknown user", auth: franzscram.Auth{User: "mallory", Pass: "alice-secret"}, msg: "generic"},
		{name: "tokenauth", auth: franzscram.Auth{User: "alice", Pass: "alice-secret", IsToken: true}, msg: "generic"},
		{name: "tampered proof", auth: franzscram.Auth{User: "alice", Pass: "alice-secret"}, tamper: flipProof, msg: "generic"},
		{name: "tampered nonce", auth: franzscram.Auth{User: "alice", Pass: "alice-secret"}, tamper: flipNonce, msg: "generic"},
		{name: "tampered binding", auth: franzscram.Auth{User: "alice", Pass: "alice-secret"}, tamper: func(s string) string { return "c=eSws" + s[len("c=biws"):] }, msg: "generic"},
		{name: "long proof", auth: franzscram.Auth{User: "alice", Pass: "alice-secret"}, tamper: func(s string) string { return s[:len(s)-1] + "AAAAAAAAAAAAAAAAAAAAAAA=" }, msg: "generic"},
		{name: "final extension", auth: franzscram.Auth{User: "alice", Pass: "alice-secret"}, tamper: addExtension, msg: "generic"},
	}
	s := newStore(t, scramUsers)
	for _, mech := range mechanisms {
		for _, tt := range tests {
			t.Run(mech+"/"+tt.name, func(t *testing.T) {
				x := newExchange(t, mech, s)
				err := franzRound(t, x, mech, tt.auth, tt.tamper)
				checkScram(t, x, mech, tt.auth.User, tt.msg, err)
			})
		}
	}
}

func checkScram(t *testing.T, x Exchange, mech, user, msg string, err error) {
	t.Helper()
	if msg == "generic" {
		msg = generic(mech)
	}
	if msg == "" {
		if err != nil {
			t.Fatalf("authentication failed: %v", err)
		}
		if x.User() != user {
			t.Fatalf("User() = %q, want %q", x.User(), user)
		}
	} else {
		if err == nil || err.Error() != msg || !errors.Is(err, ErrAuthentication) {
			t.Fatalf("error %v, want %q wrapping ErrAuthentication", err, msg)
		}
		if x.User() != "" {
			t.Fatalf("User() = %q after a failure", x.User())
		}
	}
	if _, done, err := x.Step([]byte("c=biws,r=x,p=AAAA")); done || err == nil {
		t.Fatalf("Step after the end: done %v, err %v", done, err)
	}
}

// flipProof changes one byte of the client proof.
func flipProof(final string) string {
	i := strings.LastIndex(final, ",p=")
	proof, _ := base64.StdEncoding.DecodeString(final[i+3:])
	proof[0] ^= 1
	return final[:i+3] + base64.StdEncoding.EncodeToString(proof)
}

func flipNonce(final string) string {
	i := strings.Index(final, ",r=") + 3
	c := "X"
	if final[i] == 'X' { // the random nonce may start with X (1 in 64)
		c = "Y"
	}
	return final[:i] + c + final[i+1:]
}

// addExtension inserts an extension, which is signed: the proof no longer
// matches.
func addExtension(final string) string {
	i := strings.LastIndex(final, ",p=")
	return final[:i] + ",ext=1" + final[i:]
}

func TestScramDecodedNameReachesLookup(t *testing.T) {
	s := newStore(t, scramUsers)
	x := newExchange(t, ScramSHA256, s)
	if err := franzRound(t, x, ScramSHA256, franzscram.Auth{User: "a,b=c", Pass: "pw=,x"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(s.asked) != 1 || s.asked[0] != "a,b=c" {
		t.Fatalf("lookup asked for %q, want [a,b=c]", s.asked)
	}
}

// TestScramXdgClient cross-checks with a second client implementation.
func TestScramXdgClient(t *testing.T) {
	s := newStore(t, scramUsers)
	for mech, h := range map[string]scram.HashGeneratorFcn{ScramSHA256: scram.SHA256, ScramSHA512: scram.SHA512} {
		for _, pass := range []string{"alice-secret", "wrong"} {
			client, err := h.NewClient("alice", pass, "")
			if err != nil {
				t.Fatal(err)
			}
			x := newExchange(t, mech, s)
			err = xdgRound(client.NewConversation(), x)
			if ok := err == nil; ok != (pass == "alice-secret") {
				t.Errorf("%s with %q: %v", mech, pass, err)
			}
		}
	}
}

func xdgRound(c *scram.ClientConversation, x Exchange) error {
	var in string
	for !c.Done() {
		out, err := c.Step(in)
		if err != nil {
			return err
		}
		if c.Done() {
			break
		}
		reply, _, err := x.Step([]byte(out))
		if err != nil {
			return err
		}
		in = string(reply)
	}
	if !c.Valid() {
		return errors.New("client did not validate the server")
	}
	return nil
}

func TestScramGarbageFirst(t *testing.T) {
	firsts := []string{
		"", "n", "n,,", "n,,n=alice", "n,,n=alice,r=", ",,n=alice,r=abc", "x,,n=alice,r=abc",
		"p=tls-unique,,n=alice,r=abc", "n,,m=ext,n=alice,r=abc", "n,,n=,r=abc", "n,,n=al=ice,r=abc",
		"n,,n=alice=2,r=abc", "n,,n=al\x00ice,r=abc", "n,,n=\xff,r=abc", "n,,r=abc,n=alice", "n,x,n=alice,r=abc",
		"n,a=,n=alice,r=abc", "n,,n=alice,r=a b", "n,,n=alice,r=abc,noequals", "n,,n=alice,r=abc,1=x",
		"n,,n=alice,r=abc,k=", "c=biws,r=abc,p=AAAA", "\x00\x01\x02",
	}
	s := newStore(t, scramUsers)
	for _, first := range firsts {
		x := newExchange(t, ScramSHA256, s)
		reply, done, err := x.Step([]byte(first))
		if reply != nil || done || err == nil || err.Error() != generic(ScramSHA256) || !errors.Is(err, ErrAuthentication) {
			t.Errorf("first %q: reply %q, done %v, err %v", first, reply, done, err)
		}
		if _, done, again := x.Step([]byte("n,,n=alice,r=abc")); done || again != err {
			t.Errorf("first %q: Step after failure: done %v, err %v", first, done, again)
		}
	}
	if len(s.asked) != 0 {
		t.Errorf("lookup called for malformed messages: %q", s.asked)
	}
}

func TestScramGarbageFinal(t *testing.T) {
	finals := []string{
		"", "c=biws", "c=biws,r=abc", "c=biws,r=abc,p=", "c=biws,r=abc,p=!!!", "c=biws,r=abc,p=AAAA",
		"c=biws,p=AAAA,r=abc", "n,,n=alice,r=abc", "c=biws,r=,p=AAAA", "c=b,r=abc,p=AAAA",
	}
	s := newStore(t, scramUsers)
	for _, final := range finals {
		x := newExchange(t, ScramSHA256, s)
		if _, _, err := x.Step([]byte("n,,n=alice,r=abc")); err != nil {
			t.Fatal(err)
		}
		reply, done, err := x.Step([]byte(final))
		if reply != nil || done || err == nil || err.Error() != generic(ScramSHA256) {
			t.Errorf("final %q: reply %q, done %v, err %v", final, reply, done, err)
		}
		if x.User() != "" {
			t.Errorf("final %q: User() = %q", final, x.User())
		}
	}
}

func TestScramUnknownUserLooksKnown(t *testing.T) {
	s := newStore(t, scramUsers)
	first := func(user string) string {
		x := newExchange(t, ScramSHA512, s)
		reply, _, err := x.Step([]byte("n,,n=" + user + ",r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Split(string(reply), ",")
		return f[1] + "," + f[2] // salt and iterations
	}
	a, b := first("mallory"), first("mallory")
	if a != b {
		t.Errorf("decoy salt differs between attempts: %q, %q", a, b)
	}
	if first("eve") == a {
		t.Errorf("two unknown users share a decoy salt %q", a)
	}
}

func TestScramBadStoredCredential(t *testing.T) {
	bad := []Credential{
		{},
		{Salt: []byte("s"), Iterations: 4096, StoredKey: make([]byte, 31), ServerKey: make([]byte, 32)},
		{Salt: []byte("s"), Iterations: 0, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)},
	}
	for _, c := range bad {
		x, err := NewScram(ScramSHA256, func(string, string) (Credential, bool) { return c, true })
		if err != nil {
			t.Fatal(err)
		}
		err = franzRound(t, x, ScramSHA256, franzscram.Auth{User: "alice", Pass: "alice-secret"}, nil)
		if err == nil || err.Error() != generic(ScramSHA256) {
			t.Errorf("credential %+v: %v", c, err)
		}
	}
}

func TestNewScramErrors(t *testing.T) {
	s := newStore(t, nil)
	for _, m := range []string{Plain, "", "SCRAM-SHA-1"} {
		if _, err := NewScram(m, s.lookup); err == nil {
			t.Errorf("NewScram(%q) succeeded", m)
		}
	}
	if _, err := NewScram(ScramSHA256, nil); err == nil {
		t.Error("NewScram with a nil lookup succeeded")
	}
}

func TestScramUserBeforeDone(t *testing.T) {
	s := newStore(t, scramUsers)
	x := newExchange(t, ScramSHA256, s)
	if _, _, err := x.Step([]byte("n,,n=alice,r=abc")); err != nil {
		t.Fatal(err)
	}
	if x.User() != "" {
		t.Fatalf("User() = %q before done", x.User())
	}
}
