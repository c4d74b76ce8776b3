package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client quotas (KIP-13/55/219) end to end: quotas set with kadm and with
// AlterClientQuotas sent to a node that is not the active controller
// (forwarded), described from every node; a producer with producer_byte_rate=5 MB/s held within
// 10% of it while an unthrottled producer beside it keeps its own pace (30
// MB/s), and a consumer with consumer_byte_rate=4 MB/s held to it; every
// acknowledged record is in the log; controller_mutation_rate refusing a
// CreateTopics (KIP-599); and kcat (librdkafka) held by its quotas.
//
// The rate is summed over 11 one-second windows (Kafka's defaults) and a
// client may send one window's worth at once (internal/quota's Config),
// so the measurement starts at the first record: 15 s by default,
// FJORD_QUOTA_SECONDS to change it (the acceptance run uses 30).
func TestClientQuotas(t *testing.T) {
	const (
		produceRate = 5 << 20
		consumeRate = 4 << 20
		fastPace    = 30 << 20
		slowTopic   = "quota-slow"
		fastTopic   = "quota-fast"
	)
	dur := 15 * time.Second
	if s, err := strconv.Atoi(os.Getenv("FJORD_QUOTA_SECONDS")); err == nil && s > 0 {
		dur = time.Duration(s) * time.Second
	}
	c := startCluster(t, 3, nil)
	waitAgreed(t, c.nodes, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	grpCreateTopic(t, c, slowTopic, 1, 1)
	grpCreateTopic(t, c, fastTopic, 1, 1)

	adm := kadm.NewClient(c.nodes[2].cl)
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*waitTimeout)
	defer cancel()
	setQuota(ctx, t, adm, "client-id", "slow-producer", "producer_byte_rate", produceRate)
	setQuotaForwarded(t, c, "slow-consumer", "consumer_byte_rate", consumeRate)
	for _, nd := range c.nodes {
		waitQuotas(ctx, t, kadm.NewClient(nd.cl), 2)
	}

	slow := runProducer(t, c, "slow-producer", slowTopic, dur, 0)
	fast := runProducer(t, c, "fast-producer", fastTopic, dur, fastPace)
	consumed, consumeThrottle := consumeFor(t, c, "slow-consumer", fastTopic, dur, nil)
	slow.wait()
	fast.wait()
	slowRate, fastRate := slow.rate(), fast.rate()
	consumeRateGot := float64(consumed) / dur.Seconds()
	t.Logf("over %v: throttled producer %.2f MB/s (max throttle %v), unthrottled producer %.2f MB/s (max throttle %v), "+
		"throttled consumer %.2f MB/s (max throttle %v)", dur, slowRate/(1<<20), slow.maxThrottle(),
		fastRate/(1<<20), fast.maxThrottle(), consumeRateGot/(1<<20), consumeThrottle)
	if slowRate < 0.9*produceRate || slowRate > 1.1*produceRate {
		t.Errorf("throttled producer at %.0f B/s, want within 10%% of %d", slowRate, produceRate)
	}
	if slow.maxThrottle() <= 0 {
		t.Error("the throttled producer never saw throttle_time_ms")
	}
	if fastRate < 0.8*fastPace || fast.maxThrottle() > 0 {
		t.Errorf("unthrottled producer at %.0f B/s (throttled up to %v), want its pace of %d", fastRate, fast.maxThrottle(), fastPace)
	}
	if consumeRateGot < 0.9*consumeRate || consumeRateGot > 1.1*consumeRate {
		t.Errorf("throttled consumer at %.0f B/s, want within 10%% of %d", consumeRateGot, consumeRate)
	}
	if consumeThrottle <= 0 {
		t.Error("the throttled consumer never saw throttle_time_ms")
	}
	checkEndOffset(ctx, t, adm, fastTopic, fast.all.Load())
	// Nothing acknowledged is lost: every record of the throttled
	// producer is read back, in order, by an unthrottled consumer.
	n := slow.all.Load()
	seen := int64(0)
	consumeFor(t, c, "checker", slowTopic, 2*waitTimeout, func(r *kgo.Record) bool {
		if seq := int64(binary.BigEndian.Uint64(r.Value)); seq != seen {
			t.Fatalf("record %d has sequence %d", seen, seq)
		}
		seen++
		return seen == n
	})
	if seen != n {
		t.Fatalf("read %d of %d acknowledged records", seen, n)
	}
	checkMutationQuota(ctx, t, c, adm)
	checkKcatQuota(ctx, t, c, adm)
}

