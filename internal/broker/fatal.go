package broker

import (
	"errors"
	"fmt"

	"github.com/fjordlog/fjord/internal/quorum"
)

// Fatal returns a channel that receives the error when the node can no
// longer run safely: a log dir failed (a write, fsync or checkpoint
// failed, e.g. on a full disk; storage.Manager.Failed) or the metadata
// quorum stopped on an error (its WAL could not be written). Kafka halts
// the broker then (Exit.halt: no controlled shutdown, no clean-shutdown
// marker, so the next start recovers its logs), and so must the owner
// of the process (`fjord server` exits with status 1): a broker that stays
// up with a stopped log keeps its leaderships and its ISR memberships,
// and no other replica takes over until it is gone. Fjord has no way yet
// to report one failed log dir of several to the controller (Kafka's
// JBOD support), so any failed log dir is fatal.
func (b *Broker) Fatal() <-chan error { return b.fatal }

// watchFailures starts the goroutine that feeds Fatal.
func (b *Broker) watchFailures() {
	b.fatal = make(chan error, 1)
	var quorumDone <-chan struct{}
	rq, isRaft := b.quorum.(raftQuorum)
	if isRaft {
		quorumDone = rq.Done()
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		select {
		case err := <-b.logs.Failed():
			b.halt(fmt.Errorf("log dir failed: %w", err))
		case err := <-b.meta.Failed():
			b.halt(fmt.Errorf("cannot read the metadata log: %w", err))
		case <-quorumDone:
			if err := rq.Err(); !errors.Is(err, quorum.ErrClosed) {
				b.halt(fmt.Errorf("metadata quorum stopped: %w", err))
			}
		case <-b.stop:
		}
	}()
}

// halt reports err on Fatal.
func (b *Broker) halt(err error) {
	b.logger.Error("fatal storage failure: the node must halt", "err", err)
	b.fatal <- err
}
