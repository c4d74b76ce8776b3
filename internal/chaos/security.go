package chaos

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/fjordlog/fjord/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// The principals of a secure cluster (Cluster.Secure). admin is the
// brokers' own PLAIN user (inter-broker and controller connections) and
// the super user; the harness's admin clients, the observer and the
// checker's drain use it. chaos is the workload's SCRAM-SHA-512 user,
// allowed exactly what the workload does (see grantWorkload).
const (
	adminUser    = "admin"
	workloadUser = "chaos"
)

// accounts are the users' SASL mechanisms and passwords.
var accounts = map[string]struct{ mechanism, password string }{
	adminUser:    {"PLAIN", "chaos-admin-secret"},
	workloadUser: {"SCRAM-SHA-512", "chaos-workload-secret"},
}

// secureListener is the name (and security protocol) of the Kafka
// listener of a secure cluster; the controller listener keeps its name,
// CONTROLLER, mapped to SASL_SSL.
const secureListener = "SASL_SSL"

// security is the one place that knows a secure cluster's settings: its
// certificates and the client options of each user. A nil *security is a
// plaintext cluster.
type security struct {
	pki  tlsconf.PKI
	tls  *tls.Config // trusts the run's CA; ServerName is set per dial
	opts map[string][]kgo.Opt
	mech map[string]sasl.Mechanism
}

// newSecurity makes a CA and a server certificate valid for hosts under
// dir and builds every user's client options.
func newSecurity(dir string, hosts []string) (*security, error) {
	pki, err := tlsconf.GeneratePKI(dir, hosts, nil)
	if err != nil {
		return nil, err
	}
	s := &security{pki: pki, opts: map[string][]kgo.Opt{}, mech: map[string]sasl.Mechanism{}}
	for user := range accounts {
		props := s.clientProps(user)
		if s.opts[user], err = props.Options(); err != nil {
			return nil, err
		}
		if s.mech[user], err = props.Mechanism(); err != nil {
			return nil, err
		}
		if s.tls, err = props.TLSConfig(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// clientProps are user's Kafka client properties: SASL_SSL with its
// mechanism and password, trusting the run's CA.
func (s *security) clientProps(user string) clientsec.Props {
	a := accounts[user]
	return clientsec.Props{
		clientsec.SecurityProtocol: clientsec.SASLSSL, clientsec.SASLMechanism: a.mechanism,
		clientsec.SASLUsername: user, clientsec.SASLPassword: a.password, "ssl.ca.location": s.pki.CA,
	}
}

// clientOpts returns the kgo options of a client acting as user: none on
// a plaintext cluster (s == nil).
func (s *security) clientOpts(user string) []kgo.Opt {
	if s == nil {
		return nil
	}
	return s.opts[user]
}

// serverOverrides are the node properties of a secure cluster: SASL_SSL on
// the Kafka listener (clients and inter-broker traffic) and on the
// controller listener, PLAIN as admin between nodes, PLAIN and
// SCRAM-SHA-512 for clients, and the StandardAuthorizer with admin as the
// super user.
func (s *security) serverOverrides() []string {
	a := accounts[adminUser]
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s" user_%s="%s";`,
		adminUser, a.password, adminUser, a.password)
	return []string{
		"listener.security.protocol.map=" + secureListener + ":SASL_SSL,CONTROLLER:SASL_SSL",
		"inter.broker.listener.name=" + secureListener,
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol=PLAIN",
		"sasl.mechanism.controller.protocol=PLAIN",
		"listener.name." + strings.ToLower(secureListener) + ".plain.sasl.jaas.config=" + jaas,
		"listener.name.controller.plain.sasl.jaas.config=" + jaas,
		"ssl.keystore.type=PEM", "ssl.keystore.location=" + s.pki.Server,
		"ssl.truststore.type=PEM", "ssl.truststore.location=" + s.pki.CA,
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users=User:" + adminUser,
	}
}

// Secure turns the prepared (not started) cluster into a secure one:
// a CA and a server certificate for every address clients and nodes dial
// (made under Dir/pki), SASL_SSL on every listener, the authorizer, and
// SASL_SSL clients in the harness (admin as PLAIN; the workload as the
// SCRAM user chaos, created by the run's setup). The security properties
// come first in each node's overrides, so the caller's overrides still
// win.
func (c *Cluster) Secure() error {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, nd := range c.Nodes {
		if h, _, err := net.SplitHostPort(nd.Addr); err == nil && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	dir := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s, err := newSecurity(dir, hosts)
	if err != nil {
		return err
	}
	for _, nd := range c.Nodes {
		nd.Overrides = append(s.serverOverrides(), secureListeners(nd.Overrides)...)
	}
	c.sec = s
	return nil
}

// secureListeners renames the PLAINTEXT listener in the listeners and
// advertised.listeners properties of overrides to SASL_SSL.
func secureListeners(overrides []string) []string {
	out := slices.Clone(overrides)
	for i, o := range out {
		if strings.HasPrefix(o, "listeners=") || strings.HasPrefix(o, "advertised.listeners=") {
			out[i] = strings.ReplaceAll(o, "PLAINTEXT://", secureListener+"://")
		}
	}
	return out
}

// grantWorkload creates the workload's SCRAM user and its ACLs, as admin:
// IDEMPOTENT_WRITE on the cluster (the idempotent producer), READ and
// DESCRIBE on its group, WRITE, READ and DESCRIBE on its topic (which
// setup creates, so no CREATE), and WRITE and DESCRIBE on its
// transactional ids, if any. It then waits until every node
// authenticates the user and lets it describe the topic: the credentials
// and ACLs reach the nodes through the metadata log, the topic's ACL
// last.
func (c *Cluster) grantWorkload(ctx context.Context, topic, group string, txnIDs ...string) error {
	if c.sec == nil {
		return nil
	}
	adm, done, err := c.Admin()
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: workloadUser, Mechanism: kadm.ScramSha512,
		Iterations: 4096, Password: accounts[workloadUser].password}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		return fmt.Errorf("creating SCRAM user %s: %w", workloadUser, err)
	}
	acl := func() *kadm.ACLBuilder {
		return kadm.NewACLs().Allow("User:" + workloadUser).AllowHosts().ResourcePatternType(kadm.ACLPatternLiteral)
	}
	grants := []*kadm.ACLBuilder{
		acl().Clusters().Operations(kadm.OpIdempotentWrite),
		acl().Groups(group).Operations(kadm.OpRead, kadm.OpDescribe),
		acl().Topics(topic).Operations(kadm.OpWrite, kadm.OpRead, kadm.OpDescribe),
	}
	if len(txnIDs) > 0 {
		grants = append(grants, acl().TransactionalIDs(txnIDs...).Operations(kadm.OpWrite, kadm.OpDescribe))
	}
	for _, b := range grants {
		if err := createACLs(ctx, adm, b); err != nil {
			return err
		}
	}
	return waitUntil(ctx, 30*time.Second, func() string { return c.workloadAllowed(ctx, topic) })
}

func createACLs(ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) error {
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		return fmt.Errorf("creating ACLs: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("creating ACL %s %s on %s %s: %w", r.Permission, r.Operation, r.Type, r.Name, r.Err)
		}
	}
	return nil
}

