package clientsec

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fjordlog/fjord/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kgo"
	kafkasasl "github.com/twmb/franz-go/pkg/sasl"
)

const (
	scramJAAS = `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";`
	plainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="bob" password="bob-secret";`
)

// applied builds a client from opts and returns what it holds for TLS and
// SASL. The client dials nothing.
func applied(t *testing.T, opts []kgo.Opt) (*tls.Config, []kafkasasl.Mechanism) {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
	mechs, _ := cl.OptValue(kgo.SASL).([]kafkasasl.Mechanism)
	return cfg, mechs
}

// firstMessage returns a mechanism's name and its client-first message.
func firstMessage(t *testing.T, m kafkasasl.Mechanism) (string, string) {
	t.Helper()
	_, msg, err := m.Authenticate(context.Background(), "127.0.0.1:9092")
	if err != nil {
		t.Fatalf("%s: %v", m.Name(), err)
	}
	return m.Name(), string(msg)
}

func TestClientsecOptions(t *testing.T) {
	tests := []struct {
		name      string
		props     Props
		wantTLS   bool
		wantMech  string
		wantFirst string // a substring of the client's first SASL message
	}{
		{"none", Props{}, false, "", ""},
		{"plaintext", Props{"security.protocol": "PLAINTEXT"}, false, "", ""},
		{"plaintext ignores sasl", Props{"security.protocol": "plaintext", "sasl.mechanism": "GSSAPI"}, false, "", ""},
		{"ssl", Props{"security.protocol": "SSL"}, true, "", ""},
		{"java scram-sha-512", Props{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
			"sasl.jaas.config": scramJAAS}, true, "SCRAM-SHA-512", "n,,n=alice,r="},
		{"java scram-sha-256 plaintext", Props{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "scram-sha-256",
			"sasl.jaas.config": scramJAAS}, false, "SCRAM-SHA-256", "n,,n=alice,r="},
		{"java plain", Props{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": plainJAAS}, false, "PLAIN", "\x00bob\x00bob-secret"},
		{"java plain with scram module", Props{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": scramJAAS}, false, "PLAIN", "\x00alice\x00alice-secret"},
		{"scram token", Props{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
			"sasl.jaas.config": strings.Replace(scramJAAS, ";", ` tokenauth="true";`, 1)}, false, "SCRAM-SHA-256", ",tokenauth=true"},
		{"librdkafka plain", Props{"security.protocol": "sasl_ssl", "sasl.mechanisms": "PLAIN",
			"sasl.username": "carol", "sasl.password": "pw"}, true, "PLAIN", "\x00carol\x00pw"},
		{"librdkafka scram", Props{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "SCRAM-SHA-512",
			"sasl.username": "carol", "sasl.password": "pw"}, false, "SCRAM-SHA-512", "n,,n=carol,r="},
		{"jaas wins over username", Props{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": plainJAAS, "sasl.username": "carol", "sasl.password": "pw"}, false, "PLAIN", "\x00bob\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := tt.props.Options()
			if err != nil {
				t.Fatal(err)
			}
			cfg, mechs := applied(t, opts)
			if (cfg != nil) != tt.wantTLS {
				t.Errorf("TLS config %v, want TLS %v", cfg, tt.wantTLS)
			}
			if tt.wantMech == "" {
				if len(mechs) != 0 {
					t.Errorf("SASL %v, want none", mechs)
				}
				return
			}
			if len(mechs) != 1 {
				t.Fatalf("SASL %v, want %s", mechs, tt.wantMech)
			}
			name, first := firstMessage(t, mechs[0])
			if name != tt.wantMech || !strings.Contains(first, tt.wantFirst) {
				t.Errorf("got %s %q, want %s containing %q", name, first, tt.wantMech, tt.wantFirst)
			}
		})
	}
}

func TestClientsecOptionsErrors(t *testing.T) {
	sasl := func(extra Props) Props {
		p := Props{"security.protocol": "SASL_PLAINTEXT"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	tests := []struct {
		name    string
		props   Props
		wantErr string
	}{
		{"unknown protocol", Props{"security.protocol": "KERBEROS"}, "security.protocol=KERBEROS is not supported"},
		{"no mechanism", sasl(Props{"sasl.jaas.config": scramJAAS}), "GSSAPI"},
		{"gssapi", sasl(Props{"sasl.mechanism": "GSSAPI"}), "sasl.mechanism=GSSAPI is not supported"},
		{"oauthbearer", sasl(Props{"sasl.mechanism": "OAUTHBEARER"}), "sasl.mechanism=OAUTHBEARER is not supported"},
		{"librdkafka gssapi", sasl(Props{"sasl.mechanisms": "GSSAPI"}), "sasl.mechanisms=GSSAPI is not supported"},
		{"no credentials", sasl(Props{"sasl.mechanism": "PLAIN"}), "SASL needs credentials"},
		{"no password", sasl(Props{"sasl.mechanism": "PLAIN", "sasl.username": "u"}), "SASL needs credentials"},
		{"kerberos module", sasl(Props{"sasl.mechanism": "PLAIN",
			"sasl.jaas.config": `com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;`}),
			"login module com.sun.security.auth.module.Krb5LoginModule is not supported"},
		{"malformed jaas", sasl(Props{"sasl.mechanism": "PLAIN", "sasl.jaas.config": `PlainLoginModule required username="x`}),
			"sasl.jaas.config"},
		{"jaas without password", sasl(Props{"sasl.mechanism": "PLAIN",
			"sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="x";`}),
			"username and password options are required"},
		{"missing trust store", Props{"security.protocol": "SSL", "ssl.truststore.location": "/nonexistent/ca.pem"},
			"ca.pem"},
		{"jks trust store", Props{"security.protocol": "SSL", "ssl.truststore.type": "JKS",
			"ssl.truststore.location": "/x.jks"}, "JKS"},
		{"bad endpoint identification", Props{"security.protocol": "SSL",
			"ssl.endpoint.identification.algorithm": "ftp"}, "ssl.endpoint.identification.algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := tt.props.Options()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Options() = %d options, %v; want an error containing %q", len(opts), err, tt.wantErr)
			}
		})
	}
}

