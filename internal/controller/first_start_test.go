package controller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/fakeclock"
	"github.com/fjordlog/fjord/internal/metadata"
)

// warnings is an slog handler that keeps the messages of warnings.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// count returns how many warnings contain s.
func (w *warnings) count(s string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

const uncleanWarning = "unclean shutdown"

// A new broker's log dirs have no clean-shutdown marker, so it registers
// as after an unclean shutdown (PreviousBrokerEpoch -1) — as in Kafka,
// where a broker without the marker file sends -1. Its first registration
// is a start, not a restart: no warning (and no records: it is in no ISR
// or ELR). A broker the cluster knows that comes back without its marker
// still is a restart after a crash: the warning, and it leaves the ISR
// and ELR where others hold the committed records.
func TestFirstStartIsNotAnUncleanRestart(t *testing.T) {
	w := &warnings{}
	cfg, err := config.NewBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{clock: fakeclock.New(time.Unix(1000, 0)), epochs: map[int32]int64{}}
	h.log = &memLog{img: metadata.Empty(), leader: 1, term: 1, publish: func(img *metadata.Image) { h.images = append(h.images, img) }}
	n := byte(0)
	h.c = New(Options{
		NodeID: 1, Config: cfg, Log: h.log, Image: func() *metadata.Image { return h.log.img },
		NewID: func() [16]byte { n++; return [16]byte{n} }, Now: h.clock.Now, Logger: slog.New(w),
	})
	go h.c.Run()
	t.Cleanup(h.c.Stop)
	for id := int32(1); id <= 3; id++ {
		h.register(t, id, fmt.Sprint("first", id))
	}
	if got := w.count(uncleanWarning); got != 0 {
		t.Fatalf("first registrations of new brokers logged %d unclean-restart warnings: %q", got, w.msgs)
	}

	createTopicOn(t, h, "t", [][]int32{{1, 2, 3}}, map[string]string{"min.insync.replicas": "2"})
	h.shrinkTo(t, "t", 1) // ELR [2 3]
	h.expire(t, 1)        // 2 and 3 die: still ELR
	h.expire(t)           // then 1: leaderless
	want(t, "all fenced", h.partition(t, "t"), -1, []int32{1}, []int32{2, 3})
	h.rejoin(t, 1, true) // a crash: back without its marker
	want(t, "unclean return", h.partition(t, "t"), -1, []int32{2, 3}, nil)
	if got := w.count(uncleanWarning); got != 1 {
		t.Fatalf("unclean restart of a known broker logged %d warnings, want 1: %q", got, w.msgs)
	}
}

// register registers broker id for the first time as a broker without a
// clean-shutdown marker does, and heartbeats it until unfenced.
func (h *harness) register(t *testing.T, id int32, incarnation string) {
	t.Helper()
	ctx := context.Background()
	epoch, err := h.c.RegisterBroker(ctx, Registration{ID: id, Incarnation: incarnation, UncleanShutdown: true})
	if err != nil {
		t.Fatal(err)
	}
	h.epochs[id] = epoch
	if res, err := h.c.BrokerHeartbeat(ctx, Heartbeat{ID: id, Epoch: epoch, MetadataOffset: epoch}); err != nil || res.IsFenced {
		t.Fatalf("heartbeat of new broker %d: %+v %v", id, res, err)
	}
}
