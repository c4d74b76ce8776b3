package e2e

// Helpers for the replication tests of replication_test.go (issue 4): a
// test cluster with short replication timeouts and a /metrics endpoint per
// node, acks=all producers that record every acknowledged record,
// per-node log end offsets and high watermarks, and segment file
// contents. (A node's pause and resume are in cluster_helpers_test.go.)

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// repLag is replica.lag.time.max.ms of the replication test clusters:
// short, so that a stopped follower leaves the ISR in seconds, and well
// below the 6 s broker session, so that the leader's ISR shrink comes
// before the controller fences the broker.
const repLag = 3 * time.Second

// repCluster is a test cluster with replica.lag.time.max.ms set and a
// Prometheus endpoint on every node.
type repCluster struct {
	*testCluster
	lag     time.Duration
	metrics map[int32]string // node id -> metrics.http.listener address
}

// startRepCluster starts n voters with replica.lag.time.max.ms=lag, a
// /metrics endpoint each and the extra overrides, and waits until every
// node lists all n brokers.
func startRepCluster(t *testing.T, n int, lag time.Duration, extra ...string) *repCluster {
	t.Helper()
	rc := &repCluster{lag: lag, metrics: map[int32]string{}}
	for i, port := range repMetricsPorts(t, n) {
		rc.metrics[int32(i+1)] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	extra = append([]string{fmt.Sprintf("replica.lag.time.max.ms=%d", lag.Milliseconds())}, extra...)
	rc.testCluster = startCluster(t, n, func(id int32) []string {
		return []string{"metrics.http.listener=" + rc.metrics[id]}
	}, extra...)
	waitAgreed(t, rc.nodes, readyTimeout, fmt.Sprintf("every node lists %d brokers", n), brokersAre(nodeIDs(rc.nodes)...))
	return rc
}

// repMetricsPorts returns n consecutive ports below the ephemeral range
// (so that the cluster's own ports, picked by the kernel, cannot collide
// with them) that were free a moment ago.
func repMetricsPorts(t *testing.T, n int) []int {
	t.Helper()
	for range 100 {
		base := 13000 + rand.IntN(15000)
		var ports []int
		for i := range n {
			ports = append(ports, base+i)
		}
		if portsFree(ports...) {
			return ports
		}
	}
	t.Fatal("no free ports for the metrics endpoints")
	return nil
}

// addrs returns the PLAINTEXT addresses of nodes.
func addrs(nodes []*clusterNode) []string {
	out := make([]string, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.addr
	}
	return out
}

// repClient returns a client seeded with nodes (idempotence off: Fjord
// has no producer ids yet), closed when the test ends. Metadata may be
// refreshed every 250 ms so that a moved leader is found quickly.
func repClient(t *testing.T, nodes []*clusterNode, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addrs(nodes)...), kgo.DisableIdempotentWrite(),
		kgo.MetadataMinAge(250 * time.Millisecond), kgo.DialTimeout(time.Second)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createAssigned creates topic with one partition per replica list (the
// first replica is the preferred leader) through nd, with configs.
func createAssigned(t *testing.T, nd *clusterNode, topic string, configs map[string]string, assignment ...[]int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 15000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p, replicas := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := repRequest(nd, req, 20*time.Second)
	if err == nil {
		for _, tr := range resp.(*kmsg.CreateTopicsResponse).Topics {
			err = errors.Join(err, kerr.ErrorForCode(tr.ErrorCode))
		}
	}
	if err != nil {
		t.Fatalf("creating %s with replicas %v through node %d: %v", topic, assignment, nd.id, err)
	}
}

// repRequest sends req to nd itself with a timeout.
func repRequest(nd *clusterNode, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return nd.cl.SeedBrokers()[0].Request(ctx, req)
}

// waitPartition waits until every node in nodes serves the same metadata
// and cond accepts partition tp in it; it returns tp's view.
func waitPartition(t *testing.T, nodes []*clusterNode, timeout time.Duration, what string, tp clusterTP, cond func(partView) string) partView {
	t.Helper()
	v := waitAgreed(t, nodes, timeout, what, func(v clusterView) string {
		p, ok := v.Parts[tp]
		if !ok {
			return fmt.Sprintf("%s missing", tp)
		}
		if msg := cond(p); msg != "" {
			return fmt.Sprintf("%s: %s (%+v)", tp, msg, p)
		}
		return ""
	})
	return v.Parts[tp]
}

// isrIs is a waitPartition condition: the ISR is exactly ids.
func isrIs(ids ...int32) func(partView) string {
	want := sortedIDs(ids)
	return func(p partView) string {
		if !slices.Equal(p.ISR, want) {
			return fmt.Sprintf("ISR %v, want %v", p.ISR, want)
		}
		return ""
	}
}

// fullISRs is a waitAgreed condition: every partition of topic has a
// leader and all its replicas in the ISR.
func fullISRs(topic string) func(clusterView) string {
	return func(v clusterView) string {
		for i, p := range v.topic(topic) {
			if p.Leader < 0 || !slices.Equal(p.ISR, sortedIDs(p.Replicas)) {
				return fmt.Sprintf("%s[%d]: leader %d, ISR %v, replicas %v", topic, i, p.Leader, p.ISR, p.Replicas)
			}
		}
		return ""
	}
}

// offsetsOn asks nd, which must lead tp, for tp's high watermark (latest
// as a consumer sees it) and log end offset (latest as a replica sees it).
func offsetsOn(nd *clusterNode, tp clusterTP) (hw, leo int64, err error) {
	list := func(replica int32) (int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = replica
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = tp.p, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := nd.request(req)
		if err != nil {
			return 0, err
		}
		ts := resp.(*kmsg.ListOffsetsResponse).Topics
		if len(ts) != 1 || len(ts[0].Partitions) != 1 {
			return 0, fmt.Errorf("ListOffsets %s on node %d: no answer", tp, nd.id)
		}
		p := ts[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			return 0, fmt.Errorf("ListOffsets %s on node %d: %w", tp, nd.id, err)
		}
		return p.Offset, nil
	}
	if hw, err = list(-1); err != nil {
		return 0, 0, err
	}
	leo, err = list(nd.id) // any replica id gets the log end offset
	return hw, leo, err
}

// mustOffsetsOn is offsetsOn failing the test on error.
func mustOffsetsOn(t *testing.T, nd *clusterNode, tp clusterTP) (hw, leo int64) {
	t.Helper()
	hw, leo, err := offsetsOn(nd, tp)
	if err != nil {
		t.Fatal(err)
	}
	return hw, leo
}

// segments returns the concatenated .log segment files of tp in nd's log
// dir, in base offset order, and their names.
func segments(nd *clusterNode, tp clusterTP) ([]byte, []string, error) {
	dir := filepath.Join(nd.dir, fmt.Sprintf("%s-%d", tp.topic, tp.p))
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(names)
	var all []byte
	for i, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, b...)
		names[i] = filepath.Base(name)
	}
	return all, names, nil
}

