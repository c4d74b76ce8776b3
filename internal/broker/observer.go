package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordlog/fjord/internal/ctlclient"
)

// Broker-only nodes (process.roles=broker) are observers of the metadata
// quorum: they fetch the committed log from the voters' controller
// listeners and replay it, as Kafka's brokers do, and reach the active
// controller (named in each fetch response) for registration, heartbeats
// and forwarded admin requests.

// observerBackoff spaces retries after a failed metadata fetch.
const observerBackoff = 200 * time.Millisecond

// startObserver starts following the metadata log from the voters.
func (b *Broker) startObserver() error {
	if len(b.voters) == 0 {
		return errors.New("a broker-only node needs controller.quorum.voters")
	}
	b.observedLeader.Store(-1)
	book := &controllerBook{static: b.voters}
	b.ctl = ctlclient.NewLookup(book.lookup, b.observedLeader.Load, fmt.Sprintf("fjord-node-%d", b.nodeID), b.ctlOpts...)
	b.wg.Add(1)
	go b.observe(&b.observedLeader, book)
	return nil
}

// observe fetches and replays the metadata log until stop, from the
// quorum leader once a response names it, moving to the next voter
// whenever one fails. A leader controller.quorum.voters does not list
// (the voters changed: 80_add_raft_voter.go) is looked up in the voters'
// DescribeQuorum answer (controllerBook).
func (b *Broker) observe(leader *atomic.Int32, book *controllerBook) {
	defer b.wg.Done()
	ids := make([]int32, 0, len(b.voters))
	for id := range b.voters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	next := uint64(1)
	asked := int32(-1) // the leader last looked up
	for i := 0; !b.stopping(); {
		from := ids[i%len(ids)]
		chunk, err := b.fetchMetadata(b.voters[from], next)
		if err != nil {
			i++
			b.sleep(observerBackoff)
			continue
		}
		if chunk.Leader >= 0 {
			leader.Store(chunk.Leader)
			if j := slices.Index(ids, chunk.Leader); j >= 0 {
				i = j // fetch from the leader, as Kafka's observers do: it lists them (DescribeQuorum)
			} else if _, known := book.lookup(chunk.Leader); !known && asked != chunk.Leader && b.learnControllers(from, book) {
				asked = chunk.Leader // once per leader; a failed look-up is retried at the next fetch
			}
		}
		next = b.replay(chunk, next)
	}
}

// controllerBook is where a broker-only node finds each controller:
// controller.quorum.voters, and the voters' listeners a voter named in
// DescribeQuorum (they change with AddRaftVoter and RemoveRaftVoter).
type controllerBook struct {
	static map[int32]string // controller.quorum.voters; read-only

	mu      sync.Mutex
	learned map[int32]string
}

func (c *controllerBook) lookup(id int32) (string, bool) {
	c.mu.Lock()
	a, ok := c.learned[id]
	c.mu.Unlock()
	if ok {
		return a, true
	}
	a, ok = c.static[id]
	return a, ok
}

// learnControllers asks voter from for the voters' controller listeners
// (which a voter that does not lead names too) and records them. It
// reports whether the voter answered.
func (b *Broker) learnControllers(from int32, book *controllerBook) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	learned, err := b.ctl.ControllerEndpoints(ctx, b.voters[from])
	if err != nil {
		b.logger.Warn("cannot look up the controllers' listeners", "voter", from, "err", err)
		return false
	}
	book.mu.Lock()
	book.learned = learned
	book.mu.Unlock()
	b.logger.Info("learned the controllers' listeners from a voter", "voter", from, "controllers", learned)
	return true
}

func (b *Broker) fetchMetadata(addr string, from uint64) (ctlclient.MetadataChunk, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return b.ctl.FetchMetadata(ctx, addr, b.nodeID, from, 500)
}

// replay applies a fetched chunk and returns the next index to fetch.
func (b *Broker) replay(c ctlclient.MetadataChunk, next uint64) uint64 {
	if c.Snapshot != nil {
		if err := b.meta.Restore(c.SnapshotIndex, c.Snapshot); err != nil {
			b.logger.Error("cannot restore metadata snapshot", "index", c.SnapshotIndex, "err", err)
			return next
		}
		return c.SnapshotIndex + 1
	}
	for _, e := range c.Entries {
		if e.Index != next {
			b.logger.Warn("metadata entries out of order; fetching again", "want", next, "got", e.Index)
			return next
		}
		if e.Data != nil {
			b.meta.Apply(e.Index, e.Data)
		}
		next = e.Index + 1
	}
	return next
}
