package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	kafkasasl "github.com/twmb/franz-go/pkg/sasl"
)

func TestUserParseMechanism(t *testing.T) {
	for in, want := range map[string]kadm.ScramMechanism{
		"SCRAM-SHA-256": kadm.ScramSha256, "scram-sha-512": kadm.ScramSha512, " SCRAM-SHA-512 ": kadm.ScramSha512,
	} {
		if got, err := parseMechanism(in); err != nil || got != want {
			t.Errorf("parseMechanism(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "PLAIN", "SCRAM-SHA-1", "sha512"} {
		if _, err := parseMechanism(in); err == nil {
			t.Errorf("parseMechanism(%q) succeeded", in)
		}
	}
}

func TestUserUpsert(t *testing.T) {
	base := userCreateOpts{mechanism: "SCRAM-SHA-512", iterations: 8192}
	with := func(f func(*userCreateOpts)) userCreateOpts { o := base; f(&o); return o }
	tests := []struct {
		name    string
		user    string
		o       userCreateOpts
		stdin   string
		want    kadm.UpsertSCRAM
		wantErr string
	}{
		{"stdin", "alice", with(func(o *userCreateOpts) { o.passwordStdin = true }), "s3cret pass\nignored\n",
			kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "s3cret pass"}, ""},
		{"stdin crlf no final newline", "alice", with(func(o *userCreateOpts) { o.passwordStdin = true; o.mechanism = "scram-sha-256" }),
			"pw\r\n", kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "pw"}, ""},
		{"stdin without newline", "bob", with(func(o *userCreateOpts) { o.passwordStdin = true }), "pw",
			kadm.UpsertSCRAM{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "pw"}, ""},
		{"flag", "bob", with(func(o *userCreateOpts) { o.password = "x" }), "",
			kadm.UpsertSCRAM{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "x"}, ""},
		{"empty stdin", "bob", with(func(o *userCreateOpts) { o.passwordStdin = true }), "", kadm.UpsertSCRAM{}, "no password on stdin"},
		{"empty first line", "bob", with(func(o *userCreateOpts) { o.passwordStdin = true }), "\npw\n", kadm.UpsertSCRAM{}, "no password on stdin"},
		{"no password", "bob", base, "", kadm.UpsertSCRAM{}, "no password"},
		{"both passwords", "bob", with(func(o *userCreateOpts) { o.password = "x"; o.passwordStdin = true }), "y\n",
			kadm.UpsertSCRAM{}, "not both"},
		{"bad mechanism", "bob", with(func(o *userCreateOpts) { o.mechanism = "PLAIN"; o.password = "x" }), "",
			kadm.UpsertSCRAM{}, "--mechanism"},
		{"too few iterations", "bob", with(func(o *userCreateOpts) { o.iterations = 4095; o.password = "x" }), "",
			kadm.UpsertSCRAM{}, "--iterations 4095"},
		{"too many iterations", "bob", with(func(o *userCreateOpts) { o.iterations = 16385; o.password = "x" }), "",
			kadm.UpsertSCRAM{}, "--iterations 16385"},
		{"empty name", " ", with(func(o *userCreateOpts) { o.password = "x" }), "", kadm.UpsertSCRAM{}, "user name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := userUpsert(tt.user, tt.o, strings.NewReader(tt.stdin))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestUserCreateFlagDefaults(t *testing.T) {
	cmd, _, err := rootCmd.Find([]string{"user", "create"})
	if err != nil {
		t.Fatal(err)
	}
	mech := cmd.Flags().Lookup("mechanism")
	iter := cmd.Flags().Lookup("iterations")
	if mech == nil || mech.DefValue != "SCRAM-SHA-512" || iter == nil || iter.DefValue != "4096" {
		t.Errorf("defaults: mechanism %+v, iterations %+v", mech, iter)
	}
	for _, path := range [][]string{{"user", "delete"}, {"user", "list"}} {
		if c, _, err := rootCmd.Find(path); err != nil || c.Name() != path[1] {
			t.Errorf("%v not registered: %v", path, err)
		}
	}
}

func TestUserWriteList(t *testing.T) {
	described := kadm.DescribedUserSCRAMs{
		"bob": {User: "bob", CredInfos: []kadm.CredInfo{{Mechanism: kadm.ScramSha256, Iterations: 4096}}},
		"alice": {User: "alice", CredInfos: []kadm.CredInfo{
			{Mechanism: kadm.ScramSha512, Iterations: 4096}, {Mechanism: kadm.ScramSha256, Iterations: 8192}}},
		"carol": {User: "carol", Err: kerr.ResourceNotFound, ErrMessage: "Attempt to describe a user credential that does not exist: carol"},
	}
	var buf bytes.Buffer
	err := writeUserList(&buf, described)
	checkGolden(t, "user_list.golden", buf.Bytes())
	want := "retrieving SCRAM credential configs for user-principal 'carol': RESOURCE_NOT_FOUND"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "does not exist: carol") {
		t.Errorf("error %v, want it to contain %q", err, want)
	}
}

func TestUserWriteAltered(t *testing.T) {
	res := kadm.AlteredUserSCRAMs{
		"alice": {User: "alice"},
		"bob":   {User: "bob", Err: kerr.UnacceptableCredential, ErrMessage: "too few iterations"},
	}
	var buf bytes.Buffer
	err := writeAlteredUsers(&buf, []string{"alice", "bob", "carol"}, res)
	if got := buf.String(); got != "Completed updating config for user alice.\n" {
		t.Errorf("output %q", got)
	}
	for _, want := range []string{"user 'bob': UNACCEPTABLE_CREDENTIAL", "too few iterations", "user 'carol': missing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

// ---- --command-config ----

func writeProps(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCommandConfigOpts(t *testing.T) {
	if opts, err := commandConfigOpts(""); err != nil || opts != nil {
		t.Errorf("no file: %v, %v", opts, err)
	}
	scram := writeProps(t, "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="pw";`+"\n")
	if opts, err := commandConfigOpts(scram); err != nil || len(opts) != 1 {
		t.Errorf("SCRAM: %d options, %v", len(opts), err)
	}
	for content, wantErr := range map[string]string{
		"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\n": "sasl.mechanism=GSSAPI is not supported",
		"security.protocol=SASL_SSL2\n":                             "security.protocol=SASL_SSL2",
		"k=\\u12\n":                                                 "malformed",
	} {
		path := writeProps(t, content)
		_, err := commandConfigOpts(path)
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), "--command-config") {
			t.Errorf("%q: error %v, want one containing %q", content, err, wantErr)
		}
	}
	if _, err := commandConfigOpts(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCommandConfigClientOpts(t *testing.T) {
	oldBootstrap, oldConfig := bootstrapServers, commandConfig
	defer func() { bootstrapServers, commandConfig = oldBootstrap, oldConfig }()
	bootstrapServers = "127.0.0.1:1"
	commandConfig = writeProps(t, "security.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\nsasl.username=u\nsasl.password=p\n")
	cl, err := newClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mechs, _ := cl.OptValue(kgo.SASL).([]kafkasasl.Mechanism)
	if len(mechs) != 1 || mechs[0].Name() != "PLAIN" {
		t.Errorf("SASL mechanisms %v, want PLAIN", mechs)
	}
	f := rootCmd.PersistentFlags().Lookup("command-config")
	if f == nil || !strings.Contains(f.Usage, commandConfigEnv) {
		t.Errorf("--command-config flag: %+v", f)
	}
}
