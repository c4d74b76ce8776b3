// Package clientsec turns Kafka client security properties into franz-go
// options: the `fjord` client tools read them from --command-config, and a
// node's own clients of other nodes from its configuration.
//
// Both spellings in use are understood: the Java client's
// (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.*,
// ssl.keystore.*) and librdkafka's (security.protocol, sasl.mechanisms,
// sasl.username, sasl.password, ssl.ca.location, ssl.certificate.location,
// ssl.key.location). Building the TLS configuration is internal/tlsconf's
// job and parsing sasl.jaas.config internal/sasl's; this package only picks
// and combines. Properties it does not know are ignored, so a complete
// client.properties file may be given.
package clientsec

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kgo"
	kafkasasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Props is a set of Kafka client properties, by name, in Java's or
// librdkafka's spelling. A missing name reads as "".
type Props map[string]string

// Property names this package reads itself (the ssl.* names are read by
// tlsconf).
const (
	SecurityProtocol = "security.protocol"
	SASLMechanism    = "sasl.mechanism"  // Java
	SASLMechanisms   = "sasl.mechanisms" // librdkafka
	SASLJAASConfig   = "sasl.jaas.config"
	SASLUsername     = "sasl.username" // librdkafka
	SASLPassword     = "sasl.password" // librdkafka
)

// Values of security.protocol.
const (
	Plaintext     = "PLAINTEXT"
	SSL           = "SSL"
	SASLPlaintext = "SASL_PLAINTEXT"
	SASLSSL       = "SASL_SSL"
)

// The login modules whose username and password options are the client's
// credentials (either serves any of PLAIN and SCRAM, as in Java, where both
// put the same credentials in the login subject).
const scramLoginModule = "org.apache.kafka.common.security.scram.ScramLoginModule"

// endpointIdentification is the TLS property whose Kafka default, when it
// is not set at all, is https (verify the server's host name); set empty,
// it turns that check off.
const endpointIdentification = "ssl.endpoint.identification.algorithm"

