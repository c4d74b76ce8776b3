package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// reassign moves the replicas of a random partition of the workload's
// topic while it runs (AlterPartitionReassignments): with a node to
// spare, one replica (possibly the leader) moves to a node outside the
// replica set; without (as many nodes as replicas) one replica is
// dropped, and the heal brings it back, so it catches up from an empty
// log. The replica order is shuffled too, so the preferred leader moves.
// Inject returns once the reassignment completed, the heal once the
// partition has every target replica in its ISR: the cluster is whole
// again for the next fault.
type reassign struct{}

func (reassign) Name() string { return "reassign" }

// reassignWait bounds how long a reassignment may take to complete.
const reassignWait = 60 * time.Second

func (reassign) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	p := int32(e.Rand.IntN(e.W.Partitions))
	md, err := e.C.Metadata(ctx, e.W.Topic)
	if err != nil {
		return "", nil, err
	}
	pd, ok := md.Topics[e.W.Topic].Partitions[p]
	if !ok || len(pd.Replicas) == 0 {
		return "", nil, fmt.Errorf("no metadata for partition %d", p)
	}
	current := slices.Clone(pd.Replicas)
	drop := current[e.Rand.IntN(len(current))]
	target := without1(current, drop)
	spare := spareNodes(e.C, current)
	if len(spare) > 0 {
		target = append(target, spare[e.Rand.IntN(len(spare))])
	}
	shuffle(e.Rand, target)
	what := fmt.Sprintf("partition %d: %v -> %v", p, current, target)
	if err := moveAndWait(ctx, e.C, e.W.Topic, p, target); err != nil {
		return what, nil, err
	}
	if len(spare) > 0 {
		return what, nil, nil
	}
	back := append(slices.Clone(target), drop)
	shuffle(e.Rand, back)
	heal := func() error { return moveAndWait(context.Background(), e.C, e.W.Topic, p, back) }
	return what + fmt.Sprintf(", back to %v at heal", back), heal, nil
}

// moveAndWait reassigns topic's partition p to target and waits until the
// reassignment is done and every target replica is in the ISR.
func moveAndWait(ctx context.Context, c *Cluster, topic string, p int32, target []int32) error {
	ctx, cancel := context.WithTimeout(ctx, reassignWait)
	defer cancel()
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, p, target)
	for {
		err := alterAssignment(ctx, c, req)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("reassigning %s[%d] to %v: %w", topic, p, target, err)
		}
		time.Sleep(200 * time.Millisecond) // a controller failover, say
	}
	for {
		if done, why := reassigned(ctx, c, topic, p, target); done {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("reassignment of %s[%d] to %v did not complete: %s", topic, p, target, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func alterAssignment(ctx context.Context, c *Cluster, req kadm.AlterPartitionAssignmentsReq) error {
	adm, done, err := c.Admin()
	if err != nil {
		return err
	}
	defer done()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resps, err := adm.AlterPartitionAssignments(rctx, req)
	if err != nil {
		return err
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
		}
	}
	return nil
}

// reassigned reports whether p's replicas are target (in order), all in
// the ISR, with a leader; else what is missing.
func reassigned(ctx context.Context, c *Cluster, topic string, p int32, target []int32) (bool, string) {
	md, err := c.Metadata(ctx, topic)
	if err != nil {
		return false, err.Error()
	}
	pd, ok := md.Topics[topic].Partitions[p]
	switch {
	case !ok:
		return false, "no metadata"
	case !slices.Equal(pd.Replicas, target):
		return false, fmt.Sprintf("replicas %v", pd.Replicas)
	case len(pd.ISR) != len(target) || pd.Leader < 0:
		return false, fmt.Sprintf("leader %d, ISR %v", pd.Leader, pd.ISR)
	}
	return true, ""
}

// spareNodes lists the cluster's nodes not in replicas.
func spareNodes(c *Cluster, replicas []int32) []int32 {
	var out []int32
	for _, nd := range c.Nodes {
		if !slices.Contains(replicas, nd.ID) {
			out = append(out, nd.ID)
		}
	}
	return out
}

func without1(xs []int32, x int32) []int32 {
	return slices.DeleteFunc(slices.Clone(xs), func(y int32) bool { return y == x })
}

func shuffle(r *rand.Rand, xs []int32) {
	r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
}
