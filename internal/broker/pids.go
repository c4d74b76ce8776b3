package broker

import (
	"context"
	"errors"
	"sync"
)

// producerIDs hands out producer ids from blocks the active controller
// allocates (AllocateProducerIds), fetching a new block when one runs out.
// Ids are unique cluster-wide and never reused, even across restarts and
// controller failover, since blocks are recorded in the metadata log.
type producerIDs struct {
	b *Broker

	mu   sync.Mutex
	next int64
	end  int64
}

// NextProducerID implements handlers.ProducerIDs.
func (p *producerIDs) NextProducerID(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		start, n, err := p.allocate(ctx)
		if err != nil {
			return 0, err
		}
		p.next, p.end = start, start+int64(n)
	}
	id := p.next
	p.next++
	return id, nil
}

func (p *producerIDs) allocate(ctx context.Context) (int64, int32, error) {
	b := p.b
	epoch := b.epoch.Load()
	if epoch == 0 {
		return 0, 0, errors.New("broker not registered yet")
	}
	if b.ctrl != nil && b.ctrl.IsActive() {
		return b.ctrl.AllocateProducerIDs(ctx, b.nodeID, epoch)
	}
	return b.ctl.AllocateProducerIDs(ctx, b.nodeID, epoch)
}
