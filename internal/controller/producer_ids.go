package controller

import (
	"context"
	"fmt"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ProducerIDBlockSize is how many producer ids a broker gets per
// AllocateProducerIds call, as in Kafka.
const ProducerIDBlockSize = 1000

// AllocateProducerIDs hands broker a block of producer ids unique across
// the cluster and across controller failover: the next free id lives in
// the metadata log (a ProducerIds record), so a new active controller
// continues after the last block ever handed out.
func (c *Controller) AllocateProducerIDs(ctx context.Context, broker int32, brokerEpoch int64) (int64, int32, error) {
	start, err := decide(ctx, c, func(t *txn) (int64, error) {
		img := t.image()
		b, ok := img.Brokers[broker]
		if !ok || b.Epoch != brokerEpoch || b.Fenced {
			return 0, fmt.Errorf("%w: broker %d epoch %d", kerr.StaleBrokerEpoch, broker, brokerEpoch)
		}
		start := img.NextProducerID
		t.add(metadata.ProducerIDs{BrokerID: broker, BrokerEpoch: brokerEpoch, NextID: start + ProducerIDBlockSize})
		return start, nil
	})
	return start, ProducerIDBlockSize, err
}
