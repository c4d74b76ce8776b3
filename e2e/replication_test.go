package e2e

// Process-level tests of replication (issue 4): separate fjord processes,
// each broker and controller, with real franz-go clients. They check the
// promises of DESIGN.md §1 — no acknowledged acks=all write lost while
// min.insync.replicas of the ISR survive, ISR shrink and expansion,
// min.insync.replicas, truncation of a diverged old leader, unclean
// election only when enabled, controlled shutdown — from the outside.
// Tests that stop two nodes of a partition run 5 voters, so that the
// controller quorum survives.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReplicationLeaderKillKeepsAckedWrites: RF 3, min.insync.replicas=2,
// three acks=all producers (retries on, idempotence off) write to three
// partitions; the leader of one partition (not the active controller) is
// SIGKILLed mid-stream. A new leader is elected from the ISR, the
// producers go on writing to that partition through it, and afterwards a
// fresh consumer finds every acknowledged record at its acknowledged
// offset, each producer's in the order it sent them.
func TestReplicationLeaderKillKeepsAckedWrites(t *testing.T) {
	rc := startRepCluster(t, 3, repLag)
	all := rc.nodes
	const topic = "acked"
	if err := rc.node(1).createTopics(3, 3, map[string]string{"min.insync.replicas": "2"}, topic); err != nil {
		t.Fatal(err)
	}
	before := waitAgreed(t, all, waitTimeout, "topic with full ISRs", allConds(topicReady(topic, 3), fullISRs(topic)))
	ctrl := waitController(t, all, waitTimeout)
	tp := clusterTP{topic, -1}
	for p := range int32(3) {
		if l := before.Parts[clusterTP{topic, p}].Leader; l != ctrl {
			tp = clusterTP{topic, p}
			break
		}
	}
	if tp.p < 0 {
		t.Fatalf("the controller %d leads every partition: %+v", ctrl, before.topic(topic))
	}
	victim := rc.node(before.Parts[tp].Leader)
	survivors := withoutNode(all, victim.id)

	load := startLoad(t, all, topic, []int32{0, 1, 2}, 3, 2*time.Millisecond)
	load.waitAcked(t, waitTimeout, 300, 0, 1, 2)
	killed := load.watch(tp.p, victim.id)
	victim.kill9()
	after := waitPartition(t, survivors, clFailoverBound, fmt.Sprintf("a new leader of %s", tp), tp, func(p partView) string {
		if p.Leader < 0 || p.Leader == victim.id || p.Epoch <= before.Parts[tp].Epoch {
			return "no new leader"
		}
		return ""
	})
	elected := time.Since(killed)
	waitFor(t, waitTimeout, fmt.Sprintf("300 records of %s acknowledged by its new leader", tp), func() (bool, string) {
		_, n := load.watched()
		return n >= 300, fmt.Sprintf("%d acknowledged by the new leader", n)
	})
	first, _ := load.watched()
	acks, errs := load.results()
	t.Logf("%s: leader %d SIGKILLed; node %d leads (epoch %d) in Metadata %v later; first acks=all produce acknowledged by it %v after the SIGKILL",
		tp, victim.id, after.Leader, after.Epoch, elected.Round(time.Millisecond), first.Sub(killed).Round(time.Millisecond))
	if !slices.Contains(before.Parts[tp].ISR, after.Leader) {
		t.Errorf("%s: new leader %d was not in the ISR %v", tp, after.Leader, before.Parts[tp].ISR)
	}
	if len(errs) > 0 {
		t.Logf("%d records failed (allowed here; first: %v)", len(errs), errs[0])
	}

	ends := endOffsets(t, survivors, topic)
	got := consumeAll(t, survivors, topic, ends)
	checkAcksPresent(t, topic, acks, got)
	t.Logf("%d records acknowledged; end offsets %v", len(acks), ends)
}

