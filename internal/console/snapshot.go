package console

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// snapshot is one batched view of the cluster: a Metadata request, then
// in parallel start and end offsets of every partition (one ListOffsets
// per leader each), DescribeLogDirs of every broker, the topics' configs
// (one DescribeConfigs), DescribeTopicPartitions for the eligible leader
// replicas and DescribeQuorum. Only Metadata must succeed; the other
// parts that fail leave their maps empty and add a warning. A snapshot
// is immutable once built: pages read it from many goroutines.
type snapshot struct {
	at       time.Time
	took     time.Duration
	meta     kadm.Metadata
	start    kadm.ListedOffsets
	end      kadm.ListedOffsets
	logDirs  kadm.DescribedAllLogDirs
	configs  map[string][]kadm.Config // by topic
	elr      map[string]map[int32]elrInfo
	quorum   *quorumInfo
	warnings []string
	timings  string // how long each part took, for the overview's tooltip

	// configErrs are the topics whose configs were refused or failed.
	configErrs map[string]error
}

// elrInfo is a partition's KIP-966 state from DescribeTopicPartitions.
type elrInfo struct {
	ELR, LastKnownELR []int32
}

// quorumInfo is the metadata quorum from DescribeQuorum.
type quorumInfo struct {
	Leader, Epoch int32
	HighWatermark int64
	Voters        []quorumReplica
	Observers     []quorumReplica
}

// quorumReplica is one voter's or observer's progress.
type quorumReplica struct {
	ID           int32
	LogEnd       int64
	LastFetch    int64 // ms since the epoch; -1 unknown
	LastCaughtUp int64
}

// snapshotCache holds the latest snapshot. Pages take it while it is
// younger than maxAge (twice the TTL) and otherwise build a new one; the
// server's background loop rebuilds it every TTL while pages are being
// viewed, so that a page seldom waits for the cluster. One build runs at
// a time; the others wait for it and take its result.
type snapshotCache struct {
	ttl     time.Duration
	buildMu sync.Mutex // held while building
	mu      sync.Mutex // guards last
	last    *snapshot
}

// fresh returns the cached snapshot if it is younger than maxAge.
func (c *snapshotCache) fresh(maxAge time.Duration) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && time.Since(c.last.at) < maxAge {
		return c.last
	}
	return nil
}

func (c *snapshotCache) store(s *snapshot) {
	c.mu.Lock()
	c.last = s
	c.mu.Unlock()
}

// get returns a snapshot younger than maxAge, built by build when needed.
// While another caller is building one, a snapshot up to 1.5 × maxAge old
// is good enough: the page does not wait for the build.
func (c *snapshotCache) get(maxAge time.Duration, build func() (*snapshot, error)) (*snapshot, error) {
	if s := c.fresh(maxAge); s != nil {
		return s, nil
	}
	if !c.buildMu.TryLock() {
		if s := c.fresh(maxAge + maxAge/2); s != nil {
			return s, nil
		}
		c.buildMu.Lock()
	}
	defer c.buildMu.Unlock()
	if s := c.fresh(maxAge); s != nil { // built while this caller waited
		return s, nil
	}
	s, err := build()
	if err != nil {
		return nil, err
	}
	c.store(s)
	return s, nil
}

// refresh builds a new snapshot unless one younger than ttl/2 exists.
func (c *snapshotCache) refresh(build func() (*snapshot, error)) {
	_, _ = c.get(c.ttl/2, build)
}

// invalidate drops the cached snapshot, after a change made by a form.
func (c *snapshotCache) invalidate() {
	c.store(nil)
}

// snapshot returns the cluster view, at most twice the TTL old. It is
// built under its own timeout, not the caller's request context, so that
// one closed browser tab does not fail the pages waiting on the same build.
func (s *Server) snapshot() (*snapshot, error) {
	return s.snaps.get(2*s.snaps.ttl, s.build)
}

// build builds a snapshot and feeds it to the event log.
func (s *Server) build() (*snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	snap, err := s.buildSnapshot(ctx)
	if err == nil {
		s.events.observe(snap)
	}
	return snap, err
}

