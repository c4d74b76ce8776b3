package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeleteRecords (kadm) on an RF=3 topic: the low watermark comes back,
// every replica takes the new log start (checked through leaders elected
// after SIGKILLs of the leader, the second time possibly the crashed
// first leader, whose start must have survived the crash), consumption
// from the start begins there, and DescribeAllLogDirs lists the replica
// on every broker.
func TestDeleteRecordsReplicated(t *testing.T) {
	c := startGroupCluster(t)
	const topic = "dr"
	grpCreateTopic(t, c, topic, 1, 3)
	grpProduce(t, grpProducer(t, c.nodes), topic, 1, 100)
	adm := grpAdmin(t, c.nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()

	offsets := kadm.Offsets{}
	offsets.AddOffset(topic, 0, 60, -1)
	resps, err := adm.DeleteRecords(ctx, offsets)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := resps.Lookup(topic, 0); !ok || r.Err != nil || r.LowWatermark != 60 {
		t.Fatalf("DeleteRecords: %+v", r)
	}
	wantStart(t, c.nodes, topic, 60)
	checkLogDirs(t, ctx, adm, topic)

	leader := waitAgreed(t, c.nodes, waitTimeout, "a leader", grpFullISR(topic, 3)).topic(topic)[0].Leader
	first := c.node(leader)
	first.kill9()
	rest := withoutNode(c.nodes, leader)
	second := waitAgreed(t, rest, waitTimeout, "a new leader", func(v clusterView) string {
		if l := v.topic(topic)[0].Leader; l < 0 || l == leader {
			return fmt.Sprintf("leader %d", l)
		}
		return ""
	}).topic(topic)[0].Leader
	wantStart(t, rest, topic, 60)

	first.start()
	waitUnfenced(t, []*clusterNode{first}, waitTimeout)
	waitAgreed(t, c.nodes, waitTimeout, "full ISR again", grpFullISR(topic, 3))
	c.node(second).kill9()
	rest = withoutNode(c.nodes, second)
	third := waitAgreed(t, rest, waitTimeout, "a third leader", func(v clusterView) string {
		if l := v.topic(topic)[0].Leader; l < 0 || l == second {
			return fmt.Sprintf("leader %d", l)
		}
		return ""
	}).topic(topic)[0].Leader
	t.Logf("leaders %d, %d, %d", leader, second, third)
	wantStart(t, rest, topic, 60)
	wantConsumeFrom(t, rest, topic, 60)
}

// wantStart checks the partition's log start offset on its leader.
func wantStart(t *testing.T, nodes []*clusterNode, topic string, want int64) {
	t.Helper()
	adm := grpAdmin(t, nodes)
	waitFor(t, waitTimeout, fmt.Sprintf("log start %d", want), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		o, ok := starts.Lookup(topic, 0)
		if !ok || o.Err != nil {
			return false, fmt.Sprintf("%+v", o)
		}
		if o.Offset != want {
			t.Fatalf("log start %d, want %d", o.Offset, want)
		}
		return true, ""
	})
}

// wantConsumeFrom consumes from the start and checks the first offset.
func wantConsumeFrom(t *testing.T, nodes []*clusterNode, topic string, want int64) {
	t.Helper()
	cl := grpClient(t, nodes, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(300*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no record consumed")
		}
		if recs := fs.Records(); len(recs) > 0 {
			if recs[0].Offset != want || string(recs[0].Value) != grpValue(0, int(want)) {
				t.Fatalf("first record at %d (%s), want %d", recs[0].Offset, recs[0].Value, want)
			}
			return
		}
	}
}

// checkLogDirs checks that DescribeAllLogDirs lists the partition, with
// data, on all three brokers.
func checkLogDirs(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) {
	t.Helper()
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []int32{1, 2, 3} {
		found := false
		for _, d := range all[b] {
			if d.Err != nil || d.TotalBytes <= 0 {
				t.Errorf("broker %d dir %s: %v, total %d", b, d.Dir, d.Err, d.TotalBytes)
			}
			if p, ok := d.Topics.Lookup(topic, 0); ok && p.Size > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("broker %d: %s-0 not listed with data (%+v)", b, topic, all[b])
		}
	}
}
