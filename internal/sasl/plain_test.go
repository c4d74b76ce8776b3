package sasl

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var plainUsers = map[string]string{"alice": "alice-secret", "admin": "admin-secret", "a,b=c": "pw"}

func TestPlain(t *testing.T) {
	huge := bytes.Repeat([]byte("x"), 4<<20)
	tests := []struct {
		name  string
		token []byte
		user  string // "" when the exchange must fail
		msg   string // the failure message
	}{
		{"good", []byte("\x00alice\x00alice-secret"), "alice", ""},
		{"good with authzid", []byte("alice\x00alice\x00alice-secret"), "alice", ""},
		{"odd name", []byte("\x00a,b=c\x00pw"), "a,b=c", ""},
		{"wrong password", []byte("\x00alice\x00admin-secret"), "", msgPlainInvalid},
		{"password prefix", []byte("\x00alice\x00alice-secre"), "", msgPlainInvalid},
		{"unknown user", []byte("\x00mallory\x00alice-secret"), "", msgPlainInvalid},
		{"authzid mismatch", []byte("admin\x00alice\x00alice-secret"), "", msgAuthzID},
		{"no user", []byte("\x00\x00alice-secret"), "", msgPlainNoUser},
		{"no password", []byte("\x00alice\x00"), "", msgPlainNoPass},
		{"empty", nil, "", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"},
		{"one NUL", []byte("alice\x00alice-secret"), "", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"},
		{"no NUL", []byte("alice"), "", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"},
		{"three NULs", []byte("\x00alice\x00alice-secret\x00"), "", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"},
		{"huge password", append([]byte("\x00alice\x00"), huge...), "", msgPlainInvalid},
		{"huge NULs", make([]byte, 1<<20), "", "Invalid SASL/PLAIN response: expected 3 tokens, got 1048577"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := NewPlain(plainUsers)
			reply, done, err := x.Step(tt.token)
			if reply != nil {
				t.Errorf("reply %q, want none", reply)
			}
			checkOutcome(t, tt.user, tt.msg, done, err)
			if x.User() != tt.user {
				t.Errorf("User() = %q, want %q", x.User(), tt.user)
			}
			if _, done, err := x.Step(tt.token); done || err == nil {
				t.Errorf("second Step: done %v, err %v; want an error", done, err)
			}
		})
	}
}

// checkOutcome checks one Step's done and err against the expected user
// ("" for a failure) and failure message.
func checkOutcome(t *testing.T, user, msg string, done bool, err error) {
	t.Helper()
	if user != "" {
		if !done || err != nil {
			t.Fatalf("done %v, err %v; want success", done, err)
		}
		return
	}
	if done || err == nil {
		t.Fatalf("done %v, err %v; want failure %q", done, err, msg)
	}
	if !errors.Is(err, ErrAuthentication) {
		t.Errorf("error %v does not wrap ErrAuthentication", err)
	}
	if msg != "" && err.Error() != msg {
		t.Errorf("error %q, want %q", err, msg)
	}
}

func TestPlainFailureIsSticky(t *testing.T) {
	x := NewPlain(plainUsers)
	_, _, first := x.Step([]byte("\x00alice\x00wrong"))
	_, done, err := x.Step([]byte("\x00alice\x00alice-secret"))
	if done || err != first {
		t.Fatalf("after a failure: done %v, err %v; want the first error %v", done, err, first)
	}
	if x.User() != "" {
		t.Fatalf("User() = %q after a failure", x.User())
	}
}

func TestPlainAfterDone(t *testing.T) {
	x := NewPlain(plainUsers)
	if _, done, err := x.Step([]byte("\x00alice\x00alice-secret")); !done || err != nil {
		t.Fatalf("done %v, err %v", done, err)
	}
	_, done, err := x.Step([]byte("\x00admin\x00admin-secret"))
	if done || !errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), "already") {
		t.Fatalf("Step after done: done %v, err %v", done, err)
	}
	if x.User() != "alice" {
		t.Fatalf("User() = %q, want alice", x.User())
	}
}

func TestPlainNoUsers(t *testing.T) {
	for _, users := range []map[string]string{nil, {}} {
		_, done, err := NewPlain(users).Step([]byte("\x00alice\x00x"))
		checkOutcome(t, "", msgPlainInvalid, done, err)
	}
}

func TestMechanisms(t *testing.T) {
	for _, m := range []string{Plain, ScramSHA256, ScramSHA512} {
		if !Supported(m) {
			t.Errorf("Supported(%q) = false", m)
		}
	}
	for _, m := range []string{"", "plain", "SCRAM-SHA-1", "GSSAPI", "OAUTHBEARER"} {
		if Supported(m) {
			t.Errorf("Supported(%q) = true", m)
		}
	}
	for id, name := range map[int8]string{1: ScramSHA256, 2: ScramSHA512} {
		if MechanismID(name) != id || MechanismName(id) != name {
			t.Errorf("%d <-> %s does not map both ways", id, name)
		}
	}
	if MechanismID(Plain) != 0 || MechanismID("x") != 0 || MechanismName(0) != "" || MechanismName(3) != "" || MechanismName(-1) != "" {
		t.Error("unknown mechanisms must map to 0 and \"\"")
	}
}
