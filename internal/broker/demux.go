package broker

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"
)

// demuxListener splits the controller listener's connections: those that
// open with the quorum transport's magic go to the quorum, the others
// (Kafka protocol) are returned by Accept for the controller's Kafka
// server, with their first bytes put back.
type demuxListener struct {
	net.Listener
	isQuorum   func(first4 []byte) bool
	quorumConn func(net.Conn)
	// tls, if set, wraps every connection in TLS before routing.
	tls *tls.Config
	// admit, if set, authenticates a quorum connection (see
	// quorumauth.go) and returns it positioned at the transport's magic.
	admit func(c net.Conn, first4 []byte) (net.Conn, error)
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newDemuxListener(ln net.Listener, isQuorum func([]byte) bool, quorumConn func(net.Conn)) *demuxListener {
	d := &demuxListener{Listener: ln, isQuorum: isQuorum, quorumConn: quorumConn, conns: make(chan net.Conn), done: make(chan struct{})}
	go d.acceptLoop()
	return d
}

func (d *demuxListener) acceptLoop() {
	for {
		c, err := d.Listener.Accept()
		if err != nil {
			d.Close()
			return
		}
		go d.route(c)
	}
}

// route completes the TLS handshake if any and peeks at the first 4
// bytes (waiting at most 10 s for both).
func (d *demuxListener) route(c net.Conn) {
	var first [4]byte
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if d.tls != nil {
		tc := tls.Server(c, d.tls)
		if tc.Handshake() != nil {
			c.Close()
			return
		}
		c = tc
	}
	if _, err := io.ReadFull(c, first[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	if d.isQuorum(first[:]) || binary.BigEndian.Uint32(first[:]) == quorumAuthMagic {
		d.toQuorum(c, first[:])
		return
	}
	select {
	case d.conns <- kafkaConn(c, first[:]):
	case <-d.done:
		c.Close()
	}
}

// toQuorum hands a transport connection to the quorum once admitted.
func (d *demuxListener) toQuorum(c net.Conn, first4 []byte) {
	if d.admit == nil {
		d.quorumConn(c) // positioned after the magic, as ServeConn expects
		return
	}
	admitted, err := d.admit(c, first4)
	if err != nil {
		c.Close()
		return
	}
	d.quorumConn(admitted)
}

// kafkaConn puts the peeked bytes back; a TLS connection keeps its
// connection state visible to the server (client certificate principal).
func kafkaConn(c net.Conn, first4 []byte) net.Conn {
	p := &prefixConn{Conn: c, prefix: first4}
	if tc, ok := c.(*tls.Conn); ok {
		return &tlsPrefixConn{prefixConn: p, tc: tc}
	}
	return p
}

// tlsPrefixConn is a prefixConn over an established TLS connection.
type tlsPrefixConn struct {
	*prefixConn
	tc *tls.Conn
}

// HandshakeContext is a no-op: the handshake is done.
func (t *tlsPrefixConn) HandshakeContext(ctx context.Context) error {
	return t.tc.HandshakeContext(ctx)
}

// ConnectionState returns the TLS state.
func (t *tlsPrefixConn) ConnectionState() tls.ConnectionState { return t.tc.ConnectionState() }

// Accept returns the next Kafka-protocol connection.
func (d *demuxListener) Accept() (net.Conn, error) {
	select {
	case c := <-d.conns:
		return c, nil
	case <-d.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting.
func (d *demuxListener) Close() error {
	var err error
	d.once.Do(func() {
		close(d.done)
		err = d.Listener.Close()
	})
	return err
}

// prefixConn replays bytes already read before reading from the socket.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