// logEnd returns the offset after the last batch of concatenated segment
// bytes (0 when empty), or an error if they do not parse as whole batches.
func logEnd(b []byte) (int64, error) {
	end := int64(0)
	for pos := 0; pos < len(b); {
		if len(b)-pos < 61 {
			return 0, fmt.Errorf("torn batch header at byte %d", pos)
		}
		base := int64(binary.BigEndian.Uint64(b[pos:]))
		size := int(binary.BigEndian.Uint32(b[pos+8:]))
		delta := int64(int32(binary.BigEndian.Uint32(b[pos+23:])))
		if size < 49 || pos+12+size > len(b) {
			return 0, fmt.Errorf("batch at byte %d: bad length %d", pos, size)
		}
		end = base + delta + 1
		pos += 12 + size
	}
	return end, nil
}

// rawBatch encodes values as one uncompressed v2 record batch with base
// offset 0 and no producer id, as a non-idempotent client sends it.
func rawBatch(values ...[]byte) []byte {
	now := time.Now().UnixMilli()
	var recs []byte
	for i, v := range values {
		var r []byte
		r = append(r, 0)                     // attributes
		r = binary.AppendVarint(r, 0)        // timestamp delta
		r = binary.AppendVarint(r, int64(i)) // offset delta
		r = binary.AppendVarint(r, -1)       // null key
		r = binary.AppendVarint(r, int64(len(v)))
		r = append(r, v...)
		r = binary.AppendVarint(r, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	b := make([]byte, 61, 61+len(recs))
	binary.BigEndian.PutUint32(b[8:], uint32(49+len(recs)))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // partition leader epoch -1
	b[16] = 2
	binary.BigEndian.PutUint32(b[23:], uint32(len(values)-1))
	binary.BigEndian.PutUint64(b[27:], uint64(now))
	binary.BigEndian.PutUint64(b[35:], uint64(now))
	binary.BigEndian.PutUint64(b[43:], 0xffffffffffffffff) // producer id -1
	binary.BigEndian.PutUint16(b[51:], 0xffff)             // producer epoch -1
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)         // base sequence -1
	binary.BigEndian.PutUint32(b[57:], uint32(len(values)))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// rawProduce sends one acks=-1 Produce of values to tp straight to the
// seed broker of cl (whatever the metadata says about the leader) and
// returns the partition's error, or the request's.
func rawProduce(cl *kgo.Client, tp clusterTP, timeout time.Duration, values ...[]byte) error {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, int32(timeout.Milliseconds())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = tp.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = tp.p, rawBatch(values...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return err
	}
	ts := resp.(*kmsg.ProduceResponse).Topics
	if len(ts) != 1 || len(ts[0].Partitions) != 1 {
		return errors.New("produce response without the partition")
	}
	return kerr.ErrorForCode(ts[0].Partitions[0].ErrorCode)
}

// scrape reads nd's /metrics and returns every sample by its series
// (name with labels, as printed).
func (rc *repCluster) scrape(id int32) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clReqTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+rc.metrics[id]+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics of node %d: %s", id, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics of node %d: %q: %v", id, line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// metric returns one series of node id's /metrics, failing the test if it
// cannot be read or is absent.
func (rc *repCluster) metric(t *testing.T, id int32, series string) float64 {
	t.Helper()
	m, err := rc.scrape(id)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := m[series]
	if !ok {
		t.Fatalf("node %d exports no %s", id, series)
	}
	return v
}

// Metric series the tests read.
const (
	mISRShrinks = "kafka_server_replicamanager_isrshrinks_total"
	mISRExpands = "kafka_server_replicamanager_isrexpands_total"
	mUnclean    = "kafka_controller_controllerstats_uncleanleaderelections_total"
	mFetchCount = `kafka_network_requestmetrics_totaltimems_count{request="Fetch"}`
)

// repAck is a record the cluster acknowledged: which producer sent it, as
// its seq-th record, and where it was written.
type repAck struct {
	producer, seq int
	partition     int32
	offset        int64
	value         string
}

// repLoad is a set of acks=all producers writing to a topic until stopped.
type repLoad struct {
	t       *testing.T
	stopped chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	acks    []repAck
	errs    []error
	perPart map[int32]int
	// watch: the first write to watchPart by a broker other than
	// watchOld after watchFrom, and how many records such brokers took.
	watchPart            int32
	watchOld             int32
	watchFrom, watchSeen time.Time
	watchRecords         int
}

// startLoad starts producers clients, each its own kgo producer with
// acks=all, retries on and idempotence off, that write records round
// robin to partitions of topic, one every interval per producer, with at
// most 32 in flight each. Each records what was acknowledged.
func startLoad(t *testing.T, nodes []*clusterNode, topic string, partitions []int32, producers int, interval time.Duration) *repLoad {
	t.Helper()
	l := &repLoad{t: t, stopped: make(chan struct{}), perPart: map[int32]int{}, watchPart: -1}
	run := time.Now().UnixNano()
	for i := range producers {
		cl := repClient(t, nodes, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(2*time.Millisecond), kgo.RecordDeliveryTimeout(90*time.Second), kgo.WithHooks(l))
		l.wg.Add(1)
		go l.produce(cl, run, i, topic, partitions, interval)
	}
	t.Cleanup(l.stop)
	return l
}

func (l *repLoad) produce(cl *kgo.Client, run int64, producer int, topic string, partitions []int32, interval time.Duration) {
	defer l.wg.Done()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	sem := make(chan struct{}, 32)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-l.stopped:
			return
		case <-tick.C:
		}
		select {
		case <-l.stopped:
			return
		case sem <- struct{}{}:
		}
		rec := &kgo.Record{Topic: topic, Partition: partitions[seq%len(partitions)],
			Value: fmt.Appendf(nil, "run %d producer %d seq %d", run, producer, seq)}
		inflight.Add(1)
		cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
			defer inflight.Done()
			<-sem
			l.mu.Lock()
			defer l.mu.Unlock()
			if err != nil {
				l.errs = append(l.errs, fmt.Errorf("producer %d seq %d to partition %d: %w", producer, seq, r.Partition, err))
				return
			}
			l.acks = append(l.acks, repAck{producer, seq, r.Partition, r.Offset, string(r.Value)})
			l.perPart[r.Partition]++
		})
	}
}