// checkKcatQuota: librdkafka (kcat) under 512 KiB/s producer and
// consumer quotas takes its throttles and loses nothing: 3 MB take more
// than two seconds each way (the first window's worth and the last
// request go unthrottled) and come back identical.
func checkKcatQuota(ctx context.Context, t *testing.T, c *testCluster, adm *kadm.Client) {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Log("kcat not installed; skipping its quota check")
		return
	}
	const topic, client = "quota-kcat", "kcat-quota"
	setQuota(ctx, t, adm, "client-id", client, "producer_byte_rate", 512<<10)
	setQuota(ctx, t, adm, "client-id", client, "consumer_byte_rate", 512<<10)
	grpCreateTopic(t, c, topic, 1, 1)
	var in bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&in, "%08d %s\n", i, strings.Repeat("q", 990))
	}
	want := in.String()
	brokers := strings.Join(grpAddrs(c.nodes), ",")
	for _, args := range [][]string{
		{"-P", "-b", brokers, "-t", topic, "-X", "client.id=" + client, "-X", "linger.ms=5"},
		{"-C", "-b", brokers, "-t", topic, "-X", "client.id=" + client, "-e", "-q"},
	} {
		start := time.Now()
		var stdin *bytes.Buffer
		if args[0] == "-P" {
			stdin = bytes.NewBufferString(want)
		}
		out := runKcat(t, kcat, stdin, args...)
		d := time.Since(start)
		t.Logf("kcat %s: 3 MB in %v under a 512 KiB/s quota", args[0], d)
		if d < 2*time.Second {
			t.Errorf("kcat %s moved 3 MB in %v under a 512 KiB/s quota", args[0], d)
		}
		if args[0] == "-C" && out != want {
			t.Errorf("kcat read back %d bytes, want the %d produced", len(out), len(want))
		}
	}
}

// checkMutationQuota: with controller_mutation_rate=1 (a burst of 11
// partitions), CreateTopics (v7, strict) admits a 20-partition topic with
// a throttle of about 9 s; franz-go waits that out before its next request
// on the connection, so a second client with the same client id asks at
// once and is refused with THROTTLING_QUOTA_EXCEEDED.
func checkMutationQuota(ctx context.Context, t *testing.T, c *testCluster, adm *kadm.Client) {
	t.Helper()
	setQuota(ctx, t, adm, "client-id", "slow-admin", "controller_mutation_rate", 1)
	for _, nd := range c.nodes {
		waitQuotas(ctx, t, kadm.NewClient(nd.cl), 3)
	}
	var throttle atomic.Int64
	first := kadm.NewClient(grpClient(t, c.nodes, kgo.ClientID("slow-admin"), kgo.WithHooks(throttleHook{&throttle})))
	res, err := first.CreateTopics(ctx, 20, 1, nil, "quota-m1")
	if err != nil || res["quota-m1"].Err != nil {
		t.Fatalf("first topic: %v %+v", err, res)
	}
	if d := time.Duration(throttle.Load()); d < 5*time.Second {
		t.Errorf("first topic throttled %v, want about 9s", d)
	}
	second := kadm.NewClient(grpClient(t, c.nodes, kgo.ClientID("slow-admin")))
	res, err = second.CreateTopics(ctx, 1, 1, nil, "quota-m2")
	if err != nil || !errors.Is(res["quota-m2"].Err, kerr.ThrottlingQuotaExceeded) {
		t.Fatalf("second topic: %v, %v, want THROTTLING_QUOTA_EXCEEDED", err, res["quota-m2"].Err)
	}
}

