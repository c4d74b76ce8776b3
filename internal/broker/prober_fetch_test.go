package broker

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/fjordlog/fjord/internal/controller"
	"github.com/fjordlog/fjord/internal/metadata"
)

// otherLeads is a metadata log led by another node: its controller is
// not active here.
type otherLeads struct{ controller.Log }

func (otherLeads) Leader() (int32, uint64) { return 3, 1 }

func (otherLeads) LeaderReady(context.Context) (uint64, error) { return 0, nil }

// A follower fetcher that cannot reach its leader queues a probe of the
// leader's registration; on a node whose controller is not active the
// probe settles without fencing anything (only the active controller
// fences).
func TestFetchFailureSuspectsLeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close() // nothing listens there: a probe would prove the process gone
	meta := newMetaState(slog.New(slog.DiscardHandler), func(*metadata.Image, *metadata.Delta) {})
	meta.Apply(7, mustBatch(t, metadata.RegisterBroker{ID: 2,
		Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: int32(addr.Port)}}}))
	var logs strings.Builder
	ctrl := controller.New(controller.Options{NodeID: 1, Log: otherLeads{}})
	go ctrl.Run()
	defer ctrl.Stop()
	b := &Broker{nodeID: 1, meta: meta, suspects: make(chan suspect, 1), ctrl: ctrl,
		logger: slog.New(slog.NewTextHandler(&logs, nil))}

	b.onLeaderUnreachable(2)
	s := <-b.suspects
	if s.id != 2 || s.epoch != 7 || !s.fromFetch {
		t.Fatalf("suspect %+v, want broker 2 epoch 7 from a fetcher", s)
	}
	if !b.probe(s) {
		t.Fatal("probe on an inactive controller's node left the question open")
	}
	if strings.Contains(logs.String(), "fencing") {
		t.Fatalf("the inactive controller's node tried to fence: %s", logs.String())
	}
	b.onLeaderUnreachable(9) // unknown broker: nothing to probe
	select {
	case s := <-b.suspects:
		t.Fatalf("unexpected suspect %+v", s)
	default:
	}
}

func mustBatch(t *testing.T, recs ...metadata.Record) []byte {
	t.Helper()
	b, err := metadata.EncodeBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