// OnProduceBatchWritten implements kgo.HookProduceBatchWritten: it notes
// writes acknowledged by a new leader of the watched partition.
func (l *repLoad) OnProduceBatchWritten(meta kgo.BrokerMetadata, _ string, partition int32, m kgo.ProduceBatchMetrics) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if partition != l.watchPart || meta.NodeID == l.watchOld || l.watchFrom.IsZero() {
		return
	}
	if l.watchSeen.IsZero() {
		l.watchSeen = time.Now()
	}
	l.watchRecords += m.NumRecords
}

// watch starts looking for acknowledgements of partition p from brokers
// other than old, from now on.
func (l *repLoad) watch(p, old int32) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.watchPart, l.watchOld, l.watchFrom = p, old, time.Now()
	return l.watchFrom
}

// watched returns when the first acknowledgement by another broker came
// and how many records such brokers acknowledged.
func (l *repLoad) watched() (time.Time, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.watchSeen, l.watchRecords
}

// acked returns how many records of partition p were acknowledged.
func (l *repLoad) acked(p int32) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perPart[p]
}

// waitAcked waits until n more records of each of partitions are
// acknowledged than now, failing the test after timeout.
func (l *repLoad) waitAcked(t *testing.T, timeout time.Duration, n int, partitions ...int32) {
	t.Helper()
	base := map[int32]int{}
	for _, p := range partitions {
		base[p] = l.acked(p)
	}
	waitFor(t, timeout, fmt.Sprintf("%d more acknowledged records in partitions %v", n, partitions), func() (bool, string) {
		for _, p := range partitions {
			if got := l.acked(p) - base[p]; got < n {
				return false, fmt.Sprintf("partition %d: %d more acknowledged (errors so far: %d)", p, got, len(l.failures()))
			}
		}
		return true, ""
	})
}

