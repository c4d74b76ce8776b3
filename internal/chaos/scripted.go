package chaos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// coordinator returns the node coordinating the workload's group.
func coordinator(ctx context.Context, e *Env) (*Node, error) {
	adm, done, err := e.C.Admin()
	if err != nil {
		return nil, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	group := e.W.GroupID()
	resp := adm.FindGroupCoordinators(ctx, group)
	var nd *Node
	resp.Each(func(r kadm.FindCoordinatorResponse) {
		if r.Err == nil {
			nd = e.C.Node(r.NodeID)
		}
	})
	if nd == nil {
		return nil, fmt.Errorf("no coordinator found for group %s: %v", group, resp.Error())
	}
	return nd, nil
}

// bounces (F3, F4 and F5's bounce) chases one partition's leader, or the
// active controller, and restarts it five times in a row, as Kafka's
// replication_test.py does: clean (SIGTERM, a controlled shutdown) or hard
// (SIGKILL). It restarts the node once another has taken over, and waits
// (up to 30 s) for the cluster to be whole again before the next bounce,
// so that every bounce hits a serving leader.
type bounces struct {
	who   string // "leader" or "controller"
	clean bool
}

func (f bounces) Name() string {
	if f.clean {
		return "clean-bounce5-" + f.who
	}
	return "hard-bounce5-" + f.who
}

func (f bounces) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	p := int32(e.Rand.IntN(e.W.Partitions))
	var hit []string
	for range 5 {
		nd, err := f.target(ctx, e, p)
		if err != nil {
			return strings.Join(hit, ","), nil, err
		}
		hit = append(hit, fmt.Sprint(nd.ID))
		if f.clean {
			nd.Terminate(30 * time.Second)
		} else {
			nd.Kill()
		}
		// As Kafka's hard bounce waits for the broker's registration to
		// go: restart once someone else has taken over (or 15 s).
		_ = waitUntil(ctx, 15*time.Second, func() string {
			if now, err := f.target(ctx, e, p); err == nil && now.ID == nd.ID {
				return "not taken over"
			}
			return ""
		})
		if err := nd.Start(); err != nil {
			return strings.Join(hit, ","), nil, err
		}
		_ = waitUntil(ctx, 30*time.Second, func() string { return e.C.Healthy(ctx, e.W.Topic, e.W.Partitions) })
	}
	what := "nodes"
	if f.who == "leader" {
		what = fmt.Sprintf("partition %d leaders", p)
	}
	return what + " " + strings.Join(hit, ","), nil, nil
}

// target is the current leader of partition p, or the active controller.
func (f bounces) target(ctx context.Context, e *Env, p int32) (*Node, error) {
	var id int32
	var err error
	if f.who == "controller" {
		id, err = e.C.Controller(ctx)
	} else {
		id, err = e.C.Leader(ctx, e.W.Topic, p)
	}
	if nd := e.C.Node(id); err == nil && nd != nil {
		return nd, nil
	}
	return nil, fmt.Errorf("no %s to bounce (%d): %v", f.who, id, err)
}

// lastReplica (F9, last replica standing) stops both followers of a
// random partition cleanly, so that its ISR shrinks to the leader, then
// SIGKILLs the leader and restarts the two followers; heal restarts the
// old leader. The follower stopped last left an ISR smaller than
// min.insync.replicas, so it holds every committed record (it is in the
// ELR) and may lead meanwhile; the other must not. With tear, the leader
// also loses the last bytes of the partition's log, as a power loss
// would: it must not come back as the only trusted copy. With three
// nodes the controller quorum is gone between the second stop and the
// followers' restart.
type lastReplica struct{ tear bool }

func (f lastReplica) Name() string {
	if f.tear {
		return "last-replica-torn"
	}
	return "last-replica-standing"
}

func (f lastReplica) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	p, leader, followers, err := roles(ctx, e)
	if err != nil {
		return "", nil, err
	}
	if len(followers) == 0 {
		return "", nil, fmt.Errorf("partition %d has no follower", p)
	}
	for _, nd := range followers {
		nd.Terminate(30 * time.Second)
	}
	shrunk := waitISR(ctx, e.C, e.W.Topic, p, leader.ID, 10*time.Second)
	leader.Kill()
	var errs []error
	how := ""
	if f.tear {
		how, err = damageTail(filepath.Join(leader.DataDir, fmt.Sprintf("%s-%d", e.W.Topic, p)), e.Rand, 0)
		how = " (" + how + ")"
		errs = append(errs, err)
	}
	for _, nd := range followers {
		errs = append(errs, nd.Start())
	}
	target := fmt.Sprintf("partition %d: followers %v stopped (ISR shrank to leader %d alone: %v), leader killed%s, followers restarted",
		p, ids(followers), leader.ID, shrunk, how)
	heal := func() error {
		got, err := e.C.Leader(ctx, e.W.Topic, p)
		e.Log("%s: partition %d leader %d while node %d was down (%v)", f.Name(), p, got, leader.ID, err)
		startErr := leader.Start()
		if err == nil && got == followers[0].ID && !e.Unclean {
			return errors.Join(startErr, Violation(fmt.Sprintf(
				"partition %d was led by %d, stopped while the ISR was still min.insync.replicas, while its last in-sync replica %d was down",
				p, got, leader.ID)))
		}
		return startErr
	}
	return target, heal, errors.Join(errs...)
}

func ids(nodes []*Node) []int32 {
	var out []int32
	for _, nd := range nodes {
		out = append(out, nd.ID)
	}
	return out
}
