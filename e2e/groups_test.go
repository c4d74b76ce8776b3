package e2e

// Process-level consumer group tests (issue 5) on 3-node clusters with
// real clients: franz-go group members sharing partitions, leaving and
// restarting as static members; committed offsets read back; kcat
// balanced consumers; and the loss of the group coordinator's broker.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupConsumers runs three franz-go members of one group on a
// 12-partition RF=3 topic: they share the partitions (disjoint, non-empty,
// all 12), DescribeGroups reports the same assignment, and together they
// consume every record. Offsets committed by the members (specific
// offsets and leader epochs) and by kadm for an empty group (with
// metadata) are fetched back exactly. When one member leaves, the other
// two take over its partitions. Then, in a second group of three static
// members (group.instance.id), one member restarts within its session:
// it gets its partitions back and the other members see no rebalance
// (same generation, no rebalance callbacks).
func TestGroupConsumers(t *testing.T) {
	const (
		topic        = "grp-share"
		partitions   = 12
		perPartition = 20
		group        = "grp-share"
	)
	c := startGroupCluster(t)
	grpCreateTopic(t, c, topic, partitions, 3)
	grpProduce(t, grpProducer(t, c.nodes), topic, partitions, perPartition)
	adm := grpAdmin(t, c.nodes)
	waitGroupCoordinator(t, c.nodes, group, waitTimeout)

	var members []*grpMember
	for i := range 3 {
		members = append(members, startGrpMember(t, c.nodes, group, topic, fmt.Sprintf("member-%d", i+1), nil))
	}
	owner := waitShared(t, members, partitions, "three members sharing the 12 partitions")
	t.Logf("assignment: %s", ownership(members))
	checkDescribed(t, adm, group, topic, members)
	waitConsumedAll(t, members, partitions, perPartition)

	committed := commitByMembers(t, members, owner, topic)
	checkCommitted(t, adm, group, topic, committed)

	// One member leaves: the others take over its partitions.
	leaver := members[2]
	_, genBefore := members[0].generation()
	leaverParts := leaver.ownedSet()
	leaver.close()
	rest := members[:2]
	waitShared(t, rest, partitions, "two members sharing the 12 partitions after one left")
	t.Logf("after %s left (it owned %v): %s", leaver.name, leaverParts, ownership(rest))
	if _, gen := rest[0].generation(); gen <= genBefore {
		t.Errorf("generation %d after the leave, was %d", gen, genBefore)
	}
	checkDescribed(t, adm, group, topic, rest)
	checkCommitted(t, adm, group, topic, committed)

	checkAdminCommit(t, adm, topic)
	checkStaticRejoin(t, c, topic, partitions)
}

// checkDescribed checks DescribeGroups: Stable, the consumer protocol,
// exactly members (by client id) with the partitions each owns.
func checkDescribed(t *testing.T, adm *kadm.Client, group, topic string, members []*grpMember) {
	t.Helper()
	want := map[string][]int32{}
	for _, m := range members {
		want[m.name] = m.ownedSet()
	}
	var last string
	waitFor(t, waitTimeout, "DescribeGroups to match the members' assignment", func() (bool, string) {
		d, err := grpDescribe(adm, group)
		if err != nil {
			return false, err.Error()
		}
		got := describedAssignment(d, topic)
		last = fmt.Sprintf("state %s, protocol type %q, members %v, want %v", d.State, d.ProtocolType, got, want)
		ok := d.State == "Stable" && d.ProtocolType == "consumer" && maps.EqualFunc(got, want, slices.Equal)
		return ok, last
	})
	t.Logf("DescribeGroups: %s", last)
}

// waitConsumedAll waits until the members together have been handed every
// record (offsets [0, perPartition) of every partition), each by the
// member that owns the partition now.
func waitConsumedAll(t *testing.T, members []*grpMember, partitions int32, perPartition int) {
	t.Helper()
	waitFor(t, waitTimeout, "the members to consume every record", func() (bool, string) {
		got := map[int32]map[int64]bool{}
		for _, m := range members {
			m.mu.Lock()
			for p, offs := range m.consumed {
				if got[p] == nil {
					got[p] = map[int64]bool{}
				}
				for _, o := range offs {
					got[p][o] = true
				}
			}
			m.mu.Unlock()
		}
		for p := range partitions {
			if len(got[p]) != perPartition {
				return false, fmt.Sprintf("partition %d: %d of %d records consumed", p, len(got[p]), perPartition)
			}
		}
		return true, ""
	})
}

