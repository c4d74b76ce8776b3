package sasl

import (
	"bytes"
	"encoding/base64"
	"testing"

	franzscram "github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/xdg-go/scram"
)

// TestRFC7677 replays the SCRAM-SHA-256 example of RFC 7677 §3 through an
// exchange whose server nonce is fixed to the RFC's.
func TestRFC7677(t *testing.T) {
	const (
		clientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
		serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
		clientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		serverFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	)
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	sp, err := SaltedPassword(ScramSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := DeriveCredential(ScramSHA256, sp, salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	x := rfcExchange(t, cred)
	steps := [][2]string{{clientFirst, serverFirst}, {clientFinal, serverFinal}}
	for i, s := range steps {
		reply, done, err := x.Step([]byte(s[0]))
		if err != nil || string(reply) != s[1] || done != (i == 1) {
			t.Fatalf("step %d: reply %q, done %v, err %v; want %q", i, reply, done, err, s[1])
		}
	}
	if x.User() != "user" {
		t.Fatalf("User() = %q", x.User())
	}
}

func rfcExchange(t *testing.T, cred Credential) *scramExchange {
	t.Helper()
	e, err := NewScram(ScramSHA256, func(string, string) (Credential, bool) { return cred, true })
	if err != nil {
		t.Fatal(err)
	}
	x := e.(*scramExchange)
	srv, err := scram.SHA256.NewServer(x.credential)
	if err != nil {
		t.Fatal(err)
	}
	x.conv = srv.WithNonceGenerator(func() string { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" }).NewConversation()
	return x
}

// TestDeriveMatchesXdg compares DeriveCredential with a second
// implementation of the key derivation.
func TestDeriveMatchesXdg(t *testing.T) {
	salt := []byte("0123456789abcdef")
	for mech, h := range map[string]scram.HashGeneratorFcn{ScramSHA256: scram.SHA256, ScramSHA512: scram.SHA512} {
		client, err := h.NewClientUnprepped("u", "pass word", "")
		if err != nil {
			t.Fatal(err)
		}
		want, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: 8192})
		if err != nil {
			t.Fatal(err)
		}
		sp, err := SaltedPassword(mech, "pass word", salt, 8192)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DeriveCredential(mech, sp, salt, 8192)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.StoredKey, want.StoredKey) || !bytes.Equal(got.ServerKey, want.ServerKey) || !bytes.Equal(got.Salt, salt) || got.Iterations != 8192 {
			t.Errorf("%s: got %+v, want %+v", mech, got, want)
		}
	}
}

// TestNewCredentialAuthenticates checks that a credential derived as
// AlterUserScramCredentials does (from a client-side salted password)
// authenticates a client that knows the password, and that NewCredential
// agrees with it.
func TestNewCredentialAuthenticates(t *testing.T) {
	for _, mech := range mechanisms {
		made, err := NewCredential(mech, "s3cret", MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		sp, err := SaltedPassword(mech, "s3cret", made.Salt, made.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		derived, err := DeriveCredential(mech, sp, made.Salt, made.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(made.StoredKey, derived.StoredKey) || !bytes.Equal(made.ServerKey, derived.ServerKey) {
			t.Fatalf("%s: NewCredential and DeriveCredential disagree", mech)
		}
		lookup := func(string, string) (Credential, bool) { return derived, true }
		x, err := NewScram(mech, lookup)
		if err != nil {
			t.Fatal(err)
		}
		if err := franzRound(t, x, mech, franzscram.Auth{User: "bob", Pass: "s3cret"}, nil); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
	}
}

func TestNewCredentialSalts(t *testing.T) {
	a, err := NewCredential(ScramSHA512, "p", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCredential(ScramSHA512, "p", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Salt) < 16 || bytes.Equal(a.Salt, b.Salt) || bytes.Equal(a.StoredKey, b.StoredKey) {
		t.Fatalf("salts not random: %x, %x", a.Salt, b.Salt)
	}
	if len(a.StoredKey) != 64 || len(a.ServerKey) != 64 {
		t.Fatalf("SHA-512 keys of %d and %d bytes", len(a.StoredKey), len(a.ServerKey))
	}
}

func TestCredentialErrors(t *testing.T) {
	sp := make([]byte, 32)
	salt := []byte("salt")
	derive := []struct {
		name     string
		mech     string
		sp, salt []byte
		iter     int
	}{
		{"mechanism", Plain, sp, salt, 4096},
		{"too few", ScramSHA256, sp, salt, MinIterations - 1},
		{"too many", ScramSHA256, sp, salt, MaxIterations + 1},
		{"no salt", ScramSHA256, sp, nil, 4096},
		{"no salted password", ScramSHA256, nil, salt, 4096},
	}
	for _, d := range derive {
		if _, err := DeriveCredential(d.mech, d.sp, d.salt, d.iter); err == nil {
			t.Errorf("DeriveCredential %s: no error", d.name)
		}
	}
	if _, err := NewCredential(ScramSHA256, "p", 1000); err == nil {
		t.Error("NewCredential with 1000 iterations: no error")
	}
	if _, err := NewCredential("MD5", "p", 4096); err == nil {
		t.Error("NewCredential with MD5: no error")
	}
	if _, err := SaltedPassword(ScramSHA256, "p", salt, 0); err == nil {
		t.Error("SaltedPassword with 0 iterations: no error")
	}
	if _, err := SaltedPassword("", "p", salt, 1); err == nil {
		t.Error("SaltedPassword without mechanism: no error")
	}
}
