package quorum

// The Raft transport: TCP connections to the peers' controller listeners.
//
// The controller listener also speaks the Kafka protocol; a Raft
// connection is told apart by its first 4 bytes, TransportMagic, which no
// Kafka frame can start with. After the magic the dialer sends a hello
//
//	uint8 version (1 or 2) | int32 sender node id | int32 receiver node id |
//	uint16 cluster id length | cluster id |
//	version 2: uint16 endpoint length | the sender's controller listener (host:port)
//
// and the receiver answers one status byte (hsOK or why it refuses, then
// closes). A dialer refused with hsBadVersion retries with version 1 (a
// node of an older release). The endpoint lets a node that is joining the
// quorum answer a leader it does not know yet (members.go). After the
// hello the connection is one way, dialer to receiver: frames of uint32
// length | marshalled raftpb.Message. Each node dials each node it sends
// to once (one outbound connection per peer, written by one goroutine fed
// by a bounded queue; peers are started as messages to them appear and
// stopped when they leave the membership) and serves the connections its
// peers dial to it. Any node of the cluster (same cluster id) may dial in:
// a member this node has not learned of yet must be heard. Only nodes
// whose removal this node applied are refused. All integers are big
// endian.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// TransportMagic opens every Raft transport connection: "FJRF". Read as a
// Kafka frame size it would be over 1 GiB, beyond
// socket.request.max.bytes, so no Kafka client sends it.
const TransportMagic uint32 = 0x464A5246

// IsTransport reports whether the first 4 bytes of a connection are
// TransportMagic.
func IsTransport(first4 []byte) bool {
	return len(first4) >= 4 && binary.BigEndian.Uint32(first4) == TransportMagic
}

const (
	transportVersion = 2
	transportV1      = 1
	maxFrame         = 64 << 20 // bounds one message (a snapshot must fit)
	maxClusterID     = 1024
	peerQueueLen     = 1024
	handshakeTimeout = 5 * time.Second
	writeTimeout     = 5 * time.Second
	minBackoff       = 50 * time.Millisecond
	maxBackoff       = time.Second
)

// Handshake status bytes.
const (
	hsOK            byte = 0
	hsClusterID     byte = 1 // INCONSISTENT_CLUSTER_ID
	hsWrongNode     byte = 2 // the receiver is not the node the dialer meant
	hsUnknownSender byte = 3 // the sender is this node or was removed from the quorum
	hsBadVersion    byte = 4
)

var hsNames = map[byte]string{
	hsClusterID:     "INCONSISTENT_CLUSTER_ID",
	hsWrongNode:     "wrong node at this address",
	hsUnknownSender: "sender is not a member here",
	hsBadVersion:    "unsupported transport version",
}

// report is a transport outcome the loop hands to Raft.
type report struct {
	to   uint64
	kind reportKind
}

type reportKind uint8

const (
	reportUnreachable reportKind = iota
	reportSnapFinish
	reportSnapFailure
)

// outMsg is a marshalled, framed message waiting for a peer's writer.
type outMsg struct {
	frame []byte
	snap  bool
}

// peer is the outbound side towards one voter: a bounded queue drained by
// one writer goroutine that (re)connects with backoff.
type peer struct {
	r      *Raft
	id     uint64
	node   int32
	addr   string
	q      chan outMsg
	cancel context.CancelFunc // stops the writer
	v1     bool               // the peer refused hello version 2 (writer goroutine)

	// Owned by the writer goroutine.
	conn net.Conn
	bw   *bufio.Writer
	stop func() bool // unregisters the conn's close-on-shutdown hook
	down bool        // the last attempt failed (logged once per outage)

	seq   uint64        // numbers the connections (writer goroutine)
	ended atomic.Uint64 // the seq of the connection whose end watchClose saw
}

func newPeer(r *Raft, node int32, addr string) *peer {
	return &peer{r: r, id: raftID(node), node: node, addr: addr, q: make(chan outMsg, peerQueueLen)}
}

// peerFor returns the transport to raft id, starting it if needed; nil
// when the node's endpoint is unknown. A peer whose node moved is
// replaced. Loop goroutine.
func (r *Raft) peerFor(id uint64) *peer {
	node := nodeID(id)
	addr := r.addrOf(node)
	p := r.peers[id]
	if p != nil && p.addr == addr {
		return p
	}
	if p != nil {
		p.cancel()
		delete(r.peers, id)
	}
	if addr == "" || id == r.id || r.peerCtx.Err() != nil {
		return nil
	}
	p = newPeer(r, node, addr)
	ctx, cancel := context.WithCancel(r.peerCtx)
	p.cancel = cancel
	r.peers[id] = p
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		p.run(ctx)
	}()
	return p
}

