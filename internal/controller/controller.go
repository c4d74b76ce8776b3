// Package controller owns changes to the cluster metadata. It turns admin
// commands (create topics, alter configs, ...) into metadata records,
// appends them to the metadata log, and replays them into the Image it
// publishes. State changes only by replaying records: the controller never
// edits its image directly, so every node that replays the same log holds
// the same image.
//
// All commands run on one event-loop goroutine, one at a time.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
)

// Log is the metadata log the controller writes to. Append returns once
// the entries are committed (durable on a quorum), with the offset of the
// first. It is called only from the controller's goroutine.
type Log interface {
	Append(entries [][]byte) (int64, error)
}

// Publisher receives every new image with the delta that made it, on the
// controller goroutine, in log order. It must not block for long.
type Publisher func(img *metadata.Image, delta *metadata.Delta)

// ErrStopped is returned for commands submitted after Stop.
var ErrStopped = errors.New("controller: stopped")

// Controller is the active controller of a cluster.
type Controller struct {
	cfg     *config.Broker
	log     Log
	publish Publisher
	logger  *slog.Logger
	img     *metadata.Image
	cmds    chan func()
	done    chan struct{}
	stopped chan struct{}
	rand    func() [16]byte
}

// Options configure a Controller.
type Options struct {
	Config  *config.Broker
	Log     Log
	Publish Publisher
	Logger  *slog.Logger
	// Image is the image replayed from the existing log.
	Image *metadata.Image
	// NewID returns fresh random ids for topics (injected for tests).
	NewID func() [16]byte
}

// New creates a controller; Run starts its event loop.
func New(o Options) *Controller {
	return &Controller{
		cfg: o.Config, log: o.Log, publish: o.Publish, logger: o.Logger,
		img: o.Image, rand: o.NewID,
		cmds: make(chan func()), done: make(chan struct{}), stopped: make(chan struct{}),
	}
}

// Run serves commands until Stop.
func (c *Controller) Run() {
	defer close(c.stopped)
	for {
		select {
		case fn := <-c.cmds:
			fn()
		case <-c.done:
			return
		}
	}
}

// Stop ends the event loop and waits for it.
func (c *Controller) Stop() {
	close(c.done)
	<-c.stopped
}

// run executes fn on the event loop and waits for it.
func run[T any](ctx context.Context, c *Controller, fn func() T) (T, error) {
	var zero T
	out := make(chan T, 1)
	select {
	case c.cmds <- func() { out <- fn() }:
	case <-c.done:
		return zero, ErrStopped
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case v := <-out:
		return v, nil
	case <-c.stopped:
		return zero, ErrStopped
	}
}

// commit appends records to the log and replays them. A failure here is
// fatal for the controller's view: the log state is unknown, so the error
// is returned and the image left as it was (the caller reports it).
func (c *Controller) commit(recs []metadata.Record) error {
	if len(recs) == 0 {
		return nil
	}
	data := make([][]byte, len(recs))
	for i, r := range recs {
		b, err := metadata.Encode(r)
		if err != nil {
			return err
		}
		data[i] = b
	}
	first, err := c.log.Append(data)
	if err != nil {
		return fmt.Errorf("controller: append metadata: %w", err)
	}
	img, delta, err := c.img.Apply(first, recs)
	if err != nil {
		return err
	}
	c.img = img
	if c.publish != nil {
		c.publish(img, delta)
	}
	return nil
}