// workloadAllowed asks every node, as the workload's user, for topic's
// metadata: "" if each authenticates the user and describes the topic.
func (c *Cluster) workloadAllowed(ctx context.Context, topic string) string {
	for _, nd := range c.Nodes {
		k := &kconn{addr: nd.Addr, sec: c.sec, user: workloadUser}
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(9)
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, t)
		r, err := k.request(ctx, req)
		k.close()
		if err != nil {
			return fmt.Sprintf("node %d as %s: %v", nd.ID, workloadUser, err)
		}
		for _, rt := range r.(*kmsg.MetadataResponse).Topics {
			if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
				return fmt.Sprintf("node %d as %s: topic %s: %v", nd.ID, workloadUser, topic, err)
			}
		}
	}
	return ""
}

// secure makes k's fresh plaintext connection TLS and authenticates it as
// k.user with SaslHandshake and SaslAuthenticate.
func (k *kconn) secure(ctx context.Context) error {
	host, _, err := net.SplitHostPort(k.addr)
	if err != nil {
		return err
	}
	cfg := k.sec.tls.Clone()
	cfg.ServerName = host
	tc := tls.Client(k.c, cfg)
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("TLS handshake with %s: %w", k.addr, err)
	}
	k.c, k.r = tc, bufio.NewReader(tc)
	return k.authenticate(ctx, k.sec.mech[k.user])
}

// authenticate runs m's SASL exchange on k's connection.
func (k *kconn) authenticate(ctx context.Context, m sasl.Mechanism) error {
	if m == nil {
		return fmt.Errorf("no SASL mechanism for user %q", k.user)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = m.Name()
	r, err := k.roundTrip(hs)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(r.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return fmt.Errorf("SASL handshake (%s): %w", m.Name(), err)
	}
	session, msg, err := m.Authenticate(ctx, k.addr)
	if err != nil {
		return err
	}
	// Each message gets a response; a session done with a last message
	// still sends it (KIP-152).
	for done := false; !done || len(msg) > 0; {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(1)
		req.SASLAuthBytes = msg
		r, err := k.roundTrip(req)
		if err != nil {
			return err
		}
		resp := r.(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("SASL %s as %s: %w: %s", m.Name(), k.user, err, deref(resp.ErrorMessage))
		}
		msg = nil
		if !done {
			if done, msg, err = session.Challenge(resp.SASLAuthBytes); err != nil {
				return err
			}
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
