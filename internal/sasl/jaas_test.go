package sasl

import (
	"maps"
	"strings"
	"testing"
)

const plainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`

func TestParseJAASPlain(t *testing.T) {
	j, err := ParseJAAS(plainJAAS)
	if err != nil {
		t.Fatal(err)
	}
	if j.LoginModule != PlainLoginModule || j.Flag != "required" {
		t.Fatalf("got %q %q", j.LoginModule, j.Flag)
	}
	wantOpts := map[string]string{"username": "admin", "password": "admin-secret", "user_admin": "admin-secret", "user_alice": "alice-secret"}
	if !maps.Equal(j.Options, wantOpts) {
		t.Fatalf("options %v, want %v", j.Options, wantOpts)
	}
	wantUsers := map[string]string{"admin": "admin-secret", "alice": "alice-secret"}
	if users := j.PlainUsers(); !maps.Equal(users, wantUsers) {
		t.Fatalf("PlainUsers() = %v, want %v", users, wantUsers)
	}
}

func TestParseJAAS(t *testing.T) {
	tests := []struct {
		name, in string
		module   string
		flag     string
		opts     map[string]string
	}{
		{"no options", "a.B required;", "a.B", "required", map[string]string{}},
		{"flag case", "m REQUISITE;", "m", "requisite", map[string]string{}},
		{"sufficient", "m sufficient k=v;", "m", "sufficient", map[string]string{"k": "v"}},
		{"optional", "m Optional k=v ;", "m", "optional", map[string]string{"k": "v"}},
		{"unquoted", "m required useKeyTab=true serviceName=kafka-1 n=4096 x=a.b$c_d;", "m", "required",
			map[string]string{"useKeyTab": "true", "serviceName": "kafka-1", "n": "4096", "x": "a.b$c_d"}},
		{"escapes", `m required p="a\"b\\c\nd" q="" r="x y=z;";`, "m", "required",
			map[string]string{"p": "a\"b\\c\nd", "q": "", "r": "x y=z;"}},
		{"spaces around =", "m required\n\tk = \"v\"\r\n ;", "m", "required", map[string]string{"k": "v"}},
		{"comments", "/* c */ m // line\n required /* k=1 */ k=2; // end", "m", "required", map[string]string{"k": "2"}},
		{"last wins", `m required k="1" k="2";`, "m", "required", map[string]string{"k": "2"}},
		{"unicode", `m required user_jörg="pässwort";`, "m", "required", map[string]string{"user_jörg": "pässwort"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ParseJAAS(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if j.LoginModule != tt.module || j.Flag != tt.flag || !maps.Equal(j.Options, tt.opts) {
				t.Fatalf("got %+v, want %s %s %v", j, tt.module, tt.flag, tt.opts)
			}
		})
	}
}

func TestParseJAASMalformed(t *testing.T) {
	bad := []string{
		"",
		"   ",
		"m",
		"m required",
		"m required k=v",
		"m mandatory;",
		"required;",
		"m required k;",
		"m required k=;",
		"m required =v;",
		"m required k==v;",
		`m required k="v;`,
		"m required k=\"v\nw\";",
		`m required k="v\`,
		`m required "k"=v;`,
		"m required k=v; n required;",
		"m required; x",
		"m required /* unterminated",
		"m required k=@x;",
		";",
		"m required k=v;;",
		"m\x00 required;",
		"m required k=\xff;",
	}
	for _, in := range bad {
		if j, err := ParseJAAS(in); err == nil {
			t.Errorf("ParseJAAS(%q) = %+v, want an error", in, j)
		}
	}
}

func TestPlainUsers(t *testing.T) {
	j := JAAS{LoginModule: PlainLoginModule, Options: map[string]string{"user_": "x", "user_a": "1", "username": "a", "User_b": "2"}}
	if got := j.PlainUsers(); !maps.Equal(got, map[string]string{"a": "1"}) {
		t.Errorf("PlainUsers() = %v", got)
	}
	scramJAAS := `org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="b" user_a="1";`
	j, err := ParseJAAS(scramJAAS)
	if err != nil {
		t.Fatal(err)
	}
	if got := j.PlainUsers(); got == nil || len(got) != 0 {
		t.Errorf("PlainUsers() of ScramLoginModule = %v, want empty", got)
	}
}

// formatJAAS writes j back as an entry, quoting every value; the fuzz
// target checks that it parses to j again.
func formatJAAS(j JAAS) string {
	var b strings.Builder
	b.WriteString(j.LoginModule + " " + j.Flag)
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)
	for k, v := range j.Options {
		b.WriteString(" " + k + `="` + esc.Replace(v) + `"`)
	}
	b.WriteString(";")
	return b.String()
}
