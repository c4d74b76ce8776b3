package clientsec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestClientsecParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Props
	}{
		{"empty", "", Props{}},
		{"comments and blanks", "# a comment\n! another\n\n   \n  # indented comment\nk=v\n", Props{"k": "v"}},
		{"separators", "a=1\nb: 2\nc 3\nd\t=\t4\ne =  5  \nf:\ng\n", Props{
			"a": "1", "b": "2", "c": "3", "d": "4", "e": "5  ", "f": "", "g": ""}},
		{"value keeps later separators", "url=http://h:1/x=y\n", Props{"url": "http://h:1/x=y"}},
		{"leading blanks", "   security.protocol = SASL_SSL\n", Props{"security.protocol": "SASL_SSL"}},
		{"continuation", "list=a,\\\n    b,\\\n    c\nnext=1\n", Props{"list": "a,b,c", "next": "1"}},
		{"even backslashes do not continue", "path=C:\\\\\nnext=1\n", Props{"path": `C:\`, "next": "1"}},
		{"continuation at EOF", "k=a\\", Props{"k": "a"}},
		{"comment char inside continuation", "k=a\\\n#b\n", Props{"k": "a#b"}},
		{"escapes", `k=tab\there\nnl\u00e9\:\=\\ x` + "\n", Props{"k": "tab\there\nnlé:=\\ x"}},
		{"escaped key separator", `my\ key\:x=v` + "\n", Props{"my key:x": "v"}},
		{"last value wins", "k=1\nk=2\n", Props{"k": "2"}},
		{"crlf", "a=1\r\nb=2\r\n", Props{"a": "1", "b": "2"}},
		{"jaas", `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \` + "\n" +
			`    username="alice" password="a=b;c";` + "\n",
			Props{"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a=b;c";`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClientsecParseErrors(t *testing.T) {
	for _, in := range []string{
		`k=\u12`,
		`k=\uzzzz`,
		"ok=1\nbad=\\u00g0\n",
	} {
		if p, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, p)
		}
	}
	_, err := Parse(strings.NewReader("ok=1\nbad=\\uxyz1\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v does not name line 2", err)
	}
}

func TestClientsecLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.properties")
	content := "# client\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Props{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN"}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %v, want %v", p, want)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
