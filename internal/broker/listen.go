package broker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/ctlclient"
	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/quorum"
	"github.com/fjordlog/fjord/internal/sasl"
	"github.com/fjordlog/fjord/internal/server"
)

// quorumLog is the metadata quorum as the broker uses it.
type quorumLog interface {
	controller.Log
	Close() error
	// LeaderGone: see quorum.Raft.LeaderGone.
	LeaderGone(node int32, term uint64)
}

// ParseVoters parses controller.quorum.voters: "1@host:port,2@host:port".
func ParseVoters(items []string) (map[int32]string, error) {
	out := map[int32]string{}
	for _, item := range items {
		id, addr, ok := strings.Cut(item, "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("controller.quorum.voters entry %q: expected id@host:port", item)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controller.quorum.voters entry %q: %w", item, err)
		}
		out[int32(n)] = addr
	}
	return out, nil
}

// votersClusterID derives a cluster id from the voter set.
func votersClusterID(voters map[int32]string) string {
	ids := make([]int32, 0, len(voters))
	for id := range voters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%d@%s,", id, voters[id])
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// listen binds every listener, starts the quorum and the controller (on
// controller nodes), and serves clients and the controller listener.
func (b *Broker) listen(all []Listener) error {
	names := b.cfg.List("controller.listener.names")
	var ctrlLn net.Listener
	for _, l := range all {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		bound := l
		bound.Port = int32(ln.Addr().(*net.TCPAddr).Port)
		b.lns, b.addrs = append(b.lns, ln), append(b.addrs, bound)
		if isControllerListener(l.Name, names) {
			ctrlLn = ln
		}
	}
	if err := b.startQuorum(ctrlLn); err != nil {
		return err
	}
	return b.serveAll(names)
}

// startQuorum joins the metadata quorum and starts the controller.
func (b *Broker) startQuorum(ctrlLn net.Listener) error {
	isController := slicesContains(b.cfg.List("process.roles"), "controller")
	if !isController {
		return b.startObserver()
	}
	if len(b.voters) == 0 {
		addr := ""
		if ctrlLn != nil {
			addr = ctrlLn.Addr().String()
		}
		b.voters = map[int32]string{b.nodeID: addr}
	}
	if _, ok := b.voters[b.nodeID]; !ok {
		b.logger.Info("node.id is not among controller.quorum.voters: joining the quorum (add this controller with fjord quorum add)", "node", b.nodeID)
	}
	b.suspects = make(chan suspect, probeQueue) // before the quorum, which may suspect its leader
	q, err := b.openQuorum()
	if err != nil {
		return err
	}
	b.quorum = q
	b.ctrl = controller.New(controller.Options{
		NodeID: b.nodeID, Config: b.cfg, Log: q, Image: b.meta.Applied, Logger: b.logger,
		NewID: randomID, Now: b.now, ClusterID: b.clusterID, TickInterval: 250 * time.Millisecond,
		OnUnclean:  func(n int) { b.metrics.unclean.Add(float64(n)) },
		OnActivate: b.suspectAll,
	})
	b.startProber()
	go b.ctrl.Run()
	b.ctl = ctlclient.NewLookup(b.controllerAddr, b.ctrl.ActiveID, fmt.Sprintf("fjord-node-%d", b.nodeID), b.ctlOpts...)
	return nil
}

// openQuorum joins the Raft quorum of controller.quorum.voters (this
// node alone when none are configured).
func (b *Broker) openQuorum() (quorumLog, error) {
	cfg := quorum.RaftConfig{
		NodeID: b.nodeID, Voters: b.voters, Dir: b.metaDir, ClusterID: b.clusterID,
		Logger: b.logger, OnLeaderConnLost: b.onLeaderConnLost, Addr: b.quorumAddr(),
	}
	if b.controllerSecured() {
		cfg.Dial = b.dialQuorum
	}
	r, err := quorum.StartRaft(cfg, b.meta)
	if err != nil {
		return nil, err
	}
	return raftQuorum{r}, nil
}

// raftQuorum adapts the Raft quorum to the controller's Log.
type raftQuorum struct{ *quorum.Raft }

func (r raftQuorum) Leader() (int32, uint64) { return r.Raft.Leader(), r.Raft.Term() }

// ReadMetadata implements handlers.MetadataLog for observers.
func (r raftQuorum) ReadMetadata(ctx context.Context, from uint64, maxBytes int, wait time.Duration) (handlers.MetadataChunk, error) {
	c, err := r.ReadCommitted(from, uint64(maxBytes))
	if err == nil && c.Snapshot == nil && len(c.Entries) == 0 && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		if r.WaitApplied(wctx, from) == nil {
			c, err = r.ReadCommitted(from, uint64(maxBytes))
		}
		cancel()
	}
	out := handlers.MetadataChunk{Snapshot: c.Snapshot, SnapshotIndex: c.SnapshotIndex}
	for _, e := range c.Entries {
		out.Entries = append(out.Entries, handlers.MetadataEntry{Index: e.Index, Data: e.Data})
	}
	return out, err
}

