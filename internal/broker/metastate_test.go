package broker

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/fjordlog/fjord/internal/metadata"
)

// An entry of a newer record version is not skipped (this node's image
// would fall behind every other's): the node is told to halt.
func TestMetaStateHaltsOnNewerRecordVersion(t *testing.T) {
	m := newMetaState(slog.New(slog.DiscardHandler), func(*metadata.Image, *metadata.Delta) {})
	m.Apply(1, []byte(`[{"type":"ClusterId","v":1,"data":{"id":"c"}}]`))
	m.Apply(2, []byte(`[{"type":"Topic","v":99,"data":{"name":"t"}}]`))
	select {
	case err := <-m.Failed():
		if !errors.Is(err, metadata.ErrNewerVersion) {
			t.Fatalf("failure %v, want ErrNewerVersion", err)
		}
	default:
		t.Fatal("no failure reported")
	}
	if got := m.Applied(); got.Offset != 1 || got.ClusterID != "c" {
		t.Fatalf("applied image at %d (%q), want the entry before the newer one", got.Offset, got.ClusterID)
	}
}
