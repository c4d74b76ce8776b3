package broker

import (
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
	conns      chan net.Conn
	done       chan struct{}
	once       sync.Once
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

// route peeks at the first 4 bytes (waiting at most 10 s for them).
func (d *demuxListener) route(c net.Conn) {
	var first [4]byte
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, first[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if d.isQuorum(first[:]) {
		d.quorumConn(c)
		return
	}
	select {
	case d.conns <- &prefixConn{Conn: c, prefix: first[:]}:
	case <-d.done:
		c.Close()
	}
}

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
