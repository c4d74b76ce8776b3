package console

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// event is one change seen between two consecutive snapshots: a broker
// gone or back, the controller or the quorum leader moving, a topic
// created or deleted, partitions changing leader, ISR or ELR. The console
// learns of changes only by comparing what it asked for (the metadata log
// itself is not served to clients), so a change undone between two
// snapshots is not seen. Beside `fjord dev` the node panel adds its own:
// an action taken from the panel ("node") and an unavailability window
// of the canary producer ("canary"), stamped when they happened.
type event struct {
	At   time.Time
	Kind string // "broker", "controller", "topic", "leader", "isr", "elr", "offline", "node", "canary"
	Text string
}

// eventLog keeps the last events, newest last, and the snapshot the next
// one is compared with. Safe for concurrent use.
type eventLog struct {
	mu     sync.Mutex
	cap    int
	events []event
	prev   *snapshot
}

func newEventLog(n int) *eventLog { return &eventLog{cap: n} }

// observe compares snap with the previous snapshot and records the
// differences.
func (l *eventLog) observe(snap *snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prev != nil && !snap.at.After(l.prev.at) {
		return // built before the one already compared
	}
	if l.prev != nil {
		l.events = append(l.events, diffSnapshots(l.prev, snap)...)
		if over := len(l.events) - l.cap; over > 0 {
			l.events = append(l.events[:0], l.events[over:]...)
		}
	}
	l.prev = snap
}

// add records an event that did not come from comparing snapshots, in
// time order among the others.
func (l *eventLog) add(e event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.events)
	for i > 0 && l.events[i-1].At.After(e.At) {
		i--
	}
	l.events = slices.Insert(l.events, i, e)
	if over := len(l.events) - l.cap; over > 0 {
		l.events = append(l.events[:0], l.events[over:]...)
	}
}

// recent returns up to n events, newest first.
func (l *eventLog) recent(n int) []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]event, 0, min(n, len(l.events)))
	for i := len(l.events) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, l.events[i])
	}
	return out
}

// maxListed is how many partitions one aggregated event names.
const maxListed = 6

// diffSnapshots returns the events between a and b, stamped with b's time.
// Partition changes of one kind and direction (say, leader 1 → 3) are
// aggregated into one event naming the first few partitions.
func diffSnapshots(a, b *snapshot) []event {
	var out []event
	add := func(kind, format string, args ...any) {
		out = append(out, event{At: b.at, Kind: kind, Text: fmt.Sprintf(format, args...)})
	}
	diffBrokers(a, b, add)
	diffTopics(a, b, add)
	groups := map[string][]string{} // "kind\x00text" -> partitions
	var order []string
	note := func(kind, text, tp string) {
		k := kind + "\x00" + text
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], tp)
	}
	b.meta.Topics.EachPartition(func(p kadm.PartitionDetail) {
		if old, ok := a.meta.Topics[p.Topic].Partitions[p.Partition]; ok {
			diffPartition(a, b, old, p, note)
		}
	})
	for _, k := range order {
		kind, text, _ := strings.Cut(k, "\x00")
		add(kind, "%s: %s", text, partitionList(groups[k]))
	}
	return out
}

func diffBrokers(a, b *snapshot, add func(string, string, ...any)) {
	was, is := a.meta.Brokers.NodeIDs(), b.meta.Brokers.NodeIDs()
	for _, id := range was {
		if !slices.Contains(is, id) {
			add("broker", "broker %d is down or fenced (left the Metadata brokers)", id)
		}
	}
	for _, id := range is {
		if !slices.Contains(was, id) {
			add("broker", "broker %d is up (registered and unfenced)", id)
		}
	}
	if a.meta.Controller != b.meta.Controller {
		add("controller", "active controller %d → %d", a.meta.Controller, b.meta.Controller)
	}
	if a.quorum != nil && b.quorum != nil && a.quorum.Leader != b.quorum.Leader {
		add("controller", "metadata quorum leader %d → %d (epoch %d)", a.quorum.Leader, b.quorum.Leader, b.quorum.Epoch)
	}
}

func diffTopics(a, b *snapshot, add func(string, string, ...any)) {
	for name, td := range b.meta.Topics {
		if _, ok := a.meta.Topics[name]; !ok {
			add("topic", "topic %s created (%d partitions)", name, len(td.Partitions))
		}
	}
	for name := range a.meta.Topics {
		if _, ok := b.meta.Topics[name]; !ok {
			add("topic", "topic %s deleted", name)
		}
	}
}

// diffPartition notes the leader, ISR and ELR changes of one partition.
func diffPartition(a, b *snapshot, old, cur kadm.PartitionDetail, note func(kind, text, tp string)) {
	tp := fmt.Sprintf("%s-%d", cur.Topic, cur.Partition)
	switch {
	case old.Leader != cur.Leader && cur.Leader < 0:
		note("offline", fmt.Sprintf("offline (leader %d lost, no eligible replica)", old.Leader), tp)
	case old.Leader != cur.Leader:
		note("leader", fmt.Sprintf("leader %d → %d", old.Leader, cur.Leader), tp)
	}
	if gone, came := idDiff(old.ISR, cur.ISR); len(gone) > 0 {
		note("isr", "ISR shrank, without "+idList(gone), tp)
	} else if len(came) > 0 {
		note("isr", "ISR expanded, with "+idList(came), tp)
	}
	oldELR := a.elr[cur.Topic][cur.Partition].ELR
	newELR := b.elr[cur.Topic][cur.Partition].ELR
	if _, came := idDiff(oldELR, newELR); len(came) > 0 {
		note("elr", "eligible leader replicas now include "+idList(came), tp)
	}
}

// idDiff returns the ids of a missing from b and those of b new to a.
func idDiff(a, b []int32) (gone, came []int32) {
	for _, id := range a {
		if !slices.Contains(b, id) {
			gone = append(gone, id)
		}
	}
	for _, id := range b {
		if !slices.Contains(a, id) {
			came = append(came, id)
		}
	}
	slices.Sort(gone)
	slices.Sort(came)
	return gone, came
}

// partitionList names the partitions, the first maxListed of them.
func partitionList(tps []string) string {
	slices.SortFunc(tps, compareTP)
	if len(tps) <= maxListed {
		return strings.Join(tps, ", ")
	}
	return fmt.Sprintf("%d partitions (%s, …)", len(tps), strings.Join(tps[:maxListed], ", "))
}

// compareTP orders "topic-N" names by topic, then partition number.
func compareTP(a, b string) int {
	ai, bi := strings.LastIndexByte(a, '-'), strings.LastIndexByte(b, '-')
	if c := strings.Compare(a[:max(ai, 0)], b[:max(bi, 0)]); c != 0 {
		return c
	}
	an, _ := strconv.Atoi(a[ai+1:])
	bn, _ := strconv.Atoi(b[bi+1:])
	return an - bn
}