// Applied implements handlers.MetadataLog.
func (r raftQuorum) Applied() uint64 { return r.AppliedIndex() }

// quorumDemux splits the controller listener between the quorum
// transport and the controller's Kafka server. On a secured listener the
// demultiplexer runs the TLS handshake (sec.TLS is then cleared for the
// Kafka server, which gets established TLS connections) and admits only
// authenticated, authorized transport connections (quorumauth.go).
func (b *Broker) quorumDemux(ln net.Listener, sec *server.Security, h *handlers.Handlers, listener string) net.Listener {
	rq, ok := b.quorum.(raftQuorum)
	if !ok {
		return ln
	}
	d := newDemuxListener(ln, quorum.IsTransport, rq.ServeConn)
	if sec.TLS != nil || sec.SASL {
		d.tls, sec.TLS = sec.TLS, nil
		g := &quorumGuard{sec: *sec, authz: b.authz, image: b.meta.Image,
			exchange: func(m string) (sasl.Exchange, error) { return h.SASLExchange(listener, m) }}
		d.admit = g.admit
	}
	return d
}

// serveAll starts the protocol servers on the bound listeners.
func (b *Broker) serveAll(controllerNames []string) error {
	deps := handlers.Deps{
		NodeID: b.nodeID, Config: b.cfg, Image: b.meta.Image, Partitions: b, Authorizer: b.authz,
		Forwarder: b.ctl, WaitMetadata: b.meta.WaitOffset, Logger: b.logger, Observe: b.observeRequest,
		ProducerIDs: b.pids, Groups: b.groups, Transactions: b.txns, Brokers: b.brokers, Now: b.now,
		Throttle: leaderThrottle{b.leaderThrottle},
	}
	if b.quotas != nil { // a nil *clientQuotas must not become a non-nil interface
		deps.Quotas = b.quotas
	}
	if b.ctrl != nil { // a nil *Controller must not become a non-nil interface
		deps.Controller = b.ctrl
	} else {
		deps.ActiveController = b.observedLeader.Load
	}
	if rq, ok := b.quorum.(raftQuorum); ok {
		deps.MetadataLog = rq
		deps.Quorum = quorumDescriber{raft: rq.Raft, listener: b.controllerListener()}
		deps.Observers = &handlers.Observers{}
	}
	overrides, err := server.ResolveIPOverrides(context.Background(), b.cfg.HostCounts("max.connections.per.ip.overrides"))
	if err != nil {
		return err
	}
	perIP := int(b.cfg.Int("max.connections.per.ip"))
	if perIP == 0 { // Kafka's 0: only the overrides' addresses may connect
		if len(overrides) == 0 {
			return errors.New("max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set")
		}
		perIP = -1
	}
	perListener := map[string]int{} // listener.name.<l>.max.connections, else max.connections, as in Kafka
	for _, l := range b.addrs {
		perListener[l.Name], _ = strconv.Atoi(b.cfg.ForListener(l.Name, "max.connections"))
	}
	srvCfg := server.Config{MaxRequestBytes: int32(b.cfg.Int("socket.request.max.bytes")), Logger: b.logger,
		MaxQueuedRequestBytes: b.cfg.Int("queued.max.request.bytes"),
		IdleTimeout:           time.Duration(b.cfg.Int("connections.max.idle.ms")) * time.Millisecond,
		MaxConnections:        int(b.cfg.Int("max.connections")), MaxListenerConnections: perListener,
		InterBrokerListener: b.cfg.String("inter.broker.listener.name"),
		MaxConnectionsPerIP: perIP, MaxConnectionsPerIPOverrides: overrides}
	b.srv = server.New(srvCfg, handlers.New(deps))
	ctrlHandlers := handlers.NewController(deps)
	ctrlCfg := srvCfg
	ctrlCfg.OnClose = b.onControllerConnClosed
	b.ctrlSrv = server.New(ctrlCfg, ctrlHandlers)
	clients := 0
	for i, l := range b.addrs {
		ln, srv, gate := b.lns[i], b.srv, b.ready
		sec, err := b.listenerSecurity(l.Name)
		if err != nil {
			return err
		}
		b.logger.Info("listening", "listener", l.Name, "addr", l.Addr(), "tls", sec.TLS != nil, "sasl", sec.SASL)
		if isControllerListener(l.Name, controllerNames) {
			srv, gate = b.ctrlSrv, nil
			ln = b.quorumDemux(ln, &sec, ctrlHandlers, l.Name)
		} else {
			clients++
		}
		b.wg.Add(1)
		go func(ln net.Listener, name string, sec server.Security) {
			defer b.wg.Done()
			if gate != nil { // serve clients once unfenced (see Broker.ready)
				select {
				case <-gate:
				case <-b.stop:
					ln.Close()
					return
				}
			}
			_ = srv.ServeSecure(ln, name, sec)
		}(ln, l.Name, sec)
	}
	if clients == 0 {
		return errors.New("no client listener configured")
	}
	return nil
}
