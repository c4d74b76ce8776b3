package e2e

import (
	"fmt"
	"testing"
	"time"
)

// fastDetectionBound is far below the test's 60 s session timeout: a
// failover within it can only come from fast crash detection (a refused
// probe of the dead broker's listeners), not from a session expiry.
const fastDetectionBound = 20 * time.Second

// TestFastCrashDetection: with a 60 s broker session, a SIGKILLed broker's
// partitions, and then those of a SIGKILLed active controller's node, get
// new leaders long before any session could expire, and a restarted
// broker registers again at once instead of waiting out its old session
// (issue 11: fast crash detection, fast re-registration).
func TestFastCrashDetection(t *testing.T) {
	c := startCluster(t, 3, nil, "broker.session.timeout.ms=60000")
	all := c.nodes
	waitAgreed(t, all, readyTimeout, "every node lists 3 brokers", brokersAre(1, 2, 3))
	const topic = "fast"
	ctrl := waitController(t, all, waitTimeout)
	if err := c.node(ctrl).createTopics(12, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	before := waitAgreed(t, all, waitTimeout, "the topic everywhere", allConds(brokersAre(1, 2, 3), topicReady(topic, 12)))

	victim := withoutNode(all, waitController(t, all, waitTimeout))[0]
	survivors := withoutNode(all, victim.id)
	killed := time.Now()
	victim.kill9()
	waitAgreed(t, survivors, fastDetectionBound, fmt.Sprintf("failover of node %d without its session expiring", victim.id),
		func(v clusterView) string { return failedOver(before, v, victim.id, survivors) })
	t.Logf("node %d's leaderships moved %v after SIGKILL (session timeout 60 s)", victim.id, time.Since(killed).Round(time.Millisecond))

	victim.start()
	waitAgreed(t, all, fastDetectionBound, fmt.Sprintf("node %d registered again before its old session expired", victim.id),
		allConds(brokersAre(1, 2, 3), noOffline))

	ctrl = waitController(t, all, waitTimeout)
	before = waitAgreed(t, all, waitTimeout, "full ISRs", allConds(brokersAre(1, 2, 3), noOffline, fullISRs(topic)))
	survivors = withoutNode(all, ctrl)
	killed = time.Now()
	c.node(ctrl).kill9()
	waitAgreed(t, survivors, fastDetectionBound, fmt.Sprintf("failover of the controller node %d", ctrl),
		func(v clusterView) string { return failedOver(before, v, ctrl, survivors) })
	t.Logf("controller node %d's leaderships moved %v after SIGKILL", ctrl, time.Since(killed).Round(time.Millisecond))
}
