package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClockSkewReachesComponents starts a node whose clock runs two hours
// ahead (Options.ClockSkew, FJORD_CLOCK_SKEW) and checks that the skew
// reaches what stamps wall time: the partition leader's LogAppendTime,
// the group coordinator's __consumer_offsets batches, and the
// fjord_node_clock_skew_seconds metric.
func TestClockSkewReachesComponents(t *testing.T) {
	const skew = 2 * time.Hour
	n := startNodeWith(t, map[string]string{"offsets.topic.replication.factor": "1"}, Options{ClockSkew: skew})
	n.createTopic(t, "skewed", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	before := time.Now()
	cl := n.client(t, kgo.DefaultProduceTopic("skewed"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	r, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v"), Partition: 0, Timestamp: before}).First()
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got := consumeOne(ctx, t, n, "skewed")
	if got.Offset != r.Offset {
		t.Fatalf("consumed offset %d, produced %d", got.Offset, r.Offset)
	}
	checkSkewed(t, "LogAppendTime of the fetched record", got.Timestamp, before, after, skew)

	before = time.Now()
	adm := kadm.NewClient(cl)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "skewed", Partition: 0, At: 1, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	after = time.Now()
	got = consumeOne(ctx, t, n, "__consumer_offsets")
	checkSkewed(t, "timestamp of the coordinator's __consumer_offsets batch", got.Timestamp, before, after, skew)

	mfs, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "fjord_node_clock_skew_seconds" {
			found = true
			if v := mf.GetMetric()[0].GetGauge().GetValue(); v != skew.Seconds() {
				t.Errorf("fjord_node_clock_skew_seconds = %v, want %v", v, skew.Seconds())
			}
		}
	}
	if !found {
		t.Error("no fjord_node_clock_skew_seconds metric")
	}
}

// checkSkewed fails unless ts lies within [before, after] moved by skew
// (millisecond precision).
func checkSkewed(t *testing.T, what string, ts, before, after time.Time, skew time.Duration) {
	t.Helper()
	lo, hi := before.Add(skew).Truncate(time.Millisecond), after.Add(skew)
	if ts.Before(lo) || ts.After(hi) {
		t.Errorf("%s = %s, want within [%s, %s] (host clock + %s)", what, ts, lo, hi, skew)
	}
}

// consumeOne reads the first record of topic's partitions from the start.
func consumeOne(ctx context.Context, t *testing.T, n *testNode, topic string) *kgo.Record {
	t.Helper()
	cl := n.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: %v", topic, err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}
