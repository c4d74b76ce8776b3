package chaos

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// TestSecureCluster: Secure renames the Kafka listener (and, behind
// proxies, the advertised one) to SASL_SSL, puts the security properties
// before the caller's overrides, and makes a certificate valid for every
// address a node is dialled at; admin clients use PLAIN, the workload
// SCRAM-SHA-512, both over TLS, and a plaintext cluster adds no options.
func TestSecureCluster(t *testing.T) {
	c, err := NewProxyCluster("/nonexistent", t.TempDir(), 3, []string{"x=y"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if opts := c.sec.clientOpts(adminUser); opts != nil {
		t.Fatalf("plaintext cluster: client options %v", opts)
	}
	// A node on a network namespace's address, as NewNetCluster makes.
	c.Nodes = append(c.Nodes, &Node{ID: 4, Addr: "10.233.7.4:9092",
		Overrides: []string{"listeners=PLAINTEXT://10.233.7.4:9092,CONTROLLER://10.233.7.4:9093", "x=y"}})
	if err := c.Secure(); err != nil {
		t.Fatal(err)
	}
	sec := c.sec.serverOverrides()
	for _, nd := range c.Nodes {
		o := nd.Overrides
		if !slices.Equal(o[:len(sec)], sec) || o[len(o)-1] != "x=y" {
			t.Errorf("node %d overrides %q", nd.ID, o)
		}
		if nd.ID <= 3 && !slices.Contains(o, "advertised.listeners=SASL_SSL://"+nd.Addr) {
			t.Errorf("node %d does not advertise SASL_SSL://%s: %q", nd.ID, nd.Addr, o)
		}
		for _, p := range o {
			if strings.HasPrefix(p, "listeners=") && (strings.Contains(p, "PLAINTEXT") || !strings.HasPrefix(p, "listeners=SASL_SSL://")) {
				t.Errorf("node %d: %s", nd.ID, p)
			}
		}
		verifyServerCert(t, c.sec, nd.Addr)
	}
	for user, mech := range map[string]string{adminUser: "PLAIN", workloadUser: "SCRAM-SHA-512"} {
		cl, err := kgo.NewClient(append(c.sec.clientOpts(user), kgo.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Fatal(err)
		}
		mechs, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
		tlsCfg, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
		cl.Close()
		if len(mechs) != 1 || mechs[0].Name() != mech || tlsCfg == nil {
			t.Errorf("%s: SASL %v, TLS %v; want %s over TLS", user, mechs, tlsCfg != nil, mech)
		}
	}
}

// verifyServerCert checks that the cluster's server certificate chains to
// its CA and is valid for addr's host.
func verifyServerCert(t *testing.T, s *security, addr string) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(s.pki.Server, s.pki.Server)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(s.pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	host := addr[:strings.LastIndex(addr, ":")]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
		t.Errorf("server certificate for %s: %v", host, err)
	}
}