// commitByMembers has each member commit, for every partition it owns, a
// distinct offset and leader epoch (CommitOffsetsSync), and returns what
// was committed.
func commitByMembers(t *testing.T, members []*grpMember, owner map[int32]*grpMember, topic string) map[int32]kgo.EpochOffset {
	t.Helper()
	committed := map[int32]kgo.EpochOffset{}
	for _, m := range members {
		offs := map[int32]kgo.EpochOffset{}
		for p, o := range owner {
			if o == m {
				offs[p] = kgo.EpochOffset{Epoch: 7 + p, Offset: int64(3 + p)}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		var cerr error
		m.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: offs},
			func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				cerr = commitErr(resp, err)
			})
		cancel()
		if cerr != nil {
			t.Fatalf("%s committing %v: %v", m.name, offs, cerr)
		}
		maps.Copy(committed, offs)
	}
	return committed
}

// checkCommitted checks that FetchOffsets returns exactly want (offset and
// leader epoch) for every partition of topic.
func checkCommitted(t *testing.T, adm *kadm.Client, group, topic string, want map[int32]kgo.EpochOffset) {
	t.Helper()
	got, err := grpFetchCommitted(adm, group, topic)
	if err != nil {
		t.Fatalf("FetchOffsets %s: %v", group, err)
	}
	if len(got) != len(want) {
		t.Errorf("FetchOffsets %s: %d partitions, want %d", group, len(got), len(want))
	}
	for p, w := range want {
		if g, ok := got[p]; !ok || g.At != w.Offset || g.LeaderEpoch != w.Epoch {
			t.Errorf("FetchOffsets %s: %s[%d] = %+v, committed offset %d epoch %d", group, topic, p, g, w.Offset, w.Epoch)
		}
	}
}

