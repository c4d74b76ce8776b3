package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/sasl"
)

// TestDevSecurityFiles checks what `fjord dev --secure` makes under the
// data dir: a CA and a server certificate for the loopback names, the
// passwords readable by the owner alone, and the same files and passwords
// again on a second start; a missing server certificate makes a new CA.
func TestDevSecurityFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := prepareDevSecurity(dir)
	if err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(dir, "tls")
	if s.pki.CA != filepath.Join(tlsDir, "ca.pem") || s.pki.Server != filepath.Join(tlsDir, "server.pem") {
		t.Errorf("PKI %+v, want ca.pem and server.pem in %s", s.pki, tlsDir)
	}
	checkMode(t, tlsDir, 0o700)
	checkMode(t, s.pki.Server, 0o600)
	checkMode(t, filepath.Join(tlsDir, devSecretsFile), 0o600)
	if len(s.brokerPassword) != 32 || len(s.adminPassword) != 32 || s.brokerPassword == s.adminPassword {
		t.Errorf("passwords %q and %q: want two different 32-digit hex strings", s.brokerPassword, s.adminPassword)
	}
	ca := readFile(t, s.pki.CA)

	again, err := prepareDevSecurity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.pki.CA != s.pki.CA || again.pki.Server != s.pki.Server || again.brokerPassword != s.brokerPassword ||
		again.adminPassword != s.adminPassword || readFile(t, s.pki.CA) != ca {
		t.Errorf("second start: %+v, want the first's %+v and the same CA", again, s)
	}

	if err := os.Remove(s.pki.Server); err != nil {
		t.Fatal(err)
	}
	renewed, err := prepareDevSecurity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if readFile(t, s.pki.CA) == ca || renewed.adminPassword != s.adminPassword {
		t.Error("without server.pem: want a new CA and the same passwords")
	}
	if err := pkiUsable(renewed.pki, time.Now().AddDate(3, 0, 0)); err == nil {
		t.Error("pkiUsable: a two-year certificate reported usable in three years")
	}
}

// TestDevSecureProps checks a secured node's configuration: valid, no
// PLAINTEXT listener, SASL_SSL on the Kafka and controller listeners,
// PLAIN between nodes as the broker user, whom the JAAS config accepts,
// and both users super users of the StandardAuthorizer.
func TestDevSecureProps(t *testing.T) {
	s := testDevSecurity(t)
	props := devProps("/data", 9092, 3, 2)
	s.secureProps(props, 9092, 2)
	cfg, err := config.NewBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.String("listeners"), "SASL_SSL://127.0.0.1:9093,CONTROLLER://127.0.0.1:19093"; got != want {
		t.Errorf("listeners %q, want %q", got, want)
	}
	for k, want := range map[string]string{
		"listener.security.protocol.map":       "SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL",
		"inter.broker.listener.name":           "SASL_SSL",
		"sasl.mechanism.inter.broker.protocol": "PLAIN",
		"sasl.mechanism.controller.protocol":   "PLAIN",
		"ssl.keystore.location":                s.pki.Server,
		"ssl.truststore.location":              s.pki.CA,
		"authorizer.class.name":                devAuthorizer,
		"super.users":                          "User:admin;User:broker",
	} {
		if got := cfg.String(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if got := cfg.ForListener("CONTROLLER", "sasl.enabled.mechanisms"); got != "PLAIN" {
		t.Errorf("controller listener's mechanisms %q, want PLAIN", got)
	}
	for _, l := range []string{"SASL_SSL", "CONTROLLER"} {
		checkBrokerJAAS(t, cfg.JAAS(l, "PLAIN"), s.brokerPassword)
	}
}

func checkBrokerJAAS(t *testing.T, jaas, password string) {
	t.Helper()
	j, err := sasl.ParseJAAS(jaas)
	if err != nil {
		t.Fatalf("JAAS %q: %v", jaas, err)
	}
	if j.Options["username"] != devBrokerUser || j.Options["password"] != password ||
		!slices.Equal(slices.Sorted(maps.Keys(j.PlainUsers())), []string{devBrokerUser}) || j.PlainUsers()[devBrokerUser] != password {
		t.Errorf("JAAS %q: want the broker's credentials and it alone as a PLAIN user", jaas)
	}
}

// TestDevClientSettings checks client.properties (Java names, read back
// as fjord --command-config reads it, also from a path to escape) and the
// printed kcat settings.
func TestDevClientSettings(t *testing.T) {
	s := testDevSecurity(t)
	s.pki.CA = filepath.Join(t.TempDir(), `odd \dir`, "ca.pem")
	props, err := clientsec.Parse(strings.NewReader(s.clientProperties("127.0.0.1:9092")))
	if err != nil {
		t.Fatal(err)
	}
	want := clientsec.Props{
		"bootstrap.servers": "127.0.0.1:9092", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
		"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="` +
			s.adminPassword + `";`,
		"ssl.truststore.type": "PEM", "ssl.truststore.location": s.pki.CA,
	}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("client.properties %s=%q, want %q", k, props[k], v)
		}
	}
	if len(props) != len(want) {
		t.Errorf("client.properties has %d properties, want %d: %v", len(props), len(want), props)
	}
	if _, err := props.Mechanism(); err != nil {
		t.Errorf("client.properties' SASL settings: %v", err)
	}
	out := s.settings("127.0.0.1:9092", "/d/client.properties", 9092)
	kcat := "kcat -b 127.0.0.1:9092 -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=admin -X sasl.password=" +
		s.adminPassword + ` -X 'ssl.ca.location=` + s.pki.CA + `' -L`
	for _, line := range []string{kcat, "fjord --command-config /d/client.properties topic list", "export FJORD_COMMAND_CONFIG=/d/client.properties "} {
		if !strings.Contains(out, "  "+line) {
			t.Errorf("settings lack %q:\n%s", line, out)
		}
	}
	if other := s.settings("127.0.0.1:9200", "/d/c.properties", 9200); !strings.Contains(other, "-b 127.0.0.1:9200 topic list") {
		t.Errorf("settings on port 9200 without -b for fjord:\n%s", other)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"abc": "abc", "-X": "-X", "a=b/c.pem": "a=b/c.pem", "": "''", "a b": "'a b'", "it's": `'it'\''s'`, "$x": "'$x'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// testDevSecurity returns dev security material in a temporary dir.
func testDevSecurity(t *testing.T) *devSecurity {
	t.Helper()
	s, err := prepareDevSecurity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
