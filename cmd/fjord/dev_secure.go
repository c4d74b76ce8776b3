package main

// `fjord dev --secure`: SASL_SSL on every Kafka and controller listener,
// as a production cluster would be set up, with everything it needs made
// under the data directory once and reused on later starts:
//
//	<data dir>/tls/ca.pem                  the CA certificate (clients' trust store)
//	<data dir>/tls/server.pem              the nodes' certificate chain and key
//	<data dir>/tls/dev-secrets.properties  the generated passwords (mode 0600)
//	<data dir>/client.properties           the super user's client settings (mode 0600)
//
// Brokers and controllers authenticate to each other with PLAIN as
// devBrokerUser, whose password the listeners' JAAS configs hold. The
// super user devAdminUser is a SCRAM-SHA-512 user in the metadata log,
// written once the cluster is up through the Kafka protocol
// (AlterUserScramCredentials, sent as the broker user) at every start,
// so the printed settings always work.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	devBrokerUser     = "broker" // PLAIN, between nodes
	devAdminUser      = "admin"  // SCRAM-SHA-512, the super user for people
	devSecretsFile    = "dev-secrets.properties"
	devClientProps    = "client.properties"
	devListener       = "SASL_SSL"
	devAuthorizer     = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	scramLoginModule  = "org.apache.kafka.common.security.scram.ScramLoginModule"
	devAdminMechanism = kadm.ScramSha512
)

// devHosts are the names the dev server certificate is good for.
var devHosts = []string{"127.0.0.1", "localhost", "::1"}

// devSecurity is the secured dev cluster's material.
type devSecurity struct {
	dataDir        string
	pki            tlsconf.PKI
	brokerPassword string
	adminPassword  string
}

// prepareDevSecurity makes or reuses the certificates and passwords under
// dataDir/tls.
func prepareDevSecurity(dataDir string) (*devSecurity, error) {
	dir := filepath.Join(dataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pki, err := devPKI(dir)
	if err != nil {
		return nil, fmt.Errorf("dev certificates: %w", err)
	}
	s := &devSecurity{dataDir: dataDir, pki: pki}
	if s.brokerPassword, s.adminPassword, err = devSecrets(filepath.Join(dir, devSecretsFile)); err != nil {
		return nil, fmt.Errorf("dev passwords: %w", err)
	}
	return s, nil
}

// devPKI returns the CA and server certificate in dir, made anew if
// either is missing or the server certificate expires within a day.
func devPKI(dir string) (tlsconf.PKI, error) {
	pki := tlsconf.PKI{CA: filepath.Join(dir, "ca.pem"), Server: filepath.Join(dir, "server.pem")}
	if err := pkiUsable(pki, time.Now().Add(24*time.Hour)); err == nil {
		return pki, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "fjord dev: making new certificates under %s: %v\n", dir, err)
	}
	return tlsconf.GeneratePKI(dir, devHosts, nil)
}