// checkAdminCommit commits offsets with metadata for a group without
// members through kadm and fetches them back.
func checkAdminCommit(t *testing.T, adm *kadm.Client, topic string) {
	t.Helper()
	const group = "grp-admin"
	offs := kadm.Offsets{}
	for p := range int32(4) {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(10 * p), LeaderEpoch: p, Metadata: fmt.Sprintf("meta-%d", p)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := adm.CommitAllOffsets(ctx, group, offs); err != nil {
		t.Fatalf("kadm CommitOffsets %s: %v", group, err)
	}
	got, err := grpFetchCommitted(adm, group, topic)
	if err != nil {
		t.Fatalf("FetchOffsets %s: %v", group, err)
	}
	offs.Each(func(o kadm.Offset) {
		if g := got[o.Partition]; g.At != o.At || g.LeaderEpoch != o.LeaderEpoch || g.Metadata != o.Metadata {
			t.Errorf("FetchOffsets %s: %s[%d] = %+v, committed %+v", group, topic, o.Partition, g, o)
		}
	})
	if len(got) != len(offs[topic]) {
		t.Errorf("FetchOffsets %s: %d partitions, want %d", group, len(got), len(offs[topic]))
	}
}

// checkStaticRejoin runs three static members; one closes (a static
// member does not leave) and a new client with its instance id joins
// within the session timeout: it must get the same partitions, and the
// other two must see no rebalance.
func checkStaticRejoin(t *testing.T, c *testCluster, topic string, partitions int32) {
	t.Helper()
	const group = "grp-static"
	static := func(i int) *grpMember {
		id := fmt.Sprintf("static-%d", i)
		return startGrpMember(t, c.nodes, group, topic, id, nil, kgo.InstanceID(id))
	}
	members := []*grpMember{static(1), static(2), static(3)}
	waitShared(t, members, partitions, "three static members sharing the 12 partitions")
	// Let the group settle (a cooperative rebalance may take two rounds),
	// then remember what the others know.
	stable := holdStable(t, members, partitions, 2*grpHeartbeat+500*time.Millisecond)
	type seen struct {
		id        string
		gen       int32
		callbacks int
		owned     []int32
	}
	before := map[string]seen{}
	for _, m := range members {
		id, gen := m.generation()
		before[m.name] = seen{id, gen, m.callbackCount(), m.ownedSet()}
	}
	t.Logf("static members: %s (generation %d, stable)", ownership(members), stable)

	restarted := members[2]
	restarted.close()
	t0 := time.Now()
	again := static(3)
	members[2] = again
	waitFor(t, grpSessionTimeout, "the restarted static member to get its partitions back", func() (bool, string) {
		own := again.ownedSet()
		return slices.Equal(own, before[restarted.name].owned), fmt.Sprintf("owns %v, owned %v before", own, before[restarted.name].owned)
	})
	t.Logf("static member %s rejoined with its partitions %v after %v", restarted.name, again.ownedSet(), time.Since(t0).Round(time.Millisecond))
	// Give the others time to see a rebalance if one had started.
	holdStable(t, members, partitions, 2*grpHeartbeat+500*time.Millisecond)
	for _, m := range members[:2] {
		id, gen := m.generation()
		b := before[m.name]
		if id != b.id || gen != b.gen || m.callbackCount() != b.callbacks || !slices.Equal(m.ownedSet(), b.owned) {
			t.Errorf("%s saw a rebalance on a static rejoin: member id %s gen %d callbacks %d owned %v, before %s gen %d callbacks %d owned %v",
				m.name, id, gen, m.callbackCount(), m.ownedSet(), b.id, b.gen, b.callbacks, b.owned)
		}
	}
	if _, gen := again.generation(); gen != before[restarted.name].gen {
		t.Errorf("restarted static member is in generation %d, the group was in %d", gen, before[restarted.name].gen)
	}
}

// holdStable waits until the members share all partitions and then
// until their generations and ownership stay unchanged for d; it returns
// that generation.
func holdStable(t *testing.T, members []*grpMember, partitions int32, d time.Duration) int32 {
	t.Helper()
	var (
		gen   int32
		state string
		since time.Time
	)
	waitFor(t, waitTimeout, "the group to stay stable for "+d.String(), func() (bool, string) {
		if ok, msg := sharedCond(members, partitions); !ok {
			state = ""
			return false, msg
		}
		_, gen = members[0].generation()
		now := fmt.Sprintf("generation %d: %s", gen, ownership(members))
		if now != state {
			state, since = now, time.Now()
		}
		return time.Since(since) >= d, fmt.Sprintf("%s since %v", state, time.Since(since).Round(time.Millisecond))
	})
	return gen
}

// TestGroupKcat runs two kcat (librdkafka) balanced consumers in one group
// at once (-G, from the beginning, exiting at the end of the partitions):
// together they print every record exactly once and commit the end
// offsets, and a third run of the group prints nothing.
func TestGroupKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat); .ci/run installs it")
	}
	const (
		topic        = "grp-kcat"
		group        = "grp-kcat"
		partitions   = 6
		perPartition = 50
	)
	// A longer initial delay lets both kcat processes join the first
	// generation.
	c := startGroupCluster(t, "group.initial.rebalance.delay.ms=2000")
	grpCreateTopic(t, c, topic, partitions, 3)
	grpProduce(t, grpProducer(t, c.nodes), topic, partitions, perPartition)
	waitGroupCoordinator(t, c.nodes, group, waitTimeout)
	brokers := strings.Join(grpAddrs(c.nodes), ",")
	// Not "-o beginning": with -G, kcat's rebalance callback sets every
	// assigned partition to the -o offset, overriding the committed one.
	args := []string{"-b", brokers, "-G", group, topic, "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", "%p %o %s\n",
		"-X", "session.timeout.ms=8000", "-X", "heartbeat.interval.ms=300"}

	outs := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() { outs[i], errs[i] = kcatRun(kcat, args...) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("kcat consumer %d: %v", i+1, err)
		}
	}
	seen := map[string]int{}
	for i, out := range outs {
		lines := kcatLines(out)
		t.Logf("kcat consumer %d printed %d records", i+1, len(lines))
		for _, l := range lines {
			seen[l]++
		}
	}
	for p := range int32(partitions) {
		for seq := range perPartition {
			line := fmt.Sprintf("%d %d %s", p, seq, grpValue(p, seq))
			if n := seen[line]; n != 1 {
				t.Errorf("record %q printed %d times by the two kcat consumers, want once", line, n)
			}
			delete(seen, line)
		}
	}
	for l := range seen {
		t.Errorf("kcat printed a record that was not produced: %q", l)
	}

	adm := grpAdmin(t, c.nodes)
	got, err := grpFetchCommitted(adm, group, topic)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	for p := range int32(partitions) {
		if got[p].At != perPartition {
			t.Errorf("committed offset of %s[%d] is %+v, want the end %d", topic, p, got[p], perPartition)
		}
	}

	out, err := kcatRun(kcat, args...)
	if err != nil {
		t.Fatalf("third kcat consumer: %v", err)
	}
	if lines := kcatLines(out); len(lines) != 0 {
		t.Errorf("third kcat run of the group printed %d records, want none: %q", len(lines), lines[:min(5, len(lines))])
	}
}

