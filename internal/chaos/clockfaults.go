package chaos

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// clockSkewEnv is the environment variable `fjord server` reads its
// clock offset from (broker.Options.ClockSkew).
const clockSkewEnv = "FJORD_CLOCK_SKEW"

// maxClockSkew bounds the injected skew: far below the default
// retention.ms and offsets.retention.minutes (7 days), past which a node
// whose clock runs ahead would delete acknowledged records by retention,
// as Kafka would.
const maxClockSkew = 2 * time.Hour

// clockSkew (F13) restarts one node (SIGTERM, a controlled shutdown) with
// its wall clock offset by a random skew through FJORD_CLOCK_SKEW; heal
// restarts it without. The skew reaches every timestamp the node stamps
// or compares with: LogAppendTime, segment roll and retention, ISR lag,
// broker sessions on the active controller, group sessions and offset
// retention on the coordinators, the coordinators' batch timestamps.
// Durations inside one process do not change, so nothing may break: no
// lost write, no spurious ISR shrink or session expiry. The node is a
// random one or the leader of a random partition ("clock-skew"), or the
// active controller ("clock-skew-controller").
type clockSkew struct{ who string } // "" or "controller"

func clockFaults() []Fault { return []Fault{clockSkew{}, clockSkew{who: "controller"}} }

func (f clockSkew) Name() string {
	if f.who == "" {
		return "clock-skew"
	}
	return "clock-skew-" + f.who
}

func (f clockSkew) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	who := f.who
	if who == "" {
		who = []string{"node", "leader"}[e.Rand.IntN(2)]
	}
	nd, err := pick(ctx, e, who)
	if err != nil {
		return "", nil, err
	}
	skew := randomSkew(e.Rand)
	target := fmt.Sprintf("node %d (%s) with clock %s", nd.ID, who, signed(skew))
	if err := restartWithEnv(nd, []string{clockSkewEnv + "=" + skew.String()}); err != nil {
		return target, nil, err
	}
	return target, func() error { return restartWithEnv(nd, nil) }, nil
}

// randomSkew returns a skew of random sign whose size is log-uniform in
// [1 s, maxClockSkew] (median about 85 s), or maxClockSkew itself one time
// in eight, rounded to the millisecond.
func randomSkew(r *rand.Rand) time.Duration {
	d := maxClockSkew
	if r.IntN(8) != 0 {
		lo, hi := math.Log(float64(time.Second)), math.Log(float64(maxClockSkew))
		d = time.Duration(math.Exp(lo + r.Float64()*(hi-lo)))
	}
	d = d.Round(time.Millisecond)
	if r.IntN(2) == 0 {
		return -d
	}
	return d
}

// signed formats d with its sign: +1m30s, -2h0m0s.
func signed(d time.Duration) string {
	if d > 0 {
		return "+" + d.String()
	}
	return d.String()
}

// restartWithEnv stops the node with a controlled shutdown (killing it if
// that takes over 15 s) and starts it again with env.
func restartWithEnv(nd *Node, env []string) error {
	nd.Terminate(15 * time.Second)
	nd.mu.Lock()
	nd.Env = env
	nd.mu.Unlock()
	return nd.Start()
}