// pkiUsable checks that the CA file exists and the server's certificate
// and key load and are still valid at until.
func pkiUsable(pki tlsconf.PKI, until time.Time) error {
	if _, err := os.Stat(pki.CA); err != nil {
		return err
	}
	if _, err := os.Stat(pki.Server); err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(pki.Server, pki.Server)
	if err != nil {
		return err
	}
	if until.After(pair.Leaf.NotAfter) {
		return fmt.Errorf("the server certificate expires %s", pair.Leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// devSecrets returns the broker and admin passwords stored at path,
// generating and storing (mode 0600) those missing.
func devSecrets(path string) (broker, admin string, err error) {
	props, err := readSecrets(path)
	if err != nil {
		return "", "", err
	}
	changed := false
	for _, k := range []string{"broker.password", "admin.password"} {
		if props[k] == "" {
			if props[k], err = randomPassword(); err != nil {
				return "", "", err
			}
			changed = true
		}
	}
	if changed {
		err = writeSecretFile(path, "# fjord dev --secure: generated passwords, reused at every start.\n"+
			"broker.password="+props["broker.password"]+"\nadmin.password="+props["admin.password"]+"\n")
	}
	return props["broker.password"], props["admin.password"], err
}

// readSecrets reads the properties file at path; none if it is missing.
func readSecrets(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	props, err := config.ReadProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return props, nil
}

// randomPassword returns 128 random bits in hex: nothing to quote in a
// shell, a properties file or a JAAS config.
func randomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// writeSecretFile writes data to path readable by its owner alone (also
// when the file existed with a wider mode).
func writeSecretFile(path, data string) error {
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// brokerJAAS is the PLAIN login module of every listener: the node's own
// credentials and the one PLAIN user accepted, the broker user.
func (s *devSecurity) brokerJAAS() string {
	return fmt.Sprintf(`%s required username="%s" password="%s" user_%s="%s";`,
		sasl.PlainLoginModule, devBrokerUser, s.brokerPassword, devBrokerUser, s.brokerPassword)
}

// secureProps turns node id's dev properties into SASL_SSL ones.
func (s *devSecurity) secureProps(props map[string]string, port, id int) {
	jaas := s.brokerJAAS()
	props["listeners"] = devListeners(devListener, port, id)
	for k, v := range map[string]string{
		"listener.security.protocol.map":                   devListener + ":SASL_SSL,CONTROLLER:SASL_SSL",
		"inter.broker.listener.name":                       devListener,
		"sasl.enabled.mechanisms":                          "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
		"sasl.mechanism.inter.broker.protocol":             "PLAIN",
		"sasl.mechanism.controller.protocol":               "PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config":    jaas,
		"listener.name.controller.plain.sasl.jaas.config":  jaas,
		"ssl.keystore.type":                                "PEM",
		"ssl.keystore.location":                            s.pki.Server,
		"ssl.truststore.type":                              "PEM",
		"ssl.truststore.location":                          s.pki.CA,
		"authorizer.class.name":                            devAuthorizer,
		"super.users":                                      "User:" + devAdminUser + ";User:" + devBrokerUser,
	} {
		props[k] = v
	}
}

// finish creates the super user on the running cluster, writes
// client.properties and returns the settings to print.
func (s *devSecurity) finish(bootstrap string, port int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.createAdmin(ctx, bootstrap); err != nil {
		return "", fmt.Errorf("creating the super user %s: %w", devAdminUser, err)
	}
	path := filepath.Join(s.dataDir, devClientProps)
	if err := writeSecretFile(path, s.clientProperties(bootstrap)); err != nil {
		return "", err
	}
	return s.settings(bootstrap, path, port), nil
}

// createAdmin upserts the admin's SCRAM credential as the broker user,
// retrying until ctx ends: a new cluster may not be ready for it at once.
func (s *devSecurity) createAdmin(ctx context.Context, bootstrap string) error {
	opts, err := s.brokerClientOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(strings.Split(bootstrap, ",")...), kgo.ClientID("fjord-dev"))...)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	up := kadm.UpsertSCRAM{User: devAdminUser, Mechanism: devAdminMechanism, Iterations: sasl.MinIterations, Password: s.adminPassword}
	for {
		err = upsertSCRAM(ctx, adm, up)
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// brokerClientOpts are a client's settings as the broker user (PLAIN
// over SASL_SSL), which works before the super user exists.
func (s *devSecurity) brokerClientOpts() ([]kgo.Opt, error) {
	return clientsec.Props{
		clientsec.SecurityProtocol: clientsec.SASLSSL, clientsec.SASLMechanism: sasl.Plain,
		clientsec.SASLUsername: devBrokerUser, clientsec.SASLPassword: s.brokerPassword, "ssl.ca.location": s.pki.CA,
	}.Options()
}

func upsertSCRAM(ctx context.Context, adm *kadm.Client, up kadm.UpsertSCRAM) error {
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{up})
	if err != nil {
		return err
	}
	return res.Error()
}

// adminJAAS is the super user's client JAAS config.
func (s *devSecurity) adminJAAS() string {
	return fmt.Sprintf(`%s required username="%s" password="%s";`, scramLoginModule, devAdminUser, s.adminPassword)
}

// clientProperties is client.properties in the Java client's names, which
// kafka-*.sh --command-config and fjord --command-config take.
func (s *devSecurity) clientProperties(bootstrap string) string {
	var b strings.Builder
	b.WriteString("# Written by fjord dev --secure at every start: the super user " + devAdminUser + " over SASL_SSL.\n")
	for _, kv := range [][2]string{
		{"bootstrap.servers", bootstrap},
		{"security.protocol", clientsec.SASLSSL},
		{"sasl.mechanism", devAdminMechanism.String()},
		{"sasl.jaas.config", s.adminJAAS()},
		{"ssl.truststore.type", "PEM"},
		{"ssl.truststore.location", s.pki.CA},
	} {
		b.WriteString(kv[0] + "=" + propertyEscape(kv[1]) + "\n")
	}
	return b.String()
}

// propertyEscape escapes a value for a Java properties file.
func propertyEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(v)
}

// kcatArgs are librdkafka's settings for the super user, as kcat flags.
func (s *devSecurity) kcatArgs() []string {
	return []string{
		"-X", "security.protocol=" + clientsec.SASLSSL, "-X", "sasl.mechanisms=" + devAdminMechanism.String(),
		"-X", "sasl.username=" + devAdminUser, "-X", "sasl.password=" + s.adminPassword,
		"-X", "ssl.ca.location=" + s.pki.CA,
	}
}

// settings is the text printed once a secure dev cluster is up.
func (s *devSecurity) settings(bootstrap, propsPath string, port int) string {
	kcat := append([]string{"kcat", "-b", bootstrap}, s.kcatArgs()...)
	for i, a := range kcat {
		kcat[i] = shellQuote(a)
	}
	props := shellQuote(propsPath)
	fjord, env := "fjord --command-config "+props, "export FJORD_COMMAND_CONFIG="+props
	if port != 9092 {
		fjord += " -b " + bootstrap
		env += " FJORD_BOOTSTRAP=" + bootstrap
	}
	return fmt.Sprintf(`Security: SASL_SSL on every listener, StandardAuthorizer; super user %[1]s (%[2]s), password %[3]s
CA certificate: %[4]s
Java client settings (Java clients, kafka-*.sh --command-config): %[5]s
fjord tools:
  %[6]s topic list
  %[7]s   # or this, then plain "fjord ..." commands use them
kcat / librdkafka:
  %[8]s -L
`, devAdminUser, devAdminMechanism, s.adminPassword, s.pki.CA, props, fjord, env, strings.Join(kcat, " "))
}

// shellQuote returns s as one POSIX shell word.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