// kcatRun runs kcat with args for at most a minute and returns its
// stdout, or an error with its stderr.
func kcatRun(kcat string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(stderr.String(), 40))
	}

	return stdout.String(), nil
}

// kcatLines splits kcat output into lines.
func kcatLines(out string) []string {
	out = strings.TrimSuffix(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// TestGroupCoordinatorFailover runs two members that commit what they
// consume after every poll while a producer keeps writing, SIGKILLs the
// broker coordinating the group (one that is not the active controller,
// so that only the coordinator fails over), and checks that another node
// becomes the coordinator within the session timeout plus a margin, that
// FetchOffsets then returns, for every partition, at least the last
// commit acknowledged before the kill, that the group goes on consuming
// and committing, and that every record handed out again has an offset at
// or past its partition's last acknowledged commit (no acknowledged
// commit lost, reprocessing limited to the uncommitted window).
func TestGroupCoordinatorFailover(t *testing.T) {
	const (
		topic      = "grp-failover"
		partitions = 6
	)
	c := startGroupCluster(t)
	grpCreateTopic(t, c, topic, partitions, 3)
	ctrl := waitController(t, c.nodes, waitTimeout)
	group, coord := groupCoordinatedBy(t, c.nodes, "grp-failover", func(id int32) bool { return id != ctrl })
	t.Logf("group %s is coordinated by node %d (controller %d)", group, coord, ctrl)

	load := startGrpLoad(t, c.nodes, topic, partitions, 20*time.Millisecond)
	tr := newCommitTracker(topic)
	members := []*grpMember{
		startGrpMember(t, c.nodes, group, topic, "member-1", tr.onPoll, kgo.BlockRebalanceOnPoll()),
		startGrpMember(t, c.nodes, group, topic, "member-2", tr.onPoll, kgo.BlockRebalanceOnPoll()),
	}
	waitShared(t, members, partitions, "two members sharing the partitions")
	if d, err := grpDescribe(grpAdmin(t, c.nodes), group); err != nil || d.Coordinator.NodeID != coord {
		t.Fatalf("DescribeGroups %s: coordinator %d, error %v; FindCoordinator said %d", group, d.Coordinator.NodeID, err, coord)
	}
	waitCommitsPast(t, tr, partitions, 50, "every partition committed past offset 50")

	_, genBefore := members[0].generation()
	victim := c.node(coord)
	survivors := withoutNode(c.nodes, coord)
	atKill := tr.markKill()
	killed := time.Now()
	victim.kill9()
	bound := clSessionTimeout + 4*time.Second
	newCoord := waitGroupCoordinator(t, survivors, group, bound)
	adm := grpAdmin(t, survivors)
	var got map[int32]kadm.Offset
	waitFor(t, bound, "FetchOffsets from the new coordinator", func() (bool, string) {
		var err error
		got, err = grpFetchCommitted(adm, group, topic)
		return err == nil, fmt.Sprint(err)
	})
	took := time.Since(killed)
	t.Logf("coordinator failover: node %d -> node %d, FetchOffsets answered %v after SIGKILL (bound %v)",
		coord, newCoord, took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("coordinator failover took %v, more than %v", took, bound)
	}
	for p := range int32(partitions) {
		if got[p].At < atKill[p] {
			t.Errorf("after failover FetchOffsets %s[%d] = %d, below the commit %d acknowledged before the kill", topic, p, got[p].At, atKill[p])
		}
	}

	// The group goes on: every partition commits past its end at the
	// failover, then, once the producer stops, up to the end.
	ends := grpEndOffsets(t, adm, topic)
	waitCommitsAt(t, tr, ends, 2*waitTimeout, "commits past the end offsets seen after the failover")
	load.stop()
	sent, acked, errs := load.result()
	if len(errs) > 0 || acked != sent {
		t.Errorf("producer: %d sent, %d acknowledged, errors %v", sent, acked, errs[:min(3, len(errs))])
	}
	ends = grpEndOffsets(t, adm, topic)
	waitCommitsAt(t, tr, ends, waitTimeout, "commits at the final end offsets")
	_, genAfter := members[0].generation()
	t.Logf("group generation %d before the kill, %d at the end", genBefore, genAfter)
	for _, m := range members {
		m.close()
	}
	checkRedeliveries(t, tr, atKill)
}

// groupCoordinatedBy returns the first group named prefix-N whose
// coordinator ok accepts, and that coordinator.
func groupCoordinatedBy(t *testing.T, nodes []*clusterNode, prefix string, ok func(int32) bool) (string, int32) {
	t.Helper()
	for i := range 50 {
		group := fmt.Sprintf("%s-%d", prefix, i)
		if id := waitGroupCoordinator(t, nodes, group, waitTimeout); ok(id) {
			return group, id
		}
	}
	t.Fatalf("no group %s-N has a suitable coordinator", prefix)
	return "", -1
}

// grpEndOffsets lists topic's end offsets, retrying errors.
func grpEndOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	var ends map[int32]int64
	waitFor(t, waitTimeout, "end offsets of "+topic, func() (bool, string) {
		var err error
		ends, err = tryOffsets(adm.ListEndOffsets, topic)
		return err == nil, fmt.Sprint(err)
	})
	return ends
}

// waitCommitsPast waits until every partition's acknowledged commit is at
// least min.
func waitCommitsPast(t *testing.T, tr *commitTracker, partitions int32, atLeast int64, what string) {
	t.Helper()
	want := map[int32]int64{}
	for p := range partitions {
		want[p] = atLeast
	}
	waitCommitsAt(t, tr, want, waitTimeout, what)
}

// waitCommitsAt waits until every partition p's acknowledged commit is at
// least want[p].
func waitCommitsAt(t *testing.T, tr *commitTracker, want map[int32]int64, timeout time.Duration, what string) {
	t.Helper()
	waitFor(t, timeout, what, func() (bool, string) {
		acked := tr.ackedCommits()
		for p, w := range want {
			if acked[p] < w {
				return false, fmt.Sprintf("partition %d: acknowledged commit %d, want %d (all: %v)", p, acked[p], w, acked)
			}
		}
		return true, ""
	})
}

// checkRedeliveries checks every record handed out twice: its offset is
// at or past its partition's last acknowledged commit when it was handed
// out again, and, after the kill, past the last commit acknowledged
// before the kill.
func checkRedeliveries(t *testing.T, tr *commitTracker, atKill map[int32]int64) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	after := 0
	for _, r := range tr.redeliv {
		if r.afterKill {
			after++
			if r.offset < atKill[r.p] {
				t.Errorf("partition %d: offset %d handed out again after the failover, below the commit %d acknowledged before it", r.p, r.offset, atKill[r.p])
			}
		}
		if r.offset < r.acked {
			t.Errorf("partition %d: offset %d handed out again, below the acknowledged commit %d", r.p, r.offset, r.acked)
		}
	}
	t.Logf("records handed out again (first 10): %+v (acknowledged commits at the kill: %v)", tr.redeliv[:min(10, len(tr.redeliv))], atKill)
	var total int64
	for _, n := range tr.next {
		total += n
	}
	t.Logf("consumed %d records; %d acknowledged commits, %d failed; %d records handed out again (%d after the kill)",
		total, tr.commits, tr.failed, len(tr.redeliv), after)
}