func (s *Server) buildSnapshot(ctx context.Context) (*snapshot, error) {
	t0 := time.Now()
	meta, err := s.adm.Metadata(freshMetadata(ctx))
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	snap := &snapshot{meta: meta}
	names := meta.Topics.Names()
	// A broker that is paused or cut off answers nothing until the
	// deadline: the other sections give up on it sooner and say so, so a
	// page shows the rest within seconds rather than at RequestTimeout.
	ctx, cancel := context.WithTimeout(ctx, sectionTimeout)
	defer cancel()
	var mu sync.Mutex
	warn := func(what string, err error) {
		mu.Lock()
		snap.warnings = append(snap.warnings, snapshotWarning(what, err))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	timings := []string{fmt.Sprintf("metadata %d ms", time.Since(t0).Milliseconds())}
	timed := func(what string, fn func()) {
		wg.Go(func() {
			t := time.Now()
			fn()
			mu.Lock()
			timings = append(timings, fmt.Sprintf("%s %d ms", what, time.Since(t).Milliseconds()))
			mu.Unlock()
		})
	}
	timed("start offsets", func() { snap.start = listOffsets(ctx, s.adm.ListStartOffsets, names, "log start offsets", warn) })
	timed("end offsets", func() { snap.end = listOffsets(ctx, s.adm.ListEndOffsets, names, "end offsets", warn) })
	timed("log dirs", func() { snap.logDirs = s.describeLogDirs(ctx, warn) })
	timed("configs", func() { snap.configs, snap.configErrs = s.topicConfigs(ctx, names, warn) })
	timed("ELR", func() { snap.elr = s.describeELR(ctx, names, warn) })
	timed("quorum", func() { snap.quorum = s.describeQuorum(ctx, warn) })
	wg.Wait()
	sort.Strings(snap.warnings)
	snap.timings = strings.Join(timings, ", ")
	snap.at = time.Now()
	snap.took = snap.at.Sub(t0)
	return snap, nil
}

// sectionTimeout bounds each part of a snapshot after its Metadata.
const sectionTimeout = 2 * time.Second

// freshMetadata makes kadm's Metadata calls ask a broker instead of
// answering from the client's metadata cache (which may be seconds old:
// a page must show a leader move or a new topic at once). The price is
// that the response carries the authorized operations too.
func freshMetadata(ctx context.Context) context.Context {
	return kadm.WithAuthorizedOps(ctx)
}

// listOffsets calls list (ListStartOffsets or ListEndOffsets) for names;
// a failure is a warning and an empty result.
func listOffsets(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error),
	names []string, what string, warn func(string, error)) kadm.ListedOffsets {
	if len(names) == 0 {
		return kadm.ListedOffsets{}
	}
	out, err := list(ctx, names...)
	if err != nil {
		warn(what, err)
		return kadm.ListedOffsets{}
	}
	return out
}

func (s *Server) describeLogDirs(ctx context.Context, warn func(string, error)) kadm.DescribedAllLogDirs {
	out, err := s.adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		warn("log dirs", err)
	}
	if out == nil {
		out = kadm.DescribedAllLogDirs{}
	}
	return out
}

