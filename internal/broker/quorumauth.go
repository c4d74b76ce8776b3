package broker

// Securing the Raft transport on a TLS or SASL controller listener.
//
// The transport shares the controller listener with the Kafka protocol
// (see demux.go), so it gets the listener's protection too. On TLS
// listeners the demultiplexer completes the handshake before it looks at
// the first bytes; both sides then speak the transport inside TLS. On SASL
// listeners a transport connection must authenticate before its magic:
//
//	"FJRA" | uint16 mechanism length | mechanism
//	then rounds of: dialer  uint32 length | token
//	                server  uint8 status | uint32 length | token
//
// with status 0 (continue), 1 (authenticated) or 2 (refused, then close).
// The mechanism is sasl.mechanism.controller.protocol with the listener's
// JAAS credentials, as for the node's Kafka-protocol client of the
// controller. The authenticated principal (or, on SSL listeners, the
// client certificate's) needs CLUSTER_ACTION on the cluster when an
// authorizer is configured. A connection that skips or fails any of this
// is closed without reaching the quorum.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/fjordlog/fjord/internal/auth"
	"github.com/fjordlog/fjord/internal/clientsec"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/quorum"
	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/server"
)

// quorumAuthMagic opens a SASL exchange ahead of the transport's magic:
// "FJRA", like TransportMagic beyond any Kafka frame size.
const quorumAuthMagic uint32 = 0x464A5241

const (
	quorumAuthTimeout  = 10 * time.Second
	quorumMaxToken     = 64 << 10
	quorumAuthContinue = 0
	quorumAuthOK       = 1
	quorumAuthRefused  = 2
)

var errQuorumAuth = errors.New("quorum transport authentication failed")

// quorumGuard admits Raft transport connections on a secured controller
// listener.
type quorumGuard struct {
	sec   server.Security
	authz *auth.Authorizer
	image func() *metadata.Image
	// exchange starts the server side of a mechanism the listener enables.
	exchange func(mechanism string) (sasl.Exchange, error)
}

// admit authenticates a connection whose first four bytes were first4 and
// returns it positioned just after the transport's magic, where the
// quorum's ServeConn reads on.
func (g *quorumGuard) admit(c net.Conn, first4 []byte) (net.Conn, error) {
	principal := server.Anonymous
	if tc, ok := c.(*tls.Conn); ok && g.sec.CertPrincipal != nil {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			name, err := g.sec.CertPrincipal(certs[0])
			if err != nil {
				return nil, err
			}
			principal = "User:" + name
		}
	}
	if g.sec.SASL {
		if binary.BigEndian.Uint32(first4) != quorumAuthMagic {
			return nil, fmt.Errorf("%w: no SASL authentication on a SASL listener", errQuorumAuth)
		}
		user, err := g.authenticate(c)
		if err != nil {
			return nil, err
		}
		principal = "User:" + user
		if _, err := io.ReadFull(c, first4); err != nil || !quorum.IsTransport(first4) {
			return nil, fmt.Errorf("%w: no transport after authentication", errQuorumAuth)
		}
	}
	if g.authz != nil && !g.authz.Authorize(g.image().ACLSet(), auth.Request{Principal: principal, Host: remoteIP(c),
		Op: metadata.ACLOpClusterAction, ResourceType: metadata.ACLResourceCluster, Name: metadata.ClusterResourceName}) {
		return nil, fmt.Errorf("%w: %s may not CLUSTER_ACTION", errQuorumAuth, principal)
	}
	return c, nil
}

// authenticate runs the server side of the exchange.
func (g *quorumGuard) authenticate(c net.Conn) (string, error) {
	_ = c.SetDeadline(time.Now().Add(quorumAuthTimeout))
	defer c.SetDeadline(time.Time{})
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return "", err
	}
	mech := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(c, mech); err != nil {
		return "", err
	}
	ex, err := g.exchange(string(mech))
	if err != nil {
		err = fmt.Errorf("%w: %v", errQuorumAuth, err)
		writeAuthStatus(c, quorumAuthRefused, nil)
		return "", err
	}
	for {
		token, err := readToken(c)
		if err != nil {
			return "", err
		}
		reply, done, err := ex.Step(token)
		if err != nil {
			writeAuthStatus(c, quorumAuthRefused, nil)
			return "", fmt.Errorf("%w: %v", errQuorumAuth, err)
		}
		status := byte(quorumAuthContinue)
		if done {
			status = quorumAuthOK
		}
		if err := writeAuthStatus(c, status, reply); err != nil || done {
			return ex.User(), err
		}
	}
}

func readToken(c net.Conn) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > quorumMaxToken {
		return nil, fmt.Errorf("%w: token of %d bytes", errQuorumAuth, size)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(c, b)
	return b, err
}

func writeAuthStatus(c net.Conn, status byte, token []byte) error {
	b := append([]byte{status}, binary.BigEndian.AppendUint32(nil, uint32(len(token)))...)
	_, err := c.Write(append(b, token...))
	return err
}

func remoteIP(c net.Conn) string {
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		return host
	}
	return ""
}

// dialQuorum is the Raft transport's dialer on a secured controller
// listener: TCP, then TLS, then the SASL exchange, as the listener needs.
func (b *Broker) dialQuorum(ctx context.Context, addr string) (net.Conn, error) {
	props, err := b.clientProps(b.controllerListener(), "sasl.mechanism.controller.protocol")
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if c, err = secureQuorumConn(ctx, c, addr, props); err != nil {
		return nil, err
	}
	return c, nil
}

// secureQuorumConn wraps c in TLS and authenticates it with SASL as the
// client properties of the controller listener say. It closes c on error.
func secureQuorumConn(ctx context.Context, c net.Conn, addr string, props clientsec.Props) (net.Conn, error) {
	proto := props[clientsec.SecurityProtocol]
	host, _, _ := net.SplitHostPort(addr)
	if usesTLS(proto) {
		cfg, err := props.TLSConfig()
		if err != nil {
			c.Close()
			return nil, err
		}
		cfg = cfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	if usesSASL(proto) {
		if err := quorumClientAuth(ctx, c, host, props); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// quorumClientAuth runs the dialer's side of the exchange.
func quorumClientAuth(ctx context.Context, c net.Conn, host string, props clientsec.Props) error {
	m, err := props.Mechanism()
	if err != nil {
		return err
	}
	sess, token, err := m.Authenticate(ctx, host)
	if err != nil {
		return err
	}
	_ = c.SetDeadline(time.Now().Add(quorumAuthTimeout))
	defer c.SetDeadline(time.Time{})
	hello := binary.BigEndian.AppendUint32(nil, quorumAuthMagic)
	hello = binary.BigEndian.AppendUint16(hello, uint16(len(m.Name())))
	if _, err := c.Write(append(hello, m.Name()...)); err != nil {
		return err
	}
	for {
		if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...)); err != nil {
			return err
		}
		status, reply, err := readAuthStatus(c)
		if err != nil {
			return err
		}
		if status == quorumAuthRefused {
			return fmt.Errorf("%w: refused by %s", errQuorumAuth, host)
		}
		done, next, err := sess.Challenge(reply)
		if err != nil {
			return err
		}
		if status == quorumAuthOK {
			if !done {
				return fmt.Errorf("%w: server finished before the client", errQuorumAuth)
			}
			return nil
		}
		token = next
	}
}

func readAuthStatus(c net.Conn) (byte, []byte, error) {
	var st [1]byte
	if _, err := io.ReadFull(c, st[:]); err != nil {
		return 0, nil, err
	}
	token, err := readToken(c)
	return st[0], token, err
}
