package sasl

import (
	"bytes"
	"maps"
	"testing"
)

func FuzzPlain(f *testing.F) {
	for _, seed := range []string{
		"\x00alice\x00alice-secret", "alice\x00alice\x00alice-secret", "admin\x00alice\x00alice-secret",
		"\x00alice\x00wrong", "", "\x00\x00", "alice", "\x00a,b=c\x00pw", "\x00alice\x00alice-secret\x00",
	} {
		f.Add([]byte(seed))
	}
	valid := [][]byte{[]byte("\x00alice\x00alice-secret"), []byte("alice\x00alice\x00alice-secret")}
	f.Fuzz(func(t *testing.T, token []byte) {
		x := NewPlain(map[string]string{"alice": "alice-secret"})
		reply, done, err := x.Step(token)
		if done != (err == nil) || reply != nil {
			t.Fatalf("done %v, err %v, reply %q", done, err, reply)
		}
		isValid := bytes.Equal(token, valid[0]) || bytes.Equal(token, valid[1])
		if done != isValid {
			t.Fatalf("token %q: done %v", token, done)
		}
		if done && x.User() != "alice" || !done && x.User() != "" {
			t.Fatalf("User() = %q, done %v", x.User(), done)
		}
	})
}

func FuzzScramServer(f *testing.F) {
	seeds := [][2]string{
		{"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="},
		{"n,a=alice,n=alice,r=abc,tokenauth=true", "c=biws,r=abc,p=AAAA"},
		{"y,,n=a=2Cb=3Dc,r=abc,ext=1", "c=eSws,r=abcdef,ext=2,p=" + string(bytes.Repeat([]byte("A"), 44))},
		{"n,,n=mallory,r=x", "c=biws,r=x,p=" + string(bytes.Repeat([]byte("A"), 88))},
		{"", ""},
		{",,,", ",,"},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	s := newStore(f, map[string]string{"alice": "alice-secret", "a,b=c": "pw"})
	f.Fuzz(func(t *testing.T, first, final []byte) {
		for _, mech := range mechanisms {
			fuzzScram(t, newExchange(t, mech, s), first, final)
		}
	})
}

// fuzzScram steps one exchange with a client that cannot know the
// server's random nonce: it must never be done, and never panic.
func fuzzScram(t *testing.T, x Exchange, first, final []byte) {
	_, done, err := x.Step(first)
	if done {
		t.Fatalf("done after client-first %q", first)
	}
	if err == nil {
		_, done, err = x.Step(final)
		if done || err == nil {
			t.Fatalf("final %q: done %v, err %v", final, done, err)
		}
	}
	if _, done, again := x.Step(final); done || again != err {
		t.Fatalf("Step after failure: done %v, err %v (first failure %v)", done, again, err)
	}
	if x.User() != "" {
		t.Fatalf("User() = %q without authentication", x.User())
	}
}

func FuzzParseJAAS(f *testing.F) {
	for _, seed := range []string{
		plainJAAS, "a.B required;", `m required p="a\"b\\c\nd" q="";`, "/* c */ m // x\n optional k=v;",
		"m required k=\"v;", "m bogus;", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		j, err := ParseJAAS(in)
		if err != nil {
			return
		}
		again, err := ParseJAAS(formatJAAS(j))
		if err != nil {
			t.Fatalf("reformatted %q: %v", formatJAAS(j), err)
		}
		if again.LoginModule != j.LoginModule || again.Flag != j.Flag || !maps.Equal(again.Options, j.Options) {
			t.Fatalf("round trip: %+v became %+v", j, again)
		}
		j.PlainUsers()
	})
}