// snapshotWarning words a failed part of the snapshot; a refusal says
// "not authorized" plainly.
func snapshotWarning(what string, err error) string {
	if isAuthErr(err) {
		return what + ": not authorized (" + errCode(err) + "): the console's principal may not describe them"
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// configsWarningPrefix begins the snapshot's warning about topic configs.
const configsWarningPrefix = "topic configs: "

// topicConfigs describes the configs of names in one DescribeConfigs
// (kmsg, not kadm: kadm drops every topic's configs when one is refused).
// It returns the configs and the error of each topic that has one; the
// failures are summed up in one warning.
func (s *Server) topicConfigs(ctx context.Context, names []string, warn func(string, error)) (map[string][]kadm.Config, map[string]error) {
	out, errs := map[string][]kadm.Config{}, map[string]error{}
	if len(names) == 0 {
		return out, errs
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, n := range names {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, n
		req.Resources = append(req.Resources, r)
	}
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		warn("topic configs", err)
		return out, errs
	}
	denied := 0
	var firstErr error
	for _, r := range resp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			errs[r.ResourceName] = err
			if isAuthErr(err) {
				denied++
			}
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		cs := make([]kadm.Config, 0, len(r.Configs))
		for _, c := range r.Configs {
			cs = append(cs, kadm.Config{Key: c.Name, Value: c.Value, Sensitive: c.IsSensitive, Source: c.Source})
		}
		out[r.ResourceName] = cs
	}
	switch {
	case denied > 0:
		warn("topic configs", fmt.Errorf("not authorized to describe the configs of %d of %d topics (%s)", denied, len(names), errCode(kerr.TopicAuthorizationFailed)))
	case firstErr != nil:
		warn("topic configs", fmt.Errorf("%d of %d topics failed, the first: %w", len(errs), len(names), firstErr))
	}
	return out, errs
}

// configsWarning words a topic's configs failure for its page.
func configsWarning(topic string, err error) string {
	if isAuthErr(err) {
		return "configs: " + deniedText("describe the configs of topic "+topic, err)
	}
	return "configs: " + err.Error()
}

// describeELR pages DescribeTopicPartitions (v0, KIP-966) over every
// topic; a broker without it leaves the map empty with a warning.
func (s *Server) describeELR(ctx context.Context, names []string, warn func(string, error)) map[string]map[int32]elrInfo {
	out := map[string]map[int32]elrInfo{}
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = 2000
	for _, n := range names {
		t := kmsg.NewDescribeTopicPartitionsRequestTopic()
		t.Topic = n
		req.Topics = append(req.Topics, t)
	}
	for range 100 { // bounded paging: 200,000 partitions at the limit
		resp, err := req.RequestWith(ctx, s.cl)
		if err != nil {
			warn("eligible leader replicas", err)
			return out
		}
		addELR(out, resp)
		if resp.NextCursor == nil || len(names) == 0 {
			return out
		}
		req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	return out
}

func addELR(out map[string]map[int32]elrInfo, resp *kmsg.DescribeTopicPartitionsResponse) {
	for _, t := range resp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 {
			continue
		}
		ps := out[*t.Topic]
		if ps == nil {
			ps = map[int32]elrInfo{}
			out[*t.Topic] = ps
		}
		for _, p := range t.Partitions {
			ps[p.Partition] = elrInfo{ELR: p.EligibleLeaderReplicas, LastKnownELR: p.LastKnownELR}
		}
	}
}

// describeQuorum asks for the metadata quorum (KIP-595); nil when the
// cluster does not answer it (ZooKeeper-era Kafka, no authorization).
func (s *Server) describeQuorum(ctx context.Context, warn func(string, error)) *quorumInfo {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, s.cl)
	if err == nil && resp.ErrorCode != 0 {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		warn("metadata quorum", err)
		return nil
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				return quorumFrom(p)
			}
		}
	}
	return nil
}

func quorumFrom(p kmsg.DescribeQuorumResponseTopicPartition) *quorumInfo {
	q := &quorumInfo{Leader: p.LeaderID, Epoch: p.LeaderEpoch, HighWatermark: p.HighWatermark}
	conv := func(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) []quorumReplica {
		out := make([]quorumReplica, 0, len(rs))
		for _, r := range rs {
			out = append(out, quorumReplica{ID: r.ReplicaID, LogEnd: r.LogEndOffset, LastFetch: r.LastFetchTimestamp, LastCaughtUp: r.LastCaughtUpTimestamp})
		}
		slices.SortFunc(out, func(a, b quorumReplica) int { return int(a.ID) - int(b.ID) })
		return out
	}
	q.Voters, q.Observers = conv(p.CurrentVoters), conv(p.Observers)
	return q
}

// configValue returns topic's config key from the snapshot ("" if absent).
func (sn *snapshot) configValue(topic, key string) string {
	for _, c := range sn.configs[topic] {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

// minISR returns the topic's min.insync.replicas (1 when unknown).
func (sn *snapshot) minISR(topic string) int {
	n, err := strconv.Atoi(sn.configValue(topic, "min.insync.replicas"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// replicaSize returns the size and offset lag of topic/partition on
// broker, and whether the broker reported it.
func (sn *snapshot) replicaSize(broker int32, topic string, partition int32) (kadm.DescribedLogDirPartition, bool) {
	for _, dir := range sn.logDirs[broker] {
		if p, ok := dir.Topics.Lookup(topic, partition); ok {
			return p, true
		}
	}
	return kadm.DescribedLogDirPartition{}, false
}
