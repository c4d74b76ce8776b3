package controller

import (
	"context"
)

// Fast crash detection (issue 11, DESIGN.md §5). A crashed broker's
// process is gone: the kernel closed its sockets, so its heartbeat
// connection to the active controller ends and connecting to any of its
// listeners is refused. The node's IO shell watches for both (it probes a
// broker whose controller connection ended, and every broker when this
// controller becomes active) and, with that proof, calls FenceGone, which
// fences at once instead of a session timeout later. A broker that is
// alive but unreachable refuses nothing (its connections time out), so it
// is fenced by its session as before.
//
// A false proof (a live broker whose listeners refused for a moment, say
// while restarting them) costs a leader move and nothing else: fencing is
// the same step a session expiry takes, elections stay within the ISR and
// ELR rules, epochs fence the old leader's writes, and the broker's next
// heartbeat, once it has caught up, unfences it.

// FenceGone fences broker id's registration of epoch at once, its caller
// having seen that the broker's process is gone. It reports whether it
// fenced; a registration of another epoch, an already fenced broker and an
// unknown one are left alone.
func (c *Controller) FenceGone(ctx context.Context, id int32, epoch int64) (bool, error) {
	return decide(ctx, c, func(t *txn) (bool, error) {
		img := t.image()
		b, ok := img.Brokers[id]
		if !ok || b.Epoch != epoch || b.Fenced {
			return false, nil
		}
		c.logger.Warn("broker's listeners refuse connections: its process is gone; fencing it at once", "broker", id, "epoch", epoch)
		t.add(c.fenceRecords(img, id)...)
		return true, nil
	})
}