// Options returns the kgo options that make a client speak the properties'
// security.protocol: kgo.DialTLSConfig for SSL and SASL_SSL, kgo.SASL for
// SASL_PLAINTEXT and SASL_SSL, nothing for PLAINTEXT (the default). An
// unknown protocol or mechanism (GSSAPI, OAUTHBEARER), missing credentials
// or a bad TLS setting is an error naming the property.
func (p Props) Options() ([]kgo.Opt, error) {
	cfg, m, err := p.Security()
	if err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// Security returns what Options applies, for clients that are not kgo's:
// the TLS configuration (nil unless SSL or SASL_SSL) and the SASL
// mechanism (nil unless SASL_PLAINTEXT or SASL_SSL). Errors as Options.
func (p Props) Security() (*tls.Config, kafkasasl.Mechanism, error) {
	proto, err := p.protocol()
	if err != nil {
		return nil, nil, err
	}
	var cfg *tls.Config
	var m kafkasasl.Mechanism
	if proto == SSL || proto == SASLSSL {
		if cfg, err = p.TLSConfig(); err != nil {
			return nil, nil, err
		}
	}
	if proto == SASLPlaintext || proto == SASLSSL {
		if m, err = p.Mechanism(); err != nil {
			return nil, nil, err
		}
	}
	return cfg, m, nil
}

// protocol returns security.protocol, upper-cased, PLAINTEXT if unset.
func (p Props) protocol() (string, error) {
	proto := strings.ToUpper(strings.TrimSpace(p[SecurityProtocol]))
	switch proto {
	case "":
		return Plaintext, nil
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return proto, nil
	}
	return "", fmt.Errorf("%s=%s is not supported: want %s, %s, %s or %s",
		SecurityProtocol, p[SecurityProtocol], Plaintext, SSL, SASLPlaintext, SASLSSL)
}

// TLSConfig returns the client TLS configuration of the ssl.* properties
// (tlsconf.Client), verifying the server's host name unless
// ssl.endpoint.identification.algorithm is set empty. Its ServerName is
// empty: kgo.DialTLSConfig sets it to each broker's host.
func (p Props) TLSConfig() (*tls.Config, error) {
	return tlsconf.Client(p.tlsProp, "")
}

// tlsProp reads a property for tlsconf, which cannot tell unset from empty:
// an unset ssl.endpoint.identification.algorithm reads as its default.
func (p Props) tlsProp(name string) string {
	if v, ok := p[name]; ok || name != endpointIdentification {
		return v
	}
	return "https"
}

// Mechanism returns the SASL mechanism of sasl.mechanism (or librdkafka's
// sasl.mechanisms) with the credentials of sasl.jaas.config or
// sasl.username and sasl.password.
func (p Props) Mechanism() (kafkasasl.Mechanism, error) {
	name, err := p.mechanismName()
	if err != nil {
		return nil, err
	}
	c, err := p.credentials()
	if err != nil {
		return nil, err
	}
	switch name {
	case sasl.Plain:
		return plain.Auth{User: c.user, Pass: c.pass}.AsMechanism(), nil
	case sasl.ScramSHA256:
		return c.scram().AsSha256Mechanism(), nil
	default: // sasl.ScramSHA512, checked by mechanismName
		return c.scram().AsSha512Mechanism(), nil
	}
}

// mechanismName returns the configured mechanism, upper-cased, if this
// package supports it.
func (p Props) mechanismName() (string, error) {
	key := SASLMechanism
	if strings.TrimSpace(p[key]) == "" && strings.TrimSpace(p[SASLMechanisms]) != "" {
		key = SASLMechanisms
	}
	name := strings.ToUpper(strings.TrimSpace(p[key]))
	switch name {
	case sasl.Plain, sasl.ScramSHA256, sasl.ScramSHA512:
		return name, nil
	case "":
		return "", fmt.Errorf("%s is not set (its default, GSSAPI, is not supported): want %s, %s or %s",
			SASLMechanism, sasl.Plain, sasl.ScramSHA256, sasl.ScramSHA512)
	}
	return "", fmt.Errorf("%s=%s is not supported: want %s, %s or %s",
		key, p[key], sasl.Plain, sasl.ScramSHA256, sasl.ScramSHA512)
}

// credentials are a SASL user name and password; token marks a SCRAM
// delegation token (JAAS option tokenauth=true).
type credentials struct {
	user, pass string
	token      bool
}

func (c credentials) scram() scram.Auth {
	return scram.Auth{User: c.user, Pass: c.pass, IsToken: c.token}
}

// credentials reads sasl.jaas.config if set, else sasl.username and
// sasl.password.
func (p Props) credentials() (credentials, error) {
	if jaas := strings.TrimSpace(p[SASLJAASConfig]); jaas != "" {
		return jaasCredentials(jaas)
	}
	if p[SASLUsername] == "" || p[SASLPassword] == "" {
		return credentials{}, fmt.Errorf("SASL needs credentials: set %s, or %s and %s",
			SASLJAASConfig, SASLUsername, SASLPassword)
	}
	return credentials{user: p[SASLUsername], pass: p[SASLPassword]}, nil
}

// jaasCredentials returns the username and password options of a PLAIN or
// SCRAM login module entry.
func jaasCredentials(s string) (credentials, error) {
	j, err := sasl.ParseJAAS(s)
	if err != nil {
		return credentials{}, fmt.Errorf("%s: %w", SASLJAASConfig, err)
	}
	if j.LoginModule != sasl.PlainLoginModule && j.LoginModule != scramLoginModule {
		return credentials{}, fmt.Errorf("%s: login module %s is not supported: want %s or %s",
			SASLJAASConfig, j.LoginModule, sasl.PlainLoginModule, scramLoginModule)
	}
	c := credentials{user: j.Options["username"], pass: j.Options["password"],
		token: strings.EqualFold(j.Options["tokenauth"], "true")}
	if c.user == "" || c.pass == "" {
		return credentials{}, errors.New(SASLJAASConfig + ": the username and password options are required")
	}
	return c, nil
}