// send marshals the Ready's messages (in the loop, as the raft package
// requires) and queues them without blocking. A full queue drops the
// message and tells Raft the peer is unreachable (after Advance).
func (r *Raft) send(msgs []raftpb.Message) {
	for i := range msgs {
		m := &msgs[i]
		p := r.peerFor(m.To)
		if p == nil {
			r.log.Debug("quorum: no endpoint known for a node; message dropped", "to", nodeID(m.To), "type", m.Type)
			continue
		}
		snap := m.Type == raftpb.MsgSnap
		frame, err := marshalFrame(m)
		if err != nil {
			r.log.Error("quorum: cannot send message", "to", p.node, "type", m.Type, "err", err)
			r.deferFailure(m.To, snap)
			continue
		}
		select {
		case p.q <- outMsg{frame, snap}:
		default:
			r.deferFailure(m.To, snap)
		}
	}
}

func marshalFrame(m *raftpb.Message) ([]byte, error) {
	n := m.Size()
	if n > maxFrame {
		return nil, fmt.Errorf("message of %d bytes exceeds the %d byte frame limit", n, maxFrame)
	}
	frame := make([]byte, 4+n)
	binary.BigEndian.PutUint32(frame, uint32(n))
	if _, err := m.MarshalTo(frame[4:]); err != nil {
		return nil, err
	}
	return frame, nil
}

func (r *Raft) deferFailure(to uint64, snap bool) {
	r.deferred = append(r.deferred, report{to, reportUnreachable})
	if snap {
		r.deferred = append(r.deferred, report{to, reportSnapFailure})
	}
}

// flushReports tells Raft about the sends that failed during the Ready
// just advanced.
func (r *Raft) flushReports() {
	for _, rep := range r.deferred {
		r.report(rep)
	}
	r.deferred = r.deferred[:0]
}

// report hands one transport outcome to Raft. Loop goroutine only.
func (r *Raft) report(rep report) {
	switch rep.kind {
	case reportUnreachable:
		r.rn.ReportUnreachable(rep.to)
	case reportSnapFinish:
		r.rn.ReportSnapshot(rep.to, raft.SnapshotFinish)
	case reportSnapFailure:
		r.rn.ReportSnapshot(rep.to, raft.SnapshotFailure)
	}
}