// TestReplicationMinISR (5 voters, RF 3, min.insync.replicas=2): with one
// follower paused (SIGSTOP: alive, so not fenced before its session
// expires) the leader shrinks the ISR to 2 within replica.lag.time.max.ms
// plus a margin and acks=all writes go on. With both followers down the
// ISR is the leader alone: acks=all produce fails with NOT_ENOUGH_REPLICAS
// and appends nothing (the leader's log end offset does not move), acks=1
// still works but the high watermark stays put; once the two are
// restarted the ISR is back to 3 and the HW passes the acks=1 records,
// which a consumer then reads — and none of the refused ones.
func TestReplicationMinISR(t *testing.T) {
	rc := startRepCluster(t, 5, repLag)
	all := rc.nodes
	ctrl := waitController(t, all, waitTimeout)
	others := nodeIDs(withoutNode(all, ctrl))
	tp := clusterTP{"minisr", 0}
	createAssigned(t, rc.node(others[0]), tp.topic, map[string]string{"min.insync.replicas": "2"}, others[:3])
	v := waitPartition(t, all, waitTimeout, "partition with a full ISR", tp, isrIs(others[:3]...))
	leader := rc.node(v.Leader)
	followers := withoutNode(withoutNode(withoutNode(all, leader.id), others[3]), ctrl) // the other two replicas
	f1, f2 := followers[0], followers[1]

	shrinks0 := rc.metric(t, leader.id, mISRShrinks)
	load := startLoad(t, all, tp.topic, []int32{0}, 2, 2*time.Millisecond)
	load.waitAcked(t, waitTimeout, 200, 0)
	paused := time.Now()
	f1.pause()
	live := withoutNode(all, f1.id)
	bound := rc.lag + rc.lag/2 + 2*time.Second // lag, the shrink check period, and a margin
	waitPartition(t, live, bound, fmt.Sprintf("ISR without node %d", f1.id), tp, isrIs(leader.id, f2.id))
	shrunk := time.Since(paused)
	t.Logf("one follower paused: ISR shrank to 2 %v later (replica.lag.time.max.ms %v)", shrunk.Round(time.Millisecond), rc.lag)
	// The leader shrank it (before the controller fenced the dead broker).
	if s := rc.metric(t, leader.id, mISRShrinks); s != shrinks0+1 {
		t.Errorf("leader %d: %s %v, was %v: want one shrink", leader.id, mISRShrinks, s, shrinks0)
	}
	load.waitAcked(t, waitTimeout, 200, 0)
	acks, errs := load.results()
	if len(errs) > 0 {
		t.Errorf("%d acks=all records failed with one follower down; first: %v", len(errs), errs[0])
	}

	f2.kill9()
	live = withoutNode(live, f2.id)
	// No writes now: the dead follower stays caught up for the leader
	// (same log end offset), and leaves the ISR when the controller
	// fences it (at once: its listeners refuse, fast crash detection).
	waitPartition(t, live, clFailoverBound, fmt.Sprintf("ISR without node %d", f2.id), tp, isrIs(leader.id))
	hw0, leo0 := mustOffsetsOn(t, leader, tp)
	if hw0 != leo0 {
		t.Errorf("%s: HW %d, log end offset %d before the refused produces: acknowledged records not yet committed", tp, hw0, leo0)
	}
	all1 := repClient(t, live, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordRetries(0))
	refused := numbered("refused", 5)
	for _, val := range refused {
		_, err := all1.ProduceSync(ctxT(t), &kgo.Record{Topic: tp.topic, Partition: tp.p, Value: []byte(val)}).First()
		if !errors.Is(err, kerr.NotEnoughReplicas) {
			t.Errorf("acks=all produce with the ISR at 1 of min 2: %v, want NOT_ENOUGH_REPLICAS", err)
		}
	}
	if hw, leo := mustOffsetsOn(t, leader, tp); hw != hw0 || leo != leo0 {
		t.Errorf("%s after refused acks=all produces: HW %d, log end %d; were %d, %d (something was appended)", tp, hw, leo, hw0, leo0)
	}
	one := repClient(t, live, kgo.RequiredAcks(kgo.LeaderAck()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	acks1 := numbered("acks1", 10)
	offs := produceValues(t, one, tp, acks1...)
	if offs[0] != leo0 {
		t.Errorf("first acks=1 record at offset %d, want the log end %d", offs[0], leo0)
	}
	if hw, leo := mustOffsetsOn(t, leader, tp); hw != hw0 || leo != leo0+10 {
		t.Errorf("%s after 10 acks=1 records with the ISR below min: HW %d, log end %d; want %d, %d", tp, hw, leo, hw0, leo0+10)
	}

	restarted := time.Now()
	f1.resume()
	f2.start()
	waitPartition(t, all, readyTimeout, "ISR back to 3", tp, isrIs(leader.id, f1.id, f2.id))
	t.Logf("one follower resumed, one restarted: ISR back to 3 %v later", time.Since(restarted).Round(time.Millisecond))
	waitFor(t, waitTimeout, "HW past the acks=1 records", func() (bool, string) {
		hw, _, err := offsetsOn(leader, tp)
		if err != nil {
			return false, err.Error()
		}
		return hw >= leo0+10, fmt.Sprintf("HW %d, want %d", hw, leo0+10)
	})
	ends := endOffsets(t, all, tp.topic)
	if ends[tp.p] != leo0+10 {
		t.Errorf("%s: end offset %d, want %d", tp, ends[tp.p], leo0+10)
	}
	got := consumeAll(t, all, tp.topic, ends)
	checkAcksPresent(t, tp.topic, acks, got)
	vals := valuesOf(got[tp.p])
	if tail := vals[min(int(leo0), len(vals)):]; !slices.Equal(tail, acks1) {
		t.Errorf("%s: records from offset %d: %q, want the acks=1 records %q", tp, leo0, tail, acks1)
	}
	for _, val := range refused {
		if slices.Contains(vals, val) {
			t.Errorf("%s: refused acks=all record %q was appended", tp, val)
		}
	}
}

// TestReplicationPausedFollower: a follower paused with SIGSTOP longer
// than replica.lag.time.max.ms (but less than the broker session, raised
// to 10 s here so the controller does not fence it) leaves the ISR, by the
// leader's own shrink (its isrshrinks metric counts it), while acks=all
// writes go on; after SIGCONT it catches up and rejoins (isrexpands).
func TestReplicationPausedFollower(t *testing.T) {
	rc := startRepCluster(t, 3, repLag, "broker.session.timeout.ms=10000")
	all := rc.nodes
	ctrl := waitController(t, all, waitTimeout)
	others := nodeIDs(withoutNode(all, ctrl))
	tp := clusterTP{"paused", 0}
	replicas := []int32{others[0], others[1], ctrl} // leader and paused follower are not the controller
	createAssigned(t, rc.node(ctrl), tp.topic, map[string]string{"min.insync.replicas": "2"}, replicas)
	v := waitPartition(t, all, waitTimeout, "partition with a full ISR", tp, isrIs(replicas...))
	leader, paused := rc.node(v.Leader), rc.node(others[1])
	if leader.id == paused.id {
		paused = rc.node(others[0])
	}
	shrinks0, expands0 := rc.metric(t, leader.id, mISRShrinks), rc.metric(t, leader.id, mISRExpands)

	load := startLoad(t, all, tp.topic, []int32{0}, 1, 5*time.Millisecond)
	load.waitAcked(t, waitTimeout, 100, 0)
	paused.pause()
	pausedAt := time.Now()
	live := withoutNode(all, paused.id)
	waitPartition(t, live, rc.lag+rc.lag/2+3*time.Second, fmt.Sprintf("node %d out of the ISR", paused.id), tp,
		isrIs(leader.id, ctrl))
	left := time.Since(pausedAt)
	load.waitAcked(t, waitTimeout, 50, 0)
	paused.resume()
	resumedAt := time.Now()
	t.Logf("follower %d paused: left the ISR %v later (replica.lag.time.max.ms %v); resumed after %v",
		paused.id, left.Round(time.Millisecond), rc.lag, resumedAt.Sub(pausedAt).Round(time.Millisecond))
	if s := rc.metric(t, leader.id, mISRShrinks); s != shrinks0+1 {
		t.Errorf("leader %d: %s %v, was %v: want one shrink", leader.id, mISRShrinks, s, shrinks0)
	}
	waitPartition(t, all, waitTimeout, fmt.Sprintf("node %d back in the ISR", paused.id), tp, isrIs(replicas...))
	t.Logf("follower %d rejoined the ISR %v after SIGCONT", paused.id, time.Since(resumedAt).Round(time.Millisecond))
	waitFor(t, waitTimeout, "isrexpands to count the rejoin", func() (bool, string) {
		e := rc.metric(t, leader.id, mISRExpands)
		return e == expands0+1, fmt.Sprintf("%s %v, was %v", mISRExpands, e, expands0)
	})
	load.waitAcked(t, waitTimeout, 50, 0)
	acks, errs := load.results()
	if len(errs) > 0 {
		t.Errorf("%d acks=all records failed; first: %v", len(errs), errs[0])
	}
	ends := endOffsets(t, all, tp.topic)
	checkAcksPresent(t, tp.topic, acks, consumeAll(t, all, tp.topic, ends))
}

// TestReplicationDivergentLeaderTruncates: the leader of a partition
// appends acks=1 records while both followers are paused (so they never
// fetch them), then is paused itself; the followers resume, the
// controller fences the old leader after its session and elects a new
// one from the ISR, which takes acks=all writes. A raw acks=all Produce
// queued to the old leader while it is paused — a zombie leader when it
// wakes up — is never acknowledged. Once resumed, the old leader truncates
// its unreplicated suffix and follows: the three replicas' segment files
// end byte-identical at the leader's log end offset, and a consumer reads
// the records of both acknowledged rounds and none of the lost ones.
func TestReplicationDivergentLeaderTruncates(t *testing.T) {
	// A long replica.lag.time.max.ms: the ISR must not shrink while the
	// followers are paused. A short fetch wait bounds the follower fetches
	// pending at the leader when they are paused.
	rc := startRepCluster(t, 3, 20*time.Second, "replica.fetch.wait.max.ms=100")
	all := rc.nodes
	ctrl := waitController(t, all, waitTimeout)
	others := nodeIDs(withoutNode(all, ctrl))
	tp := clusterTP{"diverge", 0}
	replicas := []int32{others[0], others[1], ctrl}
	createAssigned(t, rc.node(ctrl), tp.topic, map[string]string{"min.insync.replicas": "2"}, replicas)
	v := waitPartition(t, all, waitTimeout, "partition with a full ISR", tp, isrIs(replicas...))
	old := rc.node(v.Leader)
	followers := withoutNode(all, old.id)

	allAcks := repClient(t, all, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	round1 := numbered("round1", 50)
	produceValues(t, allAcks, tp, round1...)
	waitFor(t, waitTimeout, "followers to have round 1", func() (bool, string) {
		_, leo := mustOffsetsOn(t, old, tp)
		return sameSegments(all, tp, leo) == "", sameSegments(all, tp, leo)
	})

	for _, f := range followers {
		f.pause()
	}
	// A fetch of a follower pending at the leader when it was paused would
	// carry records appended now into its socket: wait until the leader
	// has answered them all (no Fetch completes for longer than several
	// fetch waits).
	waitQuiet(t, rc, old.id, mFetchCount, 500*time.Millisecond)
	oneAck := repClient(t, []*clusterNode{old}, kgo.RequiredAcks(kgo.LeaderAck()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	lost := numbered("lost", 20)
	produceValues(t, oneAck, tp, lost...)
	hw, leo := mustOffsetsOn(t, old, tp)
	if hw != 50 || leo != 70 {
		t.Fatalf("old leader %d: HW %d, log end %d; want 50, 70 (20 unreplicated records)", old.id, hw, leo)
	}
	// The zombie producer's connection is opened now (a Produce to a
	// partition that does not exist appends nothing), so that the request
	// queued while the old leader is paused is read as soon as it wakes
	// up, most likely before it learns that it was replaced.
	zcl := repClient(t, []*clusterNode{old}, kgo.RequestTimeoutOverhead(time.Minute))
	if err := rawProduce(zcl, clusterTP{tp.topic, 99}, time.Second, []byte("warm-up")); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce to a missing partition: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	old.pause()
	pausedAt := time.Now()
	zombie := make(chan error, 1)
	go func() { zombie <- rawProduce(zcl, tp, 5*time.Second, []byte("zombie")) }()
	for _, f := range followers {
		f.resume()
	}

	nv := waitPartition(t, followers, clFailoverBound+5*time.Second, "a new leader", tp, func(p partView) string {
		if p.Leader < 0 || p.Leader == old.id || p.Epoch <= v.Epoch {
			return "no new leader"
		}
		return ""
	})
	t.Logf("old leader %d paused; node %d leads (epoch %d) %v later", old.id, nv.Leader, nv.Epoch, time.Since(pausedAt).Round(time.Millisecond))
	newLeader := rc.node(nv.Leader)
	round2 := numbered("round2", 30)
	produceValues(t, repClient(t, followers, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner())),
		tp, round2...)

	old.resume()
	resumedAt := time.Now()
	select {
	case err := <-zombie:
		if err == nil {
			t.Errorf("an acks=all produce to the fenced old leader %d was acknowledged", old.id)
		} else {
			t.Logf("acks=all produce to the old leader: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Errorf("acks=all produce to the old leader: no answer %v after it resumed", waitTimeout)
	}
	waitPartition(t, all, waitTimeout, "old leader back in the ISR", tp, isrIs(replicas...))
	var end int64
	waitFor(t, waitTimeout, "identical segments on the three replicas", func() (bool, string) {
		_, leo, err := offsetsOn(newLeader, tp)
		if err != nil {
			return false, err.Error()
		}
		end = leo
		msg := sameSegments(all, tp, leo)
		return msg == "", msg
	})
	t.Logf("old leader %d truncated and caught up %v after resuming: all replicas end at %d, byte-identical",
		old.id, time.Since(resumedAt).Round(time.Millisecond), end)
	if strings.Contains(old.output(old.run()), "from=71") {
		t.Logf("the zombie leader had appended the acks=all record (truncated from 71)")
	}
	if end != 80 {
		t.Errorf("log end offset %d, want 80 (round 1 and round 2)", end)
	}
	got := valuesOf(consumeAll(t, all, tp.topic, map[int32]int64{tp.p: end})[tp.p])
	if want := append(slices.Clone(round1), round2...); !slices.Equal(got, want) {
		t.Errorf("%s reads %q, want %q", tp, got, want)
	}
}

// waitQuiet waits until series on node id has not changed for quiet.
func waitQuiet(t *testing.T, rc *repCluster, id int32, series string, quiet time.Duration) {
	t.Helper()
	last, since := -1.0, time.Now()
	waitFor(t, waitTimeout, fmt.Sprintf("%s of node %d to stay unchanged for %v", series, id, quiet), func() (bool, string) {
		v := rc.metric(t, id, series)
		if v != last {
			last, since = v, time.Now()
		}
		return time.Since(since) >= quiet, fmt.Sprintf("%s still changing (%v)", series, v)
	})
}

// TestReplicationUncleanElection (5 voters, RF 3, unclean election off):
// one replica leaves the ISR (SIGKILL), more records are written, then
// the whole ISR is killed and only the out-of-sync replica restarted. The
// partition stays offline (leader -1). Enabling
// unclean.leader.election.enable on the topic (kadm,
// IncrementalAlterConfigs) brings it back at once, led by that replica
// with only its data; the active controller logs the UNCLEAN election
// and counts it in its metric. min.insync.replicas is 1: the new leader's
// ISR is itself alone, and with a larger minimum its high watermark could
// not move, so a consumer could not read its data before other replicas
// return (the strict min ISR rule).
func TestReplicationUncleanElection(t *testing.T) {
	rc := startRepCluster(t, 5, repLag)
	all := rc.nodes
	ctrl := waitController(t, all, waitTimeout)
	others := nodeIDs(withoutNode(all, ctrl))
	tp := clusterTP{"unclean", 0}
	replicas := others[:3]
	createAssigned(t, rc.node(ctrl), tp.topic, map[string]string{"min.insync.replicas": "1"}, replicas)
	v := waitPartition(t, all, waitTimeout, "partition with a full ISR", tp, isrIs(replicas...))
	laggard := rc.node(replicas[2])
	if laggard.id == v.Leader {
		laggard = rc.node(replicas[1])
	}
	isr := withoutNode([]*clusterNode{rc.node(replicas[0]), rc.node(replicas[1]), rc.node(replicas[2])}, laggard.id)
	cl := repClient(t, all, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	kept := numbered("kept", 30)
	produceValues(t, cl, tp, kept...)

	laggard.kill9()
	live := withoutNode(all, laggard.id)
	waitPartition(t, live, waitTimeout, fmt.Sprintf("ISR without node %d", laggard.id), tp, isrIs(nodeIDs(isr)...))
	produceValues(t, cl, tp, numbered("lost", 20)...)
	for _, nd := range isr {
		nd.kill9()
	}
	laggard.start()
	restarted := time.Now()
	live = withoutNode(withoutNode(live, isr[0].id), isr[1].id)
	waitPartition(t, live, readyTimeout, "partition offline", tp, func(p partView) string {
		if p.Leader != -1 {
			return "has a leader"
		}
		if slices.Contains(p.ISR, laggard.id) {
			return "the out-of-sync replica is in the ISR"
		}
		return ""
	})
	holdsFor(t, 3*time.Second, "partition offline with unclean election off", func() string {
		v, err := live[0].view()
		if err != nil {
			return err.Error()
		}
		if l := v.Parts[tp].Leader; l != -1 {
			return fmt.Sprintf("leader %d", l)
		}
		return ""
	})

	t.Logf("ISR killed, out-of-sync node %d restarted: partition offline for the %v since", laggard.id, time.Since(restarted).Round(time.Millisecond))
	ctrl = waitController(t, live, waitTimeout)
	unclean0 := rc.metric(t, ctrl, mUnclean)
	altered := time.Now()
	alterTopicConfig(t, kadm.NewClient(repClient(t, live)), tp.topic, "unclean.leader.election.enable", "true")
	nv := waitPartition(t, live, 2*time.Second, "unclean leader", tp, func(p partView) string {
		if p.Leader != laggard.id || !slices.Equal(p.ISR, []int32{laggard.id}) {
			return fmt.Sprintf("want leader and ISR %d", laggard.id)
		}
		return ""
	})
	t.Logf("unclean election enabled: node %d leads (epoch %d) %v later", laggard.id, nv.Epoch, time.Since(altered).Round(time.Millisecond))
	if u := rc.metric(t, ctrl, mUnclean); u != unclean0+1 {
		t.Errorf("controller %d: %s %v, was %v: want one more", ctrl, mUnclean, u, unclean0)
	}
	cn := rc.node(ctrl)
	if out := cn.output(cn.run()); !strings.Contains(out, "UNCLEAN leader election") {
		t.Errorf("controller %d logged no UNCLEAN leader election", ctrl)
	}
	ends := endOffsets(t, live, tp.topic)
	got := valuesOf(consumeAll(t, live, tp.topic, ends)[tp.p])
	if !slices.Equal(got, kept) {
		t.Errorf("%s after the unclean election reads %q, want the out-of-sync replica's %q", tp, got, kept)
	}
}

// TestReplicationControlledShutdown: under continuous acks=all load, the
// leader of some partitions (not the controller) gets SIGTERM. Its
// leaderships move to other replicas before it exits (as survivors'
// Metadata shows while it is still running), it exits with status 0, the
// producers see no failed record, and after a restart it rejoins every
// ISR. Every acknowledged record is then readable, in order.
func TestReplicationControlledShutdown(t *testing.T) {
	rc := startRepCluster(t, 3, repLag)
	all := rc.nodes
	const topic = "graceful"
	if err := rc.node(1).createTopics(3, 3, map[string]string{"min.insync.replicas": "2"}, topic); err != nil {
		t.Fatal(err)
	}
	before := waitAgreed(t, all, waitTimeout, "topic with full ISRs", allConds(topicReady(topic, 3), fullISRs(topic)))
	ctrl := waitController(t, all, waitTimeout)
	var victim *clusterNode
	for _, nd := range withoutNode(all, ctrl) {
		if before.leaderCounts(topic)[nd.id] > 0 {
			victim = nd
			break
		}
	}
	if victim == nil {
		t.Fatalf("only the controller %d leads: %+v", ctrl, before.topic(topic))
	}
	survivors := withoutNode(all, victim.id)

	load := startLoad(t, all, topic, []int32{0, 1, 2}, 3, 2*time.Millisecond)
	load.waitAcked(t, waitTimeout, 200, 0, 1, 2)

	// Watch the survivors' Metadata while the victim shuts down.
	moved := make(chan time.Time, 1)
	stopWatch := make(chan struct{})
	go func() {
		defer close(moved)
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			ok := true
			for _, nd := range survivors {
				v, err := nd.view()
				if err != nil || movedAway(v, topic, victim.id) != "" {
					ok = false
					break
				}
			}
			if ok {
				moved <- time.Now()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	termAt := time.Now()
	exited, err := victim.signal(syscall.SIGTERM, clStopTimeout)
	exitAt := time.Now()
	close(stopWatch)
	movedAt, ok := <-moved
	if !exited || err != nil {
		t.Fatalf("node %d after SIGTERM: exited %v, %v (want status 0)", victim.id, exited, err)
	}
	if !ok || !movedAt.Before(exitAt) {
		t.Errorf("node %d exited %v after SIGTERM before the survivors' Metadata showed its leaderships moved",
			victim.id, exitAt.Sub(termAt).Round(time.Millisecond))
	} else {
		t.Logf("node %d: leaderships moved %v after SIGTERM, exit %v after SIGTERM", victim.id,
			movedAt.Sub(termAt).Round(time.Millisecond), exitAt.Sub(termAt).Round(time.Millisecond))
	}
	if out := victim.output(victim.run()); !strings.Contains(out, "controlled shutdown complete") {
		t.Errorf("node %d did not log a completed controlled shutdown", victim.id)
	}
	load.waitAcked(t, waitTimeout, 200, 0, 1, 2)

	restarted := time.Now()
	victim.start()
	waitAgreed(t, all, readyTimeout, fmt.Sprintf("node %d back in every ISR", victim.id), fullISRs(topic))
	t.Logf("node %d back in every ISR %v after restart", victim.id, time.Since(restarted).Round(time.Millisecond))
	load.waitAcked(t, waitTimeout, 100, 0, 1, 2)
	acks, errs := load.results()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("... %d failed records in all", len(errs))
			break
		}
		t.Errorf("record failed during the controlled shutdown: %v", err)
	}
	ends := endOffsets(t, all, topic)
	checkAcksPresent(t, topic, acks, consumeAll(t, all, topic, ends))
	t.Logf("%d records acknowledged; end offsets %v", len(acks), ends)
}

// movedAway is a condition: no partition of topic is led by id or leaderless,
// and id is in no ISR.
func movedAway(v clusterView, topic string, id int32) string {
	for i, p := range v.topic(topic) {
		if p.Leader == id || p.Leader < 0 || slices.Contains(p.ISR, id) {
			return fmt.Sprintf("%s[%d]: leader %d, ISR %v", topic, i, p.Leader, p.ISR)
		}
	}
	return ""
}