// stop stops producing and waits until every record sent has its outcome.
func (l *repLoad) stop() {
	select {
	case <-l.stopped:
	default:
		close(l.stopped)
	}
	l.wg.Wait()
}

// results stops the load and returns the acknowledged records and the
// failed ones' errors.
func (l *repLoad) results() ([]repAck, []error) {
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks), slices.Clone(l.errs)
}

func (l *repLoad) failures() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

// endOffsets lists the high watermarks of topic's partitions through a
// client seeded with nodes, retrying while leaders move.
func endOffsets(t *testing.T, nodes []*clusterNode, topic string) map[int32]int64 {
	t.Helper()
	cl := repClient(t, nodes)
	var ends map[int32]int64
	waitFor(t, waitTimeout, "end offsets of "+topic, func() (bool, string) {
		var err error
		ends, err = tryOffsets(kadm.NewClient(cl).ListEndOffsets, topic)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return ends
}

// consumeAll reads offsets [0, ends[p]) of every partition of topic with a
// new consumer seeded with nodes, and returns the records by partition.
// Retriable fetch errors (a leader moving) are waited out; others fail.
func consumeAll(t *testing.T, nodes []*clusterNode, topic string, ends map[int32]int64) map[int32][]*kgo.Record {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	out := map[int32][]*kgo.Record{}
	for p, end := range ends {
		if end > 0 {
			parts[p] = kgo.NewOffset().At(0)
		}
	}
	if len(parts) == 0 {
		return out
	}
	cl := repClient(t, nodes, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	for len(parts) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: timed out; still reading %v (got %s)", topic, parts, counts(out))
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !kerr.IsRetriable(err) {
				t.Fatalf("consuming %s[%d]: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				out[r.Partition] = append(out[r.Partition], r)
			}
			if r.Offset >= ends[r.Partition]-1 {
				delete(parts, r.Partition)
			}
		})
	}
	return out
}

// checkAcksPresent checks that the records read (offsets [0, end) of each
// partition) are contiguous, that every acknowledged record is at the
// offset it was acknowledged with, and that each producer's acknowledged
// records of a partition are in the order it sent them. Unacknowledged
// records and duplicates from retries may be anywhere.
func checkAcksPresent(t *testing.T, topic string, acks []repAck, got map[int32][]*kgo.Record) {
	t.Helper()
	for p, recs := range got {
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("%s[%d]: record %d has offset %d: offsets are not contiguous from 0", topic, p, i, r.Offset)
			}
		}
	}
	bad := 0
	for _, a := range acks {
		recs := got[a.partition]
		switch {
		case a.offset >= int64(len(recs)):
			t.Errorf("%s[%d]: acknowledged %q at offset %d, but the partition ends at %d", topic, a.partition, a.value, a.offset, len(recs))
		case string(recs[a.offset].Value) != a.value:
			t.Errorf("%s[%d] offset %d: %q, but %q was acknowledged there", topic, a.partition, a.offset, recs[a.offset].Value, a.value)
		default:
			continue
		}
		if bad++; bad >= 10 {
			t.Fatalf("too many acknowledged records lost")
		}
	}
	type key struct {
		producer  int
		partition int32
	}
	byProducer := map[key][]repAck{}
	for _, a := range acks {
		k := key{a.producer, a.partition}
		byProducer[k] = append(byProducer[k], a)
	}
	for k, as := range byProducer {
		slices.SortFunc(as, func(a, b repAck) int { return a.seq - b.seq })
		for i := 1; i < len(as); i++ {
			if as[i].offset <= as[i-1].offset {
				t.Errorf("%s[%d]: producer %d's seq %d is at offset %d, after its seq %d at offset %d",
					topic, k.partition, k.producer, as[i].seq, as[i].offset, as[i-1].seq, as[i-1].offset)
				break
			}
		}
	}
}

