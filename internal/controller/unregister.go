package controller

import (
	"context"
	"fmt"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// UnregisterBroker removes broker id's registration (UnregisterBroker,
// api 64), as Kafka's controller does for a broker retired for good: in
// one entry, the broker leaves every ISR and the partitions it led elect
// new leaders (as when it is fenced), and its registration is removed.
// Partitions still listing it as a replica keep it there, offline: move
// them away first (fjord broker drain). A broker that is still running
// registers again at its next heartbeat. BROKER_ID_NOT_REGISTERED when
// there is no such registration.
func (c *Controller) UnregisterBroker(ctx context.Context, id int32) error {
	_, err := decide(ctx, c, func(t *txn) (struct{}, error) {
		img := t.image()
		b, ok := img.Brokers[id]
		if !ok {
			return struct{}{}, fmt.Errorf("%w: broker %d", kerr.BrokerIDNotRegistered, id)
		}
		t.add(c.partitionsWithout(img, id, true)...)
		t.add(metadata.UnregisterBroker{ID: id, Epoch: b.Epoch})
		t.committed(func(uint64) { delete(c.sessions, id) })
		return struct{}{}, nil
	})
	return err
}