// setQuotaForwarded sets a client-id quota with AlterClientQuotas sent
// to a node that is not the active controller, which forwards it.
func setQuotaForwarded(t *testing.T, c *testCluster, clientID, key string, v float64) {
	t.Helper()
	ctrl := waitController(t, c.nodes, waitTimeout)
	nd := withoutNode(c.nodes, ctrl)[0]
	req := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	e.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "client-id", Name: &clientID}}
	e.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: key, Value: v}}
	req.Entries = append(req.Entries, e)
	resp, err := nd.request(req)
	if err != nil {
		t.Fatalf("AlterClientQuotas through node %d: %v", nd.id, err)
	}
	if r := resp.(*kmsg.AlterClientQuotasResponse); len(r.Entries) != 1 || r.Entries[0].ErrorCode != 0 {
		t.Fatalf("AlterClientQuotas through node %d: %+v", nd.id, r.Entries)
	}
}

func setQuota(ctx context.Context, t *testing.T, adm *kadm.Client, typ, name, key string, v float64) {
	t.Helper()
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: typ, Name: &name}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: v}},
	}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas %s=%s %s=%v: %v %+v", typ, name, key, v, err, res)
	}
}

// waitQuotas waits until the node describes n quota entities.
func waitQuotas(ctx context.Context, t *testing.T, adm *kadm.Client, n int) {
	t.Helper()
	for {
		qs, err := adm.DescribeClientQuotas(ctx, false, nil)
		if err == nil && len(qs) == n {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("quotas never described: %v %+v", err, qs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// quotaLoad is a producer sending 16 KiB records for a while.
type quotaLoad struct {
	start    time.Time
	dur      time.Duration
	acked    atomic.Int64 // records acknowledged before the end
	all      atomic.Int64 // records acknowledged at all
	bytes    atomic.Int64 // bytes acknowledged before the end
	throttle atomic.Int64 // the longest throttle seen, ns
	done     chan struct{}
}

func (l *quotaLoad) wait()                      { <-l.done }
func (l *quotaLoad) rate() float64              { return float64(l.bytes.Load()) / l.dur.Seconds() }
func (l *quotaLoad) maxThrottle() time.Duration { return time.Duration(l.throttle.Load()) }

// throttleHook records the longest throttle a client is told of.
type throttleHook struct{ max *atomic.Int64 }

func (h throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	for {
		old := h.max.Load()
		if int64(d) <= old || h.max.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// runProducer produces 16 KiB records numbered from 0 to topic's
// partition 0 for dur, flat out or at pace bytes per second.
func runProducer(t *testing.T, c *testCluster, clientID, topic string, dur time.Duration, pace float64) *quotaLoad {
	l := &quotaLoad{dur: dur, done: make(chan struct{})}
	cl := grpClient(t, c.nodes, kgo.ClientID(clientID), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(256), kgo.WithHooks(throttleHook{&l.throttle}))
	l.start = time.Now()
	deadline := l.start.Add(dur)
	go func() {
		defer close(l.done)
		var wg sync.WaitGroup
		for seq := uint64(0); time.Now().Before(deadline); seq++ {
			if pace > 0 {
				ahead := time.Duration(float64(seq*(16<<10))/pace*float64(time.Second)) - time.Since(l.start)
				time.Sleep(ahead)
			}
			v := make([]byte, 16<<10)
			binary.BigEndian.PutUint64(v, seq)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: v}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err == nil {
					l.all.Add(1)
				}
				if err == nil && time.Now().Before(deadline) {
					l.acked.Add(1)
					l.bytes.Add(int64(len(r.Value)))
				}
			})
		}
		wg.Wait()
	}()
	return l
}

// consumeFor reads topic from the start as clientID until dur passes or
// each returns true, and returns the value bytes read and the longest
// throttle seen.
func consumeFor(t *testing.T, c *testCluster, clientID, topic string, dur time.Duration, each func(*kgo.Record) bool) (int64, time.Duration) {
	var throttle atomic.Int64
	cl := grpClient(t, c.nodes, kgo.ClientID(clientID), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(throttleHook{&throttle}))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var n int64
	for ctx.Err() == nil {
		stop := false
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if ctx.Err() == nil && !stop {
				n += int64(len(r.Value))
				stop = each != nil && each(r)
			}
		})
		if stop {
			break
		}
	}
	return n, time.Duration(throttle.Load())
}

func checkEndOffset(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, atLeast int64) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil || o.Offset < atLeast {
		t.Fatalf("%s end offset %+v, want at least the %d records acknowledged", topic, o, atLeast)
	}
}
