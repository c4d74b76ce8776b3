// Package broker is the composition root of a Fjord node: it wires the
// storage manager, the metadata log and controller, the partition
// replicas, the handlers and the protocol server together, and reconciles
// metadata changes into local replicas (create, update, delete).
package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/handlers"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/quorum"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/fjordlog/fjord/internal/storage"
)

// Broker is one running node.
type Broker struct {
	cfg    *config.Broker
	nodeID int32
	logger *slog.Logger

	logs   *storage.Manager
	meta   *quorum.Local
	ctrl   *controller.Controller
	srv    *server.Server
	img    atomic.Pointer[metadata.Image]
	parts  sync.Map // storage.TopicPartition -> *partition.Partition
	lns    []net.Listener
	addrs  []Listener
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

// Start opens the node's storage, replays its metadata, starts the
// controller, registers itself, and begins serving clients.
func Start(cfg *config.Broker, logger *slog.Logger) (*Broker, error) {
	b := &Broker{cfg: cfg, nodeID: int32(cfg.Int("node.id")), logger: logger, stop: make(chan struct{})}
	if err := b.open(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) open() error {
	dirs := logDirs(b.cfg)
	metaDir := b.cfg.String("metadata.log.dir")
	if metaDir == "" {
		metaDir = dirs[0]
	}
	clusterID, err := checkMeta(append([]string{metaDir}, dirs...), b.nodeID, b.cfg.String("cluster.id"))
	if err != nil {
		return err
	}
	if b.logs, err = storage.OpenManager(dirs, b.logger, time.Now); err != nil {
		return err
	}
	if err := b.openMetadata(filepath.Join(metaDir, "__cluster_metadata-0")); err != nil {
		return err
	}
	ctx := context.Background()
	if err := b.ctrl.Bootstrap(ctx, clusterID); err != nil {
		return err
	}
	if err := b.listen(); err != nil {
		return err
	}
	if _, err := b.ctrl.RegisterBroker(ctx, b.registration()); err != nil {
		return err
	}
	b.startLoops()
	return nil
}

// logDirs returns log.dirs, or log.dir when log.dirs is not set.
func logDirs(cfg *config.Broker) []string {
	if cfg.Source("log.dirs") != config.SourceStaticBroker && cfg.String("log.dir") != "" {
		return []string{cfg.String("log.dir")}
	}
	return cfg.List("log.dirs")
}

// openMetadata replays the metadata log into the first image, reconciles
// local replicas from it, and starts the controller over the log.
func (b *Broker) openMetadata(dir string) error {
	log, entries, err := quorum.OpenLocal(dir)
	if err != nil {
		return err
	}
	b.meta = log
	recs := make([]metadata.Record, len(entries))
	for i, e := range entries {
		if recs[i], err = metadata.Decode(e.Data); err != nil {
			return fmt.Errorf("metadata log entry %d: %w", e.Offset, err)
		}
	}
	img, _, err := metadata.Empty().Apply(0, recs)
	if err != nil {
		return err
	}
	b.publish(img, fullDelta(img))
	b.ctrl = controller.New(controller.Options{
		Config: b.cfg, Log: log, Publish: b.publish, Logger: b.logger, Image: img, NewID: randomID,
	})
	go b.ctrl.Run()
	return nil
}

func randomID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return id
}

// fullDelta is a delta that touches every partition of img, for the first
// reconciliation after a restart.
func fullDelta(img *metadata.Image) *metadata.Delta {
	d := &metadata.Delta{ChangedPartitions: map[metadata.UUID]map[int32]bool{}}
	for id, t := range img.Topics {
		m := map[int32]bool{}
		for i := range t.Partitions {
			m[int32(i)] = true
		}
		d.ChangedPartitions[id] = m
	}
	return d
}

func (b *Broker) registration() controller.Registration {
	names := b.cfg.List("controller.listener.names")
	adv, _ := ParseListeners(b.cfg.List("advertised.listeners"))
	return controller.Registration{ID: b.nodeID, Endpoints: endpoints(b.addrs, adv, names), Rack: b.cfg.String("broker.rack")}
}

// listen binds every client listener (controller listeners are bound by
// the controller quorum once it talks over the network) and serves it.
func (b *Broker) listen() error {
	all, err := ParseListeners(b.cfg.List("listeners"))
	if err != nil {
		return err
	}
	h := handlers.New(handlers.Deps{
		NodeID: b.nodeID, Config: b.cfg, Image: b.Image, Partitions: b, Admin: b.ctrl,
		ControllerID: func() int32 { return b.nodeID }, Logger: b.logger,
	})
	b.srv = server.New(server.Config{
		MaxRequestBytes: int32(b.cfg.Int("socket.request.max.bytes")), Logger: b.logger,
	}, h)
	names := b.cfg.List("controller.listener.names")
	for _, l := range all {
		if isControllerListener(l.Name, names) {
			continue
		}
		if err := b.serve(l); err != nil {
			return err
		}
	}
	if len(b.addrs) == 0 {
		return errors.New("no client listener configured")
	}
	return nil
}

func (b *Broker) serve(l Listener) error {
	ln, err := net.Listen("tcp", l.Addr())
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.Name, err)
	}
	bound := l
	bound.Port = int32(ln.Addr().(*net.TCPAddr).Port)
	b.lns, b.addrs = append(b.lns, ln), append(b.addrs, bound)
	b.logger.Info("listening", "listener", l.Name, "addr", ln.Addr().String())
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		_ = b.srv.Serve(ln, l.Name)
	}()
	return nil
}

// Addr returns the bound address of the named listener ("" if none).
func (b *Broker) Addr(name string) string {
	for _, l := range b.addrs {
		if l.Name == name {
			return l.Addr()
		}
	}
	return ""
}

// Image returns the latest published metadata image.
func (b *Broker) Image() *metadata.Image { return b.img.Load() }

// Partition implements handlers.Partitions.
func (b *Broker) Partition(topic string, index int32) *partition.Partition {
	p, ok := b.parts.Load(storage.TopicPartition{Topic: topic, Partition: index})
	if !ok {
		return nil
	}
	return p.(*partition.Partition)
}

// Close stops serving, stops the controller, and closes every log cleanly
// (checkpoints and the clean-shutdown marker), so the next start skips
// recovery.
func (b *Broker) Close() error {
	var err error
	b.closed.Do(func() {
		close(b.stop)
		if b.srv != nil {
			_ = b.srv.Close()
		}
		b.wg.Wait()
		if b.ctrl != nil {
			b.ctrl.Stop()
		}
		if b.logs != nil {
			err = b.logs.Close(b.highWatermarks())
		}
		if b.meta != nil {
			_ = b.meta.Close()
		}
	})
	return err
}

func (b *Broker) highWatermarks() map[storage.TopicPartition]int64 {
	hws := map[storage.TopicPartition]int64{}
	b.parts.Range(func(k, v any) bool {
		hws[k.(storage.TopicPartition)] = v.(*partition.Partition).HighWatermark()
		return true
	})
	return hws
}