// run is the peer's writer goroutine. It connects when there is something
// to send; while the peer cannot be reached, queued messages are dropped
// (Raft retransmits) and it waits with exponential backoff.
func (p *peer) run(ctx context.Context) {
	defer p.disconnect()
	backoff := minBackoff
	for {
		var m outMsg
		select {
		case <-ctx.Done():
			return
		case m = <-p.q:
		}
		if p.conn != nil && p.ended.Load() == p.seq {
			p.disconnect()
		}
		if p.conn == nil {
			if err := p.connect(ctx); err != nil {
				p.noteError(err)
				p.fail(ctx, m)
				p.dropQueued(ctx)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff = minBackoff
		}
		p.write(ctx, m)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// noteError logs a connection failure: the first of an outage as a
// warning, retries at debug level.
func (p *peer) noteError(err error) {
	level := slog.LevelDebug
	if !p.down {
		level, p.down = slog.LevelWarn, true
	}
	p.r.log.Log(context.Background(), level, "quorum: cannot reach peer", "peer", p.node, "addr", p.addr, "err", err)
}

// connect dials the peer and performs the handshake.
func (p *peer) connect(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	conn, err := p.r.cfg.Dial(dctx, p.addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	if err := p.handshake(conn); err != nil {
		stop()
		conn.Close()
		return err
	}
	if p.down {
		p.r.log.Info("quorum: connected to peer", "peer", p.node, "addr", p.addr)
		p.down = false
	}
	p.conn, p.stop, p.bw = conn, stop, bufio.NewWriterSize(conn, 64<<10)
	p.seq++
	p.watchClose(conn, p.seq)
	return nil
}

// watchClose notices the end of an outbound connection at once. The
// receiver never writes after the handshake, so a read returns only when
// the connection ends (the peer's process died or restarted); the next
// message then redials instead of going into a dead socket, where the
// first write after a peer's restart would be lost without an error
// (a lost vote would cost an election timeout).
func (p *peer) watchClose(conn net.Conn, seq uint64) {
	p.r.wg.Add(1)
	go func() {
		defer p.r.wg.Done()
		var b [1]byte
		conn.Read(b[:])
		p.ended.Store(seq)
	}()
}

func (p *peer) handshake(conn net.Conn) error {
	cfg := &p.r.cfg
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	version := byte(transportVersion)
	if p.v1 {
		version = transportV1
	}
	hello := binary.BigEndian.AppendUint32(nil, TransportMagic)
	hello = append(hello, version)
	hello = binary.BigEndian.AppendUint32(hello, uint32(cfg.NodeID))
	hello = binary.BigEndian.AppendUint32(hello, uint32(p.node))
	hello = binary.BigEndian.AppendUint16(hello, uint16(len(cfg.ClusterID)))
	hello = append(hello, cfg.ClusterID...)
	if version >= 2 {
		self := p.r.selfEndpoint()
		hello = binary.BigEndian.AppendUint16(hello, uint16(len(self)))
		hello = append(hello, self...)
	}
	if _, err := conn.Write(hello); err != nil {
		return err
	}
	var status [1]byte
	if _, err := io.ReadFull(conn, status[:]); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if status[0] == hsBadVersion && !p.v1 {
		p.v1 = true // an older node: the next attempt speaks version 1
	}
	if status[0] != hsOK {
		return fmt.Errorf("handshake refused: %s", hsName(status[0]))
	}
	return conn.SetDeadline(time.Time{})
}

// selfEndpoint is this node's controller listener as the membership, the
// bootstrap voters or RaftConfig.Addr give it.
func (r *Raft) selfEndpoint() string {
	if e, ok := r.Endpoint(r.cfg.NodeID); ok {
		return e
	}
	return r.cfg.Addr
}

func hsName(b byte) string {
	if s, ok := hsNames[b]; ok {
		return s
	}
	return fmt.Sprintf("status %d", b)
}

// write sends m and whatever else is queued, then flushes. On failure the
// connection is dropped and Raft told; sent snapshots are reported done.
func (p *peer) write(ctx context.Context, m outMsg) {
	batch := []outMsg{m}
	for len(batch) < 256 {
		select {
		case m := <-p.q:
			batch = append(batch, m)
			continue
		default:
		}
		break
	}
	p.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	var err error
	for _, m := range batch {
		if _, err = p.bw.Write(m.frame); err != nil {
			break
		}
	}
	if err == nil {
		err = p.bw.Flush()
	}
	if err != nil {
		p.noteError(err)
		p.disconnect()
		p.fail(ctx, batch...)
		return
	}
	for _, m := range batch {
		if m.snap {
			p.deliver(ctx, report{p.id, reportSnapFinish})
		}
	}
}

func (p *peer) disconnect() {
	if p.conn == nil {
		return
	}
	p.stop()
	p.conn.Close()
	p.conn, p.bw, p.stop = nil, nil, nil
}

// fail reports messages that did not go out.
func (p *peer) fail(ctx context.Context, ms ...outMsg) {
	p.deliver(ctx, report{p.id, reportUnreachable})
	for _, m := range ms {
		if m.snap {
			p.deliver(ctx, report{p.id, reportSnapFailure})
		}
	}
}

// dropQueued discards what is queued while the peer is unreachable.
func (p *peer) dropQueued(ctx context.Context) {
	for {
		select {
		case m := <-p.q:
			if m.snap {
				p.deliver(ctx, report{p.id, reportSnapFailure})
			}
		default:
			return
		}
	}
}

// deliver hands a report to the loop. Snapshot outcomes must arrive (Raft
// waits for them); an unreachable report may be dropped if the loop is
// busy, as another will follow.
func (p *peer) deliver(ctx context.Context, rep report) {
	if rep.kind == reportUnreachable {
		select {
		case p.r.reportc <- rep:
		default:
		}
		return
	}
	select {
	case p.r.reportc <- rep:
	case <-ctx.Done():
	case <-p.r.done:
	}
}

// ServeConn serves one inbound transport connection whose 4-byte magic
// was already read by the listener. It blocks until the connection fails,
// the peer is refused, or r is closed, and always closes conn.
func (r *Raft) ServeConn(conn net.Conn) {
	if !r.track(conn) {
		conn.Close()
		return
	}
	defer r.untrack(conn)
	from, err := r.acceptHello(conn)
	if err != nil {
		r.log.Warn("quorum: refused transport connection", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	r.replaceInbound(conn, from)
	err = r.readFrames(conn, from)
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		r.log.Debug("quorum: transport connection ended", "peer", from, "err", err)
	}
	if !r.isClosed() {
		r.leaderConnLost(from)
	}
}

func (r *Raft) track(conn net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.inbound[conn] = -1
	r.wg.Add(1)
	return true
}

// replaceInbound records that conn is from node from and closes any older
// connection from it: the peer redialled, so the old one is dead or
// half-open.
func (r *Raft) replaceInbound(conn net.Conn, from int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, node := range r.inbound {
		if node == from && c != conn {
			c.Close()
		}
	}
	r.inbound[conn] = from
}

func (r *Raft) untrack(conn net.Conn) {
	conn.Close()
	r.mu.Lock()
	delete(r.inbound, conn)
	r.mu.Unlock()
	r.wg.Done()
}

// acceptHello reads and checks the dialer's hello and answers it. It
// returns the sender's node id.
func (r *Raft) acceptHello(conn net.Conn) (int32, error) {
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	var hdr [9]byte // version, sender, receiver
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return 0, err
	}
	from := int32(binary.BigEndian.Uint32(hdr[1:]))
	to := int32(binary.BigEndian.Uint32(hdr[5:]))
	cid, err := readString(conn, maxClusterID)
	if err != nil {
		return 0, fmt.Errorf("cluster id: %w", err)
	}
	var endpoint string
	if hdr[0] == transportVersion {
		if endpoint, err = readString(conn, maxEndpointLen); err != nil {
			return 0, fmt.Errorf("endpoint: %w", err)
		}
	}
	status := r.checkHello(hdr[0], from, to, cid)
	if status == hsOK && endpoint != "" && checkEndpoint(endpoint) == nil {
		r.mu.Lock()
		r.hints[from] = endpoint
		r.mu.Unlock()
	}
	if _, err := conn.Write([]byte{status}); err != nil {
		return 0, err
	}
	if status != hsOK {
		return 0, fmt.Errorf("%s (peer %d, cluster id %q, ours %q)", hsName(status), from, cid, r.cfg.ClusterID)
	}
	return from, conn.SetDeadline(time.Time{})
}

// readString reads a uint16 length and that many bytes, at most limit.
func readString(conn net.Conn, limit int) (string, error) {
	var n [2]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return "", err
	}
	l := int(binary.BigEndian.Uint16(n[:]))
	if l > limit {
		return "", fmt.Errorf("%d bytes", l)
	}
	b := make([]byte, l)
	if _, err := io.ReadFull(conn, b); err != nil {
		return "", err
	}
	return string(b), nil
}

func (r *Raft) checkHello(version byte, from, to int32, clusterID string) byte {
	r.mu.Lock()
	removed := r.members.removed[from]
	r.mu.Unlock()
	switch {
	case version != transportVersion && version != transportV1:
		return hsBadVersion
	case clusterID != r.cfg.ClusterID:
		return hsClusterID
	case to != r.cfg.NodeID:
		return hsWrongNode
	case removed || from == r.cfg.NodeID || from < 0:
		return hsUnknownSender
	}
	return hsOK
}

// readFrames reads messages from node from and hands them to the loop. A
// frame of a bad size, an undecodable message, or one not from that peer
// to this node ends the connection.
func (r *Raft) readFrames(conn net.Conn, from int32) error {
	br := bufio.NewReaderSize(conn, 64<<10)
	var buf []byte
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || n > maxFrame {
			return fmt.Errorf("frame of %d bytes", n)
		}
		if uint32(cap(buf)) < n {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return err
		}
		var m raftpb.Message
		if err := m.Unmarshal(buf[:n]); err != nil {
			return err
		}
		if m.From != raftID(from) || m.To != r.id {
			return fmt.Errorf("message from %d to %d on a connection from node %d", m.From, m.To, from)
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a snapshot-sized buffer around
		}
		select {
		case r.recvc <- m:
		case <-r.stopc:
			return net.ErrClosed
		case <-r.done:
			return net.ErrClosed
		}
	}
}
