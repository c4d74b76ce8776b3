package ctlclient

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Brokers reaches brokers (this node included) by node id on their
// inter-broker listener: transaction coordinators sending markers to
// partition leaders, partition leaders asking coordinators to verify a
// transaction. One connection per broker address, kept. It is safe for
// concurrent use.
type Brokers struct {
	c    *Client
	addr func(id int32) (string, bool)
}

// NewBrokers returns a client of the brokers whose inter-broker listener
// address addr looks up (in the current metadata); opts secure the
// connections as that listener needs.
func NewBrokers(addr func(id int32) (string, bool), clientID string, opts ...kgo.Opt) *Brokers {
	return &Brokers{c: New(nil, func() int32 { return -1 }, clientID, opts...), addr: addr}
}

// Request sends req to broker id and returns its response.
func (b *Brokers) Request(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	addr, ok := b.addr(id)
	if !ok {
		return nil, fmt.Errorf("ctlclient: broker %d has no known inter-broker address", id)
	}
	return b.c.sendTo(ctx, addr, req)
}

// Close closes every connection.
func (b *Brokers) Close() { b.c.Close() }
