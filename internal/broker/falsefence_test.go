package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A broker falsely proven gone (its listeners refused for a moment while
// it lived on) is fenced at once: its leaderships move, and its next
// heartbeat unfences it. Acks=all writes go on all along, and none that
// was acknowledged is lost, duplicated or reordered (issue 11, DESIGN.md
// §5: a false suspicion costs a leader move, never a record).
func TestFalseFenceLosesNoAcknowledgedWrite(t *testing.T) {
	nodes := startTrio(t)
	seeds := []string{nodes[0].Addr("PLAINTEXT"), nodes[1].Addr("PLAINTEXT"), nodes[2].Addr("PLAINTEXT")}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(50*time.Millisecond), kgo.RecordRetries(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "ff"); err != nil {
		t.Fatal(err)
	}
	acked := produceWhile(ctx, t, cl, "ff", func(n int) bool { return n < 3000 }, func(n int) {
		if n == 1000 {
			falselyFence(ctx, t, nodes)
		}
	})
	checkAllAcked(ctx, t, cl, seeds, "ff", acked)
}

// falselyFence fences a live broker that leads partitions, as a refused
// probe would, and waits until it is unfenced again.
func falselyFence(ctx context.Context, t *testing.T, nodes []*Broker) {
	t.Helper()
	var ctrl *Broker
	for _, n := range nodes {
		if n.ctrl != nil && n.ctrl.IsActive() {
			ctrl = n
		}
	}
	if ctrl == nil {
		t.Fatal("no active controller")
	}
	victim := (ctrl.nodeID % 3) + 1 // another node, alive
	epoch := ctrl.meta.Image().Brokers[victim].Epoch
	if fenced, err := ctrl.ctrl.FenceGone(ctx, victim, epoch); err != nil || !fenced {
		t.Fatalf("FenceGone(%d): %v %v", victim, fenced, err)
	}
	waitCond(t, 30*time.Second, fmt.Sprintf("broker %d unfenced by its heartbeat", victim), func() bool {
		b := ctrl.meta.Image().Brokers[victim]
		return b.Epoch == epoch && !b.Fenced
	})
}

// produceWhile produces records "v-N" one at a time to partition N%3 while
// more(N), calling at(N) before each; it returns the acknowledged values
// per partition in order.
func produceWhile(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, more func(int) bool, at func(int)) map[int32][]string {
	t.Helper()
	acked := map[int32][]string{}
	for n := 0; more(n); n++ {
		at(n)
		r := &kgo.Record{Topic: topic, Partition: int32(n % 3), Value: []byte(fmt.Sprintf("v-%d", n))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err == nil {
			acked[r.Partition] = append(acked[r.Partition], string(r.Value))
		}
	}
	return acked
}

// checkAllAcked reads every partition (through a new client of seeds) to
// its end and checks each
// acknowledged value is there exactly once, in order.
func checkAllAcked(ctx context.Context, t *testing.T, cl *kgo.Client, seeds []string, topic string, acked map[int32][]string) {
	t.Helper()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	want := 0
	ends.Each(func(o kadm.ListedOffset) {
		offsets[topic][o.Partition] = kgo.NewOffset().AtStart()
		want += int(o.Offset)
	})
	rd, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(offsets))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := map[int32][]string{}
	for n := 0; n < want && ctx.Err() == nil; {
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	for p, vals := range acked {
		if !isSubsequence(vals, got[p]) {
			t.Errorf("partition %d: acknowledged values missing or reordered (%d acked, %d read)", p, len(vals), len(got[p]))
		}
		if dup := firstDuplicate(got[p]); dup != "" {
			t.Errorf("partition %d: %s read twice", p, dup)
		}
	}
}

func isSubsequence(sub, seq []string) bool {
	i := 0
	for _, s := range seq {
		if i < len(sub) && s == sub[i] {
			i++
		}
	}
	return i == len(sub)
}

func firstDuplicate(vals []string) string {
	seen := map[string]bool{}
	for _, v := range vals {
		if seen[v] {
			return v
		}
		seen[v] = true
	}
	return ""
}

// startTrio starts three in-process nodes, each a broker and a voter, and
// waits until every broker is unfenced on every node.
func startTrio(t *testing.T) []*Broker {
	t.Helper()
	ports := freeTCPPorts(t, 6)
	voters := make([]string, 3)
	for i := range voters {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[3+i])
	}
	cfgs := make([]*config.Broker, 3)
	for i := range cfgs {
		cfg, err := config.NewBroker(map[string]string{
			"node.id":                          fmt.Sprint(i + 1),
			"listeners":                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[i], ports[3+i]),
			"controller.quorum.voters":         strings.Join(voters, ","),
			"log.dirs":                         t.TempDir(),
			"offsets.topic.replication.factor": "3",
			"broker.heartbeat.interval.ms":     "200",
		})
		if err != nil {
			t.Fatal(err)
		}
		cfgs[i] = cfg
	}
	nodes := startAll(t, cfgs)
	waitCond(t, 30*time.Second, "every broker unfenced everywhere", func() bool {
		for _, n := range nodes {
			img := n.meta.Image()
			if len(img.Brokers) != 3 {
				return false
			}
			for _, b := range img.Brokers {
				if b.Fenced {
					return false
				}
			}
		}
		return true
	})
	return nodes
}

func freeTCPPorts(t *testing.T, k int) []int {
	t.Helper()
	ports := make([]int, k)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// startAll starts the nodes concurrently (each waits for a quorum) and
// closes them when the test ends.
func startAll(t *testing.T, cfgs []*config.Broker) []*Broker {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nodes := make([]*Broker, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = Start(cfg, logger)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, n := range nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// waitCond polls cond every 20 ms until it holds or d passes.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
