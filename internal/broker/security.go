package broker

// Listener security (issue 10): each listener's protocol comes from
// listener.security.protocol.map (PLAINTEXT, SSL, SASL_PLAINTEXT,
// SASL_SSL); TLS material from the ssl.* configs (per listener with
// listener.name.<l>.ssl.*); SASL users from the listener's JAAS configs.
// The node's own clients of other nodes (controller RPCs, follower
// fetches, the Raft transport) speak the protocol of the listener they
// reach, as the broker named in the listener's JAAS username.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/replication"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/fjordlog/fjord/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kgo"
)

// protocolOf returns a listener's security protocol.
func (b *Broker) protocolOf(listener string) (string, error) {
	for _, e := range b.cfg.List("listener.security.protocol.map") {
		name, proto, ok := strings.Cut(e, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), listener) {
			proto = strings.ToUpper(strings.TrimSpace(proto))
			switch proto {
			case clientsec.Plaintext, clientsec.SSL, clientsec.SASLPlaintext, clientsec.SASLSSL:
				return proto, nil
			}
			return "", fmt.Errorf("listener.security.protocol.map: unknown security protocol %q for listener %s", proto, listener)
		}
	}
	if p := strings.ToUpper(listener); p == clientsec.Plaintext || p == clientsec.SSL || p == clientsec.SASLPlaintext || p == clientsec.SASLSSL {
		return p, nil // Kafka's default map names each protocol after itself
	}
	return "", fmt.Errorf("listener %s has no entry in listener.security.protocol.map", listener)
}

func usesTLS(proto string) bool { return proto == clientsec.SSL || proto == clientsec.SASLSSL }
func usesSASL(proto string) bool {
	return proto == clientsec.SASLPlaintext || proto == clientsec.SASLSSL
}

// listenerProps reads a listener's configs, listener.name.<l>.* first.
func (b *Broker) listenerProps(listener string) tlsconf.Props {
	return func(name string) string { return b.cfg.ForListener(listener, name) }
}

// listenerSecurity builds how the server protects a listener.
func (b *Broker) listenerSecurity(listener string) (server.Security, error) {
	proto, err := b.protocolOf(listener)
	if err != nil {
		return server.Security{}, err
	}
	maxAuth, _ := strconv.ParseInt(b.cfg.ForListener(listener, "sasl.server.max.receive.size"), 10, 32)
	sec := server.Security{SASL: usesSASL(proto), MaxAuthBytes: int32(maxAuth)}
	if !usesTLS(proto) {
		return sec, nil
	}
	props := b.listenerProps(listener)
	onErr := func(err error) {
		b.logger.Error("TLS material reload failed; keeping the previous", "listener", listener, "err", err)
	}
	if sec.TLS, err = tlsconf.Server(props, onErr); err != nil {
		return sec, fmt.Errorf("listener %s: %w", listener, err)
	}
	if proto == clientsec.SSL {
		if sec.CertPrincipal, err = tlsconf.PrincipalBuilder(props("ssl.principal.mapping.rules")); err != nil {
			return sec, fmt.Errorf("listener %s: ssl.principal.mapping.rules: %w", listener, err)
		}
	}
	return sec, nil
}

// clientTLSProps are the ssl.* configs a node's own client takes from the
// listener it reaches: the trust store, and its key store for mutual TLS.
var clientTLSProps = []string{
	"ssl.truststore.location", "ssl.truststore.certificates", "ssl.keystore.location",
	"ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.enabled.protocols", "ssl.cipher.suites",
}

// clientProps returns the client properties with which this node reaches
// a listener of another node: its protocol, and for SASL the mechanism
// named by mechanismConfig with the username and password of the
// listener's JAAS config for it.
func (b *Broker) clientProps(listener, mechanismConfig string) (clientsec.Props, error) {
	proto, err := b.protocolOf(listener)
	if err != nil {
		return nil, err
	}
	p := clientsec.Props{clientsec.SecurityProtocol: proto}
	if usesSASL(proto) {
		mech := b.cfg.String(mechanismConfig)
		p[clientsec.SASLMechanism], p[clientsec.SASLJAASConfig] = mech, b.cfg.JAAS(listener, mech)
	}
	if usesTLS(proto) {
		for _, name := range clientTLSProps {
			if v := b.cfg.ForListener(listener, name); v != "" {
				p[name] = v
			}
		}
		// Set even when empty: empty turns host name verification off.
		p[endpointIdentification] = b.cfg.ForListener(listener, endpointIdentification)
	}
	return p, nil
}

const endpointIdentification = "ssl.endpoint.identification.algorithm"

// clientOptions returns the kgo options of clientProps.
func (b *Broker) clientOptions(listener, mechanismConfig string) ([]kgo.Opt, error) {
	p, err := b.clientProps(listener, mechanismConfig)
	if err != nil {
		return nil, err
	}
	return p.Options()
}

// fetcherSecurity is how the follower fetchers reach the leaders'
// inter-broker listener.
func (b *Broker) fetcherSecurity(listener string) (replication.Security, error) {
	p, err := b.clientProps(listener, "sasl.mechanism.inter.broker.protocol")
	if err != nil {
		return replication.Security{}, err
	}
	cfg, m, err := p.Security()
	return replication.Security{TLS: cfg, SASL: m}, err
}

// controllerListener is the first of controller.listener.names.
func (b *Broker) controllerListener() string {
	if names := b.cfg.List("controller.listener.names"); len(names) > 0 {
		return strings.ToUpper(names[0])
	}
	return "CONTROLLER"
}

// prepareSecurity builds the authorizer and the security options of the
// node's own clients; a configuration they cannot use stops the start.
func (b *Broker) prepareSecurity() error {
	b.authz = handlers.NewAuthorizer(b.cfg.String)
	var err error
	if b.fetcherSec, err = b.fetcherSecurity(strings.ToUpper(b.cfg.String("inter.broker.listener.name"))); err != nil {
		return fmt.Errorf("inter-broker listener: %w", err)
	}
	if b.ctlOpts, err = b.clientOptions(b.controllerListener(), "sasl.mechanism.controller.protocol"); err != nil {
		return fmt.Errorf("controller listener: %w", err)
	}
	if b.brokers, err = b.newBrokersClient("fjord-broker-"); err != nil {
		return fmt.Errorf("inter-broker listener: %w", err)
	}
	if b.markers, err = b.newBrokersClient("fjord-txn-markers-"); err != nil {
		return fmt.Errorf("inter-broker listener: %w", err)
	}
	return nil
}

// controllerSecured reports whether the controller listener uses TLS or
// SASL (then the Raft transport dials through dialQuorum).
func (b *Broker) controllerSecured() bool {
	proto, err := b.protocolOf(b.controllerListener())
	return err == nil && proto != clientsec.Plaintext
}
