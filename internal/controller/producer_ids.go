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
	type result struct {
		start int64
		err   error
	}
	res, err := activeCmd(ctx, c, func() result {
		b, ok := c.image().Brokers[broker]
		if !ok || b.Epoch != brokerEpoch || b.Fenced {
			return result{err: fmt.Errorf("%w: broker %d epoch %d", kerr.StaleBrokerEpoch, broker, brokerEpoch)}
		}
		start := c.image().NextProducerID
		rec := metadata.ProducerIDs{BrokerID: broker, BrokerEpoch: brokerEpoch, NextID: start + ProducerIDBlockSize}
		_, err := c.commit(context.Background(), []metadata.Record{rec})
		return result{start, err}
	})
	if err == nil {
		err = res.err
	}
	return res.start, ProducerIDBlockSize, err
}