// splitPEM writes the certificates and the key of a PEM file to two files,
// as librdkafka's ssl.certificate.location and ssl.key.location take them.
func splitPEM(t *testing.T, path string) (string, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var certs, key []byte
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		if b.Type == "CERTIFICATE" {
			certs = append(certs, pem.EncodeToMemory(b)...)
		} else {
			key = append(key, pem.EncodeToMemory(b)...)
		}
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if os.WriteFile(certFile, certs, 0o600) != nil || os.WriteFile(keyFile, key, 0o600) != nil {
		t.Fatal("writing split PEM files")
	}
	return certFile, keyFile
}

func TestClientsecTLSConfig(t *testing.T) {
	pki, err := tlsconf.GeneratePKI(t.TempDir(), nil, []string{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := splitPEM(t, pki.Clients["alice"])
	tests := []struct {
		name       string
		props      Props
		wantCert   bool
		wantNoName bool // host name verification off
	}{
		{"java trust store", Props{"ssl.truststore.type": "PEM", "ssl.truststore.location": pki.CA}, false, false},
		{"java mtls", Props{"ssl.truststore.location": pki.CA, "ssl.keystore.type": "PEM",
			"ssl.keystore.location": pki.Clients["alice"]}, true, false},
		{"no endpoint identification", Props{"ssl.truststore.location": pki.CA,
			"ssl.endpoint.identification.algorithm": ""}, false, true},
		{"librdkafka mtls", Props{"ssl.ca.location": pki.CA, "ssl.certificate.location": certFile,
			"ssl.key.location": keyFile}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.props.TLSConfig()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RootCAs == nil {
				t.Error("no trust store loaded")
			}
			if got := len(cfg.Certificates) == 1; got != tt.wantCert {
				t.Errorf("client certificate %v, want %v", got, tt.wantCert)
			}
			if cfg.ServerName != "" {
				t.Errorf("ServerName %q: kgo sets it per broker", cfg.ServerName)
			}
			if got := cfg.InsecureSkipVerify && cfg.VerifyConnection != nil; got != tt.wantNoName {
				t.Errorf("host name verification off = %v, want %v", got, tt.wantNoName)
			}
		})
	}
}