// valuesOf returns the values of recs.
func valuesOf(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// produceValues produces values to tp (in order, one batch per record)
// with the client's acks and returns the offsets, failing the test on
// error.
func produceValues(t *testing.T, cl *kgo.Client, tp clusterTP, values ...string) []int64 {
	t.Helper()
	var offs []int64
	for _, v := range values {
		r, err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: tp.topic, Partition: tp.p, Value: []byte(v)}).First()
		if err != nil {
			t.Fatalf("producing %q to %s: %v", v, tp, err)
		}
		offs = append(offs, r.Offset)
	}
	return offs
}

// numbered returns n values prefix-0 .. prefix-(n-1).
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// holdsFor polls cond for d and fails the test the first time it does
// not hold: for conditions that must stay true, not become true.
func holdsFor(t *testing.T, d time.Duration, what string, cond func() string) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if msg := cond(); msg != "" {
			t.Fatalf("%s did not hold: %s", what, msg)
		}
		time.Sleep(pollInterval)
	}
}

// sameSegments reports "" when tp's segment files are byte-identical on
// every node of nodes and end at leo, or how they differ.
func sameSegments(nodes []*clusterNode, tp clusterTP, leo int64) string {
	first, firstNames, err := segments(nodes[0], tp)
	if err != nil {
		return err.Error()
	}
	for _, nd := range nodes[1:] {
		b, names, err := segments(nd, tp)
		if err != nil {
			return err.Error()
		}
		if !slices.Equal(names, firstNames) || !bytes.Equal(b, first) {
			return fmt.Sprintf("node %d has segments %v (%d bytes), node %d %v (%d bytes)",
				nodes[0].id, firstNames, len(first), nd.id, names, len(b))
		}
	}
	end, err := logEnd(first)
	if err != nil {
		return err.Error()
	}
	if end != leo {
		return fmt.Sprintf("segments end at offset %d, the leader's log end offset is %d", end, leo)
	}
	return ""
}
