package e2e

// Helpers of security_test.go: a 3-node cluster with SASL_SSL client,
// inter-broker and controller listeners plus an SSL listener requiring
// client certificates, certificates made by the test, an authorizer with
// User:admin (PLAIN) as the super user, and clients of each kind.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/fjordlog/fjord/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	adminPassword = "admin-secret"
	carolPassword = "carol-secret" // a PLAIN user of the listeners' JAAS config
)

type secureCluster struct {
	*testCluster
	pki      tlsconf.PKI
	sslAddrs []string // the mTLS listener of each node
}

// plainJAAS is the PLAIN login module of every listener: the broker's own
// credentials (username/password) and the PLAIN users it accepts.
const plainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="` +
	adminPassword + `" user_admin="` + adminPassword + `" user_carol="` + carolPassword + `";`

func startSecureCluster(t *testing.T) *secureCluster {
	t.Helper()
	pki, err := tlsconf.GeneratePKI(t.TempDir(), nil, []string{"dave", "mallory"})
	if err != nil {
		t.Fatal(err)
	}
	sc := &secureCluster{pki: pki}
	sslPorts := freePorts(t, 3)
	for _, p := range sslPorts {
		sc.sslAddrs = append(sc.sslAddrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	sc.testCluster = startClusterSpec(t, clusterSpec{
		n: 3,
		listeners: func(id int32, addr, ctrl string) string {
			return fmt.Sprintf("SASL_SSL://%s,SSL://%s,CONTROLLER://%s", addr, sc.sslAddrs[id-1], ctrl)
		},
		extra: []string{
			"listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SASL_SSL",
			"inter.broker.listener.name=SASL_SSL",
			"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
			"sasl.mechanism.inter.broker.protocol=PLAIN",
			"sasl.mechanism.controller.protocol=PLAIN",
			"listener.name.sasl_ssl.plain.sasl.jaas.config=" + plainJAAS,
			"listener.name.controller.plain.sasl.jaas.config=" + plainJAAS,
			"ssl.keystore.type=PEM", "ssl.keystore.location=" + pki.Server,
			"ssl.truststore.type=PEM", "ssl.truststore.location=" + pki.CA,
			"listener.name.ssl.ssl.client.auth=required",
			"listener.name.ssl.ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT",
			"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users=User:admin",
			"offsets.topic.replication.factor=3",
		},
		clientOpts: sc.saslOpts(t, "PLAIN", "admin", adminPassword),
	})
	return sc
}

// saslOpts are kgo options for SASL_SSL as user with mechanism, trusting
// the test CA.
func (sc *secureCluster) saslOpts(t *testing.T, mechanism, user, password string) []kgo.Opt {
	t.Helper()
	opts, err := clientsec.Props{
		"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
		"sasl.username": user, "sasl.password": password, "ssl.ca.location": sc.pki.CA,
	}.Options()
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// mtlsOpts are kgo options for the SSL listener with a client certificate.
func (sc *secureCluster) mtlsOpts(t *testing.T, client string) []kgo.Opt {
	t.Helper()
	opts, err := clientsec.Props{
		"security.protocol": "SSL", "ssl.ca.location": sc.pki.CA,
		"ssl.certificate.location": sc.pki.Clients[client], "ssl.key.location": sc.pki.Clients[client],
	}.Options()
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// client returns a client of the SASL_SSL listeners (or, with the SSL
// listeners' addresses, of those), closed at the end of the test.
func (sc *secureCluster) client(t *testing.T, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTimeout(2 * time.Second), kgo.RequestRetries(3),
		kgo.RetryTimeout(20 * time.Second)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (sc *secureCluster) admin(t *testing.T) *kadm.Client {
	return kadm.NewClient(sc.client(t, addrs(sc.nodes), sc.saslOpts(t, "PLAIN", "admin", adminPassword)...))
}

// createUser adds or changes a SCRAM user.
func createUser(t *testing.T, adm *kadm.Client, user, password string, mech kadm.ScramMechanism) {
	t.Helper()
	res, err := adm.AlterUserSCRAMs(ctxT(t), nil, []kadm.UpsertSCRAM{{User: user, Mechanism: mech, Iterations: 4096, Password: password}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("creating SCRAM user %s: %v", user, err)
	}
}

// allow grants principal the operations on a literal topic.
func allowTopic(t *testing.T, adm *kadm.Client, principal, topic string, ops ...kadm.ACLOperation) {
	t.Helper()
	b := kadm.NewACLs().Allow(principal).AllowHosts().Topics(topic).Operations(ops...).ResourcePatternType(kadm.ACLPatternLiteral)
	createACLs(t, adm, b)
}

func createACLs(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(ctxT(t), b)
	if err != nil {
		t.Fatalf("CreateACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("CreateACLs %+v: %v", r, r.Err)
		}
	}
}

// produceAll produces values to topic with acks=all and fails on an error.
func produceAll(t *testing.T, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("producing %q to %s: %v", v, topic, err)
		}
	}
}
