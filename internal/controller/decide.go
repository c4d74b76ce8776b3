package controller

import (
	"context"
	"fmt"

	"github.com/fjordlog/fjord/internal/metadata"
)

// txn is one command's decision in the making (Kafka's ControllerResult):
// the records decided so far and the image they would produce, so that a
// later step of the same command decides on the state an earlier step
// leaves (fence broker A, then fence broker B without electing A).
// Nothing is proposed until the command returns; decide commits all of it
// as one entry. A txn lives on the event loop, within one command.
type txn struct {
	c    *Controller
	base *metadata.Image // the image the command started from
	// img is base with recs[:applied] applied. It is brought up to date
	// lazily, by image(): a command that never reads its own records back
	// (a CreateTopics of 10,000 partitions) pays no extra Apply.
	img     *metadata.Image
	recs    []metadata.Record
	applied int
	// err is a failure of Apply on the command's own records, a
	// programming error: decide returns it and commits nothing. Records
	// the command never reads back are checked by the log's apply only.
	err error
	// onCommit are the effects on controller-owned state (sessions, the
	// epochs of replies) once the entry is committed, given its offset.
	onCommit []func(off uint64)
	// onFail give a failed commit's error to the items whose records the
	// entry held, for commands that answer per item; see decide.
	onFail []func(err error)
}

// newTxn starts a decision on the controller's current image.
func (c *Controller) newTxn() *txn {
	img := c.image()
	return &txn{c: c, base: img, img: img}
}

// image returns the image the records decided so far would produce. Its
// offset is base.Offset+1, a placeholder: the entry's real offset is
// known only once it commits, so the epoch of a broker registered in it
// is a placeholder too (RegisterBroker's reply takes the real one in an
// onCommit hook).
func (t *txn) image() *metadata.Image {
	if t.applied == len(t.recs) || t.err != nil {
		return t.img
	}
	img, _, err := t.img.Apply(t.base.Offset+1, t.recs[t.applied:])
	if err != nil {
		t.err = fmt.Errorf("controller: a command's records do not apply to its image: %w", err)
		return t.img
	}
	t.img, t.applied = img, len(t.recs)
	return img
}

// add appends records to the decision, completing the reassignments
// their partition changes allow (completeReassignments) and filling in
// their ELR (maintainELR), against the image the earlier records leave.
// It may modify recs.
func (t *txn) add(recs ...metadata.Record) {
	if hasPartitionChange(recs) {
		img := t.image()
		recs = completeReassignments(img, recs)
		recs = t.c.maintainELR(img, recs)
	}
	t.recs = append(t.recs, recs...)
}

// committed registers an effect of the decision to run once its entry is
// committed at off (on the event loop, before the command returns).
func (t *txn) committed(f func(off uint64)) { t.onCommit = append(t.onCommit, f) }

// failsWith makes *errp the commit's error should the entry fail: an item
// whose records the entry holds answers that error.
func (t *txn) failsWith(errp *error) {
	t.onFail = append(t.onFail, func(err error) { *errp = err })
}

// hasPartitionChange reports whether recs hold a partition change, the
// only records whose ELR the controller maintains.
func hasPartitionChange(recs []metadata.Record) bool {
	for _, r := range recs {
		if _, ok := r.(metadata.PartitionChange); ok {
			return true
		}
	}
	return false
}

// decide runs fn on the event loop once this controller is active; fn
// reads t.image(), adds records and returns the reply. If fn fails nothing
// is committed. Otherwise the records are committed as one entry (none:
// no entry), the onCommit hooks run with its offset, and a failed commit
// is the command's error (NOT_CONTROLLER, as commit makes it) — unless fn
// registered onFail hooks (failsWith): a command answering per item gives
// the error to each item the entry held and its reply stands.
func decide[T any](ctx context.Context, c *Controller, fn func(t *txn) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	r, err := activeCmd(ctx, c, func() result {
		v, err := decideOn(c, fn)
		return result{v, err}
	})
	if err == nil {
		err = r.err
	}
	return r.v, err
}

// decideOn is decide for code already on the event loop with this
// controller active (the tick's fencing and rebalance). The commit is not bound to the caller's
// context: a caller giving up must not cost the controller its activity,
// and commitTimeout bounds the wait.
func decideOn[T any](c *Controller, fn func(t *txn) (T, error)) (T, error) {
	var zero T
	t := c.newTxn()
	v, err := fn(t)
	if err == nil && t.err != nil {
		c.logger.Error("command decided records that do not apply; nothing committed", "err", t.err)
		err = t.err
	}
	if err != nil {
		return zero, err
	}
	off, err := c.commit(context.Background(), t.recs)
	if err != nil {
		if len(t.onFail) == 0 {
			return zero, err
		}
		for _, f := range t.onFail {
			f(err)
		}
		return v, nil
	}
	for _, f := range t.onCommit {
		f(off)
	}
	return v, nil
}
